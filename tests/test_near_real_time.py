"""Near-real-time end to end: IAM events -> trigger -> StartConfigRulesEvaluation -> whatever
Config sends (tests/config_double.py: S1, S2, S3 both ways) -> the rule.

CloudTrail's event history lags (TrailEvents shows none of the changes) and the credential
report is frozen before them: only the change store can tell the rule who changed. Under every
behaviour one trigger must give each changed user its correct verdict, write at most one
evaluation per changed user, and make at most floor + 3k IAM calls, none for an unchanged user.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from console_mfa.aws import configured_session
from console_mfa.config_event import notified_user
from console_mfa.permissions import RULE_CHANGE_STORE_ACTIONS
from console_mfa.policy import DataSource, parse_policy
from console_mfa.reevaluate import handler as trigger
from IAM_USER_CONSOLE_MFA import lambda_handler

from iam_console_mfa.demo.account import Mfa, create_user
from iam_console_mfa.event_builders import change_event, scheduled_event, timestamp, user_configuration_item
from iam_console_mfa.local_config import LocalConfig
from tests.config_double import Behaviour, ConfigDouble, create_changes_table, iam_event, sqs_batch
from tests.stacks import STACKS
from tests.support import REAL_TOKEN, report_row, stub_report, verdicts_by_name

PARAMETERS = {"AssumeRoleMode": "False"}  # DataSource auto: the credential report above 20 users
USERS = 30
OLD = datetime.now(UTC) - timedelta(days=30)


class Calls:
    """Every AWS call through the default session: (service, operation, UserName or None)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, str | None]] = []
        configured_session().events.register("provide-client-params", self._record)

    def _record(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        self.calls.append((model.service_model.service_id.hyphenize(), model.name, params.get("UserName")))

    def mark(self) -> int:
        return len(self.calls)

    def since(self, mark: int, service: str) -> list[tuple[str, str | None]]:
        return [(op, user) for svc, op, user in self.calls[mark:] if svc == service]


@pytest.fixture
def nrt(iam: Any, config_api: LocalConfig, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    """30 users, a frozen credential report, Config's first results, the store and the queue."""
    session = configured_session()
    monkeypatch.setenv("CONFIG_RULE_NAME", "IAM_USER_CONSOLE_MFA")
    monkeypatch.setenv("CHANGES_TABLE", create_changes_table(session))
    sqs = session.client("sqs", region_name="us-east-1")
    monkeypatch.setenv("QUEUE_URL", sqs.create_queue(QueueName="reevaluation")["QueueUrl"])
    users = {}
    for i in range(USERS):
        # no password / password with a virtual device / password with a hardware token
        password, mfa = [(False, Mfa.NONE), (True, Mfa.VIRTUAL), (True, Mfa.HARDWARE)][i % 3]
        users[f"user{i:02d}"] = create_user(iam, f"user{i:02d}", password=password, mfa=mfa)
    stub_report(session, [report_row(u, i % 3 != 0, i % 3 != 0) for i, u in enumerate(users.values())])
    lambda_handler(scheduled_event(PARAMETERS, REAL_TOKEN), None)  # Config's first results: everyone
    assert len(config_api.results) == USERS
    yield {"users": users, "sqs": sqs, "session": session}


def _clients(session: Any) -> dict[str, Any]:
    return {name: session.client(name, region_name="us-east-1") for name in ("config", "dynamodb", "sqs")}


def change_users(iam: Any, users: dict[str, dict[str, Any]], k: int) -> list[dict[str, Any]]:
    """k changes no configuration item shows, as IAM events: a console password for a user
    without one (now NON_COMPLIANT), or an MFA device deactivated (now NON_COMPLIANT)."""
    events = []
    for i in range(k):
        if i % 2 == 0:
            name = f"user{3 * i:02d}"  # no password so far
            iam.create_login_profile(UserName=name, Password="Correct-Horse-9!")
            events.append(iam_event("CreateLoginProfile", userName=name))
        else:
            name = f"user{3 * i + 2:02d}"  # a hardware token so far
            (device,) = iam.list_mfa_devices(UserName=name)["MFADevices"]
            iam.deactivate_mfa_device(UserName=name, SerialNumber=device["SerialNumber"])
            events.append(iam_event("DeactivateMFADevice", userName=name, serialNumber=device["SerialNumber"]))
    return events


@pytest.mark.parametrize("ordering", LocalConfig.ORDERINGS)
@pytest.mark.parametrize("k", [1, 4])
@pytest.mark.parametrize("behaviour", list(Behaviour))
def test_one_trigger_is_correct_and_bounded_whatever_config_sends(
    nrt: dict[str, Any], iam: Any, config_api: LocalConfig, behaviour: Behaviour, k: int, ordering: str
) -> None:
    """Under S3r the per-user notifications claim the changes first, and the sweep that follows
    reads those users live again (a claim only adds reads): 3k more IAM calls, never fewer users."""
    config_api.ordering = ordering  # Config's first results are in; from here on, this policy
    session, users = nrt["session"], nrt["users"]
    double = ConfigDouble(session, behaviour, PARAMETERS)
    double.record_items(iam, captured=OLD)
    calls = Calls()
    # The floor: what this behaviour costs when nothing changed (one delivery, no trigger).
    double.queued = 1
    mark = calls.mark()
    double.deliver(lambda_handler, REAL_TOKEN)
    floor = len(calls.since(mark, "iam"))
    assert len(config_api.evaluations) == USERS  # nothing changed: nothing written

    events = change_users(iam, users, k)
    changed = {e["detail"]["requestParameters"]["userName"] for e in events}
    mark = calls.mark()
    answer = trigger(sqs_batch(events), None, _clients(session))
    assert answer == {"batchItemFailures": []} and len(double.accepted) == 1
    invocations = double.deliver(lambda_handler, REAL_TOKEN)
    iam_calls = calls.since(mark, "iam")
    puts = [op for op, _ in calls.since(mark, "config-service") if op == "PutEvaluations"]

    truth = verdicts_by_name(parse_policy({**PARAMETERS, "DataSource": DataSource.LIVE.value}))
    recorded = {name: config_api.results[u["UserId"]]["ComplianceType"] for name, u in users.items()}
    assert recorded == truth  # every verdict right, the changed users' included
    assert {truth[name] for name in changed} == {"NON_COMPLIANT"}
    written = config_api.evaluations[USERS:]
    by_id = {u["UserId"]: name for name, u in users.items()}
    assert sorted(by_id[e["ComplianceResourceId"]] for e in written) == sorted(changed)  # k, once each
    reads = 2 if behaviour is Behaviour.S3R else 1
    assert len(iam_calls) <= floor + reads * 3 * k, (behaviour, floor, iam_calls)
    assert {user for _, user in iam_calls if user} <= changed  # no per-user IAM call for the others
    assert len(puts) <= (k if behaviour is Behaviour.S2 else math.ceil(k / 100) + k)
    assert invocations == {Behaviour.S1: 1, Behaviour.S2: USERS}.get(behaviour, USERS + 1)


def test_a_second_trigger_reads_only_the_new_change(
    nrt: dict[str, Any], iam: Any, config_api: LocalConfig
) -> None:
    """The next trigger writes only the new change. The earlier one is still newer than the
    frozen credential report, so the sweep reads that user live again, and writes nothing."""
    session, users = nrt["session"], nrt["users"]
    clock = [datetime.now(UTC)]
    double = ConfigDouble(session, Behaviour.S3, PARAMETERS, clock=lambda: clock[0])
    double.record_items(iam, captured=OLD)
    trigger(sqs_batch(change_users(iam, users, 1)), None, _clients(session), lambda: clock[0])
    double.deliver(lambda_handler, REAL_TOKEN)
    clock[0] += timedelta(minutes=4)  # the rule's own clock is the real one: stay within skew
    iam.create_login_profile(UserName="user03", Password="Correct-Horse-9!")
    calls = Calls()
    trigger(
        sqs_batch([iam_event("CreateLoginProfile", userName="user03")]),
        None,
        _clients(session),
        lambda: clock[0],
    )
    double.deliver(lambda_handler, REAL_TOKEN)
    assert [config_api.results[users["user03"]["UserId"]]["ComplianceType"]] == ["NON_COMPLIANT"]
    assert len(config_api.evaluations) == USERS + 2
    assert {user for svc, _, user in calls.calls if svc == "iam" and user} == {"user00", "user03"}


def test_a_fresh_configuration_item_is_still_evaluated_at_once(
    nrt: dict[str, Any], iam: Any, config_api: LocalConfig
) -> None:
    user = create_user(iam, "newcomer")  # Config records the new user and notifies at once
    lambda_handler(change_event(user_configuration_item(user), PARAMETERS, REAL_TOKEN), None)
    assert config_api.results[user["UserId"]]["ComplianceType"] == "NON_COMPLIANT"
    tagged = user_configuration_item(nrt["users"]["user01"], tags={"team": "a"})  # a tag change
    lambda_handler(change_event(tagged, PARAMETERS, REAL_TOKEN), None)
    assert config_api.evaluations[-1]["ComplianceResourceId"] == nrt["users"]["user01"]["UserId"]


def test_an_old_item_of_an_unchanged_user_costs_nothing(nrt: dict[str, Any], config_api: LocalConfig) -> None:
    calls = Calls()
    item = user_configuration_item(nrt["users"]["user01"])
    item["configurationItemCaptureTime"] = timestamp(OLD)
    assert lambda_handler(change_event(item, PARAMETERS, REAL_TOKEN), None) == []
    assert [(svc, op) for svc, op, _ in calls.calls] == [("dynamodb", "GetItem")]


def test_without_the_store_an_old_item_is_not_evaluated_either(
    nrt: dict[str, Any], config_api: LocalConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ReevaluateOnIamChange=false: no trigger starts re-evaluations; a replay is skipped."""
    monkeypatch.setenv("CHANGES_TABLE", "")
    item = user_configuration_item(nrt["users"]["user01"])
    item["configurationItemCaptureTime"] = timestamp(OLD)
    calls = Calls()
    assert lambda_handler(change_event(item, PARAMETERS, REAL_TOKEN), None) == []
    assert calls.calls == []


@pytest.mark.parametrize(
    ("captured", "delivered", "replay"),
    [
        (timedelta(minutes=-5), None, False),  # a change recorded minutes ago
        (timedelta(hours=-2), None, True),  # the last recorded item, replayed
        (timedelta(hours=-20), timedelta(minutes=-3), False),  # daily recording, just delivered
        (timedelta(days=-30), timedelta(days=-29), True),
    ],
)
def test_a_replay_is_an_old_item_by_capture_or_delivery_time(
    captured: timedelta, delivered: timedelta | None, replay: bool
) -> None:
    now = datetime.now(UTC)
    item = {"resourceName": "bob", "configurationItemCaptureTime": timestamp(now + captured)}
    if delivered is not None:
        item["configurationItemDeliveryTime"] = timestamp(now + delivered)
    invoking = {"configurationItem": item, "notificationCreationTime": timestamp(now)}
    assert notified_user(invoking) == ("bob", replay)
    assert notified_user({**invoking, "notificationCreationTime": "not a time"}) == ("bob", False)


def test_the_rule_role_may_read_and_claim_the_store_only() -> None:
    resources = STACKS["rule.yaml"]["Resources"]
    (statement,) = resources["ChangesTablePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert resources["ChangesTablePolicy"]["Properties"]["RoleName"] == {"Ref": "FunctionRole"}
    assert sorted(statement["Action"]) == sorted(RULE_CHANGE_STORE_ACTIONS)
    assert statement["Resource"] == {"Fn::GetAtt": ["ChangesTable", "Arn"]}
    table = resources["ChangesTable"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires", "Enabled": True}
    variables = resources["Function"]["Properties"]["Environment"]["Variables"]
    assert variables["CHANGES_TABLE"] == {"Fn::If": ["WithReevaluation", {"Ref": "ChangesTable"}, ""]}


def test_the_rule_calls_exactly_the_store_actions_it_is_granted(nrt: dict[str, Any], iam: Any) -> None:
    session = nrt["session"]
    calls = Calls()
    double = ConfigDouble(session, Behaviour.S3, PARAMETERS)
    double.record_items(iam, captured=OLD)
    trigger(sqs_batch(change_users(iam, nrt["users"], 2)), None, _clients(session))
    mark = calls.mark()
    double.deliver(lambda_handler, REAL_TOKEN)
    called = {f"dynamodb:{op}" for op, _ in calls.since(mark, "dynamodb")}
    assert called == set(RULE_CHANGE_STORE_ACTIONS)
