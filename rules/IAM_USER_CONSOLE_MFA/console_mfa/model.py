"""Facts about one IAM user and the verdict on them: plain data, no AWS calls."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Final, NamedTuple, NewType

# A Config resource id for AWS::IAM::User is the UserId (AIDA...), never the user name.
UserId = NewType("UserId", str)
UserName = NewType("UserName", str)

RESOURCE_TYPE: Final = "AWS::IAM::User"
# configurationItemStatus of an item this region's recorder does not record: no verdict here.
NOT_RECORDED = ("ResourceNotRecorded", "ResourceDeletedNotRecorded")
# IAM user names: [\w+=,.@-]{1,64}, ASCII word characters (IAM API reference, CreateUser).
USER_NAME = re.compile(r"[A-Za-z0-9_+=,.@-]{1,64}")


def user_key(user_name: str) -> str:
    """IAM user names are unique case-insensitively: BOB and bob are one user."""
    return user_name.lower()


class Compliance(enum.StrEnum):
    """Config's ComplianceType values."""

    COMPLIANT = "COMPLIANT"
    NON_COMPLIANT = "NON_COMPLIANT"
    NOT_APPLICABLE = "NOT_APPLICABLE"


class Reason(enum.StrEnum):
    """Which row of the decision table produced a verdict."""

    NO_PASSWORD = "no-console-password"
    MFA = "mfa-enabled"
    EXEMPT = "exempt"
    GRACE = "grace-period"
    NO_MFA = "no-mfa"


class MfaKind(enum.StrEnum):
    VIRTUAL = "virtual"
    FIDO = "FIDO security key/passkey"
    HARDWARE = "hardware TOTP"
    # The credential report says only that MFA is active: at least one device, kind unknown.
    REPORTED = "reported active by the credential report"


def mfa_kind(serial_number: str) -> MfaKind:
    """Classify a ListMFADevices SerialNumber.

    Virtual devices are ARNs with ``:mfa/``, FIDO keys and passkeys ARNs with ``:u2f/``;
    hardware TOTP tokens are bare serials (``GAHT...``).
    """
    if serial_number.startswith("arn:"):
        return MfaKind.FIDO if ":u2f/" in serial_number else MfaKind.VIRTUAL
    return MfaKind.HARDWARE


class LastUse(enum.Enum):
    """Password use when it is not a date: never used, or not known to this data source."""

    NEVER = "never"
    UNKNOWN = "unknown"


# Records are NamedTuples: immutable, light for 5,000 users, and cheap to define at import
# (cold-start time of the Lambda).
class UserRef(NamedTuple):
    """The identity of one IAM user as Config and IAM know it."""

    user_id: UserId
    user_name: UserName


class UserFacts(NamedTuple):
    """What the decision needs to know about one user.

    ``password_created`` is the login profile's CreateDate, None when there is no console
    password. ``tags`` is None when they were not fetched: the decision asks for them
    only for users whom an ExemptTag could spare.
    """

    user: UserRef
    password_created: datetime | None
    mfa_kinds: tuple[MfaKind, ...] = ()
    password_last_used: datetime | LastUse = LastUse.UNKNOWN
    tags: Mapping[str, str] | None = None

    @property
    def has_password(self) -> bool:
        return self.password_created is not None


class Verdict(NamedTuple):
    """A decision. ``key`` is what a write depends on: the beginning of ``annotation`` that the
    decision renders from the compliance, the reason and the facts that matter (not the "last
    used" date, nor how a data source describes MFA devices, which follow it). Config keeps only
    the annotation, so console_mfa.writes compares a recorded annotation's beginning with the
    key; an empty key means the whole annotation."""

    compliance: Compliance
    reason: Reason
    annotation: str
    key: str = ""

    @property
    def comparison_key(self) -> str:
        return self.key or self.annotation


class Assessment(NamedTuple):
    """One user's facts and verdict: what a sweep returns and the outputs (findings, reports) read."""

    user: UserRef
    facts: UserFacts
    verdict: Verdict
    arn: str = ""  # the user's ARN (with its path), for Security Hub findings
    source: str = "live"  # where the facts came from: live, credential-report (the decision log says)
