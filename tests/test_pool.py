"""console_mfa.pool and the sweep's concurrent reads: order, one failure, the deadline.

No timing is asserted here (make bench measures speed); only what concurrency must not change.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import pytest
from console_mfa.budget import Deadline
from console_mfa.errors import OutOfTime, RuleError
from console_mfa.live import LiveIam
from console_mfa.policy import DataSource, RuleParameters
from console_mfa.pool import DEFAULT_WORKERS, ordered, read_workers
from console_mfa.sweep import sweep

from iam_console_mfa.demo.account import Mfa, create_user
from tests.support import fail_operation


def test_results_come_in_the_items_order_whatever_finishes_first() -> None:
    def slow_first(i: int) -> int:
        time.sleep(0.002 * (20 - i))  # the first items finish last
        return i * i

    assert list(ordered(slow_first, list(range(20)), workers=8)) == [i * i for i in range(20)]


def test_one_failure_fails_the_whole_map_and_stops_what_has_not_started() -> None:
    started: list[int] = []
    lock = threading.Lock()
    failed = threading.Event()

    def task(i: int) -> int:
        with lock:
            started.append(i)
        if i == 0:
            raise RuleError("user 0 could not be read")
        # Hold both threads (2 s: the pool waits for running tasks before the error leaves it):
        # what has not started by then was cancelled, however slowly the caller is scheduled.
        failed.wait(timeout=2)
        return i

    with pytest.raises(RuleError, match="user 0 could not be read"):
        try:
            list(ordered(task, list(range(100)), workers=2))
        finally:
            failed.set()
    assert len(started) <= 4  # the rest were cancelled, not run


def test_the_workers_setting_is_checked() -> None:
    assert read_workers({}) == DEFAULT_WORKERS
    assert read_workers({"IAM_READ_WORKERS": "1"}) == 1
    for bad in ("0", "33", "eight", "-1"):
        with pytest.raises(RuleError, match="IAM_READ_WORKERS"):
            read_workers({"IAM_READ_WORKERS": bad})


def seed(iam: Any) -> None:
    for i in range(30):
        create_user(iam, f"u{i:02}", password=i % 3 != 0, mfa=Mfa.VIRTUAL if i % 3 == 1 else Mfa.NONE)


@pytest.mark.parametrize("source", [DataSource.LIVE, DataSource.CREDENTIAL_REPORT])
def test_concurrent_sweeps_equal_sequential_ones_in_order(iam: Any, source: DataSource) -> None:
    from console_mfa.aws import configured_session

    seed(iam)
    policy = RuleParameters(data_source=source)
    now = datetime.now(UTC)
    trail = configured_session().client("cloudtrail", region_name="us-east-1")  # the report's delta
    one = sweep(LiveIam(iam), policy, now, trail=trail, workers=1)
    eight = sweep(LiveIam(iam), policy, now, trail=trail, workers=8)
    assert [(a.user, a.verdict) for a in eight] == [(a.user, a.verdict) for a in one]
    assert [a.user.user_name for a in eight] == sorted(a.user.user_name for a in eight)  # ListUsers' order


def test_one_users_failure_fails_a_concurrent_sweep_loudly(iam: Any) -> None:
    from console_mfa.aws import configured_session

    seed(iam)
    fail_operation(configured_session(), "iam", "ListMFADevices", "AccessDenied", 403)
    client = configured_session().client("iam")
    with pytest.raises(RuleError, match="ListMFADevices for user u02 failed: AccessDenied"):
        sweep(
            LiveIam(client),
            RuleParameters(data_source=DataSource.LIVE),
            datetime.now(UTC),
            trail=None,
            workers=8,
        )


def test_the_deadline_stops_a_concurrent_sweep(iam: Any) -> None:
    seed(iam)
    left = [60_000]

    def remaining() -> int:
        left[0] -= 2_000  # each check costs 2 s of the Lambda's time
        return left[0]

    with pytest.raises(OutOfTime, match=r"users inspected live\); nothing was written"):
        sweep(
            LiveIam(iam),
            RuleParameters(data_source=DataSource.LIVE),
            datetime.now(UTC),
            Deadline(remaining),
            trail=None,
            workers=8,
        )
