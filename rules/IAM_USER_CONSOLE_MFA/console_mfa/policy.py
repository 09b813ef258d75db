"""Rule parameters: parsed and validated once, then passed as an immutable Policy."""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from fnmatch import fnmatchcase
from typing import NamedTuple

from .errors import InvalidRuleParameter

# rdklib reads these itself; we only let them through.
RDKLIB_PARAMETERS = ("AssumeRoleMode", "ExecutionRoleName", "ExecutionRoleRegion")

# IAM user names are [\w+=,.@-]{1,64}; a pattern adds the shell-glob characters (no comma:
# it separates patterns).
_PATTERN = re.compile(r"^[A-Za-z0-9_+=.@\-*?\[\]!]{1,128}$")
MAX_GRACE_DAYS = 3650


class DataSource(enum.StrEnum):
    """Where a periodic sweep gets its facts (see README, "Cost and scale")."""

    LIVE = "live"
    CREDENTIAL_REPORT = "credential-report"
    AUTO = "auto"


# NamedTuples, not dataclasses: they also work when the remediation script is executed
# outside any module (dataclasses look string annotations up in sys.modules).
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


class Policy(NamedTuple):
    exempt_user_names: tuple[str, ...] = ()
    exempt_tag: ExemptTag | None = None
    grace_period_days: int = 0
    data_source: DataSource = DataSource.AUTO

    def exempting_pattern(self, user_name: str) -> str | None:
        """The first ExemptUserNames pattern that matches (IAM names are case-insensitive)."""
        lowered = user_name.lower()
        return next((p for p in self.exempt_user_names if fnmatchcase(lowered, p.lower())), None)


def _exempt_user_names(raw: str) -> tuple[str, ...]:
    if not raw.strip():
        return ()
    patterns = tuple(part.strip() for part in raw.split(","))
    for position, pattern in enumerate(patterns, start=1):
        if not pattern:
            raise InvalidRuleParameter("ExemptUserNames", raw, f"pattern {position} is empty (stray comma?)")
        if not _PATTERN.match(pattern):
            raise InvalidRuleParameter(
                "ExemptUserNames",
                raw,
                f"pattern {pattern!r} may only hold IAM user-name characters and * ? [ ] !",
            )
    return patterns


def _exempt_tag(raw: str) -> ExemptTag | None:
    if not raw.strip():
        return None
    key, sep, value = raw.strip().partition("=")
    if not key.strip():
        raise InvalidRuleParameter("ExemptTag", raw, "expected 'key' or 'key=value'")
    return ExemptTag(key.strip(), value if sep else None)


def _grace_days(raw: str) -> int:
    text = raw.strip()
    if not text:
        return 0
    if not text.isdigit() or int(text) > MAX_GRACE_DAYS:
        raise InvalidRuleParameter(
            "GracePeriodDays", raw, f"must be a whole number of days from 0 to {MAX_GRACE_DAYS}"
        )
    return int(text)


def _data_source(raw: str) -> DataSource:
    text = raw.strip() or DataSource.AUTO.value
    try:
        return DataSource(text)
    except ValueError:
        allowed = ", ".join(d.value for d in DataSource)
        raise InvalidRuleParameter("DataSource", raw, f"must be one of {allowed}") from None


_PARSERS = {
    "ExemptUserNames": _exempt_user_names,
    "ExemptTag": _exempt_tag,
    "GracePeriodDays": _grace_days,
    "DataSource": _data_source,
}
_FIELDS = {
    "ExemptUserNames": "exempt_user_names",
    "ExemptTag": "exempt_tag",
    "GracePeriodDays": "grace_period_days",
    "DataSource": "data_source",
}
KNOWN_PARAMETERS = (*_PARSERS, *RDKLIB_PARAMETERS)


def parse_policy(rule_parameters: Mapping[str, object]) -> Policy:
    """Validate Config's ruleParameters (every value a string) into a Policy.

    Unknown keys are refused rather than ignored: a typo such as ``ExemptUserName``
    would otherwise silently flag the users it was meant to spare.
    """
    values: dict[str, object] = {}
    for name, raw in rule_parameters.items():
        if name in RDKLIB_PARAMETERS:
            continue
        if name not in _PARSERS:
            import difflib  # only for this message: keeps the Lambda's cold start short

            close = difflib.get_close_matches(name, KNOWN_PARAMETERS, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise InvalidRuleParameter(
                name, raw, f"unknown parameter{hint}; allowed: {', '.join(KNOWN_PARAMETERS)}"
            )
        if isinstance(raw, bool) or not isinstance(raw, (str, int)):
            raise InvalidRuleParameter(name, raw, "must be a string")
        values[_FIELDS[name]] = _PARSERS[name](str(raw))
    return Policy(**values)
