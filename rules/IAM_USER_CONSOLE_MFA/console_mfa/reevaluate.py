"""Near-real-time: re-run the rule minutes after an IAM change that no configuration item shows.

CreateLoginProfile, EnableMFADevice, DeactivateMFADevice and DeleteLoginProfile change no field
of the AWS::IAM::User configuration item, so Config's change trigger never fires for them.
An EventBridge rule on those CloudTrail events feeds an SQS queue; this small function (its
own role) drains the queue in batches:

1. it records the users the events name in the change store (console_mfa.changes), so the
   evaluation reads them live even before CloudTrail's event history shows the change;
2. it starts the rule's evaluation (StartConfigRulesEvaluation), at most once per
   START_INTERVAL, and only when a change was recorded after the last accepted start;
3. when Config refuses (an evaluation in progress, or a start less than a minute ago) or the
   interval has not passed, it sends one delayed retry message to its own queue instead of
   failing the batch: the events are already recorded, nothing cycles into the dead-letter
   queue, and a burst of events costs a few starts.

A separate function rather than the rule's Lambda: the rule's Lambda is invoked by Config
with a ResultToken and must stay exactly that.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import boto3
from botocore.exceptions import ClientError

from .aws import RETRY_CONFIG, error_code, translated
from .changes import KEEP, TRIGGER_KEY, ChangeStore, epoch_ms
from .model import UserName, user_key
from .trail import IAM_SOURCE, VERDICT_EVENTS, changed_nothing, changed_user

if TYPE_CHECKING:  # type stubs only (a development dependency): the Lambda has boto3
    from mypy_boto3_config import ConfigServiceClient
    from mypy_boto3_sqs import SQSClient

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)
# Config refuses a start while the rule's last evaluation runs, or within a minute of the last.
BUSY = ("LimitExceededException", "ResourceInUseException")
START_INTERVAL_MS = 3 * 60 * 1000  # a burst of events over 10 minutes: about 4 starts
RETRY_DELAY_MS = 2 * 60 * 1000  # after a refused start
SQS_MAX_DELAY_SECONDS = 900
RETRY_BODY = {"iam-console-mfa": "retry-start"}


# A new version of the user's change, unclaimed whatever was claimed before.
RECORD = "SET user_name = :n, version = :v, expires = :e REMOVE claimed, claimed_at, claimed_by"


class TriggerState(NamedTuple):
    recorded: int = 0  # latest recording (epoch ms)
    started: int = 0  # latest accepted StartConfigRulesEvaluation, taken just before the call
    retry_due: int = 0  # a delayed retry message is due then


class TriggerStore(ChangeStore):
    """The change store as the trigger writes it: users' changes, and its own state (TRIGGER_KEY)."""

    def record(self, user_names: Iterable[UserName], clock: Callable[[], datetime]) -> int:
        """Record each user's change (a new version, unclaimed); returns how many.

        The trigger's ``recorded`` time is read after the writes: a start requested later
        (start_if_due) is sure to find them in the store.
        """
        now = clock()
        version = epoch_ms(now)
        expires = int((now + KEEP).timestamp())
        unique = sorted({user_key(n): n for n in user_names}.items())
        for key, name in unique:
            with translated("UpdateItem", name):
                self.dynamodb.update_item(
                    TableName=self.table,
                    Key={"user": {"S": key}},
                    UpdateExpression=RECORD,
                    ExpressionAttributeValues={
                        ":n": {"S": name},
                        ":v": {"N": str(version)},
                        ":e": {"N": str(expires)},
                    },
                )
        if unique:
            self._advance("recorded", epoch_ms(clock()))
        return len(unique)

    def trigger_state(self) -> TriggerState:
        with translated("GetItem"):
            item = self.dynamodb.get_item(
                TableName=self.table, Key={"user": {"S": TRIGGER_KEY}}, ConsistentRead=True
            ).get("Item", {})
        return TriggerState(*(int(item[f]["N"]) if f in item else 0 for f in TriggerState._fields))

    def mark_started(self, started: int) -> None:
        self._advance("started", started)

    def note_retry(self, due: int) -> None:
        """A retry message is due then: until that time, another refused start sends none."""
        self._advance("retry_due", due)

    def _advance(self, field: str, value: int) -> None:
        """Times of the trigger only move forward, whichever concurrent batch writes last."""
        self._update(
            TRIGGER_KEY,
            f"SET {field} = :x",
            f"attribute_not_exists({field}) OR {field} < :x",
            {":x": {"N": str(value)}},
        )


class Batch(NamedTuple):
    users: set[UserName]
    failed: list[str]  # messageIds of records that name no user: retried, then dead letters
    events: int


def read_batch(records: list[dict[str, Any]]) -> Batch:
    """The users an SQS batch of EventBridge "AWS API Call via CloudTrail" events names."""
    users: set[UserName] = set()
    failed: list[str] = []
    events = 0
    for record in records:
        message_id = str(record.get("messageId", "?"))
        try:
            body = json.loads(record.get("body") or "")
        except ValueError:
            body = None
        if body == RETRY_BODY:
            continue
        detail = body.get("detail") if isinstance(body, dict) else None
        if not isinstance(detail, dict):
            LOG.error(
                "message %s is not an EventBridge event with a detail: left for the dead-letter queue",
                message_id,
            )
            failed.append(message_id)
            continue
        if detail.get("eventSource") != IAM_SOURCE or detail.get("eventName") not in VERDICT_EVENTS:
            LOG.info(
                "message %s: %s %s is not an IAM change this rule reads: ignored",
                message_id,
                detail.get("eventSource"),
                detail.get("eventName"),
            )
            continue
        if changed_nothing(detail):
            LOG.info("message %s: %s failed or was the root user's: ignored", message_id, detail["eventName"])
            continue
        name = changed_user(detail)
        if name is None:
            LOG.error(
                "message %s: %s names no IAM user: left for the dead-letter queue",
                message_id,
                detail["eventName"],
            )
            failed.append(message_id)
            continue
        events += 1
        users.add(name)
    return Batch(users, failed, events)


def start_if_due(
    store: TriggerStore,
    config: ConfigServiceClient,
    sqs: SQSClient,
    queue_url: str,
    rule_name: str,
    clock: Callable[[], datetime],
) -> str:
    """Start the rule's evaluation when a recorded change is not yet covered by an accepted one.

    A start covers every change recorded before it was requested: ``started`` is read after
    the recordings and before the call. Returns what happened: covered, deferred, busy, started.
    """
    state = store.trigger_state()
    now = epoch_ms(clock())
    if state.recorded <= state.started:
        return "covered"
    if now < state.started + START_INTERVAL_MS:
        _schedule_retry(store, sqs, queue_url, state.retry_due, state.started + START_INTERVAL_MS, clock)
        return "deferred"
    try:
        config.start_config_rules_evaluation(ConfigRuleNames=[rule_name])
    except ClientError as error:
        if error_code(error) not in BUSY:
            with translated("StartConfigRulesEvaluation"):
                raise
        _schedule_retry(store, sqs, queue_url, state.retry_due, now + RETRY_DELAY_MS, clock)
        return "busy"
    store.mark_started(now)
    return "started"


def _schedule_retry(
    store: TriggerStore,
    sqs: SQSClient,
    queue_url: str,
    pending_due: int,
    due: int,
    clock: Callable[[], datetime],
) -> None:
    """One delayed message to this queue, unless one is already pending (it will do)."""
    now = epoch_ms(clock())
    if pending_due > now:
        return
    delay = min(SQS_MAX_DELAY_SECONDS, max(0, -(-(due - now) // 1000)))
    with translated("SendMessage"):
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(RETRY_BODY), DelaySeconds=delay)
    store.note_retry(now + delay * 1000)


def handler(
    event: dict[str, Any],
    context: Any,
    clients: dict[str, Any] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> dict[str, Any]:
    """SQS batch of IAM change events (and our own retry messages) -> the store, and a start.

    Returns Lambda's partial batch response (the mapping reports ReportBatchItemFailures):
    only records that name no user go back to the queue, and from there to the dead-letter
    queue and its alarm. An AWS error (the store, SQS, a start refused for any other reason
    than busy) fails the whole batch loudly; it is retried, and recording again is harmless.
    """
    rule_name = os.environ["CONFIG_RULE_NAME"]
    clients = clients or {
        "config": boto3.client("config", config=RETRY_CONFIG),
        "dynamodb": boto3.client("dynamodb", config=RETRY_CONFIG),
        "sqs": boto3.client("sqs", config=RETRY_CONFIG),
    }
    store = TriggerStore(clients["dynamodb"], os.environ["CHANGES_TABLE"])
    batch = read_batch(event.get("Records") or [])
    store.record(batch.users, clock)
    outcome = start_if_due(store, clients["config"], clients["sqs"], os.environ["QUEUE_URL"], rule_name, clock)
    LOG.info(
        "%d IAM change(s) of %d user(s); start: %s; %d record(s) failed",
        batch.events,
        len(batch.users),
        outcome,
        len(batch.failed),
        # rule.yaml's LoggingConfig JSON makes these keys (docs/operations.md)
        extra={
            "batch": {
                "rule": rule_name,
                "events": batch.events,
                "users": sorted(batch.users),
                "start": outcome,
                "failed": batch.failed,
            }
        },
    )
    return {"batchItemFailures": [{"itemIdentifier": m} for m in batch.failed]}
