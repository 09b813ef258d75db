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
from console_mfa.changes import CLAIM_SECONDS, KEEP, ChangeStore, claim_all
from console_mfa.model import UserName
from console_mfa.reevaluate import TriggerStore

from tests.config_double import create_changes_table
from tests.stacks import STACKS

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
# The longest a run that claimed a change can still be writing: the rule's largest timeout.
LONGEST_RUN_SECONDS = STACKS["rule.yaml"]["Parameters"]["TimeoutSeconds"]["MaxValue"]


@pytest.fixture
def store(account: None) -> TriggerStore:
    session: Any = configured_session()
    table = create_changes_table(session)
    return TriggerStore(session.client("dynamodb", region_name="us-east-1"), table)


def record(store: TriggerStore, name: str, at: datetime) -> None:
    store.record([UserName(name)], lambda: at)


def test_a_change_outlives_every_evaluation_that_could_miss_it(store: TriggerStore) -> None:
    """A day's sweep period plus the credential report's four hours: a change recorded 28 h
    ago is still read; at KEEP it has expired (DynamoDB's TTL may not have deleted it yet)."""
    record(store, "bob", T0)
    assert [c.user_name for c in store.changes(T0 + timedelta(hours=28))] == ["bob"]
    assert [c.user_name for c in store.changes(T0 + KEEP - timedelta(milliseconds=1))] == ["bob"]
    assert store.changes(T0 + KEEP) == []


def test_a_change_is_claimed_once(store: TriggerStore) -> None:
    """Two runs that read the same change (a sweep and a change notification, under S3): the
    first claim wins, the second is refused, so the user is read and written once."""
    record(store, "bob", T0)
    (change,) = store.changes(T0)
    assert store.claim(change, T0 + timedelta(seconds=1))
    assert not store.claim(change, T0 + timedelta(seconds=2))
    record(store, "bob", T0 + timedelta(minutes=1))  # a newer change of bob: claimable again
    (newer,) = store.changes(T0 + timedelta(minutes=1))
    assert not store.claim(change, T0 + timedelta(minutes=2))  # the old version is gone
    assert store.claim(newer, T0 + timedelta(minutes=2))


def test_a_claim_is_another_runs_while_that_run_can_still_be_writing(store: TriggerStore) -> None:
    """A sweep leaves a user another run claimed to that run (it writes the user) for as long as
    a Lambda can run, then treats the claim as history and sweeps the user like any other."""
    assert CLAIM_SECONDS >= LONGEST_RUN_SECONDS
    record(store, "bob", T0)
    (change,) = store.changes(T0)
    assert store.claim(change, T0)
    running = claim_all(store, T0 + timedelta(seconds=CLAIM_SECONDS - 1))
    assert (running.read_live, running.elsewhere) == (frozenset(), frozenset({"bob"}))
    finished = claim_all(store, T0 + timedelta(seconds=CLAIM_SECONDS))
    assert (finished.read_live, finished.elsewhere) == (frozenset(), frozenset())


def test_a_sweep_claims_what_nobody_has_and_reads_it_live(store: TriggerStore) -> None:
    record(store, "bob", T0)
    record(store, "Carol", T0)
    claims = claim_all(store, T0 + timedelta(seconds=5))
    assert claims.read_live == frozenset({"bob", "carol"}) and claims.elsewhere == frozenset()
    again = claim_all(store, T0 + timedelta(seconds=6))  # a second sweep right after: theirs now
    assert again.read_live == frozenset() and again.elsewhere == frozenset({"bob", "carol"})


def test_the_triggers_own_item_is_no_change(store: TriggerStore) -> None:
    record(store, "bob", T0)
    store.mark_started(1)
    assert [c.user_name for c in ChangeStore(store.dynamodb, store.table).changes(T0)] == ["bob"]
