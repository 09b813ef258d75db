"""Organization mode's preflight (organization_access): from the management account or a
delegated administrator, as AWS allows each.

moto cannot judge who may create an organization aggregator or a service-managed StackSet, so
the Organizations calls are stubbed with botocore's Stubber, shaped as the AWS Organizations
API reference documents them (DescribeOrganization, ListAWSServiceAccessForOrganization,
ListDelegatedAdministrators, AccessDeniedException for a member that is no delegated
administrator).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from iam_console_mfa.organization_access import CONFIG, STACKSETS, organization_access

MANAGEMENT, ADMIN = "111111111111", "222222222222"
ORGANIZATION = {
    "Id": "o-exampleorgid",
    "Arn": f"arn:aws:organizations::{MANAGEMENT}:organization/o-exampleorgid",
    "FeatureSet": "ALL",
    "MasterAccountArn": f"arn:aws:organizations::{MANAGEMENT}:account/o-exampleorgid/{MANAGEMENT}",
    "MasterAccountId": MANAGEMENT,
    "MasterAccountEmail": "admin@example.com",
}
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def services(*principals: str) -> dict[str, Any]:
    return {"EnabledServicePrincipals": [{"ServicePrincipal": p, "DateEnabled": NOW} for p in principals]}


def admins(*accounts: str) -> dict[str, Any]:
    return {
        "DelegatedAdministrators": [
            {
                "Id": a,
                "Arn": f"arn:aws:organizations::{MANAGEMENT}:account/o-exampleorgid/{a}",
                "Email": f"{a}@example.com",
                "Name": a,
                "Status": "ACTIVE",
                "JoinedMethod": "INVITED",
                "JoinedTimestamp": NOW,
                "DelegationEnabledDate": NOW,
            }
            for a in accounts
        ]
    }


def check(account: str, call_as: str, answers: list[tuple[str, Any]]) -> tuple[bool, list[str]]:
    """organization_access with each call answered in turn (a dict, or an error code)."""
    organizations = boto3.client(
        "organizations", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    with Stubber(organizations) as stub:
        for operation, answer in answers:
            if isinstance(answer, str):
                stub.add_client_error(operation, answer)
            else:
                stub.add_response(operation, answer)
        access = organization_access(organizations, account, call_as)
        stub.assert_no_pending_responses()
    return access.ready, list(access.missing)


DESCRIBED = ("describe_organization", {"Organization": ORGANIZATION})


def test_the_management_account_needs_trusted_access_for_stacksets_only() -> None:
    assert check(
        MANAGEMENT, "SELF", [DESCRIBED, ("list_aws_service_access_for_organization", services(STACKSETS))]
    ) == (
        True,
        [],
    )
    ready, missing = check(
        MANAGEMENT, "SELF", [DESCRIBED, ("list_aws_service_access_for_organization", services())]
    )
    assert not ready and missing == [
        f"trusted access for {STACKSETS} is off: in the management account, "
        "aws cloudformation activate-organizations-access"
    ]


def test_the_management_account_cannot_call_as_a_delegated_administrator() -> None:
    ready, missing = check(
        MANAGEMENT,
        "DELEGATED_ADMIN",
        [DESCRIBED, ("list_aws_service_access_for_organization", services(STACKSETS))],
    )
    assert not ready and missing == [
        "organization.callAs is DELEGATED_ADMIN in the management account: set it to SELF"
    ]


def test_a_delegated_administrator_needs_both_registrations_and_both_trusted_accesses() -> None:
    registered = [
        DESCRIBED,
        ("list_aws_service_access_for_organization", services(STACKSETS, CONFIG)),
        ("list_delegated_administrators", admins(ADMIN)),
        ("list_delegated_administrators", admins(ADMIN, "333333333333")),
    ]
    assert check(ADMIN, "DELEGATED_ADMIN", registered) == (True, [])
    # A StackSets delegated administrator only: the aggregator would fail (OrganizationAccessDenied).
    stacksets_only = [
        DESCRIBED,
        ("list_aws_service_access_for_organization", services(STACKSETS)),
        ("list_delegated_administrators", admins(ADMIN)),
        ("list_delegated_administrators", admins()),
    ]
    ready, missing = check(ADMIN, "DELEGATED_ADMIN", stacksets_only)
    assert not ready and missing == [
        f"trusted access for {CONFIG} is off: in the management account, aws organizations "
        f"enable-aws-service-access --service-principal {CONFIG}",
        f"account {ADMIN} is not a delegated administrator for {CONFIG}: in the management account, "
        f"aws organizations register-delegated-administrator --account-id {ADMIN} --service-principal {CONFIG}",
    ]


def test_a_member_account_calling_as_self_or_without_any_registration_is_told_what_to_do() -> None:
    ready, missing = check(
        ADMIN,
        "SELF",
        [
            DESCRIBED,
            ("list_aws_service_access_for_organization", "AccessDeniedException"),
            ("list_delegated_administrators", "AccessDeniedException"),
            ("list_delegated_administrators", "AccessDeniedException"),
        ],
    )
    assert not ready
    assert missing[0].startswith(f"account {ADMIN} is not the management account ({MANAGEMENT})")
    assert "neither the management account nor a delegated administrator" in missing[1]
    assert [m.split(":")[0] for m in missing[2:]] == [
        f"account {ADMIN} is not a delegated administrator for {STACKSETS}",
        f"account {ADMIN} is not a delegated administrator for {CONFIG}",
    ]


def test_no_organization_is_not_ready() -> None:
    ready, missing = check(ADMIN, "SELF", [("describe_organization", "AWSOrganizationsNotInUseException")])
    assert not ready and missing == [
        "DescribeOrganization answered AWSOrganizationsNotInUseException: this account reads no organization"
    ]


def test_another_error_is_not_taken_for_a_missing_registration() -> None:
    with pytest.raises(Exception, match="TooManyRequestsException"):
        check(
            ADMIN,
            "DELEGATED_ADMIN",
            [DESCRIBED, ("list_aws_service_access_for_organization", "TooManyRequestsException")],
        )
