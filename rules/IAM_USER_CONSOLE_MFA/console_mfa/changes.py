"""The near-real-time change store: users named by IAM change events, waiting to be evaluated.

Why a store: CloudTrail delivers to event history minutes after the call (about 5 on average,
no guarantee), so an evaluation started by an IAM event cannot learn from LookupEvents who
changed. The trigger (console_mfa.reevaluate) records the users its events name here, before
it starts the evaluation; whatever Config then sends reads them:
- a sweep (ScheduledNotification) reads every recorded user live, whatever the credential
  report or event history says;
- a change notification whose configuration item is old (a re-evaluation replaying the
  last recorded item) is evaluated only when its user is recorded here, and skipped otherwise.

Each recorded change is *claimed* once, with a conditional write, by the evaluation that reads
it live: when Config sends both a sweep and per-user notifications, a changed user is read and
written once, not twice. A claim older than CLAIM_SECONDS is history, not a run in progress.

One DynamoDB table (rule.yaml, ChangesTable), partition key ``user``: the user name
lower-cased (IAM user names are unique case-insensitively). Items expire by TTL
(``expires``); the sweep also ignores expired items DynamoDB has not deleted yet. The item
``#trigger`` (no user name holds ``#``) is the trigger's own state: the last recording and
the last accepted start.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import ClientError

from .aws import error_code, translated
from .model import UserName, user_key
from .sweep import NO_CLAIMS, Claims

if TYPE_CHECKING:  # type stubs only (a development dependency): the Lambda has boto3
    from mypy_boto3_dynamodb import DynamoDBClient

TABLE_ENV = "CHANGES_TABLE"
TRIGGER_KEY = "#trigger"
# Longer than the longest sweep period (24 h) plus the report's age (4 h): a recorded change
# outlives every evaluation that could miss it.
KEEP = timedelta(days=2)
# A claim younger than this may be held by a run still in progress (Lambda's 15-minute maximum).
CLAIM_SECONDS = 15 * 60


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class Change(NamedTuple):
    """One recorded change: ``version`` is when it was recorded (epoch ms), its identity."""

    user_name: UserName
    version: int
    claimed: int | None = None  # the version a run claimed
    claimed_at: int | None = None  # when (epoch ms)

    @property
    def unclaimed(self) -> bool:
        return self.claimed != self.version

    def claimed_recently(self, now: datetime) -> bool:
        return not self.unclaimed and epoch_ms(now) - (self.claimed_at or 0) < CLAIM_SECONDS * 1000


class ChangeStore:
    """One DynamoDB table of recorded changes (a plain class: cheap to define at cold start)."""

    def __init__(self, dynamodb: DynamoDBClient, table: str) -> None:
        self.dynamodb, self.table = dynamodb, table

    @classmethod
    def from_env(cls, client: Callable[[], Any]) -> ChangeStore | None:
        """The store the stack names in CHANGES_TABLE; None without near-real-time (no client made)."""
        table = os.environ.get(TABLE_ENV, "")
        return cls(client(), table) if table else None

    def _update(self, key: str, update: str, condition: str, values: dict[str, Any]) -> bool:
        """One conditional UpdateItem; False when the condition does not hold."""
        try:
            self.dynamodb.update_item(
                TableName=self.table,
                Key={"user": {"S": key}},
                UpdateExpression=update,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except ClientError as error:
            if error_code(error) == "ConditionalCheckFailedException":
                return False
            with translated("UpdateItem", None if key == TRIGGER_KEY else key):
                raise
        return True

    def changes(self, now: datetime) -> list[Change]:
        """Every recorded, unexpired change (a Scan: the table holds the last two days' changes)."""
        found: list[Change] = []
        with translated("Scan"):
            for page in self.dynamodb.get_paginator("scan").paginate(TableName=self.table, ConsistentRead=True):
                found.extend(c for c in map(_change, page["Items"]) if c is not None and _alive(c, now))
        return sorted(found, key=lambda c: user_key(c.user_name))

    def change(self, user_name: str) -> Change | None:
        with translated("GetItem", user_name):
            item = self.dynamodb.get_item(
                TableName=self.table, Key={"user": {"S": user_key(user_name)}}, ConsistentRead=True
            ).get("Item")
        return _change(item) if item else None

    def claim(self, change: Change, now: datetime) -> bool:
        """Take this version of the change for the calling run; False when another run has it
        (or a newer change replaced it: the run that reads that one follows)."""
        return self._update(
            user_key(change.user_name),
            "SET claimed = :v, claimed_at = :t",
            "version = :v AND (attribute_not_exists(claimed) OR claimed <> :v)",
            {":v": {"N": str(change.version)}, ":t": {"N": str(epoch_ms(now))}},
        )


def claim_all(store: ChangeStore | None, now: datetime) -> Claims:
    """A sweep claims every unclaimed change; recent claims of other runs are theirs."""
    if store is None:
        return NO_CLAIMS
    mine: set[str] = set()
    theirs: set[str] = set()
    for change in store.changes(now):
        key = user_key(change.user_name)
        if change.unclaimed and store.claim(change, now):
            mine.add(key)
        elif change.claimed_recently(now):
            theirs.add(key)
    return Claims(frozenset(mine), frozenset(theirs))


def _change(item: dict[str, Any]) -> Change | None:
    if item["user"]["S"] == TRIGGER_KEY:
        return None
    number = _numbers(item)
    return Change(
        UserName(item["user_name"]["S"]), number["version"], number.get("claimed"), number.get("claimed_at")
    )


def _numbers(item: dict[str, Any]) -> dict[str, int]:
    return {k: int(v["N"]) for k, v in item.items() if "N" in v}


def _alive(change: Change, now: datetime) -> bool:
    return epoch_ms(now) - change.version < KEEP.total_seconds() * 1000
