"""Remediation: act on a user who is still NON_COMPLIANT, as the rule's RemediationAction says.

disable-console deletes the login profile; require-mfa attaches the stack's quarantine policy
(AWS's self-service MFA pattern: nothing but enrolling MFA and changing the password until
the user signs in with MFA); require-mfa-and-deactivate-keys also deactivates, never deletes,
the user's active access keys. Runs as the remediation Lambda (``handler``, invoked by the SSM
Automation document in cloudformation/rule.yaml, with its own role: the only one that writes
to IAM users, and only what the deployed action needs) and behind ``iam-console-mfa
enforce``. Every action locks a person out of something, so the verdict is recomputed from
live facts with the rule's own ``decide`` and nothing happens unless it is still
NON_COMPLIANT: a user who enrolled MFA meanwhile, an exempt break-glass user or one inside
the grace period is left alone. Idempotent: a second run changes nothing more.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.exceptions import ClientError

from .aws import IAM_PROPAGATION_WAITS_SECONDS, RETRY_CONFIG, error_code, translated
from .decision import decide
from .deployed import deployed_rule, input_parameters
from .errors import AwsCallFailed, RuleError, UserGone
from .live import LiveIam
from .model import Compliance, UserId, UserName, UserRef, Verdict
from .policy import RemediationAction, RuleParameters, parse_policy

if TYPE_CHECKING:  # type stubs only (a development dependency): the Lambda has boto3
    from mypy_boto3_config import ConfigServiceClient
    from mypy_boto3_iam import IAMClient

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)  # the summary each invocation logs (handler)
AUDIT_TAG = "ConsoleMfaRemediation"  # value: when and why the login profile was deleted


class RemediationFailed(RuleError):
    """The remediation could not be carried out safely; nothing more was done."""


def resolve_user_name(iam: IAMClient, config: ConfigServiceClient, user_id: UserId) -> UserName:
    """The current name of a UserId, verified against IAM (GetUser) before it is trusted.

    Config's inventory answers first (cheap), but it can be stale: after a rename, its
    name may belong to nobody or to another user. A name is only returned once GetUser
    says it carries this UserId; otherwise ListUsers is scanned. Unresolved is a failure.
    """
    try:
        found = config.list_discovered_resources(resourceType="AWS::IAM::User", resourceIds=[user_id])
        for resource in found.get("resourceIdentifiers", []):
            name = resource.get("resourceName")
            if resource.get("resourceId") == user_id and name and _user_id_of(iam, UserName(name)) == user_id:
                return UserName(name)
    except ClientError as error:
        # The scan below gives the same answer; Config only makes it cheaper.
        LOG.warning("ListDiscoveredResources failed (%s): scanning ListUsers", error_code(error))
    with translated("ListUsers"):
        for page in iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 1000}):
            for user in page["Users"]:
                if user["UserId"] == user_id:
                    return UserName(user["UserName"])
    raise RemediationFailed(f"no IAM user has UserId {user_id}: nothing was changed")


def _user_id_of(iam: IAMClient, user_name: UserName) -> UserId | None:
    """GetUser's UserId for a name, None when no user has that name."""
    entry = LiveIam(iam).user_entry(user_name)
    return UserId(entry["UserId"]) if entry else None


def _verify_identity(iam: IAMClient, user: UserRef, step: str) -> None:
    """Fail unless the name still belongs to the UserId (renamed, or deleted and recreated)."""
    found = _user_id_of(iam, user.user_name)
    if found != user.user_id:
        now_held = f"now belongs to {found}" if found else "no longer exists"
        raise RemediationFailed(
            f"before {step}: user name {user.user_name} {now_held}, not {user.user_id}: nothing more was done"
        )


def _stamp(now: datetime, outcome: str) -> str:
    # IAM tag values allow letters, digits, spaces and _.:/=+-@ only.
    return f"{now.strftime('%Y-%m-%dT%H:%M:%SZ')} {outcome}"


def _tag(iam: IAMClient, user: UserRef, value: str) -> bool:
    """Write the audit tag; False when the user already holds IAM's maximum of 50 tags.

    A full tag list must not block the remediation: the deletion is still recorded by
    CloudTrail and in the automation's output (AuditTag).
    """
    with translated("TagUser", user.user_name):
        try:
            iam.tag_user(UserName=user.user_name, Tags=[{"Key": AUDIT_TAG, "Value": value}])
        except ClientError as error:
            if error_code(error) == "LimitExceeded":
                LOG.warning("%s holds 50 tags: audit tag not written", user.user_name)
                return False
            raise
    return True


def _removal_visible(live: LiveIam, user_name: UserName) -> bool:
    """GetLoginProfile answers NoSuchEntity, at once or within IAM's propagation waits (a read
    right after DeleteLoginProfile may still see the profile)."""
    waits = iter(IAM_PROPAGATION_WAITS_SECONDS)
    while live.password_created(user_name) is not None:
        wait = next(waits, None)
        if wait is None:
            return False
        time.sleep(wait)
    return True


def _decide_live(iam: IAMClient, user: UserRef, policy: RuleParameters, now: datetime) -> Verdict:
    try:
        facts = LiveIam(iam).confirm(user, policy)
    except UserGone:
        raise RemediationFailed(f"{user.user_name} ({user.user_id}) was deleted meanwhile") from None
    return decide(facts, policy, now)


WOULD = {
    RemediationAction.DISABLE_CONSOLE: "delete its login profile",
    RemediationAction.REQUIRE_MFA: "attach the quarantine policy",
    RemediationAction.REQUIRE_MFA_AND_DEACTIVATE_KEYS: "attach the quarantine policy, deactivate access keys",
}


PENDING = {
    RemediationAction.DISABLE_CONSOLE: "pending: console password to be removed: no MFA device",
    RemediationAction.REQUIRE_MFA: "pending: quarantine: no MFA device",
    RemediationAction.REQUIRE_MFA_AND_DEACTIVATE_KEYS: "pending: quarantine + access keys: no MFA device",
}


def remediate(
    iam: IAMClient,
    config: ConfigServiceClient,
    user_id: UserId,
    policy: RuleParameters,
    now: datetime,
    dry_run: bool,
    quarantine_policy_arn: str,
) -> dict[str, str]:
    """Act on one user; return the summary the SSM step outputs (all values strings).

    Order: resolve and verify the name, decide; verify again, write the audit tag as
    "pending"; re-read every fact and decide again; verify again, act; then make the tag
    say what happened. Each re-check closes a window in which MFA, an exemption tag, a new
    login profile (grace) or another user under the same name could appear.
    """
    action = policy.remediation_action
    if action is RemediationAction.NONE:
        raise RemediationFailed("the rule's RemediationAction is none: nothing was changed")
    if action.quarantines and not quarantine_policy_arn:
        raise RemediationFailed(
            f"RemediationAction {action} needs the stack's quarantine policy: nothing was changed"
        )
    summary = {
        "UserId": user_id,
        "UserName": "",
        "VerdictBefore": "",
        "Action": "none",
        "DryRun": str(dry_run),
        "RemediationAction": action.value,
    }
    user = UserRef(user_id, resolve_user_name(iam, config, user_id))
    summary["UserName"] = user.user_name
    verdict = _decide_live(iam, user, policy, now)
    summary.update(VerdictBefore=verdict.compliance.value, Reason=verdict.annotation)
    if verdict.compliance is not Compliance.NON_COMPLIANT:
        return summary
    if dry_run:
        return {**summary, "Action": f"would tag the user and {WOULD[action]} (dry run)"}

    _verify_identity(iam, user, "TagUser")
    tagged = _tag(iam, user, _stamp(now, PENDING[action]))
    summary["AuditTag"] = AUDIT_TAG if tagged else "not written: the user holds 50 tags"
    verdict = _decide_live(iam, user, policy, now)  # what changed while we tagged
    if verdict.compliance is not Compliance.NON_COMPLIANT:
        if tagged:
            _tag(iam, user, _stamp(now, f"not acted on: {verdict.reason.value} at the last check"))
        return {**summary, "Reason": f"re-checked before acting: {verdict.annotation}"}

    return {**summary, "Action": _act(iam, user, action, quarantine_policy_arn, now, tagged)}


def _act(
    iam: IAMClient,
    user: UserRef,
    action: RemediationAction,
    quarantine_policy_arn: str,
    now: datetime,
    tagged: bool,
) -> str:
    """Carry out the action (the user was re-decided NON_COMPLIANT just before); say what was done."""
    if action is RemediationAction.DISABLE_CONSOLE:
        _delete_login_profile(iam, user, now, tagged)
        done = "console password removed: no MFA device"
        said = "tagged the user and deleted its login profile"
    else:
        _verify_identity(iam, user, "AttachUserPolicy")
        with translated("AttachUserPolicy", user.user_name):
            try:  # attaching an attached policy succeeds: idempotent
                iam.attach_user_policy(UserName=user.user_name, PolicyArn=quarantine_policy_arn)
            except ClientError as error:
                if tagged:
                    _tag(iam, user, _stamp(now, f"quarantine failed: {error_code(error)}"))
                if error_code(error) == "LimitExceeded":  # IAM's 10 managed policies a user
                    raise RemediationFailed(
                        f"{user.user_name} already has IAM's maximum of managed policies: quarantine policy "
                        "not attached; detach one or remove the console password"
                    ) from None
                raise
        done, said = "quarantined: MFA required", "tagged the user and attached the quarantine policy"
        if action is RemediationAction.REQUIRE_MFA_AND_DEACTIVATE_KEYS:
            count = _deactivate_access_keys(iam, user)
            done += f" + {count} access keys deactivated"  # IAM tag values allow no ';'
            said += f" and deactivated {count} access keys (never deleted)"
    if tagged:
        _tag(iam, user, _stamp(now, done))
    return said


def _delete_login_profile(iam: IAMClient, user: UserRef, now: datetime, tagged: bool) -> None:
    _verify_identity(iam, user, "DeleteLoginProfile")
    with translated("DeleteLoginProfile", user.user_name):
        try:
            iam.delete_login_profile(UserName=user.user_name)
        except ClientError as error:
            if error_code(error) != "NoSuchEntity":  # already gone: the goal is reached
                if tagged:
                    _tag(iam, user, _stamp(now, f"removal failed: {error_code(error)}"))
                raise
    if not _removal_visible(LiveIam(iam), user.user_name):
        waited = sum(IAM_PROPAGATION_WAITS_SECONDS)
        raise RemediationFailed(
            f"{user.user_name}: login profile still present {waited:.0f} s after DeleteLoginProfile"
        )


def _deactivate_access_keys(iam: IAMClient, user: UserRef) -> int:
    """Set every Active access key Inactive (reversible: UpdateAccessKey Status=Active)."""
    _verify_identity(iam, user, "UpdateAccessKey")
    count = 0
    with translated("ListAccessKeys", user.user_name):
        keys = [
            k
            for page in iam.get_paginator("list_access_keys").paginate(UserName=user.user_name)
            for k in page["AccessKeyMetadata"]
        ]
    for key in keys:
        if key["Status"] == "Active":
            with translated("UpdateAccessKey", user.user_name):
                iam.update_access_key(
                    UserName=user.user_name, AccessKeyId=key["AccessKeyId"], Status="Inactive"
                )
            count += 1
    return count


USER_ID = re.compile(r"[A-Za-z0-9]{16,128}")  # IAM UserIds (AIDA...), Config's RESOURCE_ID
# What a caller may say: who, and whether only to plan. Never who is exempt: that is the
# deployed rule's (deployed_policy), so a caller can narrow what is removed, never widen it.
EVENT_KEYS = ("IAMUserId", "DryRun")


RULE_ENV = "CONFIG_RULE_NAME"  # set by the stack: which rule this remediation serves
# The stack's quarantine policy (require-mfa): the only policy the role may attach.
QUARANTINE_ENV = "QUARANTINE_POLICY_ARN"


def deployed_policy(config: ConfigServiceClient, environ: Mapping[str, str]) -> RuleParameters:
    """The exemptions and grace of the deployed rule, read from the rule itself
    (DescribeConfigRules) on every run: the one source, whoever changed it and however.

    Anything short of the rule's own parameters is a failure, never a default: a default
    would exempt nobody.
    """
    rule_name = environ.get(RULE_ENV, "")
    if not rule_name:
        raise RemediationFailed(
            f"the function's environment lacks {RULE_ENV}: deploy it with rule.yaml; nothing was changed"
        )
    try:
        rule = deployed_rule(config, rule_name)
    except AwsCallFailed as error:
        raise RemediationFailed(f"cannot read the rule's parameters ({error}): nothing was changed") from None
    if rule is None:
        raise RemediationFailed(f"no Config rule {rule_name} here to take exemptions from: nothing was changed")
    return parse_policy(input_parameters(rule))


def handler(event: Any, context: Any) -> dict[str, str]:
    """Lambda entry point: the event carries IAMUserId and optionally DryRun, nothing else.

    Any exception fails the invocation, which fails the Automation step (and so Config's
    remediation attempt): nothing is reported as done that was not.
    """
    if not isinstance(event, dict):
        raise RemediationFailed(f"expected an object, got {type(event).__name__}")
    unknown = sorted(set(event) - set(EVENT_KEYS))
    if unknown:
        raise RemediationFailed(
            f"unknown key(s) {', '.join(map(repr, unknown))}: the event takes {' and '.join(EVENT_KEYS)}; "
            "exemptions and grace come from the deployed rule. Nothing was changed"
        )
    user_id = event.get("IAMUserId")
    if not isinstance(user_id, str) or not USER_ID.fullmatch(user_id):
        raise RemediationFailed(f"IAMUserId {user_id!r:.60} is not an IAM UserId")
    dry_run = event.get("DryRun", False)
    if not isinstance(dry_run, bool):
        raise RemediationFailed(f"DryRun must be true or false, got {dry_run!r:.20}")
    iam = boto3.client("iam", config=RETRY_CONFIG)
    config = boto3.client("config", config=RETRY_CONFIG)
    policy = deployed_policy(config, os.environ)
    quarantine = os.environ.get(QUARANTINE_ENV, "")
    summary = remediate(iam, config, UserId(user_id), policy, datetime.now(UTC), dry_run, quarantine)
    # The audit trail in the function's log group (rule.yaml's LoggingConfig JSON makes
    # ``remediation`` a key), beside the audit tag and the Automation step's output.
    LOG.info("%s (%s): %s", summary["UserName"], user_id, summary["Action"], extra={"remediation": summary})
    return summary
