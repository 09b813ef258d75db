"""The remediation as Config runs it: the SSM Automation document from rule.yaml, its
parameters checked and its script executed from the document's own text, invoking the
remediation Lambda (answered in-process, see tests/stacks.py), against moto."""

from __future__ import annotations

import ast
import json
import logging
import re
from typing import Any

import boto3
import pytest
from console_mfa import parameters as registry
from console_mfa import permissions
from console_mfa.aws import configured_session
from console_mfa.remediation import RemediationFailed
from console_mfa.remediation import handler as remediation_handler

from iam_console_mfa.demo.account import Mfa, backdate, create_user
from iam_console_mfa.local_config import LocalConfig
from tests.stacks import DOCUMENT as DOC
from tests.stacks import STACKS, rule_input_parameters
from tests.stacks import run_document as run_stack_document
from tests.support import CallLog, Throttler, fail_operation, has_password, inventory_says, remediation_fails

KNOWN_ACTIONS = {"aws:executeScript", "aws:executeAwsApi", "aws:assertAwsResourceProperty", "aws:branch"}
ALLOWED_RUNTIMES = {"python3.9", "python3.10", "python3.11"}  # 3.8 and older no longer run


pytestmark = pytest.mark.usefixtures("deployed")


def test_the_function_knows_only_its_rules_name_and_the_document_no_exemption() -> None:
    """One source: the rule's InputParameters, read with DescribeConfigRules on every run."""
    resources = STACKS["rule.yaml"]["Resources"]
    variables = resources["RemediationFunction"]["Properties"]["Environment"]["Variables"]
    # and the quarantine policy's ARN, which the role may attach and nothing else (require-mfa)
    assert variables == {
        "CONFIG_RULE_NAME": {"Ref": "RuleName"},
        "QUARANTINE_POLICY_ARN": {"Fn::If": ["Quarantines", {"Ref": "QuarantinePolicy"}, ""]},
    }
    assert not {p.name for p in registry.RULE_PARAMETERS} & set(DOC["parameters"])


@pytest.mark.parametrize(
    "changed",
    [{"ExemptUserNames": "svc-*"}, {"ExemptTag": "Team"}, {"GracePeriodDays": "30"}],
)
def test_a_rule_changed_outside_the_stack_is_what_the_remediation_spares(
    iam: Any, config_api: LocalConfig, changed: dict[str, str]
) -> None:
    """An operator widens the exemptions with PutConfigRule (console, CLI, a conformance tool),
    or `aws cloudformation deploy` keeps an old value: the function reads the rule as it is."""
    user = create_user(iam, "svc-x", tags={"Team": "ops"})
    config_api.deploy_rule({**rule_input_parameters(), **changed})  # PutConfigRule after deploy
    assert run_document(IAMUserId=user["UserId"])["Action"] == "none"
    assert has_password(iam, "svc-x")
    config_api.deploy_rule(rule_input_parameters())  # and back: now it is removed
    assert "deleted" in run_document(IAMUserId=user["UserId"])["Action"]
    assert not has_password(iam, "svc-x")


def test_the_script_only_invokes_the_remediation_lambda() -> None:
    (step,) = DOC["mainSteps"]
    calls = re.findall(r"\.client\(\"(\w+)\"[^)]*\)\.(\w+)\(", step["inputs"]["Script"])
    assert calls == [("lambda", "invoke")]
    assert step["inputs"]["InputPayload"]["FunctionName"] == {"Fn::GetAtt": ["RemediationFunction", "Arn"]}
    assert len(step["inputs"]["Script"].splitlines()) < 25


def test_document_structure() -> None:
    assert DOC["schemaVersion"] == "0.3"
    parameters = DOC["parameters"]
    referenced = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", json.dumps(DOC)))
    assert referenced <= set(parameters), referenced - set(parameters)
    assert set(parameters) == {"IAMUserId", "AutomationAssumeRole", "DryRun"}
    assert parameters["DryRun"]["default"] is False
    assert DOC["assumeRole"] == "{{ AutomationAssumeRole }}"
    step_names = {step["name"] for step in DOC["mainSteps"]}
    for step in DOC["mainSteps"]:
        assert step["action"] in KNOWN_ACTIONS
        if step["action"] == "aws:executeScript":
            inputs = step["inputs"]
            assert inputs["Runtime"] in ALLOWED_RUNTIMES
            tree = ast.parse(inputs["Script"], feature_version=(3, 11))
            handlers = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == inputs["Handler"]]
            assert len(handlers) == 1 and len(handlers[0].args.args) == 2
            assert step["timeoutSeconds"] <= 600
    for output in DOC["outputs"]:
        assert output.split(".")[0] in step_names


def run_document(**parameters: Any) -> dict[str, str]:
    role = {"AutomationAssumeRole": "arn:aws:iam::123456789012:role/remediation"}
    summary = run_stack_document(DOC, **role, **parameters)
    assert all(isinstance(v, str) for v in summary.values())  # the step's StringMap output
    return summary


def tags(iam: Any, name: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name)["Tags"]}


def test_non_compliant_user_loses_console_password(iam: Any, call_log: CallLog) -> None:
    user = create_user(iam, "bob")
    summary = run_document(IAMUserId=user["UserId"])
    assert summary["UserName"] == "bob" and summary["UserId"] == user["UserId"]
    assert summary["VerdictBefore"] == "NON_COMPLIANT"
    assert summary["Action"] == "tagged the user and deleted its login profile"
    assert not has_password(iam, "bob")
    assert "console password removed: no MFA device" in tags(iam, "bob")["ConsoleMfaRemediation"]
    assert "DeleteLoginProfile" in call_log.operations("iam")
    again = run_document(IAMUserId=user["UserId"])  # idempotent
    assert (again["VerdictBefore"], again["Action"]) == ("NOT_APPLICABLE", "none")
    assert again["Reason"] == "bob: no console password"


@pytest.mark.parametrize("mfa", [Mfa.VIRTUAL, Mfa.HARDWARE, Mfa.FIDO])
def test_user_with_mfa_is_untouched(iam: Any, call_log: CallLog, mfa: Mfa) -> None:
    user = create_user(iam, "alice", mfa=mfa)
    summary = run_document(IAMUserId=user["UserId"])
    assert (summary["VerdictBefore"], summary["Action"]) == ("COMPLIANT", "none")
    assert has_password(iam, "alice") and "ConsoleMfaRemediation" not in tags(iam, "alice")
    assert not {"DeleteLoginProfile", "TagUser"} & set(call_log.operations("iam"))


@pytest.mark.parametrize(
    ("name", "user_tags", "parameters"),
    [
        ("break-glass", None, {"ExemptUserNames": "BREAK-GLASS"}),
        ("svc-ci", None, {"ExemptUserNames": "admin, svc-*"}),
        ("oncall", {"BreakGlass": "approved"}, {"ExemptTag": "BreakGlass=approved"}),
    ],
)
def test_exempt_user_is_untouched(iam: Any, deployed: Any, name: str, user_tags, parameters) -> None:
    deployed(**parameters)
    user = create_user(iam, name, tags=user_tags)
    summary = run_document(IAMUserId=user["UserId"])
    assert (summary["VerdictBefore"], summary["Action"]) == ("NOT_APPLICABLE", "none")
    assert "exempt by" in summary["Reason"] and has_password(iam, name)


def test_user_in_grace_period_is_untouched_and_after_it_is_not(iam: Any, deployed: Any) -> None:
    deployed(GracePeriodDays="7")
    fresh = create_user(iam, "newhire")
    old = create_user(iam, "oldhire")
    backdate("123456789012", "oldhire", days=10)
    assert run_document(IAMUserId=fresh["UserId"])["VerdictBefore"] == "COMPLIANT"
    assert has_password(iam, "newhire")
    assert run_document(IAMUserId=old["UserId"])["VerdictBefore"] == "NON_COMPLIANT"
    assert not has_password(iam, "oldhire")


def test_no_login_profile_is_nothing_to_do_and_an_unknown_user_is_a_failure(iam: Any) -> None:
    user = create_user(iam, "carol", password=False)
    assert run_document(IAMUserId=user["UserId"])["Action"] == "none"
    # "Unresolved" never ends as a success: the user the remediation was asked about may exist
    # under a name nobody could resolve, still holding a password without MFA.
    with remediation_fails("no IAM user has UserId AIDAUNKNOWNUSER000001"):
        run_document(IAMUserId="AIDAUNKNOWNUSER000001")


def test_dry_run_changes_nothing(iam: Any, call_log: CallLog) -> None:
    user = create_user(iam, "bob")
    summary = run_document(IAMUserId=user["UserId"], DryRun=True)
    assert summary["Action"] == "would tag the user and delete its login profile (dry run)"
    assert summary["DryRun"] == "True" and has_password(iam, "bob") and tags(iam, "bob") == {}
    assert not {"DeleteLoginProfile", "TagUser"} & set(call_log.operations("iam"))


def test_throttling_is_retried_inside_the_script(iam: Any) -> None:
    users = [create_user(iam, f"u{i}") for i in range(5)]
    throttler = Throttler(configured_session())
    for user in users:
        assert run_document(IAMUserId=user["UserId"])["VerdictBefore"] == "NON_COMPLIANT"
    assert throttler.throttled > 5
    assert not any(has_password(boto3.client("iam"), u["UserName"]) for u in users)


def test_user_name_comes_from_config_inventory_when_it_knows_the_user(iam: Any, call_log: CallLog) -> None:
    user = create_user(iam, "bob")
    inventory_says(user["UserId"], "bob")
    assert run_document(IAMUserId=user["UserId"])["Action"] == "tagged the user and deleted its login profile"
    assert "ListUsers" not in call_log.operations("iam")
    assert call_log.operations("config-service") == ["DescribeConfigRules", "ListDiscoveredResources"]


def test_without_config_inventory_the_name_comes_from_listing_users(
    iam: Any, call_log: CallLog, caplog: pytest.LogCaptureFixture
) -> None:
    """ListDiscoveredResources only makes the lookup cheaper: refused, IAM's listing answers."""
    user = create_user(iam, "bob")
    fail_operation(configured_session(), "config-service", "ListDiscoveredResources", "AccessDeniedException")
    assert run_document(IAMUserId=user["UserId"])["Action"] == "tagged the user and deleted its login profile"
    assert "ListUsers" in call_log.operations("iam")
    assert "ListDiscoveredResources failed (AccessDeniedException): scanning ListUsers" in caplog.text


def test_a_user_deleted_while_being_decided_is_a_failure_that_says_so(iam: Any) -> None:
    """The user is gone between the name lookup and the live decision: nothing to act on."""
    user = create_user(iam, "bob")
    fail_operation(configured_session(), "iam", "ListMFADevices", "NoSuchEntity", 404)  # as IAM answers then
    with remediation_fails("was deleted meanwhile"):
        run_document(IAMUserId=user["UserId"])


def test_parameters_are_checked_like_ssm(iam: Any) -> None:
    with pytest.raises(ValueError, match="IAMUserId='not an id'"):
        run_document(IAMUserId="not an id")
    with pytest.raises(ValueError, match="IAMUserId is required"):
        run_stack_document(DOC, AutomationAssumeRole="arn:aws:iam::123456789012:role/r")


@pytest.mark.parametrize(
    "payload",
    [
        {"ExemptUserNames": ""},  # "nobody is exempt", from a caller
        {"GracePeriodDays": "0"},
        {"ExemptTag": ""},
        {"ExemptUserName": "break-glass"},  # a typo, once silently ignored
        {"DryRun": False, "Extra": 1},
    ],
)
def test_a_caller_cannot_widen_what_is_removed(iam: Any, deployed: Any, payload: dict[str, Any]) -> None:
    """Deployed: ExemptUserNames=break-glass, GracePeriodDays=7. Whoever invokes the function
    (the document from the SSM console, anyone allowed to invoke it) only says who and whether
    to plan; any other key is refused, and the deployed exemptions hold."""
    deployed(ExemptUserNames="break-glass", GracePeriodDays="7")
    exempt = create_user(iam, "break-glass")
    backdate("123456789012", "break-glass", days=30)
    fresh = create_user(iam, "newhire")
    for user in (exempt, fresh):
        with pytest.raises(
            RemediationFailed, match=r"unknown key.*exemptions and grace come from the deployed rule"
        ):
            remediation_handler({"IAMUserId": user["UserId"], **payload}, None)
        assert (
            run_document(IAMUserId=user["UserId"])["Action"] == "none"
        )  # the document, as an operator runs it
        assert has_password(iam, user["UserName"])
    plan = remediation_handler({"IAMUserId": fresh["UserId"], "DryRun": True}, None)
    assert plan["VerdictBefore"] == "COMPLIANT" and "grace" in plan["Reason"]  # a caller may still plan


def test_a_function_without_its_rule_refuses_to_act(
    iam: Any, config_api: LocalConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No rule name, no such rule, or the rule cannot be read: nothing is changed."""
    user = create_user(iam, "bob")
    monkeypatch.delenv("CONFIG_RULE_NAME")
    with pytest.raises(
        RemediationFailed, match=r"lacks CONFIG_RULE_NAME: deploy it with rule\.yaml; nothing was changed"
    ):
        remediation_handler({"IAMUserId": user["UserId"]}, None)
    monkeypatch.setenv("CONFIG_RULE_NAME", "another-rule")
    with pytest.raises(RemediationFailed, match="no Config rule another-rule here to take exemptions from"):
        remediation_handler({"IAMUserId": user["UserId"]}, None)
    monkeypatch.setenv("CONFIG_RULE_NAME", config_api.rule_name)
    fail_operation(configured_session(), "config-service", "DescribeConfigRules", "AccessDeniedException")
    with pytest.raises(
        RemediationFailed, match=r"cannot read the rule.s parameters .*AccessDenied.*nothing was changed"
    ):
        remediation_handler({"IAMUserId": user["UserId"]}, None)
    assert has_password(iam, "bob")


def test_an_invalid_deployed_value_fails_the_step(iam: Any, deployed: Any) -> None:
    deployed(ExemptUserNames="a,,b")
    user = create_user(iam, "bob")
    with pytest.raises(
        RuntimeError, match=r"^InvalidRuleParameter: Invalid rule parameter ExemptUserNames='a,,b'"
    ):
        run_document(IAMUserId=user["UserId"])
    assert has_password(iam, "bob")


PREFIX = {"iam": "iam", "config-service": "config", "lambda": "lambda"}


# rule.yaml's policies of the remediation role for each RemediationAction
ACTION_POLICIES = {
    "disable-console": ("RemovesConsoleAccess",),
    "require-mfa": ("AttachesQuarantinePolicy",),
    "require-mfa-and-deactivate-keys": ("AttachesQuarantinePolicy", "DeactivatesAccessKeys"),
}


def role_actions(role: str, action: str = "") -> set[str]:
    """Allowed actions of one role in rule.yaml, with the role policies of a RemediationAction."""
    resources = STACKS["rule.yaml"]["Resources"]
    properties = resources[role]["Properties"]
    statements = [s for p in properties["Policies"] for s in p["PolicyDocument"]["Statement"]]
    statements += [
        s
        for name in ACTION_POLICIES.get(action, ())
        for s in resources[name]["Properties"]["PolicyDocument"]["Statement"]
    ]
    return {a for s in statements for a in s["Action"] if not a.startswith("logs:")}


def test_remediation_roles_allow_exactly_what_the_document_and_lambda_call(
    iam: Any, call_log: CallLog, deployed: Any
) -> None:
    tagged = create_user(iam, "oncall", tags={"BreakGlass": "approved"})
    flagged = create_user(iam, "bob")
    call_log.calls.clear()
    deployed(ExemptTag="BreakGlass=approved")
    run_document(IAMUserId=tagged["UserId"])
    run_document(IAMUserId=flagged["UserId"])
    with remediation_fails("no IAM user has UserId"):
        run_document(IAMUserId="AIDAUNKNOWNUSER000001")
    called = {f"{PREFIX[service]}:{operation}" for service, operation in call_log.calls}
    by_script = {a for a in called if a.startswith("lambda:")}
    assert {a.replace("lambda:Invoke", "lambda:InvokeFunction") for a in by_script} == set(
        permissions.AUTOMATION_ACTIONS
    )
    writes = set(permissions.REMEDIATION_ACTION_ACTIONS["disable-console"])
    assert called - by_script == set(permissions.REMEDIATION_ACTIONS) | writes
    assert role_actions("RemediationRole", "disable-console") == set(permissions.REMEDIATION_ACTIONS) | writes
    assert role_actions("AutomationRole") == set(permissions.AUTOMATION_ACTIONS)


@pytest.mark.parametrize("user_id", ["AIDA", "AIDA12345678901", "AIDA-not-an-id!!!!", 42])
def test_what_is_not_a_user_id_is_refused_before_any_call(iam: Any, call_log: CallLog, user_id: Any) -> None:
    """IAM UserIds are 16 to 128 letters and digits (Config's RESOURCE_ID for AWS::IAM::User)."""
    with pytest.raises(RemediationFailed, match="is not an IAM UserId"):
        remediation_handler({"IAMUserId": user_id}, None)
    assert call_log.calls == []


@pytest.mark.parametrize("dry_run", ["false", "true", 0, None])
def test_a_dry_run_that_is_not_a_boolean_is_refused(iam: Any, call_log: CallLog, dry_run: Any) -> None:
    """The string "false" is truthy and 0 is falsy: guessing either way could delete a password
    a caller only meant to plan for. The document passes a JSON boolean."""
    user = create_user(iam, "bob")
    with pytest.raises(RemediationFailed, match="DryRun must be true or false"):
        remediation_handler({"IAMUserId": user["UserId"], "DryRun": dry_run}, None)
    assert call_log.calls == [] and has_password(iam, "bob")


def test_each_remediation_logs_its_summary_as_one_structured_line(
    iam: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The audit trail in the function's log group; rule.yaml's LoggingConfig JSON turns the
    record's extra field into a key (here it is the record's attribute)."""
    user = create_user(iam, "bob")
    with caplog.at_level(logging.INFO):
        summary = remediation_handler({"IAMUserId": user["UserId"]}, None)
    (logged,) = [vars(r)["remediation"] for r in caplog.records if hasattr(r, "remediation")]
    assert logged == summary and logged["Action"] == "tagged the user and deleted its login profile"
    assert STACKS["rule.yaml"]["Resources"]["RemediationFunction"]["Properties"]["LoggingConfig"] == {
        "LogFormat": "JSON",
        "LogGroup": {"Ref": "RemediationLogGroup"},
    }
