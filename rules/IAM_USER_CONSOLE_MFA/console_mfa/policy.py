"""Rule parameters: parsed and validated once, then passed as one immutable RuleParameters."""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from fnmatch import fnmatchcase
from typing import NamedTuple

from .errors import InvalidRuleParameter
from .model import UserFacts
from .parameters import (
    BY_NAME,
    DATA_SOURCE,
    EXEMPT_TAG,
    EXEMPT_USER_NAMES,
    GLOB,
    GRACE_PERIOD_DAYS,
    MAX_GRACE_DAYS,
    RDKLIB_PARAMETERS,
    REFRESH_DAYS,
    REMEDIATION_ACTION,
    SECURITY_HUB_FINDINGS,
    Parameter,
)

# AWS Config accepts at most 1,024 characters of InputParameters for a whole rule.
MAX_VALUE_LENGTH = 1024


class DataSource(enum.StrEnum):
    """Where a periodic sweep gets its facts (docs/cost-and-scale.md)."""

    LIVE = "live"
    CREDENTIAL_REPORT = "credential-report"
    AUTO = "auto"


class ExemptTag(NamedTuple):
    key: str
    value: str | None  # None: the key alone exempts

    def matches(self, tags: Mapping[str, str]) -> bool:
        # IAM refuses tag keys that differ only in case, so compare keys case-insensitively;
        # values are compared exactly.
        for key, value in tags.items():
            if key.lower() == self.key.lower() and (self.value is None or value == self.value):
                return True
        return False

    def __str__(self) -> str:
        return self.key if self.value is None else f"{self.key}={self.value}"


class RemediationAction(enum.StrEnum):
    """What the remediation does to a user still NON_COMPLIANT (docs/remediation.md)."""

    NONE = "none"  # no remediation is deployed
    DISABLE_CONSOLE = "disable-console"  # delete the login profile
    REQUIRE_MFA = "require-mfa"  # attach the stack's MFA-required policy
    REQUIRE_MFA_AND_DEACTIVATE_KEYS = "require-mfa-and-deactivate-keys"  # and deactivate access keys

    @property
    def quarantines(self) -> bool:
        return self in (RemediationAction.REQUIRE_MFA, RemediationAction.REQUIRE_MFA_AND_DEACTIVATE_KEYS)


class RuleParameters(NamedTuple):
    exempt_user_names: tuple[str, ...] = ()
    exempt_tag: ExemptTag | None = None
    grace_period_days: int = 0
    data_source: DataSource = DataSource.AUTO
    refresh_days: int = 7
    security_hub_findings: bool = False
    remediation_action: RemediationAction = RemediationAction.DISABLE_CONSOLE

    def exempting_pattern(self, user_name: str) -> str | None:
        """The first ExemptUserNames pattern that matches (IAM names are case-insensitive)."""
        lowered = user_name.lower()
        return next((p for p in self.exempt_user_names if fnmatchcase(lowered, p.lower())), None)

    def needs_tags(self, facts: UserFacts) -> bool:
        """True when the user's tags could change the verdict, so a collector must fetch them.

        Here, beside the parameters, so that collectors ask it without depending on the decision.
        """
        return (
            self.exempt_tag is not None
            and facts.has_password
            and not facts.mfa_kinds
            and self.exempting_pattern(facts.user.user_name) is None
        )


_GLOB = re.compile(GLOB)


def _exempt_user_names(raw: str) -> tuple[str, ...]:
    if not raw.strip():
        return ()
    patterns = tuple(part.strip() for part in raw.split(","))
    for position, pattern in enumerate(patterns, start=1):
        if not pattern:
            raise InvalidRuleParameter(
                EXEMPT_USER_NAMES.name, raw, f"pattern {position} is empty (stray comma?)"
            )
        if not _GLOB.fullmatch(pattern):
            raise InvalidRuleParameter(
                EXEMPT_USER_NAMES.name,
                raw,
                f"pattern {pattern!r} may only hold IAM user-name characters and * ? [ ] ! (1 to 128)",
            )
    return patterns


def _exempt_tag(raw: str) -> ExemptTag | None:
    if not raw.strip():
        return None
    key, sep, value = raw.partition("=")
    if not key.strip():
        raise InvalidRuleParameter(EXEMPT_TAG.name, raw, "expected 'key' or 'key=value'")
    return ExemptTag(key, value if sep else None)


def _grace_days(raw: str) -> int:
    if not GRACE_PERIOD_DAYS.accepts(raw):
        raise InvalidRuleParameter(
            GRACE_PERIOD_DAYS.name,
            raw,
            f"must be a whole number of days from 0 to {MAX_GRACE_DAYS}, in digits without leading zeros",
        )
    return int(raw or "0")


def _refresh_days(raw: str) -> int:
    if not REFRESH_DAYS.accepts(raw):
        raise InvalidRuleParameter(
            REFRESH_DAYS.name, raw, "must be a whole number of days from 1 to 90, without leading zeros"
        )
    return int(raw or REFRESH_DAYS.default)


def _one_of[E: enum.StrEnum](kind: type[E], parameter: Parameter) -> Callable[[str], E]:
    """A parser for a parameter whose values are an enum's (empty: the parameter's default)."""

    def parse(raw: str) -> E:
        try:
            return kind(raw or parameter.default)
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise InvalidRuleParameter(parameter.name, raw, f"must be one of {allowed}") from None

    return parse


_PARSERS: dict[str, tuple[str, Callable[[str], object]]] = {
    EXEMPT_USER_NAMES.name: ("exempt_user_names", _exempt_user_names),
    EXEMPT_TAG.name: ("exempt_tag", _exempt_tag),
    GRACE_PERIOD_DAYS.name: ("grace_period_days", _grace_days),
    DATA_SOURCE.name: ("data_source", _one_of(DataSource, DATA_SOURCE)),
    REFRESH_DAYS.name: ("refresh_days", _refresh_days),
    SECURITY_HUB_FINDINGS.name: ("security_hub_findings", lambda raw: raw == "true"),
    REMEDIATION_ACTION.name: ("remediation_action", _one_of(RemediationAction, REMEDIATION_ACTION)),
}
KNOWN_PARAMETERS = tuple(BY_NAME)


# What each pattern means, for the error a person reads (the pattern itself follows).
_PATTERN_MEANS = {
    EXEMPT_TAG.name: "a tag key of IAM's characters (letters, digits, _.:/+@-, inner spaces), "
    "no space first or last, then optionally =value",
    EXEMPT_USER_NAMES.name: "comma-separated names or globs of IAM's characters and *?[]!",
}


def _check_pattern(parameter: Parameter, raw: str) -> None:
    """The registry's pattern is the last word: what the stacks accept, the rule accepts."""
    if not parameter.accepts(raw):
        means = _PATTERN_MEANS.get(parameter.name)
        reason = (
            f"must be {means} (pattern {parameter.pattern})" if means else f"must match {parameter.pattern}"
        )
        raise InvalidRuleParameter(parameter.name, raw, reason)


def parse_policy(rule_parameters: Mapping[str, object]) -> RuleParameters:
    """Validate Config's ruleParameters (every value a string) into a RuleParameters.

    Unknown keys are refused rather than ignored: a typo such as ``ExemptUserName``
    would otherwise silently flag the users it was meant to spare.
    """
    values: dict[str, object] = {}
    for name, raw in rule_parameters.items():
        if name not in BY_NAME:
            import difflib  # only for this message: keeps the Lambda's cold start short

            close = difflib.get_close_matches(name, KNOWN_PARAMETERS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise InvalidRuleParameter(
                name, raw, f"unknown parameter{hint}; allowed: {', '.join(KNOWN_PARAMETERS)}"
            )
        if isinstance(raw, bool) or not isinstance(raw, (str, int)):
            raise InvalidRuleParameter(name, raw, "must be a string")
        text = str(raw)
        if len(text) > MAX_VALUE_LENGTH:
            raise InvalidRuleParameter(name, text[:40] + "...", f"longer than {MAX_VALUE_LENGTH} characters")
        if BY_NAME[name] in RDKLIB_PARAMETERS:
            _check_pattern(BY_NAME[name], text)
            continue
        field, parse = _PARSERS[name]
        values[field] = parse(text)
        _check_pattern(BY_NAME[name], text)
    return RuleParameters(**values)  # type: ignore[arg-type]
