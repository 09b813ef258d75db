"""The scheduled digest: every user still NON_COMPLIANT, by risk, from Config's stored results.

Pure: results in, a Digest and its renderings out (text for email, Markdown, JSON, and the
custom-notification format Amazon Q Developer in chat applications posts to Slack). The
scheduled function (digest_function) and ``iam-console-mfa digest`` share it. It reads no
IAM: the user name, the day the password was set and its last use are what the rule wrote
into the annotation (decision.read_non_compliant), "NON_COMPLIANT since" is the time Config
recorded the current result (the rule rewrites a result only when it changes).
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from .decision import is_exempt, read_non_compliant
from .model import Compliance, LastUse
from .risk import Risk, without_mfa

LISTED = {"text": 50, "markdown": 50, "chat": 10}  # users listed before "and N more"
SNS_MESSAGE_BYTES = 256 * 1024  # SNS Publish's limit, for the whole message
SUBJECT_LIMIT = 100  # SNS email subject
RISK_ORDER = (Risk.CRITICAL, Risk.HIGH)


@dataclass(frozen=True)
class StoredResult:
    """One result as Config keeps it (GetComplianceDetailsByConfigRule or its aggregate form)."""

    account: str
    user_id: str
    compliance: Compliance
    annotation: str
    recorded: datetime


@dataclass(frozen=True)
class Flagged:
    account: str
    user_id: str
    user_name: str
    risk: Risk
    password_set: date | None
    last_used: date | LastUse
    since: datetime  # when Config recorded the NON_COMPLIANT result


@dataclass(frozen=True)
class Digest:
    rule: str
    region: str
    generated: datetime
    period_days: int
    accounts: tuple[str, ...]
    remediation: str
    by_compliance: dict[str, int]
    by_risk: dict[str, int]
    exempt: int
    new: int  # NON_COMPLIANT results recorded within the period
    flagged: tuple[Flagged, ...]  # most urgent first

    @property
    def clean(self) -> bool:
        return not self.flagged

    @property
    def console_url(self) -> str:
        return (
            f"https://{self.region}.console.aws.amazon.com/config/home?region={self.region}"
            f"#/rules/details?configRuleName={self.rule}"
        )


def build(
    results: list[StoredResult], *, rule: str, region: str, now: datetime, period_days: int, remediation: str
) -> Digest:
    flagged = []
    for result in results:
        if result.compliance is not Compliance.NON_COMPLIANT:
            continue
        noted = read_non_compliant(result.annotation)
        last_used = noted.last_used if noted else LastUse.UNKNOWN
        used_at = (
            datetime.combine(last_used, datetime.min.time(), UTC) if isinstance(last_used, date) else last_used
        )
        flagged.append(
            Flagged(
                result.account,
                result.user_id,
                noted.user_name if noted else result.user_id,  # an annotation of another shape
                without_mfa(used_at, now),
                noted.password_set if noted else None,
                last_used,
                result.recorded,
            )
        )
    flagged.sort(key=lambda f: (RISK_ORDER.index(f.risk), f.since, f.account, f.user_name))
    period_start = now - timedelta(days=period_days)
    return Digest(
        rule=rule,
        region=region,
        generated=now,
        period_days=period_days,
        accounts=tuple(sorted({r.account for r in results})),
        remediation=remediation,
        by_compliance=dict(Counter(r.compliance.value for r in results)),
        by_risk={risk.value: sum(f.risk is risk for f in flagged) for risk in RISK_ORDER},
        exempt=sum(r.compliance is Compliance.NOT_APPLICABLE and is_exempt(r.annotation) for r in results),
        new=sum(f.since >= period_start for f in flagged),
        flagged=tuple(flagged),
    )


REMEDIATION_SAYS = {
    "none": "no remediation is deployed",
    "manual": "console access is removed when someone runs the remediation",
    "automatic": "console access is removed automatically",
}


def subject(digest: Digest) -> str:
    count = len(digest.flagged)
    accounts = digest.accounts
    where = f"{len(accounts)} accounts" if len(accounts) > 1 else f"account {accounts[0] if accounts else '-'}"
    said = f"{count} IAM user{'s' * (count != 1)} without MFA" if count else "every console user has MFA"
    return f"{digest.rule}: {said} ({where})"[:SUBJECT_LIMIT]


def _summary(digest: Digest) -> list[str]:
    counts = ", ".join(f"{digest.by_compliance.get(c.value, 0)} {c.value}" for c in Compliance)
    risks = ", ".join(f"{n} {risk}" for risk, n in digest.by_risk.items())
    return [
        f"Users: {counts} ({digest.exempt} exempt).",
        f"Without MFA: {risks}; {digest.new} new in the last {digest.period_days} days.",
        f"Remediation: {REMEDIATION_SAYS.get(digest.remediation, digest.remediation)}.",
    ]


def _line(flagged: Flagged, now: datetime, multi_account: bool) -> str:
    used = (
        f"last used {flagged.last_used}"
        if isinstance(flagged.last_used, date)
        else "never used"
        if flagged.last_used is LastUse.NEVER
        else "last use unknown"
    )
    password = f"password set {flagged.password_set}" if flagged.password_set else "password set ?"
    days = (now - flagged.since).days
    account = f"{flagged.account} " if multi_account else ""
    return f"{flagged.risk} {account}{flagged.user_name}: {password}, {used}; NON_COMPLIANT for {days} days"


def _listed(digest: Digest, limit: int, bullet: str) -> list[str]:
    multi = len(digest.accounts) > 1
    lines = [bullet + _line(f, digest.generated, multi) for f in digest.flagged[:limit]]
    more = len(digest.flagged) - limit
    return [*lines, *([f"{bullet}and {more} more (iam-console-mfa report)"] if more > 0 else [])]


def as_text(digest: Digest, limit: int = LISTED["text"]) -> str:
    lines = [subject(digest), "", *_summary(digest), ""]
    lines += _listed(digest, limit, "- ") if digest.flagged else ["Nobody to remind."]
    lines += ["", f"The rule in the AWS Config console: {digest.console_url}"]
    return _fit("\n".join(lines) + "\n")


def as_markdown(digest: Digest, limit: int = LISTED["markdown"]) -> str:
    lines = [f"**{subject(digest)}**", "", *_summary(digest), ""]
    lines += _listed(digest, limit, "- ") if digest.flagged else ["Nobody to remind."]
    lines += ["", f"[The rule in the AWS Config console]({digest.console_url})"]
    return _fit("\n".join(lines) + "\n")


def as_json(digest: Digest) -> dict[str, Any]:
    return {
        "rule": digest.rule,
        "region": digest.region,
        "generated": digest.generated.isoformat(),
        "period_days": digest.period_days,
        "accounts": list(digest.accounts),
        "remediation": digest.remediation,
        "by_compliance": digest.by_compliance,
        "by_risk": digest.by_risk,
        "exempt": digest.exempt,
        "new": digest.new,
        "non_compliant": [
            {
                "account": f.account,
                "user_id": f.user_id,
                "user_name": f.user_name,
                "risk": f.risk.value,
                "password_set": f.password_set.isoformat() if f.password_set else None,
                "last_used": f.last_used.isoformat() if isinstance(f.last_used, date) else f.last_used.value,
                "non_compliant_since": f.since.isoformat(),
            }
            for f in digest.flagged
        ],
        "console_url": digest.console_url,
    }


def as_chat(digest: Digest, limit: int = LISTED["chat"]) -> dict[str, Any]:
    """Amazon Q Developer in chat applications' custom notification ("version" 1.0, "source"
    custom, client-markdown content), posted to Slack or Teams from the SNS topic."""
    listed = _listed(digest, limit, "• ") if digest.flagged else ["Nobody to remind."]
    return {
        "version": "1.0",
        "source": "custom",
        "id": f"{digest.rule}-digest-{digest.generated:%Y%m%dT%H%M}",
        "content": {
            "textType": "client-markdown",
            "title": subject(digest),
            "description": "\n".join([*_summary(digest), "", *listed]),
            "nextSteps": [f"<{digest.console_url}|The rule in the AWS Config console>"],
            "keywords": [digest.rule, *(r for r, n in digest.by_risk.items() if n)],
        },
        "metadata": {"summary": subject(digest), "eventType": "IamConsoleMfaDigest"},
    }


def sns_message(digest: Digest) -> str:
    """SNS's per-protocol message (MessageStructure=json): plain text to email, the custom
    notification to every other subscriber (the chat integration among them)."""
    text = as_text(digest)
    return json.dumps({"default": json.dumps(as_chat(digest)), "email": text, "email-json": text})


def _fit(text: str) -> str:
    """Within the SNS message limit (with room for the other renderings sent beside it)."""
    budget = SNS_MESSAGE_BYTES // 3
    encoded = text.encode()
    if len(encoded) <= budget:
        return text
    return encoded[: budget - 40].decode(errors="ignore") + "\n... (cut: iam-console-mfa report)\n"
