"""The near-real-time change store: users named by IAM change events, waiting to be evaluated.

Why a store: CloudTrail delivers to event history minutes after the call (about 5 on average,
no guarantee), so an evaluation started by an IAM event cannot learn from LookupEvents who
changed. The trigger (console_mfa.reevaluate) records the users its events name here, before
it starts the evaluation; whatever Config then sends reads them:
- a sweep (ScheduledNotification) reads live every user whose change is newer than its
  credential report, whatever the report or event history says;
- a change notification whose configuration item is old (a re-evaluation replaying the
  last recorded item) is evaluated only when its user is recorded here, and skipped otherwise.

Each recorded change is *claimed* once, with a conditional write, by the evaluation that reads
it live: when Config sends per-user notifications, a replayed user is read once, not by every
notification. A claim names its run (a digest of the Config invocation's ResultToken), so a
retry of a failed run finds its own claim.

The store can only add work: whatever an item says, it can make a sweep read a user live,
never leave a user out of a sweep or of its writes. Claims only decide which per-user
notification reads a user; a sweep reads a changed user whoever claimed it. Anyone who can
write the table (the stack gives it a resource policy that lets only the two functions
write) could still forge an item: an item whose name is not an IAM user name is ignored and
logged, and one whose times are impossible (in the future, not numbers) makes its user be
read live, unclaimed.

One DynamoDB table (rule.yaml, ChangesTable), partition key ``user``: the user name
lower-cased (IAM user names are unique case-insensitively). Items expire by TTL
(``expires``); the sweep also ignores expired items DynamoDB has not deleted yet. The item
``#trigger`` (no user name holds ``#``) is the trigger's own state: the last recording and
the last accepted start.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Callable
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import ClientError

from .aws import error_code, translated
from .model import USER_NAME, UserName, user_key
from .sweep import NO_CLAIMS, Claims

if TYPE_CHECKING:  # type stubs only (a development dependency): the Lambda has boto3
    from mypy_boto3_dynamodb import DynamoDBClient

LOG = logging.getLogger(__name__)
TABLE_ENV = "CHANGES_TABLE"
TRIGGER_KEY = "#trigger"
# Longer than the longest sweep period (24 h) plus the report's age (4 h): a recorded change
# outlives every evaluation that could miss it.
KEEP = timedelta(days=2)
# Clocks of the trigger's and the rule's Lambdas differ by far less; a time later than this
# ahead of ours was not written by them.
CLOCK_SKEW_MS = 5 * 60 * 1000
_DIGITS = re.compile(r"[0-9]{1,16}")


def epoch_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def run_id(result_token: str) -> str:
    """Who holds a claim: the Config invocation (its ResultToken), the same for its retries."""
    return hashlib.sha256(result_token.encode()).hexdigest()[:16]


class Change(NamedTuple):
    """One recorded change: ``version`` is when it was recorded (epoch ms), its identity.

    ``suspect``: the item's times are impossible; its user is read live and never claimed.
    """

    user_name: UserName
    version: int
    claimed: int | None = None  # the version a run claimed
    claimed_at: int | None = None  # when (epoch ms)
    claimed_by: str | None = None  # which run (run_id)
    suspect: bool = False

    @property
    def unclaimed(self) -> bool:
        return not self.suspect and self.claimed != self.version

    def held_by(self, run: str) -> bool:
        return not self.suspect and not self.unclaimed and self.claimed_by == run


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
                found.extend(c for c in (_change(i, now) for i in page["Items"]) if c is not None)
        return sorted(found, key=lambda c: user_key(c.user_name))

    def change(self, user_name: str, now: datetime) -> Change | None:
        with translated("GetItem", user_name):
            item = self.dynamodb.get_item(
                TableName=self.table, Key={"user": {"S": user_key(user_name)}}, ConsistentRead=True
            ).get("Item")
        return _change(item, now) if item else None

    def claim(self, change: Change, now: datetime, run: str) -> bool:
        """Take this version of the change for ``run``; False when another run has it (or a
        newer change replaced it: the run that reads that one follows)."""
        return self._update(
            user_key(change.user_name),
            "SET claimed = :v, claimed_at = :t, claimed_by = :r",
            "version = :v AND (attribute_not_exists(claimed) OR claimed <> :v)",
            {":v": {"N": str(change.version)}, ":t": {"N": str(epoch_ms(now))}, ":r": {"S": run}},
        )


def claim_all(store: ChangeStore | None, now: datetime, run: str) -> Claims:
    """A sweep claims every unclaimed change (its own earlier claims, a retry's, stay its own),
    so that per-user notifications of the same start do not read them again; and it learns
    when each user's change was recorded, to read live those newer than its data."""
    if store is None:
        return NO_CLAIMS
    mine: set[str] = set()
    recorded: dict[str, int | None] = {}
    for change in store.changes(now):
        key = user_key(change.user_name)
        recorded[key] = None if change.suspect else change.version
        if change.held_by(run) or (change.unclaimed and store.claim(change, now, run)):
            mine.add(key)
    return Claims(frozenset(mine), MappingProxyType(recorded))


def _change(item: dict[str, Any], now: datetime) -> Change | None:
    """The item as a live Change; None for the trigger's item, an expired change, or an item
    that names no IAM user (logged: nobody but a forger writes one)."""
    key = _text(item, "user")
    if key == TRIGGER_KEY:
        return None
    name = _text(item, "user_name")
    if name is None or not USER_NAME.fullmatch(name) or key != user_key(name):
        LOG.warning("change store: item %.80r names no IAM user: ignored", key, extra={"forged_item": key})
        return None
    numbers = {f: _number(item, f) for f in ("version", "claimed", "claimed_at")}
    version = numbers["version"]
    limit = epoch_ms(now) + CLOCK_SKEW_MS
    if version is None or any(n is not None and n > limit for n in numbers.values()):
        LOG.warning(
            "change store: the item of %s holds impossible times: its user is read live",
            name,
            extra={"forged_item": key},
        )
        return Change(UserName(name), version or 0, suspect=True)
    if epoch_ms(now) - version >= KEEP.total_seconds() * 1000:
        return None  # expired; DynamoDB's TTL deletes it within days
    claimed_by = _text(item, "claimed_by")
    return Change(UserName(name), version, numbers["claimed"], numbers["claimed_at"], claimed_by)


def _text(item: dict[str, Any], field: str) -> str | None:
    value = item.get(field)
    text = value.get("S") if isinstance(value, dict) else None
    return text if isinstance(text, str) else None


def _number(item: dict[str, Any], field: str) -> int | None:
    """A whole number the item holds, None when absent; beyond every limit when not digits."""
    value = item.get(field)
    if value is None:
        return None
    text = value.get("N") if isinstance(value, dict) else None
    return int(text) if isinstance(text, str) and _DIGITS.fullmatch(text) else 2**63
