"""The near-real-time change store (console_mfa.changes) on moto's DynamoDB: how long a
recorded change lives, and how a change is claimed once across runs that overlap.

The table has rule.yaml's key schema; the trigger's own recording (TriggerStore.record) writes
the changes, as in production.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from console_mfa.aws import configured_session
from console_mfa.changes import KEEP, ChangeStore, claim_all, run_id
from console_mfa.errors import AwsCallFailed
from console_mfa.model import UserName
from console_mfa.reevaluate import TriggerStore

from tests.config_double import create_changes_table
from tests.support import fail_operation

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
RUN, OTHER = run_id("token-of-this-run"), run_id("token-of-another-run")
CLOCK_SKEW = timedelta(minutes=5)  # the design's skew, stated here, not read from the code


@pytest.fixture
def store(account: None) -> TriggerStore:
    session: Any = configured_session()
    table = create_changes_table(session)
    return TriggerStore(session.client("dynamodb", region_name="us-east-1"), table)


def record(store: TriggerStore, name: str, at: datetime) -> None:
    store.record([UserName(name)], lambda: at)


def test_a_change_outlives_every_evaluation_that_could_miss_it(store: TriggerStore) -> None:
    """A day's sweep period plus the credential report's four hours: a change recorded 28 h
    ago is still read; at two days (KEEP) it has expired (DynamoDB's TTL may not have deleted
    it yet)."""
    record(store, "bob", T0)
    assert [c.user_name for c in store.changes(T0 + timedelta(hours=28))] == ["bob"]
    assert [c.user_name for c in store.changes(T0 + timedelta(days=2) - timedelta(milliseconds=1))] == ["bob"]
    assert store.changes(T0 + timedelta(days=2)) == []
    assert store.changes(T0 + timedelta(days=3)) == []  # and long after
    assert timedelta(days=2) == KEEP  # what the table's TTL attribute is set from


def test_one_users_change_is_read_by_its_key(store: TriggerStore) -> None:
    """A change notification reads its user's item alone (GetItem), by the case-insensitive key."""
    record(store, "Bob", T0)
    found = store.change("BOB", T0)
    assert found is not None and found.user_name == "Bob" and found.unclaimed
    assert store.change("carol", T0) is None


def test_every_read_of_the_store_is_strongly_consistent(store: TriggerStore) -> None:
    """A change recorded a moment before the run that reads it must be seen: DynamoDB's
    eventually consistent reads may miss a write of the last second."""
    reads: list[tuple[str, object]] = []

    def seen(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in ("Scan", "GetItem", "Query"):
            reads.append((model.name, params.get("ConsistentRead")))

    store.dynamodb.meta.events.register("before-parameter-build.dynamodb", seen)
    record(store, "bob", T0)
    store.changes(T0)
    store.change("bob", T0)
    store.trigger_state()
    assert sorted(reads) == [("GetItem", True), ("GetItem", True), ("Scan", True)]


def test_a_change_is_claimed_once(store: TriggerStore) -> None:
    """Two runs that read the same change (a sweep and a change notification, under S3): the
    first claim wins, the second is refused, so the user is read and written once."""
    record(store, "bob", T0)
    (change,) = store.changes(T0)
    assert store.claim(change, T0 + timedelta(seconds=1), RUN)
    assert not store.claim(change, T0 + timedelta(seconds=2), OTHER)
    record(store, "bob", T0 + timedelta(minutes=1))  # a newer change of bob: claimable again
    (newer,) = store.changes(T0 + timedelta(minutes=1))
    assert not store.claim(change, T0 + timedelta(minutes=2), RUN)  # the old version is gone
    assert store.claim(newer, T0 + timedelta(minutes=2), RUN)


def test_a_claim_never_keeps_a_newer_change_from_a_sweep(store: TriggerStore) -> None:
    """bob's change is claimed by another run (a per-user notification, which may have failed or
    written first): a sweep whose credential report predates the change still reads bob live;
    one whose report was generated after it trusts the report."""
    record(store, "bob", T0)
    (change,) = store.changes(T0)
    assert store.claim(change, T0, OTHER)
    claims = claim_all(store, T0 + timedelta(minutes=1), RUN)
    assert claims.mine == frozenset() and dict(claims.recorded) == {"bob": change.version}
    assert claims.changed_since(T0 - timedelta(hours=3)) == {"bob"}  # an older report
    assert claims.changed_since(T0 + CLOCK_SKEW) == {"bob"}  # IAM's and our clocks may differ
    assert claims.changed_since(T0 + CLOCK_SKEW + timedelta(milliseconds=1)) == set()


def test_a_sweep_claims_what_nobody_has(store: TriggerStore) -> None:
    record(store, "bob", T0)
    record(store, "Carol", T0)
    claims = claim_all(store, T0 + timedelta(seconds=5), RUN)
    assert claims.mine == frozenset({"bob", "carol"})
    again = claim_all(store, T0 + timedelta(seconds=6), OTHER)  # another sweep right after
    assert again.mine == frozenset() and set(again.recorded) == {"bob", "carol"}


def test_a_failed_runs_retry_finds_its_own_claim(store: TriggerStore) -> None:
    """Config retries a failed invocation with the same ResultToken: the retry holds the claim
    its first attempt took, so the user is read live by it, not skipped."""
    record(store, "bob", T0)
    (change,) = store.changes(T0)
    assert store.claim(change, T0, RUN)
    (held,) = store.changes(T0 + timedelta(seconds=30))
    assert held.held_by(RUN) and not held.held_by(OTHER)
    assert claim_all(store, T0 + timedelta(seconds=30), RUN).mine == frozenset({"bob"})


def put(store: TriggerStore, item: dict[str, Any]) -> None:
    """What anyone with dynamodb:PutItem on the table could write."""
    store.dynamodb.put_item(TableName=store.table, Item=item)


FUTURE = str(int((T0 + timedelta(days=365)).timestamp() * 1000))
NOW_MS = str(int(T0.timestamp() * 1000))


@pytest.mark.parametrize(
    "item",
    [
        # a claim in the future: it would look recent for a year
        {"version": {"N": NOW_MS}, "claimed": {"N": NOW_MS}, "claimed_at": {"N": FUTURE}},
        # a version in the future: it would never expire, nor be claimable
        {"version": {"N": FUTURE}},
        {"version": {"N": "1.5E12"}},  # not a whole number of milliseconds
        {"version": {"S": NOW_MS}},  # a number as a string
        {"claimed": {"N": NOW_MS}},  # no version at all
        {"version": {"N": NOW_MS}, "claimed": {"N": "-1"}},
    ],
)
def test_an_item_with_impossible_times_makes_its_user_read_live(
    store: TriggerStore, item: dict[str, Any]
) -> None:
    put(store, {"user": {"S": "mallory"}, "user_name": {"S": "mallory"}, **item})
    (change,) = store.changes(T0)
    assert change.suspect and not change.unclaimed and not change.held_by(RUN)
    claims = claim_all(store, T0, RUN)
    assert claims.changed_since(T0 + timedelta(days=30)) == {"mallory"}  # whatever the report's age


@pytest.mark.parametrize(
    "item",
    [
        {"user": {"S": "bob"}},  # no user_name
        {"user": {"S": "bob"}, "user_name": {"S": "alice"}},  # the key names another user
        {"user": {"S": "alice"}, "user_name": {"S": "bob"}},  # (whichever sorts first)
        {"user": {"S": "bob"}, "user_name": {"S": ""}},
        {"user": {"S": "a" * 65}, "user_name": {"S": "a" * 65}},  # longer than IAM allows
        {"user": {"S": "bob/x"}, "user_name": {"S": "bob/x"}},
        {"user": {"S": "bob"}, "user_name": {"N": "1"}},
        {"user": {"S": "!bob"}, "user_name": {"S": "!bob"}},  # sorts before the trigger's own key
    ],
)
def test_an_item_that_names_no_iam_user_is_ignored_not_a_crash(
    store: TriggerStore, item: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    put(store, {**item, "version": {"N": NOW_MS}})
    record(store, "carol", T0)
    assert [c.user_name for c in store.changes(T0)] == ["carol"]
    assert set(claim_all(store, T0, RUN).recorded) == {"carol"}
    assert "names no IAM user: ignored" in caplog.text  # logged: nobody but a forger writes one


def test_the_triggers_own_item_is_no_change(store: TriggerStore, caplog: pytest.LogCaptureFixture) -> None:
    record(store, "bob", T0)
    store.mark_started(1)
    assert [c.user_name for c in ChangeStore(store.dynamodb, store.table).changes(T0)] == ["bob"]
    assert caplog.records == []  # known as the trigger's: never mistaken for a forged item


@pytest.mark.parametrize(
    ("ahead", "suspect"),
    [
        (timedelta(seconds=0), False),
        (timedelta(minutes=4), False),  # the trigger's clock a little ahead of the rule's
        (CLOCK_SKEW, False),
        (CLOCK_SKEW + timedelta(milliseconds=1), True),
        (timedelta(hours=1), True),
    ],
)
def test_a_time_ahead_of_the_rules_clock_is_suspect_only_beyond_the_skew(
    store: TriggerStore, ahead: timedelta, suspect: bool
) -> None:
    """Two Lambdas' clocks differ a little: a change recorded up to CLOCK_SKEW_MS ahead is an
    ordinary change, claimed once; later than that, nobody of ours wrote it."""
    record(store, "bob", T0 + ahead)
    (change,) = store.changes(T0)
    assert change.suspect is suspect
    assert change.unclaimed is not suspect


@pytest.mark.parametrize("code", ["AccessDeniedException", "ResourceNotFoundException"])
def test_a_failed_write_names_the_user_and_never_the_triggers_own_item(store: TriggerStore, code: str) -> None:
    """UpdateItem refused: an error, never read as another run's claim (only
    ConditionalCheckFailedException says that); a claim's error names its user, the trigger's
    state is nobody's."""
    record(store, "bob", T0)
    session: Any = configured_session()
    fail_operation(session, "dynamodb", "UpdateItem", code)
    denied = TriggerStore(session.client("dynamodb", region_name="us-east-1"), store.table)
    (change,) = denied.changes(T0)
    with pytest.raises(AwsCallFailed, match=rf"^UpdateItem for user bob failed: {code}"):
        denied.claim(change, T0, RUN)
    with pytest.raises(AwsCallFailed, match=rf"^UpdateItem failed: {code}") as raised:
        denied.mark_started(1)
    assert raised.value.user is None
