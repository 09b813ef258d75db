"""Remediation: remove the console password of a user who is still NON_COMPLIANT.

Runs inside the SSM Automation document (bundled with the engine it imports, see
``iam_console_mfa.document``) and behind ``iam-console-mfa enforce``. Deleting a login
profile locks a person out of the console, so the verdict is recomputed from live facts
with the rule's own ``decide`` and nothing happens unless it is still NON_COMPLIANT: a user
who enrolled MFA meanwhile, an exempt break-glass user or one inside the grace period is
left alone. Idempotent: a second run finds no console password and does nothing.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import boto3
from botocore.exceptions import ClientError

from .aws import RETRY_CONFIG, error_code, translated
from .decision import decide
from .errors import RuleError, UserGone
from .live import LiveIam
from .model import Compliance, UserId, UserName, UserRef
from .policy import Policy, parse_policy

LOG = logging.getLogger(__name__)
AUDIT_TAG = "ConsoleMfaRemediation"  # value: when and why the login profile was deleted


class RemediationFailed(RuleError):
    """The login profile is still there after DeleteLoginProfile."""


def resolve_user_name(iam: Any, config: Any, user_id: UserId) -> UserName | None:
    """The user name for a UserId: Config's inventory first, then a ListUsers scan."""
    try:
        found = config.list_discovered_resources(resourceType="AWS::IAM::User", resourceIds=[user_id])
        for resource in found.get("resourceIdentifiers", []):
            if resource.get("resourceId") == user_id and resource.get("resourceName"):
                return UserName(resource["resourceName"])
    except ClientError as error:
        # The scan below gives the same answer; Config only makes it cheaper.
        LOG.warning("ListDiscoveredResources failed (%s): scanning ListUsers", error_code(error))
    with translated("ListUsers"):
        for page in iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 1000}):
            for user in page["Users"]:
                if user["UserId"] == user_id:
                    return UserName(user["UserName"])
    return None


def remediate(
    iam: Any, config: Any, user_id: UserId, policy: Policy, now: datetime, dry_run: bool = False
) -> dict[str, str]:
    """Act on one user; return the summary the SSM step outputs (all values strings)."""
    summary = {"UserId": user_id, "UserName": "", "VerdictBefore": "", "Action": "none", "DryRun": str(dry_run)}
    user_name = resolve_user_name(iam, config, user_id)
    if user_name is None:
        return {**summary, "Reason": "user not found, nothing to do"}
    summary["UserName"] = user_name
    try:
        facts = LiveIam(iam).confirm(UserRef(user_id, user_name), policy)
    except UserGone:
        return {**summary, "Reason": "user deleted meanwhile, nothing to do"}
    verdict = decide(facts, policy, now)
    summary.update(VerdictBefore=verdict.compliance.value, Reason=verdict.annotation)
    if verdict.compliance is not Compliance.NON_COMPLIANT:
        return summary
    if dry_run:
        return {**summary, "Action": "would tag the user and delete its login profile (dry run)"}

    reason = f"{now.strftime('%Y-%m-%dT%H:%M:%SZ')} console password removed: no MFA device"
    with translated("TagUser", user_name):
        iam.tag_user(UserName=user_name, Tags=[{"Key": AUDIT_TAG, "Value": reason}])
    with translated("DeleteLoginProfile", user_name):
        try:
            iam.delete_login_profile(UserName=user_name)
        except ClientError as error:
            if error_code(error) != "NoSuchEntity":  # already gone: the goal is reached
                raise
    if LiveIam(iam).password_created(user_name) is not None:
        raise RemediationFailed(f"{user_name}: login profile still present after DeleteLoginProfile")
    return {**summary, "Action": "tagged the user and deleted its login profile"}


def handler(events: dict[str, Any], context: Any) -> dict[str, str]:
    """Entry point of the SSM aws:executeScript step (InputPayload = the document's parameters)."""
    policy = parse_policy(
        {key: str(events.get(key, "")) for key in ("ExemptUserNames", "ExemptTag", "GracePeriodDays")}
    )
    dry_run = str(events.get("DryRun", False)).lower() == "true"
    # executeScript does not retry throttled calls: botocore's standard mode does it here.
    iam = boto3.client("iam", config=RETRY_CONFIG)
    config = boto3.client("config", config=RETRY_CONFIG)
    return remediate(iam, config, UserId(str(events["IAMUserId"])), policy, datetime.now(UTC), dry_run)
