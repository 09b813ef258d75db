"""Which evaluations a sweep writes: only what changed since Config's last results. Pure.

AWS Config bills every recorded evaluation (docs/cost-and-scale.md). A sweep that wrote
every user would pay N evaluations for an account where nothing changed; this plan writes:
- users new to Config, or whose verdict changed: another compliance type, or a recorded
  annotation that does not begin with the verdict's comparison key (model.Verdict: the
  decision renders the key, so the "last used" date and the data source's way of describing
  MFA devices, which follow it, never count as a change, and no text is parsed here);
- users whose last recorded result is RefreshDays old or older (age >= RefreshDays: a lost
  or wrong write heals by itself, and audit evidence stays recent);
- users Config still holds as COMPLIANT or NON_COMPLIANT who were not listed: NOT_APPLICABLE,
  but only when that result was recorded before the listing began (less a margin for clocks):
  a user created while the sweep ran has a newer result and is not in the listing, so it is
  left alone; the next sweep lists it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import NamedTuple

from .model import Compliance, UserId, Verdict

DELETED = "the user no longer exists"
# Config's ResultRecordedTime and the Lambda's clock may differ: a result recorded less than
# this before the listing might be newer than it.
CLOCK_MARGIN = timedelta(minutes=5)


class Recorded(NamedTuple):
    """One result as Config holds it (GetComplianceDetailsByConfigRule)."""

    compliance: Compliance
    annotation: str
    recorded: datetime


class Write(NamedTuple):
    user_id: UserId
    compliance: Compliance
    annotation: str
    why: str  # new, changed, refresh, deleted


class WritePlan(NamedTuple):
    writes: list[Write]
    unchanged: int  # verdicts equal to Config's, recorded less than RefreshDays ago: not written

    def counts(self) -> dict[str, int]:
        counted = {"new": 0, "changed": 0, "refresh": 0, "deleted": 0}
        for write in self.writes:
            counted[write.why] += 1
        return {**counted, "unchanged": self.unchanged}


def plan_writes(
    verdicts: Iterable[tuple[UserId, Verdict]],
    recorded: Mapping[UserId, Recorded],
    now: datetime,
    refresh_days: int,
    listed_at: datetime,
) -> WritePlan:
    """``listed_at``: when ListUsers began; an unlisted user is deleted only if its result is older."""
    writes: list[Write] = []
    unchanged = 0
    seen: set[UserId] = set()
    for user_id, verdict in verdicts:
        seen.add(user_id)
        held = recorded.get(user_id)
        if held is None:
            why = "new"
        elif held.compliance is not verdict.compliance or not held.annotation.startswith(
            verdict.comparison_key
        ):
            why = "changed"
        elif now - held.recorded >= timedelta(days=refresh_days):
            why = "refresh"
        else:
            unchanged += 1
            continue
        writes.append(Write(user_id, verdict.compliance, verdict.annotation, why))
    for user_id, held in recorded.items():
        gone = held.recorded < listed_at - CLOCK_MARGIN
        if user_id not in seen and gone and held.compliance is not Compliance.NOT_APPLICABLE:
            writes.append(Write(user_id, Compliance.NOT_APPLICABLE, DELETED, "deleted"))
    return WritePlan(writes, unchanged)
