"""The rule's parameters, each defined once: name, default, accepted values, description.

Everything else derives from this registry or is tested against it: the parser in
``policy``, the stacks' parameter ``AllowedPattern``/``Default``/``Description``, the JSON
schema of rdk-config.json, the remediation, the CLI options. A pattern is an anchored
regular expression that means the same in Python's ``re`` and in CloudFormation's
(Java) ``AllowedPattern``: ASCII classes only, no look-arounds.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class Parameter(NamedTuple):
    name: str
    default: str
    pattern: str  # the whole value must match (re.fullmatch); CloudFormation AllowedPattern
    description: str

    def accepts(self, value: str) -> bool:
        return re.fullmatch(self.pattern, value, re.ASCII) is not None


# IAM user names are [\w+=,.@-]{1,64}; a pattern adds the glob characters * ? [ ] ! (no
# comma: it separates patterns, with optional spaces around it).
GLOB = r"[A-Za-z0-9_+=.@*?\[\]!-]{1,128}"
# IAM tag characters, ASCII subset: a key neither starts nor ends with a space and holds no
# '=' (it separates the value); the value may hold '='.
TAG_KEY = r"[A-Za-z0-9_.:/+@-]([A-Za-z0-9 _.:/+@-]{0,126}[A-Za-z0-9_.:/+@-])?"
TAG_VALUE = r"[A-Za-z0-9 _.:/+=@-]{0,256}"
MAX_GRACE_DAYS = 3650

EXEMPT_USER_NAMES = Parameter(
    "ExemptUserNames",
    "",
    rf"^ *({GLOB}( *, *{GLOB})*)? *$",
    "Comma-separated IAM user names or globs (svc-*) never flagged, compared case-insensitively; empty: none.",
)
EXEMPT_TAG = Parameter(
    "ExemptTag",
    "",
    rf"^ *$|^{TAG_KEY}(={TAG_VALUE})?$",
    "Tag key, or key=value: users carrying it are exempt (key case-insensitive, value exact); empty: none.",
)
GRACE_PERIOD_DAYS = Parameter(
    "GracePeriodDays",
    "0",
    # 0..3650 without leading zeros; empty means 0.
    r"^(|[0-9]|[1-9][0-9]{1,2}|[12][0-9]{3}|3[0-5][0-9]{2}|36[0-4][0-9]|3650)$",
    f"Days (0 to {MAX_GRACE_DAYS}) after the console password is set before a user without MFA is flagged.",
)
DATA_SOURCE = Parameter(
    "DataSource",
    "auto",
    r"^(|auto|live|credential-report)$",
    "Where a periodic sweep reads its facts: auto, live or credential-report (docs/cost-and-scale.md).",
)
REFRESH_DAYS = Parameter(
    "RefreshDays",
    "7",
    r"^(|[1-9]|[1-8][0-9]|90)$",
    "Days (1 to 90) after which a sweep writes a user's unchanged result again (docs/cost-and-scale.md).",
)
SECURITY_HUB_FINDINGS = Parameter(
    "SecurityHubFindings",
    "false",
    r"^(|true|false)$",
    "true: also import native Security Hub findings with the rule's risk as severity (docs/deploy.md).",
)
REMEDIATION_ACTION = Parameter(
    "RemediationAction",
    "disable-console",
    r"^(|none|disable-console|require-mfa|require-mfa-and-deactivate-keys)$",
    "What the remediation does to a NON_COMPLIANT user: disable-console, require-mfa, "
    "require-mfa-and-deactivate-keys, or none (docs/remediation.md).",
)
RULE_PARAMETERS = (
    EXEMPT_USER_NAMES,
    EXEMPT_TAG,
    GRACE_PERIOD_DAYS,
    DATA_SOURCE,
    REFRESH_DAYS,
    SECURITY_HUB_FINDINGS,
    REMEDIATION_ACTION,
)

# rdklib reads these itself, before our code runs: validated here so that a bad value is a
# named error, not a crash inside rdklib.
ASSUME_ROLE_MODE = Parameter(
    "AssumeRoleMode", "True", r"^([Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$", "rdklib: assume the execution role"
)
EXECUTION_ROLE_NAME = Parameter(
    "ExecutionRoleName", "", r"^[A-Za-z0-9_+=,.@-]{1,64}$", "rdklib: role assumed in the evaluated account"
)
EXECUTION_ROLE_REGION = Parameter(
    "ExecutionRoleRegion", "", r"^[a-z]{2}(-[a-z]+)+-[0-9]{1,2}$", "rdklib: region of the STS endpoint"
)
RDKLIB_PARAMETERS = (ASSUME_ROLE_MODE, EXECUTION_ROLE_NAME, EXECUTION_ROLE_REGION)

BY_NAME = {p.name: p for p in (*RULE_PARAMETERS, *RDKLIB_PARAMETERS)}
