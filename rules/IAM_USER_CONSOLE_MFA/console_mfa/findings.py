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

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple, cast

from .errors import InvalidEvent
from .model import Assessment, Compliance, UserId
from .risk import Risk, risk

if TYPE_CHECKING:  # type stubs only (a development dependency): the Lambda has boto3
    from mypy_boto3_securityhub.literals import PartitionType, SeverityLabelType
    from mypy_boto3_securityhub.type_defs import (
        AwsSecurityFindingOutputTypeDef,
        AwsSecurityFindingTypeDef,
        ResourceTypeDef,
    )

    # What the rule builds, and what GetFindings answers (the tests hand built ones back).
    HeldFinding = AwsSecurityFindingTypeDef | AwsSecurityFindingOutputTypeDef


@dataclass(frozen=True)
class FindingMetadata:
    """What every finding of this rule says besides its user: declared once, immutable."""

    types: tuple[str, ...]
    related_requirements: tuple[str, ...]
    recommendation: str
    recommendation_url: str
    severity: Mapping[Risk, SeverityLabelType]  # an open finding's severity is its user's risk


METADATA = FindingMetadata(
    types=(
        "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark",
    ),
    # IAM.5 in Security Hub; "ensure MFA is enabled for all IAM users that have a console
    # password" is 1.2 in CIS AWS Foundations v1.2.0 and 1.10 in v1.4.0 and v3.0.0.
    related_requirements=(
        "AWS Foundational Security Best Practices v1.0.0/IAM.5",
        "CIS AWS Foundations Benchmark v1.2.0/1.2",
        "CIS AWS Foundations Benchmark v1.4.0/1.10",
        "CIS AWS Foundations Benchmark v3.0.0/1.10",
    ),
    recommendation=(
        "Enable an MFA device for the user (a FIDO security key or passkey, a virtual or a hardware device), "
        "or remove its console password if it does not need the console."
    ),
    recommendation_url="https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_mfa_enable.html",
    # a user with MFA (LOW) has no open finding
    severity=MappingProxyType(
        cast(
            "dict[Risk, SeverityLabelType]",
            {Risk.CRITICAL: "CRITICAL", Risk.HIGH: "HIGH", Risk.LOW: "LOW", Risk.NONE: "INFORMATIONAL"},
        )
    ),
)
TITLE_LIMIT, DESCRIPTION_LIMIT = 256, 1024  # ASFF field limits


class Context(NamedTuple):
    """Where the findings go: the account's default product, in the rule's region."""

    partition: str
    region: str
    account: str
    rule_name: str

    @classmethod
    def of_rule(cls, rule_arn: str | None, rule_name: str) -> Context:
        """The rule's partition, region and account, from the ARN Config's event carries."""
        if not rule_arn:
            raise InvalidEvent("Invalid Config event: event.configRuleArn is missing (needed for Security Hub)")
        _, partition, _, region, account, _ = rule_arn.split(":", 5)
        return cls(partition, region, account, rule_name)

    @property
    def product_arn(self) -> str:
        return f"arn:{self.partition}:securityhub:{self.region}:{self.account}:product/{self.account}/default"

    @property
    def generator_id(self) -> str:
        return f"iam-console-mfa/{self.rule_name}"


def finding_id(context: Context, user_id: UserId) -> str:
    """Stable per account and UserId: the same user's finding is updated, never duplicated."""
    return f"iam-console-mfa/{context.account}/{user_id}"


def open_finding(assessment: Assessment, context: Context, now: datetime) -> AwsSecurityFindingTypeDef:
    """The ACTIVE, FAILED finding of a NON_COMPLIANT user, severity from its risk."""
    level = risk(assessment.facts, now)
    name = assessment.user.user_name
    used = " It was used in the last 30 days." if level is Risk.CRITICAL else ""
    return _finding(
        assessment.user.user_id,
        name,
        assessment.arn,
        context,
        now,
        METADATA.severity[level],
        f"IAM user {name} can sign in to the AWS console without MFA",
        f"{assessment.verdict.annotation}{used}",
        closed=False,
    )


def resolved_finding(
    user_id: UserId, user_name: str, arn: str, why: str, context: Context, now: datetime
) -> AwsSecurityFindingTypeDef:
    """The update that closes a user's finding: PASSED and ARCHIVED (Security Hub resolves its workflow)."""
    title = f"IAM user {user_name}: console access without MFA resolved"
    return _finding(user_id, user_name, arn, context, now, "INFORMATIONAL", title, why, closed=True)


def plan_findings(
    assessments: list[Assessment],
    open_ids: Mapping[str, HeldFinding],
    context: Context,
    now: datetime,
) -> list[AwsSecurityFindingTypeDef]:
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
        details = (resource.get("Details") or {}).get("AwsIamUser") or {}
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


def _ours_and_open(finding: HeldFinding, context: Context) -> bool:
    """GetFindings was asked for exactly these; checked again so that no answer (a filter
    dropped, a double that ignores filters) can make the rule archive another tool's finding."""
    return (
        finding.get("GeneratorId") == context.generator_id
        and finding.get("AwsAccountId") == context.account
        and finding.get("RecordState") == "ACTIVE"
    )


def _finding(
    user_id: UserId,
    user_name: str,
    arn: str,
    context: Context,
    now: datetime,
    severity: SeverityLabelType,
    title: str,
    description: str,
    closed: bool,
) -> AwsSecurityFindingTypeDef:
    """One finding as BatchImportFindings takes it (typed by the API's own shapes)."""
    stamp = now.strftime("%Y-%m-%dT%H:%M:%S.000Z")
    arn = arn or f"arn:{context.partition}:iam::{context.account}:user/{user_name}"
    resource: ResourceTypeDef = {
        "Type": "AwsIamUser",
        "Id": arn,
        "Partition": cast("PartitionType", context.partition),  # the rule's own ARN's: one of AWS's
        "Region": context.region,
        "Details": {"AwsIamUser": {"UserName": user_name, "UserId": user_id}},
    }
    return {
        "SchemaVersion": "2018-10-08",
        "Id": finding_id(context, user_id),
        "ProductArn": context.product_arn,
        "GeneratorId": context.generator_id,
        "AwsAccountId": context.account,
        "FindingProviderFields": {
            "Severity": {"Label": severity, "Original": severity},
            "Types": list(METADATA.types),
        },
        "CreatedAt": stamp,
        "UpdatedAt": stamp,
        "Title": _fit(title, TITLE_LIMIT),
        "Description": _fit(description, DESCRIPTION_LIMIT),
        "Resources": [resource],
        "Remediation": {
            "Recommendation": {"Text": METADATA.recommendation, "Url": METADATA.recommendation_url}
        },
        "Compliance": {
            "Status": "PASSED" if closed else "FAILED",
            "RelatedRequirements": list(METADATA.related_requirements),
        },
        "RecordState": "ARCHIVED" if closed else "ACTIVE",
    }


def _fit(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
