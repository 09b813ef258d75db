"""The stacks as security code: hand-written YAML, lint-clean, least privilege, and in step
with the engine's registries (parameters, permissions) and the calls the code makes.

moto skips AWS::Config::* resources when it deploys a stack, so the Config rule, the
remediation configuration and the aggregator are checked here, on the templates.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from console_mfa import parameters as registry
from console_mfa import permissions
from IAM_USER_CONSOLE_MFA import lambda_handler

from iam_console_mfa import settings
from iam_console_mfa.demo.account import Mfa, create_user
from iam_console_mfa.event_builders import change_event, scheduled_event, user_configuration_item
from iam_console_mfa.local_config import LocalConfig
from tests.stacks import DOCUMENT, STACKS, STACKS_DIR
from tests.support import REAL_TOKEN, CallLog, oversized_event

SERVICE_PREFIX = {"iam": "iam", "config-service": "config", "cloudtrail": "cloudtrail"}
READ_VERBS = ("Get", "List", "Describe", "GenerateCredentialReport")
MESSAGE_TYPES = [
    "ConfigurationItemChangeNotification",
    "OversizedConfigurationItemChangeNotification",
    "ScheduledNotification",
]
RULE = STACKS["rule.yaml"]["Resources"]


def test_parameters_json_is_generated_from_rdk_config() -> None:
    expected = settings.render_parameters(settings.load())
    assert settings.PARAMETERS.read_text() == expected, "run `make generate`: parameters.json drifted"
    parameters = json.loads(expected)["Parameters"]
    assert parameters["SourceRuntime"] == "python3.12-lib"  # what rdk expects
    assert parameters["SourceEvents"] == "AWS::IAM::User"
    assert json.loads(parameters["InputParameters"])["AssumeRoleMode"] == "False"


def test_rdk_routes_remediation_is_rule_yamls_generated() -> None:
    """remediation.json is rule.yaml's remediation, cut by the generator; parameters.json's
    Remediation block is rule.yaml's RemediationConfiguration, importing what that stack exports."""
    from iam_console_mfa.generate import REMEDIATION_RESOURCES, REMEDIATION_STACK, remediation_stack

    config = settings.load()
    assert REMEDIATION_STACK.read_text() == remediation_stack(config), "run `make generate`"
    stack = json.loads(REMEDIATION_STACK.read_text())
    for logical_id, resource in stack["Resources"].items():
        assert resource["Properties"] == RULE[logical_id]["Properties"], logical_id
    # always a remediation there; the exempt-tag guard still only with an ExemptTag, and what
    # the remediation may do only for its RemediationAction
    conditions = {i: r.get("Condition") for i, r in stack["Resources"].items()}
    by_action = {
        "ExemptTagGuard": "HasExemptTag",
        "RemovesConsoleAccess": "DisablesConsole",
        "QuarantinePolicy": "Quarantines",
        "AttachesQuarantinePolicy": "Quarantines",
        "DeactivatesAccessKeys": "DeactivatesKeys",
    }
    assert conditions == dict.fromkeys(conditions) | by_action
    assert stack["Conditions"] == {n: STACKS["rule.yaml"]["Conditions"][n] for n in set(by_action.values())}
    # every remediation resource of rule.yaml is there, but the configuration rdk creates
    conditional = {
        i
        for i, r in RULE.items()
        if r.get("Condition") in {"WithRemediation", "WithExemptTagGuard", *by_action.values()}
    }
    assert conditional - set(REMEDIATION_RESOURCES) == {"RemediationConfiguration"}
    # no exemption or grace: the function reads the rule's; ExemptTag names the IAM guard's tag
    assert not {"ExemptUserNames", "GracePeriodDays"} & set(stack["Parameters"])
    assert stack["Parameters"]["ExemptTag"]["Default"] == config["ruleParameters"]["ExemptTag"]

    block = json.loads(settings.PARAMETERS.read_text())["Parameters"]["Remediation"]
    declared = RULE["RemediationConfiguration"]["Properties"]
    assert set(block) == set(declared) and block["Parameters"].keys() == declared["Parameters"].keys()
    assert block["Parameters"]["IAMUserId"] == declared["Parameters"]["IAMUserId"]
    assert (block["Automatic"], block["MaximumAutomaticAttempts"], block["RetryAttemptSeconds"]) == (
        config["remediation"]["automatic"],
        config["remediation"]["maximumAutomaticAttempts"],
        config["remediation"]["retryAttemptSeconds"],
    )
    exports = {
        output["Export"]["Name"]["Fn::Sub"].replace("${RuleName}", config["ruleName"]): output["Value"]
        for output in stack["Outputs"].values()
        if "Export" in output
    }
    imported = {
        block["TargetId"]["Fn::ImportValue"]: declared["TargetId"],
        block["Parameters"]["AutomationAssumeRole"]["StaticValue"]["Values"][0]["Fn::ImportValue"]: declared[
            "Parameters"
        ]["AutomationAssumeRole"]["StaticValue"]["Values"][0],
    }
    assert exports == imported  # the same document and role rule.yaml wires in


def test_the_rdk_route_follows_settings_other_than_the_defaults() -> None:
    """The committed files are made from the default settings; these are not."""
    from iam_console_mfa.generate import remediation_stack

    config = settings.load()
    config["remediation"] = {
        "enabled": True,
        "automatic": True,
        "maximumAutomaticAttempts": 5,
        "retryAttemptSeconds": 120,
    }
    config["ruleParameters"] |= {"ExemptUserNames": "svc-*", "ExemptTag": "BreakGlass", "GracePeriodDays": "7"}
    block = settings.parameters_json(config)["Parameters"]["Remediation"]
    assert (block["Automatic"], block["MaximumAutomaticAttempts"], block["RetryAttemptSeconds"]) == (
        True,
        5,
        120,
    )
    stack = json.loads(remediation_stack(config))["Parameters"]
    assert stack["ExemptTag"]["Default"] == "BreakGlass"  # the guard's; the function reads the rule
    config["remediation"]["enabled"] = False
    assert "Remediation" not in settings.parameters_json(config)["Parameters"]


def test_cfn_lint_has_no_errors_or_warnings() -> None:
    files = [str(STACKS_DIR / name) for name in [*STACKS, "remediation.json"]]
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    done = subprocess.run([str(cfn_lint), *files], capture_output=True, text=True)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@pytest.mark.parametrize("name", ["rule.yaml", "organization.yaml"])
def test_stack_parameters_are_the_registrys(name: str) -> None:
    declared = STACKS[name]["Parameters"]
    for parameter in registry.RULE_PARAMETERS:
        spec = declared[parameter.name]
        assert (spec["Default"], spec["AllowedPattern"], spec["Description"]) == (
            parameter.default,
            parameter.pattern,
            parameter.description,
        ), f"{name} {parameter.name} differs from console_mfa/parameters.py"


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
    """Action, or NotAction (only in a Deny: test_a_not_action_only_denies)."""
    action = statement["Action"] if "Action" in statement else statement["NotAction"]
    return [action] if isinstance(action, str) else list(action)


@pytest.mark.parametrize("name", list(STACKS))
def test_every_policy_lists_exact_actions(name: str) -> None:
    for logical_id, statement in statements(STACKS[name]):
        for action in actions(statement):
            assert "*" not in action, f"{name} {logical_id}: wildcard action {action}"


@pytest.mark.parametrize("name", list(STACKS))
def test_a_not_action_only_denies(name: str) -> None:
    """NotAction in an Allow grants everything else; in a Deny on '*' it is AWS's documented
    pattern of an exception list (the quarantine policy's)."""
    for logical_id, statement in statements(STACKS[name]):
        if "NotAction" in statement:
            assert statement["Effect"] == "Deny" and statement["Resource"] == "*", logical_id


@pytest.mark.parametrize("name", list(STACKS))
def test_iam_writes_only_in_the_remediation_role(name: str) -> None:
    writes: dict[str, set[str]] = {}
    for logical_id, statement in statements(STACKS[name]):
        iam_writes = {  # what a statement lets happen: a Deny takes away, it grants nothing
            a
            for a in actions(statement)
            if a.startswith("iam:") and not a[4:].startswith(READ_VERBS) and statement["Effect"] == "Allow"
        }
        writes.setdefault(logical_id, set()).update(iam_writes)
    # the remediation role tags; each RemediationAction's writes are a policy of that role alone
    remediation = {
        "RemediationRole": {"iam:TagUser"},
        "RemovesConsoleAccess": {"iam:DeleteLoginProfile"},
        "AttachesQuarantinePolicy": {"iam:AttachUserPolicy"},
        "DeactivatesAccessKeys": {"iam:UpdateAccessKey"},
        # the quarantined user's own: change their password, enrol their MFA device
        "QuarantinePolicy": {
            "iam:ChangePassword",
            "iam:CreateVirtualMFADevice",
            "iam:DeactivateMFADevice",
            "iam:EnableMFADevice",
            "iam:ResyncMFADevice",
        },
    }
    for logical_id, granted in writes.items():
        assert granted == remediation.get(logical_id, set()), f"{name} {logical_id} may write: {granted}"
        if granted and logical_id not in ("RemediationRole", "QuarantinePolicy"):
            assert STACKS[name]["Resources"][logical_id]["Properties"]["RoleName"] == {"Ref": "RemediationRole"}
    text = json.dumps(
        {
            k: v
            for k, v in STACKS[name]["Resources"].items()
            if k not in ("RemovesConsoleAccess", "ExemptTagGuard", "IamChangeEvents")
        }
    )
    # the remediation role grants it, the guard denies it, IamChangeEvents listens for it
    assert "DeleteLoginProfile" not in text.replace("(deletes the login profile)", "")


def test_rule_stack() -> None:
    permission = RULE["ConfigPermission"]["Properties"]
    assert permission["Principal"] == "config.amazonaws.com"
    assert permission["SourceAccount"] == {"Ref": "AWS::AccountId"}
    rule = RULE["ConfigRule"]["Properties"]
    assert rule["Scope"] == {"ComplianceResourceTypes": ["AWS::IAM::User"]}
    assert [d["MessageType"] for d in rule["Source"]["SourceDetails"]] == MESSAGE_TYPES
    assert rule["Source"]["Owner"] == "CUSTOM_LAMBDA"
    assert rule["InputParameters"]["AssumeRoleMode"] == "False"
    assert set(rule["InputParameters"]) == {"AssumeRoleMode", *(p.name for p in registry.RULE_PARAMETERS)}
    assert RULE["Function"]["Properties"]["Runtime"] == "python3.12"
    assert RULE["LogGroup"]["Properties"]["RetentionInDays"] == {"Ref": "LogRetentionDays"}
    alarm = RULE["ErrorsAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/Lambda", "Errors")
    remediation = RULE["RemediationFunction"]["Properties"]
    assert remediation["Handler"] == "console_mfa.remediation.handler"
    assert remediation["Code"] == RULE["Function"]["Properties"]["Code"]  # one package, two handlers


def test_remediation_configuration_supplies_the_document() -> None:
    remediation = RULE["RemediationConfiguration"]["Properties"]
    assert remediation["TargetType"] == "SSM_DOCUMENT"
    assert remediation["TargetId"] == {"Ref": "RemediationDocument"}
    supplied = remediation["Parameters"]
    assert supplied["IAMUserId"] == {"ResourceValue": {"Value": "RESOURCE_ID"}}
    assert supplied["AutomationAssumeRole"]["StaticValue"]["Values"] == [
        {"Fn::GetAtt": ["AutomationRole", "Arn"]}
    ]
    required = {n for n, spec in DOCUMENT["parameters"].items() if "default" not in spec}
    assert required <= set(supplied) <= set(DOCUMENT["parameters"])
    assert not {p.name for p in registry.RULE_PARAMETERS} & set(supplied)  # the function reads the rule's
    trust = RULE["AutomationRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Principal"] == {"Service": "ssm.amazonaws.com"}
    for name in ("RemediationDocument", "RemediationFunction", "RemediationRole", "AutomationRole"):
        assert RULE[name]["Condition"] == "WithRemediation"


def test_alerts_stack() -> None:
    resources = STACKS["alerts.yaml"]["Resources"]
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


def test_organization_deploys_the_account_stack_to_every_account_of_the_ous() -> None:
    resources = STACKS["organization.yaml"]["Resources"]
    stack_set = resources["AccountStacks"]["Properties"]
    assert stack_set["PermissionModel"] == "SERVICE_MANAGED"
    assert stack_set["AutoDeployment"] == {"Enabled": True, "RetainStacksOnAccountRemoval": False}
    assert stack_set["StackInstancesGroup"][0]["DeploymentTargets"] == {
        "OrganizationalUnitIds": {"Ref": "OrganizationalUnitIds"}
    }
    assert stack_set["StackInstancesGroup"][0]["Regions"] == [
        {"Ref": "AWS::Region"}
    ]  # one region: IAM is global
    # every rule parameter reaches the accounts, and nothing rule.yaml does not declare
    passed = {p["ParameterKey"]: p["ParameterValue"] for p in stack_set["Parameters"]}
    assert set(passed) <= set(STACKS["rule.yaml"]["Parameters"])
    assert {p.name for p in registry.RULE_PARAMETERS} <= set(passed)
    assert all(value == {"Ref": key} for key, value in passed.items())
    # no organization Config rule (its Lambda could not be invoked): a rule per account instead
    assert not [r for r in resources.values() if r["Type"] == "AWS::Config::OrganizationConfigRule"]
    source = resources["Aggregator"]["Properties"]["OrganizationAggregationSource"]
    assert source["RoleArn"] == {"Fn::GetAtt": ["AggregatorRole", "Arn"]}


def role_grants(role: str) -> set[str]:
    granted: set[str] = set()
    for logical_id, statement in statements(STACKS["rule.yaml"]):
        if logical_id == role:
            granted.update(a for a in actions(statement) if a.split(":")[0] in ("iam", "config", "cloudtrail"))
    return granted


def test_rule_role_grants_exactly_what_the_rule_calls(
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
        "configurationItemCaptureTime": datetime.now(UTC) + timedelta(minutes=1),  # not older than the summary
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
    assert role_grants("FunctionRole") == called == set(permissions.RULE_ACTIONS)


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
    settings.load(Path(settings.SETTINGS))  # raises SettingsError when invalid


# Documented name limits of what the stacks name after RuleName (each service's API reference).
NAME_LIMITS = {
    ("AWS::Lambda::Function", "FunctionName"): 64,
    ("AWS::Events::Rule", "Name"): 64,
    ("AWS::Events::EventBus", "Name"): 256,
    ("AWS::CloudWatch::Alarm", "AlarmName"): 255,
    ("AWS::CloudWatch::Alarm", "MetricName"): 255,
    ("AWS::Logs::LogGroup", "LogGroupName"): 512,
    ("AWS::Config::ConfigRule", "ConfigRuleName"): 128,
    ("AWS::Config::ConfigurationAggregator", "ConfigurationAggregatorName"): 256,
    ("AWS::SecurityHub::AutomationRule", "RuleName"): 256,
}
STACK_ID_UUID = 36  # the last part of a StackId: a UUID


def longest(value: Any, rule_name: str) -> int | None:
    """The length a name property takes with this RuleName (None: not built from RuleName)."""
    if value == {"Ref": "RuleName"}:
        return len(rule_name)
    sub = value.get("Fn::Sub") if isinstance(value, dict) else None
    if sub is None:
        return None
    text, local = (sub, {}) if isinstance(sub, str) else (sub[0], sub[1])
    if "${RuleName}" not in text:
        return None
    assert set(local) <= {"Creation"}, local  # the StackId's UUID (log groups)
    return len(text.replace("${RuleName}", rule_name).replace("${Creation}", "x" * STACK_ID_UUID))


@pytest.mark.parametrize("name", sorted(STACKS))
def test_every_name_built_from_the_longest_rule_name_fits_its_service(name: str) -> None:
    """RuleName's maximum follows from the longest name built from it (<RuleName>-remediation,
    a Lambda function: 64 characters) and every other name stays within its service's limit."""
    template = STACKS[name]
    pattern = template["Parameters"]["RuleName"]["AllowedPattern"]
    maximum = int(re.fullmatch(r"\^\[A-Za-z0-9_-\]\{1,(\d+)\}\$", pattern).group(1))  # type: ignore[union-attr]
    rule_name = "R" * maximum
    checked = 0
    for logical_id, resource in template["Resources"].items():
        for prop, value in resource.get("Properties", {}).items():
            limit = NAME_LIMITS.get((resource["Type"], prop))
            length = longest(value, rule_name)
            if limit is None or length is None:
                continue
            checked += 1
            assert length <= limit, f"{logical_id}.{prop}: {length} > {limit} (RuleName of {maximum})"
    assert checked, "no name built from RuleName was checked"
    if name == "rule.yaml":
        assert maximum + len("-remediation") == NAME_LIMITS[("AWS::Lambda::Function", "FunctionName")]


def test_cfn_lint_accepts_the_longest_rule_name(tmp_path: Path) -> None:
    """cfn-lint's own length checks (W1031 and the like) on rule.yaml with RuleName at its maximum."""
    text = (STACKS_DIR / "rule.yaml").read_text()
    pattern = STACKS["rule.yaml"]["Parameters"]["RuleName"]["AllowedPattern"]
    maximum = int(re.search(r"\{1,(\d+)\}", pattern).group(1))  # type: ignore[union-attr]
    longest_name = tmp_path / "rule.yaml"
    longest_name.write_text(text.replace("Default: IAM_USER_CONSOLE_MFA", f"Default: {'R' * maximum}", 1))
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    done = subprocess.run([str(cfn_lint), str(longest_name)], capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, ""), done.stdout


def test_retained_log_groups_never_collide_with_a_stack_created_again() -> None:
    """Deleting the stack keeps its log groups (Retain); each is named after the StackId's UUID,
    which differs for every stack creation, so creating the stack again (or an account moved out
    of an organizational unit and back, or the RDK route replaced by deploy) never fails with
    AlreadyExists. Each function logs to its own group (LoggingConfig.LogGroup)."""
    resources = STACKS["rule.yaml"]["Resources"]
    creation = {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}
    groups = {i: r for i, r in resources.items() if r["Type"] == "AWS::Logs::LogGroup"}
    assert len(groups) == 3
    for logical_id, group in groups.items():
        assert group["DeletionPolicy"] == "Retain"
        text, local = group["Properties"]["LogGroupName"]["Fn::Sub"]
        assert text.endswith("/${Creation}") and local == {"Creation": creation}, logical_id
        users = [
            r["Properties"]["LoggingConfig"]["LogGroup"]
            for r in resources.values()
            if r["Type"] == "AWS::Lambda::Function"
            and r["Properties"]["LoggingConfig"]["LogGroup"] == {"Ref": logical_id}
        ]
        assert len(users) == 1, logical_id
