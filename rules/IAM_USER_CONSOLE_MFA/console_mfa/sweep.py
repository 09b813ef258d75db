"""The periodic sweep: one assessment for every IAM user, from one data source.

This is the seam between fact collection and the decision: every path ends in
``decide`` on UserFacts, so the data source never changes a rule of the table.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from .decision import decide
from .errors import OutOfTime, UserGone
from .live import ListedUser, LiveIam
from .model import UserFacts, UserRef, Verdict
from .policy import Policy

LOG = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Assessment:
    user: UserRef
    facts: UserFacts
    verdict: Verdict


@dataclass(frozen=True, slots=True)
class Deadline:
    """Fail before Lambda kills the sweep, so a partial sweep is never written.

    ``reserve_ms`` is kept for rdklib's clean-up read and PutEvaluations after the sweep.
    """

    remaining_ms: Callable[[], int] | None = None
    reserve_ms: int = 20_000

    def check(self, progress: str) -> None:
        if self.remaining_ms is not None and self.remaining_ms() < self.reserve_ms:
            raise OutOfTime(
                f"sweep stopped with {self.remaining_ms()} ms left ({progress}); nothing was "
                "written. Raise the Lambda timeout or use DataSource=credential-report."
            )


def assess_live(live: LiveIam, listed: ListedUser, policy: Policy, now: datetime) -> Assessment:
    facts = live.confirm(listed.user, policy, listed.password_last_used)
    return Assessment(listed.user, facts, decide(facts, policy, now))


def sweep_live(
    live: LiveIam, users: list[ListedUser], policy: Policy, now: datetime, deadline: Deadline
) -> Iterator[Assessment]:
    """Two reads per console user (GetLoginProfile + ListMFADevices), one per other user."""
    for done, listed in enumerate(users):
        deadline.check(f"{done} of {len(users)} users inspected live")
        try:
            yield assess_live(live, listed, policy, now)
        except UserGone:
            LOG.info("user %s deleted during the sweep: skipped", listed.user.user_name)


NO_DEADLINE = Deadline()


def sweep(live: LiveIam, policy: Policy, now: datetime, deadline: Deadline = NO_DEADLINE) -> list[Assessment]:
    users = list(live.list_users())
    return list(sweep_live(live, users, policy, now, deadline))
