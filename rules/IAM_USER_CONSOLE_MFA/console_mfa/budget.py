"""Time budgets, in one place: how long a sweep may read (Deadline) and whether the evaluations
still to write fit in the time left (WriteBudget). One of each per invocation, created by the
handler from Lambda's remaining time and passed explicitly to what reads or writes."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import boto3

from .errors import OutOfTime


@dataclass(frozen=True)
class Deadline:
    """Fail before Lambda kills the sweep, so a partial sweep is never written.

    ``reserve_ms`` is kept for rdklib's clean-up read and PutEvaluations after the sweep.
    """

    remaining_ms: Callable[[], int] | None = None
    reserve_ms: int = 20_000

    def seconds_left(self) -> float | None:
        if self.remaining_ms is None:
            return None
        return max(0.0, (self.remaining_ms() - self.reserve_ms) / 1000)

    def check(self, progress: str) -> None:
        if self.remaining_ms is not None and self.remaining_ms() < self.reserve_ms:
            raise OutOfTime(
                f"sweep stopped with {self.remaining_ms()} ms left ({progress}); nothing was "
                "written. Raise the Lambda timeout or use DataSource=credential-report."
            )


NO_DEADLINE = Deadline()


class WriteBudget:
    """Refuses a PutEvaluations batch when the batches still to come cannot finish in time.

    rdklib writes in batches of 100; a Lambda killed between two batches leaves a partly
    written sweep. Checking before each batch, with a reserve sized to every batch left,
    means the first batch is only sent when all of them fit (docs/operations.md). One per
    invocation, owned by the handler (``budgeted``): no budget outlives its invocation.
    """

    PER_BATCH_MS = 2_000  # one PutEvaluations with retries to spare (usually ~0.1 s)

    def __init__(self, remaining_ms: Callable[[], int] | None, evaluations: int = 1) -> None:
        self.remaining_ms = remaining_ms
        self.pending = evaluations  # a change evaluation: one batch, until a sweep says more
        self.written = 0

    def expect(self, evaluations: int) -> None:
        self.pending, self.written = evaluations, 0

    def before_batch(self, params: dict[str, Any], **_: Any) -> None:
        batch = len(params.get("Evaluations") or [])
        if self.remaining_ms is not None:
            batches_left = -(-max(self.pending, batch) // 100)
            left = self.remaining_ms()
            if left < batches_left * self.PER_BATCH_MS:
                raise OutOfTime(
                    f"PutEvaluations stopped with {left} ms left for {batches_left} batch(es): "
                    f"{self.written} evaluation(s) written, the rest keep their previous result"
                )
        self.pending = max(0, self.pending - batch)
        self.written += batch


@contextmanager
def budgeted(session: boto3.Session, budget: WriteBudget) -> Iterator[WriteBudget]:
    """Check ``budget`` before every PutEvaluations batch of the session while the block runs."""
    event, unique = "before-parameter-build.config-service.PutEvaluations", "console-mfa-write-budget"
    session.events.register(event, budget.before_batch, unique_id=unique)
    try:
        yield budget
    finally:
        session.events.unregister(event, unique_id=unique)
