"""The decision table: facts + policy + time -> verdict. Pure: no AWS, no clock.

Rows apply top to bottom (docs/decisions.md):
  no login profile                          -> NOT_APPLICABLE
  login profile + >= 1 MFA device           -> COMPLIANT
  no MFA, exempt by name or tag             -> NOT_APPLICABLE
  no MFA, login profile younger than grace  -> COMPLIANT
  no MFA                                    -> NON_COMPLIANT
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta

from .errors import RuleError
from .model import Compliance, LastUse, MfaKind, Reason, UserFacts, Verdict
from .policy import RuleParameters

ANNOTATION_LIMIT = 256  # PutEvaluations' Annotation maximum
# A quoted pattern or tag is cut to this length, so that with a 64-character user name every
# annotation stays under ANNOTATION_LIMIT (a test checks the longest case).
_QUOTE_LIMIT = 48


class MissingTags(RuleError):
    """decide() was called without tags for a user only an ExemptTag could spare."""


def decide(facts: UserFacts, policy: RuleParameters, now: datetime) -> Verdict:
    name = facts.user.user_name
    if facts.password_created is None:
        return Verdict(Compliance.NOT_APPLICABLE, Reason.NO_PASSWORD, f"{name}: no console password")

    if facts.mfa_kinds:
        key = f"{name}: console password with "  # then the devices, as the data source knows them
        return Verdict(Compliance.COMPLIANT, Reason.MFA, key + _devices(facts), key)

    exemption = _exemption(facts, policy)
    if exemption:
        return Verdict(
            Compliance.NOT_APPLICABLE,
            Reason.EXEMPT,
            f"{name}: console password without MFA, exempt by {exemption}",
        )

    password_set = _day(facts.password_created)
    grace_ends = facts.password_created + timedelta(days=policy.grace_period_days)
    if policy.grace_period_days and now < grace_ends:
        return Verdict(
            Compliance.COMPLIANT,
            Reason.GRACE,
            f"{name}: console password set {password_set} without MFA; grace period ends on {_day(grace_ends)}",
        )

    key = f"{name}: console password without MFA (password set {password_set}"  # then the last use
    return Verdict(
        Compliance.NON_COMPLIANT,
        Reason.NO_MFA,
        f"{key}{_last_use(facts.password_last_used)}). Enable an MFA device or remove the console password.",
        key,
    )


def _exemption(facts: UserFacts, policy: RuleParameters) -> str | None:
    pattern = policy.exempting_pattern(facts.user.user_name)
    if pattern is not None:
        return f"ExemptUserNames {_quote(pattern)}"
    if policy.exempt_tag is None:
        return None
    if facts.tags is None:
        raise MissingTags(f"tags of {facts.user.user_name} are needed to apply ExemptTag")
    if policy.exempt_tag.matches(facts.tags):
        return f"ExemptTag {_quote(str(policy.exempt_tag))}"
    return None


def _devices(facts: UserFacts) -> str:
    if facts.mfa_kinds == (MfaKind.REPORTED,):
        return "MFA (active per the IAM credential report)"
    count = len(facts.mfa_kinds)
    listed = ", ".join(f"{n} {kind}" for kind, n in sorted(Counter(k.value for k in facts.mfa_kinds).items()))
    return f"{count} MFA device{'s' * (count > 1)} ({listed})"


def _last_use(last_used: datetime | LastUse) -> str:
    if last_used is LastUse.UNKNOWN:
        return ""
    if last_used is LastUse.NEVER:
        return ", never used"
    return f", last used {_day(last_used)}"


def _day(moment: datetime) -> str:
    return moment.date().isoformat()


def _quote(text: str) -> str:
    return repr(text if len(text) <= _QUOTE_LIMIT else text[: _QUOTE_LIMIT - 3] + "...")
