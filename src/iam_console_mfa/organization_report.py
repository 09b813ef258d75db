"""``iam-console-mfa report --organization``: every member account's results, from the
organization aggregator that organization.yaml creates (``<RuleName>-organization``).

Read in the management (or delegated administrator) account: the aggregator's per-account
compliance (DescribeAggregateComplianceByConfigRules), every result per account and region
(GetAggregateComplianceDetailsByConfigRule, 100 a page), and the StackSet's instances
(ListStackInstances), so that an account whose stack is missing or failed is listed too: it
has no results, and no results is not "compliant".

AWS documents the aggregate calls for COMPLIANT and NON_COMPLIANT results only (their
ComplianceType filters accept no other value, and DescribeAggregateComplianceByConfigRules
omits a rule without such results). Whether an aggregator also holds NOT_APPLICABLE results
(exempt users, users without a console password) is not documented: they are counted when
returned, never inferred, and an account with none of the other two is listed from its stack
instance with no result. The exit code rests on NON_COMPLIANT alone, which is documented.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from console_mfa.aggregated import Result
from console_mfa.aws import translated
from console_mfa.model import Compliance

from .output import SCHEMA_VERSION

if TYPE_CHECKING:
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_cloudformation.literals import CallAsType
    from rich.console import Console

# What report --organization calls (`iam-console-mfa policy --doctor` includes them; a test
# derives them from the calls made).
ACTIONS = (
    "cloudformation:ListStackInstances",
    "config:DescribeAggregateComplianceByConfigRules",
    "config:GetAggregateComplianceDetailsByConfigRule",
)


NOT_APPLICABLE_NOTE = (
    "exempt users and users without a console password, when the aggregator returns them "
    "(AWS documents aggregate results for COMPLIANT and NON_COMPLIANT only)"
)


class AccountSummary(NamedTuple):
    account: str
    region: str
    non_compliant: int
    compliant: int
    not_applicable: int
    last_evaluated: datetime | None
    stack_instance: str  # the StackSet instance's status; "none" when there is no instance


def stack_instances(
    cloudformation: CloudFormationClient, stack_set: str, call_as: CallAsType
) -> dict[str, str]:
    """Account -> its stack instance's status, for every instance of the StackSet."""
    statuses: dict[str, str] = {}
    with translated("ListStackInstances"):
        pages = cloudformation.get_paginator("list_stack_instances").paginate(
            StackSetName=stack_set, CallAs=call_as
        )
        for page in pages:
            for instance in page["Summaries"]:
                detailed = instance.get("StackInstanceStatus", {}).get("DetailedStatus")
                statuses[instance["Account"]] = detailed or instance.get("Status", "UNKNOWN")
    return statuses


def summarize(found: list[Result], instances: dict[str, str]) -> list[AccountSummary]:
    """One row per account with results or a stack instance (pure)."""
    by_place: dict[tuple[str, str], list[Result]] = {}
    for result in found:
        by_place.setdefault((result.account, result.region), []).append(result)
    rows = []
    for (account, region), held in sorted(by_place.items()):
        counted = {c: sum(r.compliance == c.value for r in held) for c in Compliance}
        times = [r.recorded for r in held if r.recorded is not None]
        rows.append(
            AccountSummary(
                account,
                region,
                counted[Compliance.NON_COMPLIANT],
                counted[Compliance.COMPLIANT],
                counted[Compliance.NOT_APPLICABLE],
                max(times) if times else None,
                instances.get(account, "none"),
            )
        )
    for account in sorted(set(instances) - {r.account for r in rows}):  # deployed, but no results
        rows.append(AccountSummary(account, "", 0, 0, 0, None, instances[account]))
    return rows


def print_table(console: Console, rows: list[AccountSummary], found: list[Result], rule_name: str) -> None:
    """A row per account, then every NON_COMPLIANT user with its annotation."""
    from rich.table import Table

    table = Table(title=f"{rule_name} across the organization")
    columns = ("Account", "Region", "NON_COMPLIANT", "COMPLIANT", "NOT_APPLICABLE*", "Last result", "Stack")
    for column in columns:
        table.add_column(column)
    for r in rows:
        last = f"{r.last_evaluated:%Y-%m-%d %H:%M}" if r.last_evaluated else "no result"
        counts = (str(r.non_compliant), str(r.compliant), str(r.not_applicable))
        table.add_row(r.account, r.region or "-", *counts, last, r.stack_instance)
    console.print(table)
    console.print(f"* {NOT_APPLICABLE_NOTE}", markup=False, highlight=False)
    for result in found:
        if result.compliance == Compliance.NON_COMPLIANT.value:
            line = f"{result.account} {result.user_id}: {result.annotation}"
            console.print(line, markup=False, highlight=False)


def as_json(rows: list[AccountSummary], found: list[Result], rule_name: str, now: datetime) -> str:
    """Versioned like `report --format json` (the same schema_version), kind "organization"."""
    document = {
        "schema_version": SCHEMA_VERSION,
        "kind": "organization",
        "rule_name": rule_name,
        "generated_at": now.isoformat(timespec="seconds"),
        "accounts": [r._asdict() for r in rows],
        "non_compliant": [r._asdict() for r in found if r.compliance == Compliance.NON_COMPLIANT.value],
    }
    return json.dumps(document, indent=2, default=_iso) + "\n"


def _iso(value: object) -> str:
    """Times in ISO 8601, as generated_at and `report --format json` write them."""
    return value.isoformat() if isinstance(value, datetime) else str(value)


def as_csv(found: list[Result]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(Result._fields)
    writer.writerows(["" if value is None else _iso(value) for value in result] for result in found)
    return buffer.getvalue()
