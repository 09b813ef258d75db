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
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from botocore.exceptions import ClientError
from console_mfa.aws import IAM_PROPAGATION_WAITS_SECONDS, error_code, translated
from console_mfa.deployed import deployed_rule
from console_mfa.model import RESOURCE_TYPE

PREFIX = "iam-console-mfa-selftest-"
TAG = {"Key": "iam-console-mfa-selftest", "Value": "true"}
# What selftest calls (`iam-console-mfa policy --selftest`; a test derives them from the calls).
ACTIONS = (
    "config:DescribeConfigRules",
    "config:GetComplianceDetailsByResource",
    "config:StartRemediationExecution",
    "iam:CreateLoginProfile",
    "iam:CreateUser",
    "iam:CreateVirtualMFADevice",
    "iam:DeactivateMFADevice",
    "iam:DeleteLoginProfile",
    "iam:DeleteUser",
    "iam:DeleteVirtualMFADevice",
    "iam:EnableMFADevice",
    "iam:GetLoginProfile",
    "iam:ListMFADevices",
    "iam:ListUserTags",
    "iam:ListUsers",
)


def policy() -> dict[str, Any]:
    """What selftest needs, its IAM writes scoped to the users and devices it names."""
    mfa = {"iam:CreateVirtualMFADevice", "iam:DeleteVirtualMFADevice"}
    unscoped = {"iam:ListUsers"} | {a for a in ACTIONS if a.startswith("config:")}
    user = set(ACTIONS) - mfa - unscoped

    def allow(actions: set[str], resource: str) -> dict[str, Any]:
        return {"Effect": "Allow", "Action": sorted(actions), "Resource": resource}

    return {
        "Version": "2012-10-17",
        "Statement": [
            allow(user, f"arn:*:iam::*:user/{PREFIX}*"),
            allow(mfa, f"arn:*:iam::*:mfa/{PREFIX}*"),
            allow(unscoped, "*"),
        ],
    }


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
    aws: Any,
    rule_name: str,
    timeout: float,
    remediate: bool,
    clock: Clock = time.monotonic,
    sleep: Sleep = time.sleep,
) -> Iterator[Step]:
    """Each check as it completes; the users are deleted whatever happens."""
    config, iam = aws.client("config"), aws.client("iam")
    if deployed_rule(config, rule_name) is None:
        raise SelftestError(
            f"no Config rule {rule_name} in {aws.region_name}: deploy it first (iam-console-mfa deploy)"
        )
    suffix = secrets.token_hex(4)
    flagged, twin = f"{PREFIX}{suffix}", f"{PREFIX}{suffix}-mfa"
    created: list[str] = []
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
    finally:
        cleanup(iam, created, sleep)


def _console_user(
    iam: Any, name: str, created: list[str], before_password: Callable[[], None] = lambda: None
) -> str:
    with translated("CreateUser", name):
        user = iam.create_user(UserName=name, Tags=[TAG])["User"]
    created.append(name)
    before_password()
    password = secrets.token_urlsafe(24) + "aA1!"  # long, random, every character class
    with translated("CreateLoginProfile", name):
        iam.create_login_profile(UserName=name, Password=password, PasswordResetRequired=False)
    return str(user["UserId"])


def _virtual_mfa(iam: Any, name: str) -> None:
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
    config: Any,
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
    config: Any,
    iam: Any,
    rule_name: str,
    name: str,
    user_id: str,
    started: float,
    timeout: float,
    clock: Clock,
    sleep: Sleep,
) -> Step:
    with translated("StartRemediationExecution", name):
        config.start_remediation_execution(
            ConfigRuleName=rule_name, ResourceKeys=[{"resourceType": RESOURCE_TYPE, "resourceId": user_id}]
        )
    while clock() - started < timeout:
        with translated("GetLoginProfile", name):
            try:
                iam.get_login_profile(UserName=name)
            except ClientError as error:
                if error_code(error) != "NoSuchEntity":
                    raise
                tags = {t["Key"] for t in iam.list_user_tags(UserName=name)["Tags"]}
                tagged = "ConsoleMfaRemediation" in tags
                return Step(
                    "remediation",
                    tagged,
                    "password removed" + ("; user tagged" if tagged else "; no audit tag"),
                )
        sleep(10)
    return Step("remediation", False, f"password still there after {timeout:.0f} s")


def _delete_user(iam: Any, name: str, sleep: Sleep) -> None:
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


def cleanup(iam: Any, names: list[str] | None = None, sleep: Sleep = time.sleep) -> list[str]:
    """Delete the self-test's users (these, or every user named and tagged as one), with their
    MFA devices and login profiles. Returns the names deleted."""
    if names is None:
        names = []
        for page in iam.get_paginator("list_users").paginate():
            names += [u["UserName"] for u in page["Users"] if u["UserName"].startswith(PREFIX)]
        names = [n for n in names if TAG in iam.list_user_tags(UserName=n)["Tags"]]  # ours, not a look-alike
    for name in names:
        for device in iam.list_mfa_devices(UserName=name)["MFADevices"]:
            iam.deactivate_mfa_device(UserName=name, SerialNumber=device["SerialNumber"])
            iam.delete_virtual_mfa_device(SerialNumber=device["SerialNumber"])
        try:
            iam.delete_login_profile(UserName=name)
        except ClientError as error:
            if error_code(error) != "NoSuchEntity":
                raise
        _delete_user(iam, name, sleep)
    return names
