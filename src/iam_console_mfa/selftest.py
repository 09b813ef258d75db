"""``iam-console-mfa selftest``: prove the deployed rule in this account, with a throwaway user.

Creates a user with a console password and no MFA (named ``iam-console-mfa-selftest-<random>``,
tagged as a self-test) and a twin with a virtual MFA device, then measures how long the
deployed rule takes to show the first NON_COMPLIANT (GetComplianceDetailsByResource, polled
with back-off), checks that the twin is not flagged, optionally (``--remediate``) has Config
run the rule's remediation and checks the password is gone, and always deletes what it
created, on failure and on Ctrl-C too. ``--cleanup`` deletes leftovers of an earlier run.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
import time
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import ClientError
from console_mfa.aws import IAM_PROPAGATION_WAITS_SECONDS, error_code, translated
from console_mfa.deployed import deployed_rule, input_parameters
from console_mfa.model import RESOURCE_TYPE
from console_mfa.policy import RemediationAction, parse_policy

if TYPE_CHECKING:
    from boto3 import Session
    from mypy_boto3_config import ConfigServiceClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_iam.type_defs import TagTypeDef

PREFIX = "iam-console-mfa-selftest-"
TAG: TagTypeDef = {"Key": "iam-console-mfa-selftest", "Value": "true"}
# What selftest calls (`iam-console-mfa policy --selftest`; a test derives them from the calls),
# by what they act on. Creating with Tags is also authorized as TagUser / TagMFADevice
# (IAM API reference, CreateUser and CreateVirtualMFADevice), which no call names.
TAG_ON_CREATE = {"iam:CreateUser": "iam:TagUser", "iam:CreateVirtualMFADevice": "iam:TagMFADevice"}
CREATE_USER = ("iam:CreateUser", "iam:TagUser")
CREATE_DEVICE = ("iam:CreateVirtualMFADevice", "iam:TagMFADevice")
CHANGE_OWN_USER = (  # writes on a user that already carries the self-test tag
    "iam:CreateLoginProfile",
    "iam:DeactivateMFADevice",
    "iam:DeleteLoginProfile",
    "iam:DeleteUser",
    "iam:DetachUserPolicy",  # the quarantine policy a require-mfa remediation attached
    "iam:EnableMFADevice",
)
CHANGE_OWN_DEVICE = ("iam:DeleteVirtualMFADevice",)
READ = ("iam:GetLoginProfile", "iam:ListAttachedUserPolicies", "iam:ListMFADevices", "iam:ListUserTags")
ACCOUNT = (
    "config:DescribeConfigRules",
    "config:GetComplianceDetailsByResource",
    "iam:ListUsers",
    "iam:ListVirtualMFADevices",
)
# StartRemediationExecution has no resource type (Service Authorization Reference): IAM
# cannot limit it to one rule, so whoever holds it may start any rule's remediation, manual
# mode or not. It is granted only when asked for (`policy --selftest --remediate`).
REMEDIATE = "config:StartRemediationExecution"
ACTIONS = (*CREATE_USER, *CREATE_DEVICE, *CHANGE_OWN_USER, *CHANGE_OWN_DEVICE, *READ, *ACCOUNT, REMEDIATE)


def policy(remediate: bool) -> dict[str, Any]:
    """What selftest needs: it creates only users and devices named and tagged as its own and
    changes only those carrying the tag; with ``remediate``, what `selftest --remediate` adds."""
    users, devices = f"arn:*:iam::*:user/{PREFIX}*", f"arn:*:iam::*:mfa/{PREFIX}*"
    tagged = {"StringEquals": {f"aws:ResourceTag/{TAG['Key']}": TAG["Value"]}}
    tagging = {
        "StringEquals": {f"aws:RequestTag/{TAG['Key']}": TAG["Value"]},
        "ForAllValues:StringEquals": {"aws:TagKeys": [TAG["Key"]]},
    }

    def allow(actions: tuple[str, ...], resource: str | list[str], condition: Any = None) -> dict[str, Any]:
        statement = {"Effect": "Allow", "Action": sorted(actions), "Resource": resource}
        return statement | ({"Condition": condition} if condition else {})

    statements = [
        allow(CREATE_USER, users, tagging),
        allow(CREATE_DEVICE, devices, tagging),
        allow(CHANGE_OWN_USER, users, tagged),
        allow(CHANGE_OWN_DEVICE, devices, tagged),
        allow(READ, users),
        allow(ACCOUNT, "*"),
    ]
    if remediate:
        statements.append(allow((REMEDIATE,), "*"))
    return {"Version": "2012-10-17", "Statement": statements}


class SelftestError(Exception):
    """The self-test cannot run here (no rule deployed); nothing was created."""


class Step(NamedTuple):
    name: str
    ok: bool
    detail: str


Clock = Callable[[], float]
Sleep = Callable[[float], None]


def totp(seed_base32: bytes, at: float) -> str:
    """The 6-digit code of a virtual MFA device at a moment (RFC 6238, 30 s steps, SHA-1)."""
    key = base64.b32decode(seed_base32)
    digest = hmac.new(key, struct.pack(">Q", int(at) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    return f"{(struct.unpack('>I', digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000:06d}"


def run(
    aws: Session,
    rule_name: str,
    timeout: float,
    remediate: bool,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> Generator[Step]:
    """Each check as it completes, then the clean-up; the users are deleted whatever happens
    (close the generator when stopping early: contextlib.closing)."""
    config, iam = aws.client("config"), aws.client("iam")
    if deployed_rule(config, rule_name) is None:
        raise SelftestError(
            f"no Config rule {rule_name} in {aws.region_name}: deploy it first (iam-console-mfa deploy)"
        )
    suffix = secrets.token_hex(4)
    flagged, twin = f"{PREFIX}{suffix}", f"{PREFIX}{suffix}-mfa"
    created: list[str] = []  # each name recorded before it is created: an interruption never loses one
    try:
        started = clock()
        flagged_id = _console_user(iam, flagged, created)
        # The twin gets its MFA device before its password: no evaluation ever sees it without.
        twin_id = _console_user(iam, twin, created, before_password=lambda: _virtual_mfa(iam, twin))
        yield Step("created", True, f"{flagged} (console password, no MFA) and {twin} (with virtual MFA)")
        verdict = _poll(config, rule_name, flagged_id, {"NON_COMPLIANT"}, started, timeout, clock, sleep)
        seconds = clock() - started
        yield Step(
            "detection",
            verdict == "NON_COMPLIANT",
            f"NON_COMPLIANT after {seconds:.0f} s"
            if verdict == "NON_COMPLIANT"
            else f"not flagged within {timeout:.0f} s",
        )
        twin_verdict = _poll(
            config, rule_name, twin_id, {"COMPLIANT", "NON_COMPLIANT"}, started, timeout, clock, sleep
        )
        yield Step(
            "twin with MFA", twin_verdict != "NON_COMPLIANT", f"{twin}: {twin_verdict or 'no result yet'}"
        )
        if remediate and verdict == "NON_COMPLIANT":
            yield _remediation(config, iam, rule_name, flagged, flagged_id, started, timeout, clock, sleep)
    except BaseException:  # a failure, Ctrl-C, or the caller closing the generator early
        cleanup(iam, created, sleep)  # CleanupIncomplete, if raised, names what is left
        raise
    deleted = cleanup(iam, created, sleep)
    yield Step("cleanup", True, f"deleted {', '.join(deleted)}")


def _console_user(
    iam: IAMClient, name: str, created: list[str], before_password: Callable[[], None] = lambda: None
) -> str:
    created.append(name)
    with translated("CreateUser", name):
        user = iam.create_user(UserName=name, Tags=[TAG])["User"]
    before_password()
    password = secrets.token_urlsafe(24) + "aA1!"  # long, random, every character class
    with translated("CreateLoginProfile", name):
        iam.create_login_profile(UserName=name, Password=password, PasswordResetRequired=False)
    return str(user["UserId"])


def _virtual_mfa(iam: IAMClient, name: str) -> None:
    with translated("CreateVirtualMFADevice", name):
        device = iam.create_virtual_mfa_device(VirtualMFADeviceName=name, Tags=[TAG])["VirtualMFADevice"]
    now = time.time()
    seed = device["Base32StringSeed"]
    with translated("EnableMFADevice", name):
        iam.enable_mfa_device(
            UserName=name,
            SerialNumber=device["SerialNumber"],
            AuthenticationCode1=totp(seed, now - 30),
            AuthenticationCode2=totp(seed, now),
        )


def _poll(
    config: ConfigServiceClient,
    rule_name: str,
    user_id: str,
    wanted: set[str],
    started: float,
    timeout: float,
    clock: Clock,
    sleep: Sleep,
) -> str | None:
    """The user's compliance once it is one of ``wanted`` (or the last seen at the deadline)."""
    delay, seen = 5.0, None
    while True:
        with translated("GetComplianceDetailsByResource", user_id):
            results = config.get_compliance_details_by_resource(ResourceType=RESOURCE_TYPE, ResourceId=user_id)
        for result in results.get("EvaluationResults", []):
            qualifier = result["EvaluationResultIdentifier"]["EvaluationResultQualifier"]
            if qualifier.get("ConfigRuleName") == rule_name:
                seen = result["ComplianceType"]
        if seen in wanted or clock() - started >= timeout:
            return seen
        sleep(delay)
        delay = min(delay * 1.5, 60.0)


def _remediation(
    config: ConfigServiceClient,
    iam: IAMClient,
    rule_name: str,
    name: str,
    user_id: str,
    started: float,
    timeout: float,
    clock: Clock,
    sleep: Sleep,
) -> Step:
    action = parse_policy(input_parameters(deployed_rule(config, rule_name) or {})).remediation_action
    with translated("StartRemediationExecution", name):
        config.start_remediation_execution(
            ConfigRuleName=rule_name, ResourceKeys=[{"resourceType": RESOURCE_TYPE, "resourceId": user_id}]
        )
    while clock() - started < timeout:
        done = _remediated(iam, name, action)
        if done:
            tags = {t["Key"] for t in iam.list_user_tags(UserName=name)["Tags"]}
            tagged = "ConsoleMfaRemediation" in tags
            return Step(
                f"remediation ({action})", tagged, done + ("; user tagged" if tagged else "; no audit tag")
            )
        sleep(10)
    return Step(f"remediation ({action})", False, f"not done after {timeout:.0f} s")


def _remediated(iam: IAMClient, name: str, action: RemediationAction) -> str:
    """What the deployed RemediationAction has visibly done to the user; "" while nothing."""
    if action.quarantines:
        with translated("ListAttachedUserPolicies", name):
            policies = iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]
        return f"quarantine policy {policies[0]['PolicyName']} attached" if policies else ""
    with translated("GetLoginProfile", name):
        try:
            iam.get_login_profile(UserName=name)
        except ClientError as error:
            if error_code(error) != "NoSuchEntity":
                raise
            return "password removed"
    return ""


def _delete_user(iam: IAMClient, name: str, sleep: Sleep) -> None:
    """DeleteUser right after the user's MFA device and password were removed can answer
    DeleteConflict until IAM shows the removal: asked again after IAM's propagation waits."""
    waits = iter(IAM_PROPAGATION_WAITS_SECONDS)
    while True:
        try:
            iam.delete_user(UserName=name)
            return
        except ClientError as error:
            wait = next(waits, None)
            if error_code(error) != "DeleteConflict" or wait is None:
                raise
        sleep(wait)


class CleanupIncomplete(Exception):
    """Some of the self-test's users or devices could not be deleted: they are named."""


def cleanup(iam: IAMClient, names: list[str] | None = None, sleep: Sleep = time.sleep) -> list[str]:
    """Delete the self-test's users (these, or every user named and tagged as one) with their
    MFA devices and login profiles, and its unassigned virtual MFA devices (an EnableMFADevice
    that failed leaves one). Returns the names deleted.

    Every user is attempted, whatever failed before it, and a second Ctrl-C does not stop it;
    what could not be deleted is raised at the end (CleanupIncomplete), with the command that
    finishes the job.
    """
    if names is None:
        names = []
        for page in iam.get_paginator("list_users").paginate():
            names += [u["UserName"] for u in page["Users"] if u["UserName"].startswith(PREFIX)]
        names = [n for n in names if TAG in iam.list_user_tags(UserName=n)["Tags"]]  # ours, not a look-alike
    deleted, failed = [], []
    for name in names:
        try:
            if _delete(iam, name, sleep):
                deleted.append(name)
        except (Exception, KeyboardInterrupt) as error:  # the others are still deleted
            failed.append(f"{name} ({error or type(error).__name__})")
    try:
        _delete_unassigned_devices(iam, names)
    except (Exception, KeyboardInterrupt) as error:
        failed.append(f"unassigned MFA devices ({error or type(error).__name__})")
    if failed:
        raise CleanupIncomplete(
            f"could not delete {', '.join(failed)}: run `iam-console-mfa selftest --cleanup` to finish"
        )
    return deleted


def _delete(iam: IAMClient, name: str, sleep: Sleep) -> bool:
    """The user, its devices and its password; False when the user was never created."""
    try:
        devices = iam.list_mfa_devices(UserName=name)["MFADevices"]
    except ClientError as error:
        if error_code(error) == "NoSuchEntity":
            return False
        raise
    for device in devices:
        iam.deactivate_mfa_device(UserName=name, SerialNumber=device["SerialNumber"])
        iam.delete_virtual_mfa_device(SerialNumber=device["SerialNumber"])
    for attached in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]:  # a quarantine
        iam.detach_user_policy(UserName=name, PolicyArn=attached["PolicyArn"])
    try:
        iam.delete_login_profile(UserName=name)
    except ClientError as error:
        if error_code(error) != "NoSuchEntity":
            raise
    _delete_user(iam, name, sleep)
    return True


def _delete_unassigned_devices(iam: IAMClient, names: list[str]) -> None:
    """Virtual MFA devices the self-test created and never enabled: named like its users and
    tagged as its own (ListVirtualMFADevices returns each device's tags)."""
    for page in iam.get_paginator("list_virtual_mfa_devices").paginate(AssignmentStatus="Unassigned"):
        for device in page["VirtualMFADevices"]:
            serial = device["SerialNumber"]
            named = serial.rsplit("/", 1)[-1]
            if named.startswith(PREFIX) and (TAG in device.get("Tags", []) or named in names):
                iam.delete_virtual_mfa_device(SerialNumber=serial)
