"""How the CLI shows assessments: rich table, JSON and CSV, plus the risk level."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from console_mfa.model import Assessment, Compliance, Reason, UserRef
from console_mfa.risk import risk as engine_risk
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from mypy_boto3_sts.type_defs import GetCallerIdentityResponseTypeDef

COLUMNS = ("user", "user_id", "verdict", "mfa", "password_set", "password_last_used", "risk", "annotation")
STYLE = {"COMPLIANT": "green", "NON_COMPLIANT": "bold red", "NOT_APPLICABLE": "dim"}
RISK_STYLE = {"CRITICAL": "bold red", "HIGH": "red", "LOW": "green", "none": "dim"}


def risk(assessment: Assessment, now: datetime) -> str:
    return engine_risk(assessment.facts, now).value


def rows(assessments: Iterable[Assessment], now: datetime, everyone: bool = True) -> list[dict[str, Any]]:
    """One row per user (``everyone``), or per console user; a date that is not one is None."""
    out = []
    for a in sorted(assessments, key=lambda a: a.user.user_name.lower()):
        created = a.facts.password_created
        if created is None and not everyone:
            continue
        last_used = a.facts.password_last_used
        out.append(
            {
                "user": a.user.user_name,
                "user_id": a.user.user_id,
                "verdict": a.verdict.compliance.value,
                "mfa": ", ".join(kind.value for kind in a.facts.mfa_kinds) or "none",
                "password_set": created.date().isoformat() if created else None,
                "password_last_used": last_used.date().isoformat() if isinstance(last_used, datetime) else None,
                "risk": risk(a, now),
                "annotation": a.verdict.annotation,
            }
        )
    return out


def count(number: int, noun: str) -> str:
    """1 user, 2 users."""
    return f"{number:,} {noun}{'' if number == 1 else 's'}"


def summary(assessments: Sequence[Assessment]) -> dict[str, Any]:
    console_users = [a for a in assessments if a.facts.has_password]
    with_mfa = sum(a.verdict.reason is Reason.MFA for a in console_users)
    return {
        "users": len(assessments),
        "console_users": len(console_users),
        "console_users_with_mfa": with_mfa,  # in-grace users are COMPLIANT too, but not counted here
        "non_compliant": sum(a.verdict.compliance is Compliance.NON_COMPLIANT for a in assessments),
        "exempt": sum(a.verdict.reason is Reason.EXEMPT for a in assessments),
        "in_grace": sum(a.verdict.reason is Reason.GRACE for a in assessments),
        "percent_console_users_with_mfa": round(100 * with_mfa / len(console_users), 1)
        if console_users
        else 100.0,
    }


def print_table(console: Console, assessments: Sequence[Assessment], now: datetime) -> None:
    figures = summary(assessments)
    console.print(
        f"[bold]{count(figures['users'], 'user')}[/], "
        f"[bold]{figures['console_users']}[/] with a console password: "
        f"[green]{figures['console_users_with_mfa']} with MFA[/], "
        f"[bold red]{figures['non_compliant']} non-compliant[/], {figures['exempt']} exempt, "
        f"{figures['in_grace']} in grace ([bold]{figures['percent_console_users_with_mfa']}%[/] of console "
        "users have MFA)"
    )
    table = Table(show_lines=False)
    for column in ("User", "Verdict", "MFA", "Password set", "Last used", "Risk", "Annotation"):
        table.add_column(column, overflow="fold")
    for row in rows(assessments, now, everyone=False):
        table.add_row(
            row["user"],
            f"[{STYLE[row['verdict']]}]{row['verdict']}[/]",
            row["mfa"],
            row["password_set"],
            row["password_last_used"] or "never",
            f"[{RISK_STYLE[row['risk']]}]{row['risk']}[/]",
            row["annotation"],
        )
    console.print(table)


SCHEMA_VERSION = 2  # the JSON documents (report, enforce, organization): raise on a change consumers must know


def as_json(
    assessments: Sequence[Assessment],
    now: datetime,
    account: str = "",
    parameters: Mapping[str, str] | None = None,
) -> str:
    """A stable document: schema version, account, generation time, the parameters used, the
    summary, every user (users without a console password included)."""
    document = {
        "schema_version": SCHEMA_VERSION,
        "kind": "report",
        "account": account,
        "generated_at": now.isoformat(timespec="seconds"),
        "parameters": dict(parameters or {}),
        "summary": summary(assessments),
        "users": rows(assessments, now),
    }
    return json.dumps(document, indent=2) + "\n"


def enforce_record(
    summaries: Sequence[Mapping[str, str]],
    not_attempted: Sequence[UserRef],
    identity: GetCallerIdentityResponseTypeDef,
    parameters: Mapping[str, str],
    now: datetime,
    applied: bool,
) -> str:
    """enforce's audit record: who ran it (the caller's ARN), where, when, with which rule
    parameters, and for each user the remediation's own summary (``Action`` "failed" for the
    user whose call failed); users it never reached are listed apart."""
    document = {
        "schema_version": SCHEMA_VERSION,
        "kind": "enforce",
        "account": identity["Account"],
        "principal": identity["Arn"],
        "generated_at": now.isoformat(timespec="seconds"),
        "applied": applied,
        "parameters": dict(parameters),
        "actions": [dict(s) for s in summaries],
        "not_attempted": [{"UserId": u.user_id, "UserName": u.user_name} for u in not_attempted],
    }
    return json.dumps(document, indent=2) + "\n"


def as_csv(assessments: Sequence[Assessment], now: datetime) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(assessments, now))
    return buffer.getvalue()


def print_targets(console: Console, targets: Sequence[Assessment]) -> None:
    """What enforce --apply is about to act on, before it asks."""
    table = Table(title=f"{count(len(targets), 'user')} to act on", title_justify="left")
    for column in ("User", "UserId", "Verdict", "Annotation"):
        table.add_column(column, overflow="fold")
    for a in targets:
        table.add_row(a.user.user_name, a.user.user_id, a.verdict.compliance.value, a.verdict.annotation)
    console.print(table)


def print_actions(console: Console, summaries: Sequence[dict[str, str]], applied: bool) -> None:
    title = "Actions taken" if applied else "Planned actions (dry run: nothing changed; add --apply to act)"
    table = Table(title=title, title_justify="left")
    for column in ("User", "UserId", "Verdict before", "Action", "Reason"):
        table.add_column(column, overflow="fold")
    for s in summaries:
        table.add_row(s["UserName"], s["UserId"], s["VerdictBefore"], s["Action"], s.get("Reason", ""))
    console.print(table if summaries else "No NON_COMPLIANT user: nothing to do.")


def print_evaluations(console: Console, evaluations: Sequence[dict[str, Any]]) -> None:
    table = Table(title="Evaluations (TestMode: nothing written to Config)", title_justify="left")
    for column in ("ComplianceResourceId", "ComplianceResourceType", "ComplianceType", "Annotation"):
        table.add_column(column, overflow="fold")
    for e in evaluations:
        table.add_row(
            e["ComplianceResourceId"],
            e["ComplianceResourceType"],
            f"[{STYLE[e['ComplianceType']]}]{e['ComplianceType']}[/]",
            e.get("Annotation", ""),
        )
    console.print(table)
