"""Near-real-time at N users under each Config behaviour (tests/config_double.py: S1, S2, S3).

Run by bench.py in its own interpreter: an in-process moto account of N users, a credential
report frozen before the changes and a CloudTrail event history that shows none of them yet
(the worst case of CloudTrail's delivery lag). For k = 1, 10, 50 users changed (a console
password added, or an MFA device deactivated), one trigger: the IAM events go to the trigger,
Config's double delivers the accepted start, and this measures stale verdicts, evaluations
written, IAM calls (against the floor: the same delivery with nothing changed) and invocations.
Each scenario runs under both of Config's plausible ordering policies (local_config.LocalConfig:
the last evaluation written wins, or the newest OrderingTimestamp wins).
Prints one JSON object: {"rows": [...]}.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the repository root: tests/
os.environ.update(
    {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
)

from console_mfa.aws import configured_session
from console_mfa.reevaluate import handler as trigger
from IAM_USER_CONSOLE_MFA import lambda_handler
from moto import mock_aws

from iam_console_mfa.demo.account import Mfa, create_user
from iam_console_mfa.event_builders import scheduled_event
from iam_console_mfa.local_config import LocalConfig
from tests.config_double import Behaviour, ConfigDouble, create_changes_table, iam_event, sqs_batch
from tests.support import REAL_TOKEN, answer_operation, report_content, report_row

PARAMETERS = {"AssumeRoleMode": "False"}
CHANGES = (1, 10, 50)
# Every trigger changes users no earlier trigger changed, 3 behaviours in turn: the j-th change
# takes user 3j or 3j + 2, so the account needs this many users.
ORDERINGS = LocalConfig.ORDERINGS
MIN_USERS = 3 * 3 * len(ORDERINGS) * sum(CHANGES)


def seed(iam: Any, n: int) -> dict[str, dict[str, Any]]:
    """A third without a console password, a third with a virtual device, a third with a token."""
    users = {}
    for i in range(n):
        password, mfa = [(False, Mfa.NONE), (True, Mfa.VIRTUAL), (True, Mfa.HARDWARE)][i % 3]
        users[f"user{i:05d}"] = create_user(iam, f"user{i:05d}", password=password, mfa=mfa)
    return users


def change(iam: Any, names: list[str], k: int, offset: int, state: dict[str, tuple[bool, bool]]) -> list[Any]:
    """k changes no configuration item shows; each makes its user NON_COMPLIANT (``state``:
    each user's password and MFA, for the next credential report)."""
    events = []
    for j in range(offset, offset + k):
        if j % 2 == 0:
            name = names[3 * j]  # no password so far
            iam.create_login_profile(UserName=name, Password="Correct-Horse-9!")
            events.append(iam_event("CreateLoginProfile", userName=name))
        else:
            name = names[3 * j + 2]  # a hardware token so far
            (device,) = iam.list_mfa_devices(UserName=name)["MFADevices"]
            iam.deactivate_mfa_device(UserName=name, SerialNumber=device["SerialNumber"])
            events.append(iam_event("DeactivateMFADevice", userName=name, serialNumber=device["SerialNumber"]))
        state[name] = (True, False)
    return events


def scenario_rows(n: int) -> list[dict[str, Any]]:
    """One account for every behaviour (seeding dominates): each trigger changes new users."""
    rows = []
    with mock_aws():
        session = configured_session()
        config_api = LocalConfig(session)
        calls: list[tuple[str, str]] = []
        session.events.register(
            "provide-client-params",
            lambda model, **_: calls.append((model.service_model.service_id.hyphenize(), model.name)),
        )
        # The trigger's clock, 10 minutes a scenario; it starts in the past so that it never runs
        # ahead of the rule's own (real) clock: the store reads a time in the future as forged.
        scenarios = len(ORDERINGS) * 3 * len(CHANGES)
        clock = [datetime.now(UTC) - timedelta(minutes=10 * scenarios + 10)]
        double = ConfigDouble(session, Behaviour.S1, PARAMETERS, clock=lambda: clock[0])
        # CloudTrail's event history, not yet showing any of the changes (its delivery lag).
        answer_operation(session, "cloudtrail", "LookupEvents", lambda: {"Events": []})
        os.environ["CONFIG_RULE_NAME"] = "IAM_USER_CONSOLE_MFA"
        os.environ["CHANGES_TABLE"] = create_changes_table(session)
        os.environ["QUEUE_URL"] = session.client("sqs").create_queue(QueueName="q")["QueueUrl"]
        iam = session.client("iam")
        users = seed(iam, n)
        state = {name: (i % 3 != 0, i % 3 != 0) for i, name in enumerate(users)}
        # IAM's credential report: generated before each scenario's changes (it is never newer
        # than 4 hours in an account; here each scenario is a new day), so it never shows them.
        report: dict[str, Any] = {}

        def new_report(generated: datetime) -> None:
            rows = [report_row(users[name], *state[name]) for name in users]
            report.update(Content=report_content(rows), ReportFormat="text/csv", GeneratedTime=generated)

        answer_operation(session, "iam", "GenerateCredentialReport", lambda: {"State": "COMPLETE"})
        answer_operation(session, "iam", "GetCredentialReport", lambda: dict(report))
        new_report(clock[0])
        lambda_handler(scheduled_event(PARAMETERS, REAL_TOKEN), None)  # Config's first results
        double.record_items(iam, captured=datetime.now(UTC) - timedelta(days=30))
        clients = {
            "config": session.client("config"),
            "dynamodb": session.client("dynamodb"),
            "sqs": session.client("sqs"),
        }

        def iam_calls_of(deliveries: int) -> tuple[int, int, int]:
            mark, written = len(calls), len(config_api.evaluations)
            double.queued += deliveries
            invocations = double.deliver(lambda_handler, REAL_TOKEN)
            iam_calls = sum(1 for service, _ in calls[mark:] if service == "iam")
            return iam_calls, len(config_api.evaluations) - written, invocations

        names = list(users)
        offset = 0
        behaviours = (Behaviour.S1, Behaviour.S2, Behaviour.S3)
        for ordering, behaviour, k in [(o, b, k) for o in ORDERINGS for b in behaviours for k in CHANGES]:
            config_api.ordering = ordering
            double.behaviour = behaviour
            # A report generated after the earlier changes (beyond the 5-minute skew the sweep
            # allows), before this scenario's: it shows every earlier change, none of these.
            new_report(clock[0] + timedelta(minutes=6))
            if k == CHANGES[0]:
                floor, floor_written, _ = iam_calls_of(1)  # this behaviour with nothing changed
            events = change(iam, names, k, offset, state)
            offset += k
            clock[0] += timedelta(minutes=10)  # past the trigger's interval between starts
            mark = len(calls)
            trigger(sqs_batch(events), None, clients, lambda: clock[0])
            trigger_iam = sum(1 for service, _ in calls[mark:] if service == "iam")
            iam_calls, written, invocations = iam_calls_of(0)
            changed_ids = {users[e["detail"]["requestParameters"]["userName"]]["UserId"] for e in events}
            stale = sum(1 for u in changed_ids if config_api.results[u]["ComplianceType"] != "NON_COMPLIANT")
            rows.append(
                {
                    "ordering": ordering,
                    "behaviour": behaviour.value,
                    "users": n,
                    "k": k,
                    "stale": stale,
                    "written": written,
                    "iam_calls": iam_calls + trigger_iam,
                    "floor": floor,
                    "floor_written": floor_written,
                    "budget": floor + 3 * k,
                    "invocations": invocations,
                    "starts": len(double.accepted),
                }
            )
    return rows


def main() -> None:
    # A smaller BENCH_SIZES still runs every scenario: the rows say how many users there were.
    sys.stdout.write(json.dumps({"rows": scenario_rows(max(int(sys.argv[1]), MIN_USERS))}) + "\n")


if __name__ == "__main__":
    main()
