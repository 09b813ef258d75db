"""Security Hub findings (AWS Security Finding Format) from assessments. Pure: no AWS calls.

Findings from the AWS Config integration are always MEDIUM, updated only when compliance
changes, and deleted 90 days after their last update. These native findings carry the rule's
risk as severity and are re-imported on every sweep while the user stays without MFA, so none
ages out; a user who became compliant, exempt, NOT_APPLICABLE or deleted gets its finding
updated to PASSED and ARCHIVED.

Security Hub's update rules for a finding provider: severity and types go in
FindingProviderFields (the top-level fields are the customer's, set with BatchUpdateFindings),
and Workflow, Note, UserDefinedFields and VerificationState are never sent: BatchImportFindings
cannot change them once a finding exists. Security Hub moves the workflow itself: RESOLVED
when a finding is archived or passes, NEW when it becomes active or fails again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, NamedTuple

from .model import Assessment, Compliance, UserId
from .risk import Risk, risk

TYPES = ["Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark"]
# IAM.5 in Security Hub; "ensure MFA is enabled for all IAM users that have a console
# password" is 1.2 in CIS AWS Foundations v1.2.0 and 1.10 in v1.4.0 and v3.0.0.
RELATED_REQUIREMENTS = [
    "AWS Foundational Security Best Practices v1.0.0/IAM.5",
    "CIS AWS Foundations Benchmark v1.2.0/1.2",
    "CIS AWS Foundations Benchmark v1.4.0/1.10",
    "CIS AWS Foundations Benchmark v3.0.0/1.10",
]
RECOMMENDATION = (
    "Enable an MFA device for the user (a FIDO security key or passkey, a virtual or a hardware device), "
    "or remove its console password if it does not need the console."
)
RECOMMENDATION_URL = "https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_enable.html"
TITLE_LIMIT, DESCRIPTION_LIMIT = 256, 1024  # ASFF field limits


class Context(NamedTuple):
    """Where the findings go: the account's default product, in the rule's region."""

    partition: str
    region: str
    account: str
    rule_name: str

    @property
    def product_arn(self) -> str:
        return f"arn:{self.partition}:securityhub:{self.region}:{self.account}:product/{self.account}/default"

    @property
    def generator_id(self) -> str:
        return f"iam-console-mfa/{self.rule_name}"


def finding_id(context: Context, user_id: UserId) -> str:
    """Stable per account and UserId: the same user's finding is updated, never duplicated."""
    return f"iam-console-mfa/{context.account}/{user_id}"


def open_finding(assessment: Assessment, context: Context, now: datetime) -> dict[str, Any]:
    """The ACTIVE, FAILED finding of a NON_COMPLIANT user, severity from its risk."""
    level = risk(assessment.facts, now)
    name = assessment.user.user_name
    used = " It was used in the last 30 days." if level is Risk.CRITICAL else ""
    return {
        **_base(assessment.user.user_id, name, assessment.arn, context, now, level.value),
        "Title": _fit(f"IAM user {name} can sign in to the AWS console without MFA", TITLE_LIMIT),
        "Description": _fit(f"{assessment.verdict.annotation}{used}", DESCRIPTION_LIMIT),
        "Compliance": {"Status": "FAILED", "RelatedRequirements": RELATED_REQUIREMENTS},
        "RecordState": "ACTIVE",
    }


def resolved_finding(
    user_id: UserId, user_name: str, arn: str, why: str, context: Context, now: datetime
) -> dict[str, Any]:
    """The update that closes a user's finding: PASSED and ARCHIVED (Security Hub resolves its workflow)."""
    return {
        **_base(user_id, user_name, arn, context, now, "INFORMATIONAL"),
        "Title": _fit(f"IAM user {user_name}: console access without MFA resolved", TITLE_LIMIT),
        "Description": _fit(why, DESCRIPTION_LIMIT),
        "Compliance": {"Status": "PASSED", "RelatedRequirements": RELATED_REQUIREMENTS},
        "RecordState": "ARCHIVED",
    }


def plan_findings(
    assessments: list[Assessment], open_ids: dict[str, dict[str, Any]], context: Context, now: datetime
) -> list[dict[str, Any]]:
    """Every NON_COMPLIANT user's finding (re-imported, so it never ages out), and the update
    that resolves each open finding whose user is no longer NON_COMPLIANT or no longer exists.

    ``open_ids``: the ACTIVE findings of this generator, by finding Id (GetFindings).
    """
    out = [
        open_finding(a, context, now) for a in assessments if a.verdict.compliance is Compliance.NON_COMPLIANT
    ]
    flagged = {f["Id"] for f in out}
    current = {finding_id(context, a.user.user_id): a for a in assessments}
    for identifier, held in open_ids.items():
        if identifier in flagged or not _ours_and_open(held, context):
            continue
        resource = held["Resources"][0]
        details = resource.get("Details", {}).get("AwsIamUser", {})
        assessment = current.get(identifier)
        why = assessment.verdict.annotation if assessment else "the user no longer exists"
        out.append(
            resolved_finding(
                UserId(details.get("UserId", identifier.rsplit("/", 1)[-1])),
                details.get("UserName", ""),
                resource["Id"],
                why,
                context,
                now,
            )
        )
    return out


def _ours_and_open(finding: dict[str, Any], context: Context) -> bool:
    """GetFindings was asked for exactly these; checked again so that no answer (a filter
    dropped, a double that ignores filters) can make the rule archive another tool's finding."""
    return (
        finding.get("GeneratorId") == context.generator_id
        and finding.get("AwsAccountId") == context.account
        and finding.get("RecordState") == "ACTIVE"
    )


def _base(
    user_id: UserId, user_name: str, arn: str, context: Context, now: datetime, severity: str
) -> dict[str, Any]:
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    arn = arn or f"arn:{context.partition}:iam::{context.account}:user/{user_name}"
    return {
        "SchemaVersion": "2018-10-08",
        "Id": finding_id(context, user_id),
        "ProductArn": context.product_arn,
        "GeneratorId": context.generator_id,
        "AwsAccountId": context.account,
        "FindingProviderFields": {"Severity": {"Label": severity, "Original": severity}, "Types": TYPES},
        "CreatedAt": stamp,
        "UpdatedAt": stamp,
        "Resources": [
            {
                "Type": "AwsIamUser",
                "Id": arn,
                "Partition": context.partition,
                "Region": context.region,
                "Details": {"AwsIamUser": {"UserName": user_name, "UserId": user_id}},
            }
        ],
        "Remediation": {"Recommendation": {"Text": RECOMMENDATION, "Url": RECOMMENDATION_URL}},
    }


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
