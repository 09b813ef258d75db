"""The decision table: facts + policy + time -> verdict. Pure: no AWS, no clock.

Rows apply top to bottom (docs/decisions.md):
  no login profile                          -> NOT_APPLICABLE
  login profile + >= 1 MFA device           -> COMPLIANT
  no MFA, exempt by name or tag             -> NOT_APPLICABLE
  no MFA, login profile younger than grace  -> COMPLIANT
  no MFA                                    -> NON_COMPLIANT
"""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime, timedelta
from typing import NamedTuple

from .errors import RuleError
from .model import USER_NAME, Compliance, LastUse, MfaKind, Reason, UserFacts, UserName, Verdict
from .policy import RemediationAction, RuleParameters

# A quoted pattern or tag is cut to this length, so that with a 64-character user name every
# annotation stays within PutEvaluations' 256-character Annotation (a test checks the longest
# case against the limit in Config's service model).
_QUOTE_LIMIT = 48


# The annotation's wording, written by decide and read back by read_non_compliant (the digest
# reads Config's stored results, which keep nothing else): one place for both.
NO_MFA = ": console password without MFA (password set "
EXEMPT_BY = ", exempt by "
_NON_COMPLIANT = re.compile(
    rf"(?P<name>{USER_NAME.pattern}){re.escape(NO_MFA)}(?P<set>\d{{4}}-\d{{2}}-\d{{2}})"
    r"(?:(?P<never>, never used)|, last used (?P<used>\d{4}-\d{2}-\d{2}))?\)"
)


# The annotation's last sentence: what happens if nothing is done (the remediation's action).
REMEDIATION_SAYS = {
    RemediationAction.NONE: "Enable an MFA device or remove the console password.",
    RemediationAction.DISABLE_CONSOLE: "Enable an MFA device, or console access will be removed.",
    RemediationAction.REQUIRE_MFA: "Enable an MFA device, or the user will be quarantined until then.",
    RemediationAction.REQUIRE_MFA_AND_DEACTIVATE_KEYS: (
        "Enable an MFA device, or the user will be quarantined and its access keys deactivated."
    ),
}


class Noted(NamedTuple):
    """What a NON_COMPLIANT annotation states."""

    user_name: UserName
    password_set: date
    last_used: date | LastUse


def read_non_compliant(annotation: str) -> Noted | None:
    """The facts decide wrote into a NON_COMPLIANT annotation; None for any other text."""
    found = _NON_COMPLIANT.match(annotation)
    if found is None:
        return None
    used = found["used"]
    last_used = date.fromisoformat(used) if used else LastUse.NEVER if found["never"] else LastUse.UNKNOWN
    return Noted(UserName(found["name"]), date.fromisoformat(found["set"]), last_used)


def is_exempt(annotation: str) -> bool:
    """Whether a NOT_APPLICABLE annotation is an exemption (not a user without a password)."""
    return EXEMPT_BY in annotation  # a user name holds no ", " (model.USER_NAME)


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
            f"{name}: console password without MFA{EXEMPT_BY}{exemption}",
        )

    password_set = _day(facts.password_created)
    grace_ends = facts.password_created + timedelta(days=policy.grace_period_days)
    if policy.grace_period_days and now < grace_ends:
        return Verdict(
            Compliance.COMPLIANT,
            Reason.GRACE,
            f"{name}: console password set {password_set} without MFA; grace period ends on {_day(grace_ends)}",
        )

    key = f"{name}{NO_MFA}{password_set}"  # then the last use
    return Verdict(
        Compliance.NON_COMPLIANT,
        Reason.NO_MFA,
        f"{key}{_last_use(facts.password_last_used)}). {REMEDIATION_SAYS[policy.remediation_action]}",
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
