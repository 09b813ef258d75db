"""Every policy as AWS would judge it, where moto judges nothing.

moto enforces no IAM, KMS key or SNS topic policy, so these checks are written here from
the documented rules:
- each action's resources against the resource types the Service Authorization Reference
  gives for it (cfn-lint's bundled copy, pinned with cfn-lint): an action without a
  resource type (iam:ListUsers) is only ever allowed on "*";
- every service principal that can publish to the alert topic, and with what conditions;
- the remediation's IAM guards (audit tag only, exempt users never lose a password).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import cfnlint
import pytest
from console_mfa import parameters
from console_mfa.policy import parse_policy
from console_mfa.remediation import AUDIT_TAG
from hypothesis import given, settings
from hypothesis import strategies as st

from iam_console_mfa.deploy_permissions import deploy_policy
from iam_console_mfa.policies import operator as iam_policy
from iam_console_mfa.settings import SETTINGS
from tests.stacks import STACKS
from tests.test_templates import actions, statements

REFERENCE = json.loads((Path(cfnlint.__file__).parent / "data/AdditionalSpecs/Policies.json").read_text())
SAMPLE = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}
# What Ref / GetAtt Arn give for the resource types our policies name.
SAMPLE_ARN = {
    "AWS::Logs::LogGroup": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/x:*",
    "AWS::SQS::Queue": "arn:aws:sqs:us-east-1:123456789012:failed",
    "AWS::SNS::Topic": "arn:aws:sns:us-east-1:123456789012:alerts",
    "AWS::Lambda::Function": "arn:aws:lambda:us-east-1:123456789012:function:remediation",
    "AWS::DynamoDB::Table": "arn:aws:dynamodb:us-east-1:123456789012:table/changes",
    "AWS::Events::EventBus": "arn:aws:events:us-east-1:123456789012:event-bus/central",
    "AWS::Config::ConfigRule": "arn:aws:config:us-east-1:123456789012:config-rule/config-rule-ab12cd",
    "AWS::KMS::Key": "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
}


SAMPLE_PARAMETER_ARN = {
    "CentralEventBusArn": SAMPLE_ARN["AWS::Events::EventBus"],
    "WebhookSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:slack-webhook-AbCdEf",
}


def render(resource: Any, template: dict[str, Any]) -> str:
    """A Resource element as the ARN string CloudFormation would produce (sample values)."""
    if isinstance(resource, dict) and "Fn::Sub" in resource:
        resource = resource["Fn::Sub"]
    if isinstance(resource, str):  # a string inside a Fn::Sub JSON document holds ${...} too
        return re.sub(r"\$\{([\w:]+)\}", lambda m: SAMPLE.get(m.group(1), "name"), resource)
    logical = resource.get("Ref") or resource["Fn::GetAtt"][0]
    if logical in template.get("Parameters", {}):  # an ARN given as a stack parameter
        return SAMPLE_PARAMETER_ARN[logical]
    return SAMPLE_ARN[template["Resources"][logical]["Type"]]


def resource_types(action: str) -> list[str]:
    service, name = action.split(":")
    return REFERENCE[service]["Actions"][name.lower()].get("Resources", [])


def arn_formats(action: str) -> list[str]:
    service = action.split(":")[0]
    known = {k.lower(): v for k, v in REFERENCE[service]["Resources"].items()}
    formats = []
    for kind in resource_types(action):
        for text in known[kind.lower()]["ARNFormats"]:
            text = text.replace("${Partition}", "[^:]+").replace("${Region}", "[^:]*")
            formats.append(text.replace("${Account}", "[^:]*"))
    return formats


def check_statement(statement: dict[str, Any], template: dict[str, Any], where: str) -> None:
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    rendered = [render(r, template) for r in resources]
    for action in actions(statement):
        if not resource_types(action):
            assert rendered == ["*"], f"{where}: {action} has no resource type: only '*' can allow it"
            continue
        for arn in rendered:
            if arn == "*":
                continue  # allowed by AWS; least privilege is checked by the stack tests
            assert any(re.fullmatch(f, arn) for f in arn_formats(action)), (
                f"{where}: {action} cannot apply to {arn}"
            )


IDENTITY_POLICIES = [
    (name, logical_id, statement)
    for name in STACKS
    for logical_id, statement in statements(STACKS[name])
    if "Principal" not in statement and "NotAction" not in statement  # a Deny on '*': test_templates
]


@pytest.mark.parametrize(("name", "logical_id", "statement"), IDENTITY_POLICIES)
def test_stack_statements_match_the_service_authorization_reference(
    name: str, logical_id: str, statement: dict[str, Any]
) -> None:
    check_statement(statement, STACKS[name], f"{name} {logical_id}")


@pytest.mark.parametrize("enforce", [False, True])
def test_cli_policy_matches_the_service_authorization_reference(enforce: bool) -> None:
    for statement in iam_policy(enforce)["Statement"]:
        check_statement(statement, {}, "iam-console-mfa policy")


@pytest.mark.parametrize("organization", [False, True])
def test_deploy_policy_matches_the_service_authorization_reference(organization: bool) -> None:
    settings = json.loads(SETTINGS.read_text())
    settings["organization"] = {"enabled": organization, "organizationalUnitIds": ["r-abcd"], "callAs": "SELF"}
    for statement in deploy_policy(settings)["Statement"]:
        check_statement(statement, {}, f"iam-console-mfa policy --deploy ({statement['Sid']})")


def test_the_check_catches_a_scoped_action_without_resource_type() -> None:
    users = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*"}
    rules = {"Fn::Sub": "arn:${AWS::Partition}:config:${AWS::Region}:${AWS::AccountId}:config-rule/*"}
    wrong = {"Effect": "Allow", "Action": ["iam:ListUsers"], "Resource": users}
    with pytest.raises(AssertionError, match="iam:ListUsers has no resource type"):
        check_statement(wrong, {}, "probe")
    misplaced = {"Effect": "Allow", "Action": ["iam:GetLoginProfile"], "Resource": rules}
    with pytest.raises(AssertionError, match="cannot apply to"):
        check_statement(misplaced, {}, "probe")


def test_list_users_is_allowed_wherever_a_sweep_or_remediation_runs() -> None:
    for role in ("FunctionRole", "RemediationRole"):
        granted = [s for logical_id, s in statements(STACKS["rule.yaml"]) if logical_id == role]
        assert any("iam:ListUsers" in actions(s) and s["Resource"] == "*" for s in granted), role


def publishers(template: dict[str, Any], logical_id: str) -> dict[str, dict[str, Any]]:
    """Service principal -> the condition of its statement, in a key or topic policy."""
    props = template["Resources"][logical_id]["Properties"]
    document = props.get("KeyPolicy") or props["PolicyDocument"]
    return {
        s["Principal"]["Service"]: s.get("Condition", {})
        for s in document["Statement"]
        if "Service" in s.get("Principal", {})
    }


def test_exactly_eventbridge_and_cloudwatch_can_publish_to_the_alert_topic() -> None:
    alerts = STACKS["alerts.yaml"]
    topic = publishers(alerts, "TopicPolicy")
    key = publishers(alerts, "TopicKey")
    assert set(topic) == set(key) == {"events.amazonaws.com", "cloudwatch.amazonaws.com"}
    for condition in topic.values():
        assert condition["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
        assert "aws:SourceArn" in condition.get("ArnEquals", condition.get("ArnLike", {}))
    # CloudWatch's KMS request carries the alarm as source; EventBridge's carries none
    # (documented by SNS), so its key statement cannot be conditioned without dropping alerts.
    assert key["cloudwatch.amazonaws.com"] == topic["cloudwatch.amazonaws.com"]
    assert key["events.amazonaws.com"] == {}


def test_the_alarms_the_topic_accepts_are_the_rule_stacks_alarms() -> None:
    alerts = STACKS["alerts.yaml"]["Resources"]
    (pattern,) = {
        s["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"]
        for logical_id, s in statements(STACKS["alerts.yaml"])
        if s.get("Principal") == {"Service": "cloudwatch.amazonaws.com"}
    }
    assert alerts  # both the key and the topic policy carry that one pattern
    rule = STACKS["rule.yaml"]["Resources"]
    alarms = [r for r in rule.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) == 4  # errors, failed events, Security Hub failures, re-evaluation dead letters
    for alarm in alarms:
        name = alarm["Properties"]["AlarmName"]["Fn::Sub"].replace("${RuleName}", "R")
        arn = f"arn:aws:cloudwatch:us-east-1:123456789012:alarm:{name}"
        glob = pattern.replace("${RuleName}", "R").replace("${AWS::Partition}", "aws")
        glob = glob.replace("${AWS::Region}", "us-east-1").replace("${AWS::AccountId}", "123456789012")
        assert re.fullmatch(re.escape(glob).replace(r"\*", ".*"), arn)
        assert alarm["Properties"]["AlarmActions"]["Fn::If"][1] == [{"Ref": "AlarmTopicArn"}]


def test_automation_role_trust_and_tag_scope() -> None:
    resources = STACKS["rule.yaml"]["Resources"]
    trust = resources["AutomationRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]
    assert trust["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    assert trust["Condition"]["ArnLike"]["aws:SourceArn"]["Fn::Sub"].endswith(":automation-execution/*")
    (invoke,) = [
        s
        for logical_id, s in statements(STACKS["rule.yaml"])
        if logical_id == "AutomationRole" and "Principal" not in s
    ]
    assert (actions(invoke), invoke["Resource"]) == (
        ["lambda:InvokeFunction"],
        {"Fn::GetAtt": ["RemediationFunction", "Arn"]},
    )
    granted = [s for logical_id, s in statements(STACKS["rule.yaml"]) if logical_id == "RemediationRole"]
    (tagging,) = [s for s in granted if "iam:TagUser" in actions(s)]
    assert actions(tagging) == ["iam:TagUser"]
    assert tagging["Condition"] == {"ForAllValues:StringEquals": {"aws:TagKeys": [AUDIT_TAG]}}


def test_iam_refuses_every_remediation_action_on_a_user_with_the_exempt_tag_key() -> None:
    guard = STACKS["rule.yaml"]["Resources"]["ExemptTagGuard"]
    assert guard["Condition"] == "WithExemptTagGuard"
    assert STACKS["rule.yaml"]["Conditions"]["WithExemptTagGuard"] == {
        "Fn::And": [{"Condition": "WithRemediation"}, {"Condition": "HasExemptTag"}]
    }
    assert guard["Properties"]["RoleName"] == {"Ref": "RemediationRole"}
    text, variables = guard["Properties"]["PolicyDocument"]["Fn::Sub"]
    assert variables["ExemptTagKey"] == {"Fn::Select": [0, {"Fn::Split": ["=", {"Ref": "ExemptTag"}]}]}
    (deny,) = json.loads(text.replace("${ExemptTagKey}", "K"))["Statement"]
    writes = {"iam:DeleteLoginProfile", "iam:AttachUserPolicy", "iam:UpdateAccessKey"}  # every mode's
    assert deny["Effect"] == "Deny" and set(deny["Action"]) == writes
    assert deny["Condition"] == {"Null": {"aws:ResourceTag/K": "false"}}


@settings(max_examples=300, deadline=None)
@given(st.from_regex(parameters.EXEMPT_TAG.pattern, fullmatch=True))
def test_the_guards_tag_key_is_the_rules_tag_key(value: str) -> None:
    exempt = parse_policy({"ExemptTag": value}).exempt_tag
    if exempt is None:
        return
    key = value.split("=")[0]  # Fn::Select [0, Fn::Split ["=", ExemptTag]]
    assert key == exempt.key
    json.loads(f'{{"aws:ResourceTag/{key}": "false"}}')  # nothing in a key needs JSON escaping


def test_selftest_and_doctor_policies_match_the_service_authorization_reference(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from iam_console_mfa import cli
    from iam_console_mfa.selftest import policy as selftest_policy

    for statement in selftest_policy(remediate=True)["Statement"]:
        check_statement(statement, {}, "iam-console-mfa policy --selftest")
    assert cli.main(["policy", "--doctor"]) == 0
    for statement in json.loads(capsys.readouterr().out)["Statement"]:
        check_statement(statement, {}, "iam-console-mfa policy --doctor")


def test_the_central_bus_policy_matches_the_reference_and_admits_the_organization_only() -> None:
    """An EventBridge resource policy: its statement is a property of the resource, not a document."""
    alerts = STACKS["alerts.yaml"]
    statement = alerts["Resources"]["CentralBusPolicy"]["Properties"]["Statement"]
    check_statement({**statement, "Action": [statement["Action"]]}, alerts, "alerts.yaml CentralBusPolicy")
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}


# Every action that writes an item of a table (DynamoDB API permissions reference): the
# transactional and PartiQL calls are authorized as these (TransactWriteItems per item's
# Put/Update/Delete; ExecuteStatement and batches as PartiQLInsert/Update/Delete).
ITEM_WRITES = {
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:BatchWriteItem",
    "dynamodb:PartiQLInsert",
    "dynamodb:PartiQLUpdate",
    "dynamodb:PartiQLDelete",
}


ROLE_ARNS = {
    name: f"arn:aws:iam::123456789012:role/stack-{name}-AB12" for name in ("FunctionRole", "ReevaluateRole")
}


def table_denies(statement: dict[str, Any], principal_arn: str, action: str) -> bool:
    """The resource policy's Deny as IAM evaluates it: Principal '*', the action listed, and
    ArnNotEquals on aws:PrincipalArn (a role session's aws:PrincipalArn is its role's ARN)."""
    allowed = [
        ROLE_ARNS[r["Fn::GetAtt"][0]] for r in statement["Condition"]["ArnNotEquals"]["aws:PrincipalArn"]
    ]
    return action in statement["Action"] and principal_arn not in allowed


def test_only_the_rule_and_the_trigger_can_write_the_change_store() -> None:
    """A user with dynamodb:* could otherwise write an item that makes the rule read someone
    live, or (before the store could only add reads) hide a user: the table's resource policy
    denies every item write to anyone but the two roles, whatever their identity policies say."""
    from console_mfa.permissions import REEVALUATE_ACTIONS, RULE_CHANGE_STORE_ACTIONS

    table = STACKS["rule.yaml"]["Resources"]["ChangesTable"]["Properties"]
    (deny,) = table["ResourcePolicy"]["PolicyDocument"]["Statement"]
    assert (deny["Effect"], deny["Principal"], deny["Resource"]) == ("Deny", "*", "*")
    assert set(deny["Action"]) == ITEM_WRITES
    for action in ITEM_WRITES:
        assert action.split(":")[1].lower() in REFERENCE["dynamodb"]["Actions"], action
    assert deny["Condition"]["ArnNotEquals"]["aws:PrincipalArn"] == [
        {"Fn::GetAtt": ["FunctionRole", "Arn"]},
        {"Fn::GetAtt": ["ReevaluateRole", "Arn"]},
    ]
    writes = {a for a in (*RULE_CHANGE_STORE_ACTIONS, *REEVALUATE_ACTIONS) if a in ITEM_WRITES}
    assert writes == {"dynamodb:UpdateItem"}  # what the two roles write with
    assert not any(table_denies(deny, role, "dynamodb:UpdateItem") for role in ROLE_ARNS.values())
    attacker = "arn:aws:iam::123456789012:role/PowerUser"
    assert all(table_denies(deny, attacker, a) for a in ITEM_WRITES)
    assert not table_denies(deny, attacker, "dynamodb:GetItem")  # reading is not the risk


# Service-principal statements without a source condition, each for a documented reason.
NO_SOURCE_CONDITION = {
    # Lambda assumes an execution role only for a function it was passed to (iam:PassRole).
    ("lambda.amazonaws.com", "sts:AssumeRole"): "execution role",
    # AWS documents that EventBridge's KMS request carries no aws:SourceAccount / aws:SourceArn
    # (SNS, "Enable compatibility between event sources from AWS services and encrypted topics");
    # the topic policy scopes EventBridge to the stack's rules.
    ("events.amazonaws.com", "kms:Decrypt"): "encrypted topic",
}


def _service_statements() -> list[tuple[str, str, str, str, dict[str, Any]]]:
    """(stack, logical id, service, first action, statement or permission) for every grant to
    an AWS service principal: policy statements and AWS::Lambda::Permission resources."""
    found = []
    for name, template in STACKS.items():
        for logical_id, statement in statements(template):
            principal = statement.get("Principal")
            services = principal.get("Service") if isinstance(principal, dict) else None
            for service in [services] if isinstance(services, str) else services or []:
                if statement["Effect"] == "Allow":
                    found.append((name, logical_id, service, actions(statement)[0], statement))
        for logical_id, resource in template["Resources"].items():
            if resource["Type"] == "AWS::Lambda::Permission":
                properties = resource["Properties"]
                found.append((name, logical_id, properties["Principal"], properties["Action"], properties))
    return found


@pytest.mark.parametrize(("name", "logical_id", "service", "action", "grant"), _service_statements())
def test_every_service_principal_is_held_to_this_account_or_resource(
    name: str, logical_id: str, service: str, action: str, grant: dict[str, Any]
) -> None:
    """The confused-deputy guard, for every stack at once: a service acting for another account
    (or another resource) must not be able to use what the stacks grant."""
    if (service, action) in NO_SOURCE_CONDITION:
        return
    keys = set(grant) if "Effect" not in grant else {k for c in grant.get("Condition", {}).values() for k in c}
    assert keys & {"aws:SourceAccount", "aws:SourceArn", "SourceAccount", "SourceArn"}, (
        f"{name} {logical_id}: {service} may {action} with no aws:SourceAccount or aws:SourceArn"
    )


def test_the_service_principal_check_covers_every_grant() -> None:
    found = {(n, i, s) for n, i, s, _, _ in _service_statements()}
    assert ("organization.yaml", "AggregatorRole", "config.amazonaws.com") in found
    assert ("rule.yaml", "ConfigPermission", "config.amazonaws.com") in found
    assert ("alerts.yaml", "DigestPermission", "events.amazonaws.com") in found
    assert len(found) >= 12


@pytest.mark.parametrize(("name", "logical_id", "statement"), IDENTITY_POLICIES)
def test_resource_star_only_for_actions_without_a_resource_type(
    name: str, logical_id: str, statement: dict[str, Any]
) -> None:
    """'*' grants an action on every resource: only where the Service Authorization Reference
    gives the action no resource type, so that nothing could be scoped further."""
    resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
    if "*" in resources and statement["Effect"] == "Allow":
        typed = [a for a in actions(statement) if resource_types(a)]
        assert typed == [], f"{name} {logical_id}: {typed} have a resource type but are granted on '*'"
