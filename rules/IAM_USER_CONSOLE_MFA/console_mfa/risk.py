"""How urgent a user's missing MFA is: the severity of its Security Hub finding. Pure."""

from __future__ import annotations

import enum
from datetime import datetime, timedelta

from .model import LastUse, UserFacts

RECENT_USE = timedelta(days=30)


class Risk(enum.StrEnum):
    CRITICAL = "CRITICAL"  # no MFA, and the password was used in the last 30 days
    HIGH = "HIGH"  # no MFA
    LOW = "LOW"  # MFA
    NONE = "none"  # no console password: nothing to sign in with


def risk(facts: UserFacts, now: datetime) -> Risk:
    """Exempt users and users in their grace period carry the risk of a password without MFA
    too: the verdict spares them, the risk level does not hide it."""
    if not facts.has_password:
        return Risk.NONE
    if facts.mfa_kinds:
        return Risk.LOW
    return without_mfa(facts.password_last_used, now)


def without_mfa(last_used: datetime | LastUse, now: datetime) -> Risk:
    """A console password without MFA: CRITICAL when used in the last 30 days."""
    recently = not isinstance(last_used, LastUse) and now - last_used <= RECENT_USE
    return Risk.CRITICAL if recently else Risk.HIGH
