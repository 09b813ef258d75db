"""Bounded concurrency for per-user IAM reads: a few calls in flight, results in input order.

IAM's global endpoint answers in tens of milliseconds; read one after another, 5,000 users
take minutes (8,000 calls at 50 ms: about 400 s, past the Lambda's timeout). A small pool of
threads overlaps that latency. It stays small because IAM's rate limits are undocumented and
cannot be raised: the clients' adaptive retry mode (console_mfa.aws) slows every thread down
together when IAM throttles. boto3 clients are thread-safe; the pool shares one.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor

from .errors import RuleError

WORKERS_ENV = "IAM_READ_WORKERS"
# 10: 8,000 calls at 50 ms in under a minute (make bench); the clients keep MAX_WORKERS
# connections (console_mfa.aws), so no thread waits for one.
DEFAULT_WORKERS = 10
MAX_WORKERS = 32


def read_workers(environ: Mapping[str, str] = os.environ) -> int:
    """IAM_READ_WORKERS (1 = one call at a time), else DEFAULT_WORKERS."""
    text = environ.get(WORKERS_ENV, "").strip()
    if not text:
        return DEFAULT_WORKERS
    if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise RuleError(f"{WORKERS_ENV}={text!r:.20}: expected a whole number from 1 to {MAX_WORKERS}")
    return int(text)


def ordered[T, R](task: Callable[[T], R], items: Sequence[T], workers: int) -> Iterator[R]:
    """task(item) for every item, at most ``workers`` at a time, yielded in the items' order.

    The first exception (in item order) is raised as it is reached, and every task not yet
    started is cancelled: one user's failure fails the whole sweep, and nothing after it runs.
    A task checks its own deadline (sweep.Deadline), so time running out stops the pool too.
    """
    if workers <= 1 or len(items) <= 1:
        yield from map(task, items)
        return
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="iam-read")
    futures: list[Future[R]] = [pool.submit(task, item) for item in items]
    try:
        for future in futures:
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
