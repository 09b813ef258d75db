"""AWS Config after StartConfigRulesEvaluation, under each behaviour AWS leaves undocumented.

moto has no StartConfigRulesEvaluation, and AWS does not document which notifications a rule
with change and periodic triggers receives after one. This double answers the call at the
botocore level as Config documents it ({} when accepted; LimitExceededException while an
evaluation of the rule is in progress or within a minute of the last start), and delivers
each accepted start to the rule's ``lambda_handler`` in one of the plausible ways:

- S1: one ScheduledNotification;
- S2: one ConfigurationItemChangeNotification per in-scope user, carrying that user's last
  recorded configuration item (captured long ago: a password or MFA change records none);
- S3: both, the sweep first; S3r: both, the per-user notifications first.

Also here: the near-real-time store's table as rule.yaml defines it, and the SQS batches of
EventBridge "AWS API Call via CloudTrail" events the trigger receives.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

from iam_console_mfa.event_builders import change_event, scheduled_event, timestamp, user_configuration_item
from tests.stacks import STACKS

RULE_NAME = "IAM_USER_CONSOLE_MFA"
# Config refuses a start within a minute of the last one (DESIGN: StartConfigRulesEvaluation).
START_SPACING = timedelta(seconds=60)


class Behaviour(enum.StrEnum):
    S1 = "S1"
    S2 = "S2"
    S3 = "S3"
    S3R = "S3r"


def create_changes_table(session: boto3.Session) -> str:
    """The change store's table with rule.yaml's own key schema; CHANGES_TABLE names it."""
    spec = STACKS["rule.yaml"]["Resources"]["ChangesTable"]["Properties"]
    dynamodb = session.client("dynamodb", region_name="us-east-1")
    dynamodb.create_table(
        TableName="changes",
        AttributeDefinitions=spec["AttributeDefinitions"],
        KeySchema=spec["KeySchema"],
        BillingMode=spec["BillingMode"],
    )
    return "changes"


def iam_event(
    event_name: str, caller: dict[str, str] | None = None, error_code: str | None = None, **parameters: str
) -> dict[str, Any]:
    """An EventBridge "AWS API Call via CloudTrail" event for an IAM call (its detail is the
    CloudTrail record; ``caller`` its userIdentity, ``error_code`` a failed call's errorCode)."""
    detail: dict[str, Any] = {
        "eventVersion": "1.08",
        "eventSource": "iam.amazonaws.com",
        "eventName": event_name,
        "eventTime": timestamp(),
        "awsRegion": "us-east-1",
        "requestParameters": parameters,
    }
    if caller is not None:
        detail["userIdentity"] = caller
    if error_code is not None:
        detail["errorCode"] = error_code
    return {
        "version": "0",
        "source": "aws.iam",
        "detail-type": "AWS API Call via CloudTrail",
        "region": "us-east-1",
        "detail": detail,
    }


def sqs_batch(events: Iterable[dict[str, Any]], prefix: str = "m") -> dict[str, Any]:
    """An SQS event as Lambda delivers it, each record's body one EventBridge event."""
    return {
        "Records": [
            {"messageId": f"{prefix}{i}", "eventSource": "aws:sqs", "body": json.dumps(event)}
            for i, event in enumerate(events)
        ]
    }


class ConfigDouble:
    """Config's StartConfigRulesEvaluation and the invocations an accepted start causes."""

    def __init__(
        self,
        session: boto3.Session,
        behaviour: Behaviour,
        parameters: dict[str, str],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        run_seconds: float = 30.0,
    ) -> None:
        self.session = session
        self.behaviour = behaviour
        self.parameters = parameters
        self.clock = clock
        self.run_seconds = run_seconds  # how long an accepted evaluation stays "in progress"
        self.items: dict[str, dict[str, Any]] = {}  # UserId -> last recorded configuration item
        self.accepted: list[datetime] = []
        self.refused = 0
        self.queued = 0
        self.invocations = 0
        self.tokens = 0
        self.fail_with: str | None = None  # an error code every start answers (AccessDeniedException)
        session.events.register_first(
            "before-call.config-service.StartConfigRulesEvaluation",
            self._start,  # type: ignore[arg-type]
        )

    def record_items(self, iam: Any, captured: datetime) -> None:
        """Config's inventory: every IAM user's configuration item, recorded at ``captured``."""
        for page in iam.get_paginator("list_users").paginate():
            for user in page["Users"]:
                item = user_configuration_item(user)
                item["configurationItemCaptureTime"] = timestamp(captured)
                self.items[user["UserId"]] = item

    def _start(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        request = json.loads(params["body"])
        assert request == {"ConfigRuleNames": [RULE_NAME]}, request
        now = self.clock()
        last = self.accepted[-1] if self.accepted else None
        busy = last is not None and now < last + max(START_SPACING, timedelta(seconds=self.run_seconds))
        if busy or self.fail_with:
            self.refused += busy
            code = self.fail_with or "LimitExceededException"
            error = {
                "Error": {"Code": code, "Message": f"stubbed {code}"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
            return AWSResponse(params["url"], 400, HTTPHeaders(), None), error
        self.accepted.append(now)
        self.queued += 1
        return AWSResponse(params["url"], 200, HTTPHeaders(), None), {
            "ResponseMetadata": {"HTTPStatusCode": 200}
        }

    def deliver(self, handler: Callable[[dict[str, Any], Any], Any], token: str) -> int:
        """Invoke ``handler`` for every queued start as the behaviour does; returns invocations.

        Each invocation has a ResultToken of its own (``token`` and its number), as Config's do.
        """
        count = 0
        for _ in range(self.queued):
            sweep = [scheduled_event(self.parameters, self._token(token))]
            per_user = [change_event(item, self.parameters, self._token(token)) for item in self.items.values()]
            order = {
                Behaviour.S1: sweep,
                Behaviour.S2: per_user,
                Behaviour.S3: sweep + per_user,
                Behaviour.S3R: per_user + sweep,
            }[self.behaviour]
            for event in order:
                handler(event, None)
                count += 1
        self.queued = 0
        self.invocations += count
        return count

    def _token(self, prefix: str) -> str:
        """A ResultToken no other invocation had (Config's are unique)."""
        self.tokens += 1
        return f"{prefix}-{self.tokens}"
