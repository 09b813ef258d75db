"""The risk level a person acts on first (report, Security Hub severity): pure, no AWS."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from console_mfa.model import LastUse, MfaKind, UserFacts, UserId, UserName, UserRef
from console_mfa.risk import Risk, risk

NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
BOB = UserRef(UserId("AIDABOB"), UserName("bob"))


def facts(password: bool = True, mfa: bool = False, last_used: datetime | LastUse = LastUse.NEVER) -> UserFacts:
    kinds = (MfaKind.VIRTUAL,) if mfa else ()
    return UserFacts(BOB, NOW - timedelta(days=90) if password else None, kinds, last_used)


@pytest.mark.parametrize(
    ("user", "level"),
    [
        (facts(password=False), Risk.NONE),  # no console password: nothing to sign in with
        (facts(password=False, last_used=NOW), Risk.NONE),
        (facts(mfa=True, last_used=NOW), Risk.LOW),
        (facts(), Risk.HIGH),  # never used
        (facts(last_used=LastUse.UNKNOWN), Risk.HIGH),
        (facts(last_used=NOW - timedelta(days=30)), Risk.CRITICAL),  # exactly 30 days: still recent
        (facts(last_used=NOW - timedelta(days=30, seconds=1)), Risk.HIGH),
        (facts(last_used=NOW - timedelta(days=1)), Risk.CRITICAL),
    ],
)
def test_risk_levels_and_the_30_day_boundary(user: UserFacts, level: Risk) -> None:
    assert risk(user, NOW) is level
