"""What organization mode needs from AWS Organizations, checked before `deploy` creates anything
and by `doctor --organization`.

organization.yaml holds a service-managed StackSet and an organization Config aggregator. AWS
lets the organization's management account create both; any other account needs two separate
registrations as a delegated administrator: one for StackSets
(member.org.stacksets.cloudformation.amazonaws.com, with ``callAs: DELEGATED_ADMIN``) and one for
AWS Config (config.amazonaws.com), without which PutConfigurationAggregator answers
OrganizationAccessDeniedException. Service-managed StackSets also need trusted access for
StackSets, and an aggregator in a delegated administrator needs trusted access for Config.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError
from console_mfa.aws import error_code

if TYPE_CHECKING:
    from mypy_boto3_organizations import OrganizationsClient

STACKSETS = "member.org.stacksets.cloudformation.amazonaws.com"
CONFIG = "config.amazonaws.com"


@dataclass(frozen=True)
class OrganizationAccess:
    organization_id: str  # "" when the account belongs to no organization it can read
    management: bool  # this account is the organization's management account
    missing: tuple[str, ...]  # each: what is missing, then the command that fixes it

    @property
    def ready(self) -> bool:
        return bool(self.organization_id) and not self.missing


def organization_access(organizations: OrganizationsClient, account: str, call_as: str) -> OrganizationAccess:
    """Read-only: DescribeOrganization, ListAWSServiceAccessForOrganization and, from a delegated
    administrator, ListDelegatedAdministrators (all callable there; AWS Organizations API reference)."""
    try:
        organization = organizations.describe_organization()["Organization"]
    except ClientError as error:
        return OrganizationAccess(
            "",
            False,
            (f"DescribeOrganization answered {error_code(error)}: this account reads no organization",),
        )
    management = organization["MasterAccountId"] == account
    missing: list[str] = []
    if management and call_as != "SELF":
        missing.append("organization.callAs is DELEGATED_ADMIN in the management account: set it to SELF")
    if not management and call_as != "DELEGATED_ADMIN":
        missing.append(
            f"account {account} is not the management account ({organization['MasterAccountId']}): "
            "set organization.callAs to DELEGATED_ADMIN, or deploy from the management account"
        )
    enabled = _enabled_services(organizations)
    if enabled is None:  # AWS answers AccessDenied to a member that is no delegated administrator
        missing.append(
            f"account {account} may not read the organization's services: it is neither the management "
            "account nor a delegated administrator"
        )
    needed = [] if enabled is None else [STACKSETS] if management else [STACKSETS, CONFIG]
    for principal in needed:
        if principal not in (enabled or set()):
            fix = (
                "aws cloudformation activate-organizations-access"
                if principal == STACKSETS
                else f"aws organizations enable-aws-service-access --service-principal {principal}"
            )
            missing.append(f"trusted access for {principal} is off: in the management account, {fix}")
    if not management:
        for principal in (STACKSETS, CONFIG):
            admins = _delegated_administrators(organizations, principal)
            if account not in (admins or set()):
                missing.append(
                    f"account {account} is not a delegated administrator for {principal}: in the management "
                    f"account, aws organizations register-delegated-administrator --account-id {account} "
                    f"--service-principal {principal}"
                )
    return OrganizationAccess(str(organization["Id"]), management, tuple(missing))


def _enabled_services(organizations: OrganizationsClient) -> set[str] | None:
    """The service principals with trusted access; None when AWS denies the call."""
    paginator = organizations.get_paginator("list_aws_service_access_for_organization")
    return _unless_denied(
        lambda: {
            s["ServicePrincipal"] for page in paginator.paginate() for s in page["EnabledServicePrincipals"]
        }
    )


def _delegated_administrators(organizations: OrganizationsClient, principal: str) -> set[str] | None:
    """The accounts registered as the service's delegated administrators; None when denied."""
    paginator = organizations.get_paginator("list_delegated_administrators")
    return _unless_denied(
        lambda: {
            a["Id"]
            for page in paginator.paginate(ServicePrincipal=principal)
            for a in page["DelegatedAdministrators"]
        }
    )


def _unless_denied(read: Callable[[], set[str]]) -> set[str] | None:
    try:
        return read()
    except ClientError as error:
        if error_code(error) in ("AccessDeniedException", "AccessDeniedForDependencyException"):
            return None
        raise
