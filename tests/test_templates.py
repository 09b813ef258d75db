"""The stacks as security code: generated from one source, lint-clean, least privilege.

moto skips AWS::Config::* resources when it deploys a stack, so the Config rule, the
organization rule and the remediation configuration are checked here, on the templates.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from console_mfa.policy import parse_policy
from IAM_USER_CONSOLE_MFA import lambda_handler

from iam_console_mfa import settings, templates
from iam_console_mfa.document import DOCUMENT, build_document
from iam_console_mfa.events import change_event, oversized_event, scheduled_event, user_configuration_item
from iam_console_mfa.local_config import LocalConfig
from iam_console_mfa.seed import Mfa, create_user
from tests.support import REAL_TOKEN, CallLog

CFN = templates.OUT
BUILT = {name: build() for name, build in templates.TEMPLATES.items()}
SERVICE_PREFIX = {"iam": "iam", "config-service": "config"}
READ_VERBS = ("Get", "List", "Describe", "GenerateCredentialReport")


def test_committed_templates_are_generated() -> None:
    for name, build in templates.TEMPLATES.items():
        assert (CFN / name).read_text() == templates.render(build), f"run `make generate`: {name} is stale"


def test_parameters_json_is_generated_from_rdk_config() -> None:
    expected = settings.render_parameters(settings.load())
    assert settings.PARAMETERS.read_text() == expected, "run `make generate`: parameters.json drifted"


def test_cfn_lint_has_no_errors_or_warnings() -> None:
    files = [str(CFN / name) for name in templates.TEMPLATES]
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    done = subprocess.run([str(cfn_lint), *files], capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


def statements(template: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(logical id, statement) for every policy document in the template."""
    for logical_id, resource in template["Resources"].items():
        props = resource["Properties"]
        documents = [p["PolicyDocument"] for p in props.get("Policies", [])]
        documents += [
            props[k] for k in ("PolicyDocument", "KeyPolicy", "AssumeRolePolicyDocument") if k in props
        ]
        for document in documents:
            for statement in policy_document(document)["Statement"]:
                yield logical_id, statement


def policy_document(document: Any) -> dict[str, Any]:
    """A policy document; one written as a JSON string by Fn::Sub is filled with sample values."""
    if isinstance(document, dict) and "Fn::Sub" in document:
        text, variables = document["Fn::Sub"]
        for name in variables:
            text = text.replace("${" + name + "}", "BreakGlass")
        return json.loads(text)
    return document


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else action


@pytest.mark.parametrize("name", list(templates.TEMPLATES))
def test_every_policy_lists_exact_actions(name: str) -> None:
    for logical_id, statement in statements(BUILT[name]):
        for action in actions(statement):
            assert "*" not in action, f"{name} {logical_id}: wildcard action {action}"


@pytest.mark.parametrize("name", list(templates.TEMPLATES))
def test_iam_writes_only_in_the_remediation_role(name: str) -> None:
    writes: dict[str, set[str]] = {}
    for logical_id, statement in statements(BUILT[name]):
        iam_writes = {  # what a statement lets happen: a Deny takes away, it grants nothing
            a
            for a in actions(statement)
            if a.startswith("iam:") and not a[4:].startswith(READ_VERBS) and statement["Effect"] == "Allow"
        }
        writes.setdefault(logical_id, set()).update(iam_writes)
    for logical_id, granted in writes.items():
        expected = {"iam:DeleteLoginProfile", "iam:TagUser"} if logical_id == "AutomationRole" else set()
        assert granted == expected, f"{name} {logical_id} may write: {granted}"
    text = json.dumps(
        {
            k: v
            for k, v in BUILT[name]["Resources"].items()
            if k not in ("AutomationRole", "Document", "ExemptTagGuard")
        }
    )
    assert "DeleteLoginProfile" not in text


def test_rule_stack() -> None:
    resources = BUILT["rule.json"]["Resources"]
    permission = resources["ConfigPermission"]["Properties"]
    assert permission["Principal"] == "config.amazonaws.com"
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    rule = resources["ConfigRule"]["Properties"]
    assert rule["Scope"] == {"ComplianceResourceTypes": ["AWS::IAM::User"]}
    assert [d["MessageType"] for d in rule["Source"]["SourceDetails"]] == list(templates.MESSAGE_TYPES)
    assert rule["Source"]["Owner"] == "CUSTOM_LAMBDA"
    assert rule["InputParameters"]["AssumeRoleMode"] == "False"
    assert set(rule["InputParameters"]) == {
        "AssumeRoleMode",
        "ExemptUserNames",
        "ExemptTag",
        "GracePeriodDays",
        "DataSource",
    }
    assert resources["Function"]["Properties"]["Runtime"] == "python3.12"
    assert resources["LogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    alarm = resources["ErrorsAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "Errors")


@pytest.mark.parametrize("name", ["remediation.json", "member.json"])
def test_remediation_configuration_supplies_the_document(name: str) -> None:
    resources = BUILT[name]["Resources"]
    remediation = resources["Remediation"]["Properties"]
    assert remediation["TargetType"] == "SSM_DOCUMENT" and remediation["TargetId"] == {"Ref": "Document"}
    supplied = remediation["Parameters"]
    assert supplied["IAMUserId"] == {"ResourceValue": {"Value": "RESOURCE_ID"}}
    assert supplied["AutomationAssumeRole"]["StaticValue"]["Values"] == [
        {"Fn::GetAtt": ["AutomationRole", "Arn"]}
    ]
    document = resources["Document"]["Properties"]["Content"]
    assert document == json.loads(DOCUMENT.read_text())
    required = {n for n, spec in document["parameters"].items() if "default" not in spec}
    assert required <= set(supplied) <= set(document["parameters"])
    trust = resources["AutomationRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "ssm.amazonaws.com"}


def test_parameters_json_remediation_matches_the_document() -> None:
    params = json.loads(settings.PARAMETERS.read_text())["Parameters"]
    document = build_document()
    supplied = params["Remediation"]["Parameters"]
    assert supplied["IAMUserId"] == {"ResourceValue": {"Value": "RESOURCE_ID"}}
    assert set(supplied) <= set(document["parameters"])
    assert params["SSMAutomation"]["IAM"] == list(settings.REMEDIATION_ACTIONS)


def test_alerts_stack() -> None:
    resources = BUILT["alerts.json"]["Resources"]
    assert resources["Topic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "TopicKey"}
    policy = resources["TopicPolicy"]["Properties"]["PolicyDocument"]["Statement"][0]
    assert policy["Principal"] == {"Service": "events.amazonaws.com"} and policy["Action"] == "sns:Publish"
    pattern = resources["NonCompliantRule"]["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.config"] and pattern["detail-type"] == ["Config Rules Compliance Change"]
    assert pattern["detail"]["configRuleName"] == [{"Ref": "RuleName"}]
    assert pattern["detail"]["newEvaluationResult"] == {"complianceType": ["NON_COMPLIANT"]}
    transformer = resources["NonCompliantRule"]["Properties"]["Targets"][0]["InputTransformer"]
    sentence = json.loads(transformer["InputTemplate"])
    for placeholder in ("<user>", "<account>", "<annotation>", "<region>"):
        assert placeholder in sentence
    assert set(transformer["InputPathsMap"]) == {"user", "account", "region", "rule", "annotation"}


def test_organization_rule_keeps_both_trigger_kinds() -> None:
    resources = BUILT["organization.json"]["Resources"]
    metadata = resources["OrganizationRule"]["Properties"]["OrganizationCustomRuleMetadata"]
    assert metadata["OrganizationConfigRuleTriggerTypes"] == list(templates.MESSAGE_TYPES)
    assert metadata["ResourceTypesScope"] == ["AWS::IAM::User"]
    assert resources["OrganizationInvokePermission"]["Properties"]["PrincipalOrgID"] == {
        "Ref": "OrganizationId"
    }
    member = BUILT["member.json"]["Resources"]["ExecutionRole"]["Properties"]
    assert member["RoleName"] == {"Ref": "ExecutionRoleName"}
    # every variant of the org rule's InputParameters is JSON that the rule accepts
    variants = json.dumps(metadata["InputParameters"])
    for text in [v["Fn::Sub"] for v in _subs(metadata["InputParameters"])]:
        filled = text.replace("${ExecutionRoleName}", "r").replace("${GracePeriodDays}", "0")
        filled = filled.replace("${DataSource}", "auto").replace("${ExemptUserNames}", "svc-*")
        parse_policy(json.loads(filled.replace("${ExemptTag}", "k=v")))
    assert variants.count("Fn::Sub") == 4


def _subs(node: Any) -> Iterator[dict[str, Any]]:
    if isinstance(node, dict):
        if "Fn::Sub" in node:
            yield node
        for value in node.values():
            yield from _subs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _subs(value)


def rule_role_grants(template: dict[str, Any], role: str) -> set[str]:
    granted = set()
    for logical_id, statement in statements(template):
        if logical_id == role:
            granted.update(a for a in actions(statement) if a.split(":")[0] in ("iam", "config"))
    return granted - {"sts:AssumeRole"}


def test_rule_roles_grant_exactly_what_the_rule_calls(
    iam: Any, config_api: LocalConfig, call_log: CallLog
) -> None:
    for i in range(3):
        create_user(iam, f"user{i}", mfa=Mfa.VIRTUAL if i else Mfa.NONE)
    user = create_user(iam, "tagless")
    item = user_configuration_item(user)
    item.pop("tags")
    item["configuration"].pop("tags")
    tagged = {"AssumeRoleMode": "False", "ExemptTag": "BreakGlass"}
    lambda_handler(change_event(item, tagged, REAL_TOKEN), None)  # tags not in the CI: ListUserTags
    history = {
        **item,
        "configuration": json.dumps(item["configuration"]),
        "accountId": "123456789012",
        "arn": item["ARN"],
        "configurationItemStatus": "OK",
    }
    config_api.responses["GetResourceConfigHistory"] = lambda request: {"configurationItems": [history]}
    lambda_handler(oversized_event(user["UserId"], token=REAL_TOKEN), None)
    for source in ("live", "credential-report"):
        lambda_handler(scheduled_event({**tagged, "DataSource": source}, REAL_TOKEN), None)
    called = {f"{SERVICE_PREFIX[service]}:{op}" for service, op in call_log.calls}
    assert rule_role_grants(BUILT["rule.json"], "FunctionRole") == called
    assert rule_role_grants(BUILT["member.json"], "ExecutionRole") == called


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda s: s.update(sweepFrequency="Daily"),
            "sweepFrequency: 'Daily' is not allowed; allowed: One_Hour",
        ),
        (lambda s: s.update(region="Virginia"), "region: 'Virginia' does not match"),
        (lambda s: s["lambda"].update(logRetentionDays=10), "allowed: 1, 3, 5, 7, 14"),
        (lambda s: s.update(extra=1), "Additional properties are not allowed ('extra'"),
        (
            lambda s: s["ruleParameters"].update(DataSource="both"),
            "ruleParameters.DataSource: 'both' is not allowed",
        ),
        (
            lambda s: s["ruleParameters"].update(ExemptUserNames="a,,b"),
            "Invalid rule parameter ExemptUserNames",
        ),
        (lambda s: s["remediation"].pop("automatic"), "remediation: 'automatic' is a required property"),
    ],
)
def test_invalid_settings_name_the_key(change: Any, message: str) -> None:
    chosen = settings.load()
    change(chosen)
    with pytest.raises(settings.SettingsError) as caught:
        settings.validate(chosen)
    assert message in str(caught.value)


def test_settings_file_shipped_is_valid() -> None:
    chosen = settings.load(Path(settings.SETTINGS))
    assert chosen["region"] == "us-east-1"
