"""RemediationAction: disable-console, require-mfa, require-mfa-and-deactivate-keys, none.

Each mode runs on moto through the Automation document's script and the remediation Lambda's
handler, with the rule deployed as rule.yaml renders it (its RemediationAction read back with
DescribeConfigRules) and the quarantine policy created from rule.yaml's own document. moto does
not evaluate IAM policies: the quarantine policy is judged below by IAM's documented rules
(explicit deny wins; NotAction; BoolIfExists; ${aws:username}).
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from console_mfa import permissions
from console_mfa.aws import configured_session
from console_mfa.remediation import AUDIT_TAG, QUARANTINE_ENV, RemediationFailed
from console_mfa.remediation import handler as remediation_handler

from iam_console_mfa.demo.account import Mfa, backdate, create_user, enable_mfa
from tests.stacks import DOCUMENT, STACKS, run_document
from tests.support import CallLog, fail_operation, has_password, remediation_fails
from tests.test_remediation import ACTION_POLICIES, PREFIX, role_actions

ROLE = {"AutomationAssumeRole": "arn:aws:iam::123456789012:role/remediation"}
QUARANTINE = STACKS["rule.yaml"]["Resources"]["QuarantinePolicy"]["Properties"]["PolicyDocument"]


def rendered(document: Any) -> Any:
    """The policy as CloudFormation renders its Fn::Sub strings (${!x} is a literal ${x})."""
    if isinstance(document, dict):
        if "Fn::Sub" in document:
            return document["Fn::Sub"].replace("${AWS::Partition}", "aws").replace("${!", "${")
        return {k: rendered(v) for k, v in document.items()}
    if isinstance(document, list):
        return [rendered(v) for v in document]
    return document


@pytest.fixture
def mode(iam: Any, deployed: Callable[..., None], monkeypatch: pytest.MonkeyPatch) -> Callable[[str], str]:
    """Deploy the rule with a RemediationAction; the quarantine policy exists as the stack makes it."""
    arn = iam.create_policy(PolicyName="quarantine", PolicyDocument=json.dumps(rendered(QUARANTINE)))["Policy"][
        "Arn"
    ]
    monkeypatch.setenv(QUARANTINE_ENV, arn)

    def deploy(action: str) -> str:
        deployed(RemediationAction=action, ExemptTag="BreakGlass")
        return arn

    return deploy


def attached(iam: Any, name: str) -> list[str]:
    return [p["PolicyName"] for p in iam.list_attached_user_policies(UserName=name)["AttachedPolicies"]]


def tag(iam: Any, name: str) -> str:
    return {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name)["Tags"]}.get(AUDIT_TAG, "")


def run(**parameters: Any) -> dict[str, str]:
    return run_document(DOCUMENT, **ROLE, **parameters)


def test_require_mfa_quarantines_a_flagged_user_and_keeps_the_password(iam: Any, mode: Any) -> None:
    mode("require-mfa")
    user = create_user(iam, "bob")
    summary = run(IAMUserId=user["UserId"])
    assert summary["RemediationAction"] == "require-mfa"
    assert summary["Action"] == "tagged the user and attached the quarantine policy"
    assert attached(iam, "bob") == ["quarantine"] and has_password(iam, "bob")
    assert tag(iam, "bob").endswith("quarantined: MFA required")
    again = run(IAMUserId=user["UserId"])  # idempotent: attaching an attached policy succeeds
    assert again["Action"] == summary["Action"] and attached(iam, "bob") == ["quarantine"]


@pytest.mark.parametrize("action", ["require-mfa", "require-mfa-and-deactivate-keys"])
def test_an_exempt_user_or_one_with_mfa_is_not_quarantined(iam: Any, mode: Any, action: str) -> None:
    mode(action)
    exempt = create_user(iam, "oncall", tags={"BreakGlass": "yes"})
    enrolled = create_user(iam, "alice", mfa=Mfa.VIRTUAL)
    for user in (exempt, enrolled):
        iam.create_access_key(UserName=user["UserName"])
        assert run(IAMUserId=user["UserId"])["Action"] == "none"
        assert attached(iam, user["UserName"]) == [] and has_password(iam, user["UserName"])
        keys = iam.list_access_keys(UserName=user["UserName"])["AccessKeyMetadata"]
        assert [k["Status"] for k in keys] == ["Active"]


def test_a_user_in_the_grace_period_or_who_enrolled_meanwhile_is_left_alone(
    iam: Any, mode: Any, deployed: Callable[..., None]
) -> None:
    mode("require-mfa")
    deployed(RemediationAction="require-mfa", GracePeriodDays="7")
    create_user(iam, "newhire")
    backdate("123456789012", "newhire", 1)
    newhire = iam.get_user(UserName="newhire")["User"]
    assert run(IAMUserId=newhire["UserId"])["Action"] == "none"
    assert attached(iam, "newhire") == []


def test_keys_are_deactivated_never_deleted_only_when_opted_in(iam: Any, mode: Any) -> None:
    mode("require-mfa-and-deactivate-keys")
    user = create_user(iam, "bob")
    first = iam.create_access_key(UserName="bob")["AccessKey"]["AccessKeyId"]
    second = iam.create_access_key(UserName="bob")["AccessKey"]["AccessKeyId"]
    iam.update_access_key(UserName="bob", AccessKeyId=second, Status="Inactive")
    summary = run(IAMUserId=user["UserId"])
    assert (
        summary["Action"]
        == "tagged the user and attached the quarantine policy and deactivated 1 access keys (never deleted)"
    )
    keys = {k["AccessKeyId"]: k["Status"] for k in iam.list_access_keys(UserName="bob")["AccessKeyMetadata"]}
    assert keys == {first: "Inactive", second: "Inactive"}  # both still there
    assert attached(iam, "bob") == ["quarantine"] and has_password(iam, "bob")
    assert tag(iam, "bob").endswith("quarantined: MFA required + 1 access keys deactivated")


def test_plain_require_mfa_leaves_access_keys_alone(iam: Any, mode: Any) -> None:
    mode("require-mfa")
    user = create_user(iam, "bob")
    iam.create_access_key(UserName="bob")
    run(IAMUserId=user["UserId"])
    assert [k["Status"] for k in iam.list_access_keys(UserName="bob")["AccessKeyMetadata"]] == ["Active"]


@pytest.mark.parametrize("action", ["require-mfa", "require-mfa-and-deactivate-keys"])
def test_a_dry_run_and_an_unknown_user_change_nothing(iam: Any, mode: Any, action: str) -> None:
    mode(action)
    user = create_user(iam, "bob")
    iam.create_access_key(UserName="bob")
    planned = run(IAMUserId=user["UserId"], DryRun=True)
    assert planned["Action"].startswith("would tag the user and attach the quarantine policy")
    assert attached(iam, "bob") == [] and tag(iam, "bob") == ""
    with remediation_fails("no IAM user has UserId"):
        run(IAMUserId="AIDAUNKNOWNUSER000001")


def test_without_its_policy_or_with_action_none_nothing_is_done(
    iam: Any, mode: Any, deployed: Callable[..., None], monkeypatch: pytest.MonkeyPatch
) -> None:
    user = create_user(iam, "bob")
    mode("require-mfa")
    monkeypatch.setenv(QUARANTINE_ENV, "")
    with pytest.raises(RemediationFailed, match="needs the stack's quarantine policy: nothing was changed"):
        remediation_handler({"IAMUserId": user["UserId"]}, None)
    deployed(RemediationAction="none")
    with pytest.raises(RemediationFailed, match="RemediationAction is none: nothing was changed"):
        remediation_handler({"IAMUserId": user["UserId"]}, None)
    assert attached(iam, "bob") == [] and has_password(iam, "bob")


def test_mfa_enrolled_between_the_tag_and_the_attach_is_seen(iam: Any, mode: Any) -> None:
    """A race probe like the deletion's: the user enrols right after the pending tag."""
    mode("require-mfa")
    user = create_user(iam, "bob")
    done: list[bool] = []

    def enrol(**_: Any) -> None:
        if not done:
            done.append(True)
            enable_mfa(iam, user, Mfa.VIRTUAL)

    configured_session().events.register("after-call.iam.TagUser", enrol)
    summary = run(IAMUserId=user["UserId"])
    assert summary["Reason"].startswith("re-checked before acting: ")
    assert attached(iam, "bob") == []


@pytest.mark.parametrize(
    ("code", "status", "raised"),
    [
        ("LimitExceeded", 409, "already has IAM's maximum of managed policies: quarantine policy not attached"),
        ("AccessDenied", 403, "AttachUserPolicy for user bob failed: AccessDenied"),
    ],
)
def test_a_quarantine_that_cannot_be_attached_fails_and_says_so(
    iam: Any, mode: Any, code: str, status: int, raised: str
) -> None:
    """IAM refuses the attach (10 managed policies a user, or a denial): the run fails with a
    reason, the password is kept, and the user's audit tag says what failed."""
    mode("require-mfa")
    user = create_user(iam, "bob")
    fail_operation(configured_session(), "iam", "AttachUserPolicy", code, status)
    with pytest.raises(RuntimeError, match=re.escape(raised)):
        run(IAMUserId=user["UserId"])
    assert attached(iam, "bob") == [] and has_password(iam, "bob")
    assert tag(iam, "bob").endswith(f"quarantine failed: {code}")


@pytest.mark.parametrize("action", list(ACTION_POLICIES))
def test_each_mode_calls_exactly_what_its_policies_grant(
    iam: Any, mode: Any, call_log: CallLog, action: str
) -> None:
    mode(action)
    flagged = create_user(iam, "bob")
    iam.create_access_key(UserName="bob")
    exempt = create_user(iam, "oncall", tags={"BreakGlass": "yes"})
    call_log.calls.clear()
    run(IAMUserId=exempt["UserId"])
    run(IAMUserId=flagged["UserId"])
    called = {f"{PREFIX[service]}:{operation}" for service, operation in call_log.calls} - {"lambda:Invoke"}
    expected = set(permissions.REMEDIATION_ACTIONS) | set(permissions.REMEDIATION_ACTION_ACTIONS[action])
    assert called == expected == role_actions("RemediationRole", action)


def test_the_attach_permission_names_the_one_policy() -> None:
    resources = STACKS["rule.yaml"]["Resources"]
    (statement,) = resources["AttachesQuarantinePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert statement["Action"] == ["iam:AttachUserPolicy"]
    assert statement["Condition"] == {"ArnEquals": {"iam:PolicyARN": {"Ref": "QuarantinePolicy"}}}
    (keys,) = resources["DeactivatesAccessKeys"]["Properties"]["PolicyDocument"]["Statement"]
    assert "iam:DeleteAccessKey" not in keys["Action"]


# ---------------------------------------------------------------- the quarantine policy, as IAM judges it
SELF_SERVICE = (  # what a user without an MFA session still needs: enrol, change the password
    "iam:ChangePassword",
    "iam:GetAccountPasswordPolicy",
    "iam:CreateVirtualMFADevice",
    "iam:EnableMFADevice",
    "iam:ListMFADevices",
    "iam:ListVirtualMFADevices",
    "iam:ResyncMFADevice",
    "iam:GetUser",
)
OTHERS = (
    "s3:ListAllMyBuckets",
    "ec2:RunInstances",
    "iam:CreateAccessKey",
    "iam:DeactivateMFADevice",
    "sts:AssumeRole",
)


def _matches(patterns: str | list[str], value: str) -> bool:
    return any(fnmatch.fnmatchcase(value, p) for p in ([patterns] if isinstance(patterns, str) else patterns))


def decision(action: str, resource: str, mfa: bool | None, user: str = "bob") -> str:
    """IAM's evaluation of the quarantine policy alone: Deny, Allow or implicit (no statement)."""
    result = "implicit"
    for statement in rendered(QUARANTINE)["Statement"]:
        listed = statement.get("Action", statement.get("NotAction"))
        in_actions = _matches(listed, action) != ("NotAction" in statement)
        resources = [
            r.replace("${aws:username}", user)
            for r in (
                [statement["Resource"]] if isinstance(statement["Resource"], str) else statement["Resource"]
            )
        ]
        if not in_actions or not _matches(resources, resource):
            continue
        condition = statement.get("Condition", {}).get("BoolIfExists", {})
        if condition:  # BoolIfExists: true when the key is absent
            present = "false" if mfa is False else "true" if mfa else None
            if present is not None and present != condition["aws:MultiFactorAuthPresent"]:
                continue
        if statement["Effect"] == "Deny":
            return "Deny"
        result = "Allow"
    return result


OWN = "arn:aws:iam::123456789012:user/bob"


@pytest.mark.parametrize("action", SELF_SERVICE)
def test_a_session_without_mfa_may_enrol_and_change_its_password(action: str) -> None:
    resource = "arn:aws:iam::123456789012:mfa/bob" if action == "iam:CreateVirtualMFADevice" else OWN
    assert decision(action, resource, mfa=False) == "Allow"
    assert decision(action, resource, mfa=None) in ("Allow", "implicit")  # access keys: no MFA key at all


@pytest.mark.parametrize("action", OTHERS)
def test_a_session_without_mfa_may_do_nothing_else(action: str) -> None:
    assert decision(action, "*", mfa=False) == "Deny"
    assert decision(action, OWN, mfa=None) == "Deny"  # BoolIfExists: long-term access keys too


@pytest.mark.parametrize("action", OTHERS + SELF_SERVICE)
def test_an_mfa_session_is_not_restricted(action: str) -> None:
    assert decision(action, "*", mfa=True) != "Deny"


def test_a_user_cannot_manage_someone_elses_password_or_device() -> None:
    other = "arn:aws:iam::123456789012:user/alice"
    assert decision("iam:ChangePassword", other, mfa=False) == "implicit"
    assert decision("iam:EnableMFADevice", other, mfa=True) == "implicit"
