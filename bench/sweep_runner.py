"""One measured sweep in a fresh interpreter, against the moto server at AWS_ENDPOINT_URL.

``ours``: lambda_handler on a ScheduledNotification (the rule exactly as deployed).
``baseline``: ListUsers, then GetLoginProfile and ListMFADevices for every user, then the
same PutEvaluations batches: the per-user approach of the common open-source rules.

Config's API is answered in-process by LocalConfig (moto lacks it), holding the previous
sweep's results when given; AWS calls are counted with a botocore hook. Prints one JSON
object: calls by operation, evaluations written, wall seconds, peak RSS, Config's results.
"""

from __future__ import annotations

import base64
import json
import resource
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

PREVIOUS_RESULTS = "previous_results"


class Context:
    """A Lambda context with the full 15 minutes left."""

    def get_remaining_time_in_millis(self) -> int:
        return 900_000


def baseline(config: Any, session: Any) -> None:
    iam = session.client("iam")
    cfg = session.client("config")
    evaluations = []
    stamp = datetime.now(UTC)
    for page in iam.get_paginator("list_users").paginate():
        for user in page["Users"]:
            try:
                iam.get_login_profile(UserName=user["UserName"])
            except iam.exceptions.NoSuchEntityException:
                has_password = False
            else:
                has_password = True
            devices = iam.list_mfa_devices(UserName=user["UserName"])["MFADevices"]
            compliance = "NOT_APPLICABLE" if not has_password else "COMPLIANT" if devices else "NON_COMPLIANT"
            evaluations.append(
                {
                    "ComplianceResourceType": "AWS::IAM::User",
                    "ComplianceResourceId": user["UserId"],
                    "ComplianceType": compliance,
                    "OrderingTimestamp": stamp,
                }
            )
    for start in range(0, len(evaluations), 100):
        cfg.put_evaluations(Evaluations=evaluations[start : start + 100], ResultToken="bench-token")


def answer(session: Any, event: str, parsed: dict[str, Any]) -> None:
    """Answer a call with ``parsed``: botocore takes a before-call handler's return value as the
    response (its type stubs declare handlers as returning None, hence ``Any``)."""

    def respond(params: dict[str, Any], **_: Any) -> Any:
        return AWSResponse(params["url"], 200, HTTPHeaders(), None), parsed

    session.events.register_first(event, respond)


def main() -> None:
    mode, parameters = sys.argv[1], json.loads(sys.argv[2])
    previous = json.loads(sys.stdin.read() or "{}")
    started_import = time.perf_counter()
    from console_mfa.aws import configured_session
    from IAM_USER_CONSOLE_MFA import lambda_handler

    from iam_console_mfa.event_builders import scheduled_event
    from iam_console_mfa.local_config import LocalConfig

    session = configured_session()
    config = LocalConfig(session)
    held = previous.get(PREVIOUS_RESULTS, {})
    config.results.update(held)  # what Config holds from the last sweep, recorded just now
    config.recorded_at.update({uid: datetime.now(UTC) for uid in held})
    calls: Counter[str] = Counter()

    def count(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    session.events.register("provide-client-params", count)
    # CloudTrail LookupEvents (moto lacks it): the IAM events the benchmark recorded (none by
    # default), filtered by event name, one page, shaped as CloudTrail answers.
    events = previous.get("events", [])

    def lookup(params: dict[str, Any], **_: Any) -> Any:  # see answer()
        (attribute,) = json.loads(params["body"])["LookupAttributes"]
        named = [e for e in events if e["EventName"] == attribute["AttributeValue"]]
        page = [
            {
                **e,
                "EventTime": datetime.fromisoformat(e["EventTime"]),
                "CloudTrailEvent": json.dumps(e["detail"]),
            }
            for e in named
        ]
        return AWSResponse(params["url"], 200, HTTPHeaders(), None), {"Events": page}

    session.events.register_first("before-call.cloudtrail.LookupEvents", lookup)
    frozen = previous.get("frozen_report")
    if frozen:  # the report of an earlier moment (moto's always reflects the present)
        report = {
            "Content": base64.b64decode(frozen["content"]),
            "ReportFormat": "text/csv",
            "GeneratedTime": datetime.fromisoformat(frozen["generated"]),
        }
        answer(session, "before-call.iam.GenerateCredentialReport", {"State": "COMPLETE"})
        answer(session, "before-call.iam.GetCredentialReport", report)
    import_seconds = time.perf_counter() - started_import

    started = time.perf_counter()
    if mode == "ours":
        lambda_handler(scheduled_event(parameters, token="bench-token"), Context())
    elif mode == "ours-live":  # the live truth, for the staleness check
        lambda_handler(scheduled_event({**parameters, "DataSource": "live"}, token="bench-token"), Context())
    else:
        baseline(config, session)
    wall = time.perf_counter() - started
    non_compliant = sum(e["ComplianceType"] == "NON_COMPLIANT" for e in config.results.values())
    print(
        json.dumps(
            {
                "calls": dict(calls),
                "wall_seconds": wall,
                "import_seconds": import_seconds,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "non_compliant": non_compliant,
                "written": len(config.evaluations),
                "results": {k: v["ComplianceType"] for k, v in config.results.items()},
                "held": config.results,
            },
            default=str,
        )
    )


if __name__ == "__main__":
    main()
