"""Organization mode: member accounts' compliance changes and alarms reach the central topic.

EventBridge delivery across accounts is not simulated by moto: the rules' patterns are matched
here against sample events shaped as AWS sends them ("Config Rules Compliance Change",
"CloudWatch Alarm State Change"), with EventBridge's matching for the forms used (a list of
values, a prefix), and their input transformers rendered into the topic's sentence. The
policies are checked as IAM and EventBridge would judge them.
"""

from __future__ import annotations

import json
import re
from typing import Any

import boto3
import pytest

from tests.stacks import STACKS, STACKS_DIR
from tests.support import account_session, allows

RULE = STACKS["rule.yaml"]["Resources"]
ALERTS = STACKS["alerts.yaml"]["Resources"]
NAME = "IAM_USER_CONSOLE_MFA"
MEMBER = "222222222222"


def resolve(value: Any) -> Any:
    """The intrinsics the rule stack's patterns and policies use, as deployed in the member
    account (MEMBER, us-east-1) with RuleName's default."""
    names = {"RuleName": NAME, "AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": MEMBER}
    if isinstance(value, dict) and value.get("Ref") in names:
        return names[value["Ref"]]
    if isinstance(value, dict) and "Fn::Sub" in value:
        return re.sub(r"\$\{([\w:]+)\}", lambda m: names[m.group(1)], value["Fn::Sub"])
    if isinstance(value, dict):
        return {k: resolve(v) for k, v in value.items()}
    if isinstance(value, list):
        return [resolve(v) for v in value]
    return value


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge matching for the forms these patterns use."""
    for key, wanted in pattern.items():
        if key not in event:
            return False
        if isinstance(wanted, dict):
            if not isinstance(event[key], dict) or not matches(wanted, event[key]):
                return False
            continue
        value = event[key]
        if not any(
            (isinstance(w, dict) and isinstance(value, str) and value.startswith(w["prefix"])) or w == value
            for w in wanted
        ):
            return False
    return True


def render(target: dict[str, Any], event: dict[str, Any]) -> str:
    transformer = target["InputTransformer"]

    def path(expression: str) -> Any:
        value: Any = event
        for part in expression.removeprefix("$.").split("."):
            value = value[part]
        return value

    values = {name: path(expression) for name, expression in transformer["InputPathsMap"].items()}
    return re.sub(r"<(\w+)>", lambda m: str(values[m.group(1)]), transformer["InputTemplate"])


def compliance_change(rule: str = NAME, compliance: str = "NON_COMPLIANT") -> dict[str, Any]:
    return {
        "version": "0",
        "detail-type": "Config Rules Compliance Change",
        "source": "aws.config",
        "account": MEMBER,
        "region": "us-east-1",
        "detail": {
            "resourceId": "AIDAMEMBERBOB",
            "awsRegion": "us-east-1",
            "awsAccountId": MEMBER,
            "configRuleName": rule,
            "resourceType": "AWS::IAM::User",
            "messageType": "ComplianceChangeNotification",
            "newEvaluationResult": {
                "complianceType": compliance,
                "annotation": "bob: console password without MFA",
            },
        },
    }


def alarm_change(name: str = f"{NAME}-evaluator-errors", state: str = "ALARM") -> dict[str, Any]:
    return {
        "version": "0",
        "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch",
        "account": MEMBER,
        "region": "us-east-1",
        "detail": {"alarmName": name, "state": {"value": state, "reason": "Threshold Crossed: 1 datapoint"}},
    }


def pattern(resources: dict[str, Any], name: str) -> dict[str, Any]:
    return dict(resolve(resources[name]["Properties"]["EventPattern"]))


@pytest.mark.parametrize(
    ("event", "forwarded_by", "central_rule", "sentence"),
    [
        (
            compliance_change(),
            "ForwardComplianceChanges",
            "MemberNonCompliantRule",
            f'"IAM user AIDAMEMBERBOB in member account {MEMBER} can sign in to the AWS console without MFA: '
            'bob: console password without MFA"',
        ),
        (
            compliance_change(compliance="COMPLIANT"),
            "ForwardComplianceChanges",
            "MemberFixedRule",
            f'"IAM user AIDAMEMBERBOB in member account {MEMBER} is COMPLIANT again: '
            'bob: console password without MFA"',
        ),
        (
            alarm_change(f"{NAME}-evaluator-reevaluation-dead-letters"),
            "ForwardAlarms",
            "MemberAlarmRule",
            f'"The IAM_USER_CONSOLE_MFA rule is failing in member account {MEMBER} (us-east-1): alarm '
            f'{NAME}-evaluator-reevaluation-dead-letters: Threshold Crossed: 1 datapoint"',
        ),
    ],
)
def test_a_members_event_is_forwarded_and_becomes_the_topics_sentence(
    event: dict[str, Any], forwarded_by: str, central_rule: str, sentence: str
) -> None:
    forwarding = [n for n in ("ForwardComplianceChanges", "ForwardAlarms") if matches(pattern(RULE, n), event)]
    assert forwarding == [forwarded_by]
    central = [
        n
        for n in ("MemberNonCompliantRule", "MemberFixedRule", "MemberAlarmRule")
        if matches(pattern(ALERTS, n), event)
    ]
    assert central == [central_rule]
    (target,) = ALERTS[central_rule]["Properties"]["Targets"]
    assert target["Arn"] == {"Ref": "Topic"}
    assert " ".join(render(target, event).split()) == sentence


def test_other_rules_events_and_recovered_alarms_stay_home() -> None:
    assert not matches(pattern(RULE, "ForwardComplianceChanges"), compliance_change(rule="another-rule"))
    assert not matches(pattern(RULE, "ForwardAlarms"), alarm_change("billing-alarm"))
    assert matches(pattern(RULE, "ForwardAlarms"), alarm_change(state="OK"))  # forwarded, not announced
    assert not matches(pattern(ALERTS, "MemberAlarmRule"), alarm_change(state="OK"))


def test_every_alarm_the_rule_stack_raises_is_forwarded() -> None:
    names = [
        resolve(r["Properties"]["AlarmName"]) for r in RULE.values() if r["Type"] == "AWS::CloudWatch::Alarm"
    ]
    assert len(names) == 4 and all(matches(pattern(RULE, "ForwardAlarms"), alarm_change(n)) for n in names)


def test_the_bus_admits_the_organization_only_and_members_may_only_put_events_there() -> None:
    statement = ALERTS["CentralBusPolicy"]["Properties"]["Statement"]
    assert (statement["Action"], statement["Principal"]) == ("events:PutEvents", "*")
    assert statement["Resource"] == {"Fn::GetAtt": ["CentralBus", "Arn"]}
    assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": {"Ref": "OrganizationId"}}}
    role = RULE["ForwardRole"]["Properties"]
    (trust,) = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"Service": "events.amazonaws.com"}
    assert trust["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    # Only the two forwarding rules may assume it: their ARNs, spelt from their names.
    (trusted,) = trust["Condition"]["ArnEquals"].values()
    rule_arn = "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:rule/"
    named = [RULE[n]["Properties"]["Name"]["Fn::Sub"] for n in ("ForwardComplianceChanges", "ForwardAlarms")]
    assert [a["Fn::Sub"] for a in trusted] == [rule_arn + name for name in named]
    assert set(trust["Condition"]) == {"StringEquals", "ArnEquals"}
    longest = max(len(n.replace("${RuleName}", "R" * 54)) for n in named)
    assert longest <= 64  # EventBridge's limit on a rule name, with the longest RuleName allowed
    (grant,) = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    assert (grant["Action"], grant["Resource"]) == (["events:PutEvents"], {"Ref": "CentralEventBusArn"})
    for name in ("ForwardComplianceChanges", "ForwardAlarms"):
        (target,) = RULE[name]["Properties"]["Targets"]
        assert target == {
            "Id": "central-bus",
            "Arn": {"Ref": "CentralEventBusArn"},
            "RoleArn": {"Fn::GetAtt": ["ForwardRole", "Arn"]},
        }
        assert RULE[name]["Condition"] == "ForwardsToCentralBus"


def test_only_the_members_two_forwarding_rules_may_assume_the_forward_role() -> None:
    """The trust judged as IAM would, for the request EventBridge makes when it delivers a
    rule's event to a target with a role (aws:SourceArn is the rule's ARN)."""
    trust = resolve(RULE["ForwardRole"]["Properties"]["AssumeRolePolicyDocument"])

    def rule_arn(logical_id: str, account: str = MEMBER) -> str:  # a default-bus rule's ARN
        return f"arn:aws:events:us-east-1:{account}:rule/{resolve(RULE[logical_id]['Properties']['Name'])}"

    def admitted(source_arn: str, account: str = MEMBER) -> bool:
        context = {"aws:SourceAccount": account, "aws:SourceArn": source_arn}
        return allows(trust, "events.amazonaws.com", "sts:AssumeRole", context)

    assert admitted(rule_arn("ForwardComplianceChanges")) and admitted(rule_arn("ForwardAlarms"))
    assert not admitted(f"arn:aws:events:us-east-1:{MEMBER}:rule/someone-elses-rule")
    other = "333333333333"
    assert not admitted(rule_arn("ForwardAlarms", other), other)
    assert not allows(trust, "events.amazonaws.com", "sts:AssumeRole", {"aws:SourceAccount": MEMBER})


def test_the_topic_admits_exactly_the_rules_that_announce() -> None:
    (publish,) = [
        s
        for s in ALERTS["TopicPolicy"]["Properties"]["PolicyDocument"]["Statement"]
        if s["Principal"] == {"Service": "events.amazonaws.com"}
    ]
    organization, single = publish["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::If"][1:]
    # every EventBridge rule but the digest's schedule, which invokes a function, not the topic
    announcing = {n for n, r in ALERTS.items() if r["Type"] == "AWS::Events::Rule"} - {"DigestScheduleRule"}
    assert {a["Fn::GetAtt"][0] for a in organization} == announcing
    assert {a["Fn::GetAtt"][0] for a in single} == {"NonCompliantRule", "FixedRule"}


def test_the_stackset_hands_every_member_the_bus() -> None:
    stack_set = STACKS["organization.yaml"]["Resources"]["AccountStacks"]["Properties"]
    passed = {p["ParameterKey"]: p["ParameterValue"] for p in stack_set["Parameters"]}
    assert passed["CentralEventBusArn"] == {"Ref": "CentralEventBusArn"}


# moto's CloudFormation skips the topic and bus policies (judged by the policy tests above).
@pytest.mark.filterwarnings("ignore:Tried to parse AWS:UserWarning")
def test_two_member_accounts_forward_to_the_central_bus_on_moto(account: None) -> None:
    """Organization mode on moto: alerts.yaml (organization) in the management account and
    rule.yaml, as the StackSet deploys it, in two member accounts. A compliance change and an
    alarm state change put on each member's default bus reach the central bus through that
    member's forwarding rules and become the topic's sentences.

    moto delivers to a bus in another account, but not to SNS: the central rules' topic targets
    are swapped for one queue, with the input transformers CloudFormation gave them, so the
    queue receives the sentences the topic would. moto stamps a forwarded event with the
    receiving account, where EventBridge keeps the sender's (the pattern tests above render
    with the sender's): the member is checked in the event's detail instead."""
    from iam_console_mfa.deploy import package

    management = boto3.Session(region_name="us-east-1")
    alerts = management.client("cloudformation")
    alerts.create_stack(
        StackName="alerts",
        TemplateBody=(STACKS_DIR / "alerts.yaml").read_text(),
        Parameters=[
            {"ParameterKey": "OrganizationId", "ParameterValue": "o-abcdefghij"},
            {"ParameterKey": "CodeBucket", "ParameterValue": "code"},  # no CodeKey: no digest
        ],
    )
    (stack,) = alerts.describe_stacks(StackName="alerts")["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Outputs"]}
    bus, topic = outputs["CentralEventBusArn"], outputs["TopicArn"]
    events, sqs = management.client("events"), management.client("sqs")
    queue = sqs.create_queue(QueueName="topic-stand-in")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    central = [r["Name"] for r in events.list_rules(EventBusName=bus)["Rules"]]
    assert len(central) == 3  # MemberNonCompliantRule, MemberFixedRule, MemberAlarmRule
    for name in central:
        (target,) = events.list_targets_by_rule(Rule=name, EventBusName=bus)["Targets"]
        assert target["Arn"] == topic
        events.remove_targets(Rule=name, EventBusName=bus, Ids=[target["Id"]])
        events.put_targets(
            Rule=name,
            EventBusName=bus,
            Targets=[{"Id": target["Id"], "Arn": queue_arn, "InputTransformer": target["InputTransformer"]}],
        )
    raw = sqs.create_queue(QueueName="raw")["QueueUrl"]  # the forwarded events themselves
    raw_arn = sqs.get_queue_attributes(QueueUrl=raw, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events.put_rule(Name="capture", EventBusName=bus, EventPattern=json.dumps({"source": ["aws.config"]}))
    events.put_targets(Rule="capture", EventBusName=bus, Targets=[{"Id": "raw", "Arn": raw_arn}])

    sts = management.client("sts")
    for member in ("111111111111", "222222222222"):
        session = account_session(sts, member)
        session.client("s3").create_bucket(Bucket=f"code-{member}")
        session.client("s3").put_object(Bucket=f"code-{member}", Key="rule.zip", Body=package())
        session.client("cloudformation").create_stack(
            StackName="StackSet-iam-console-mfa",
            TemplateBody=(STACKS_DIR / "rule.yaml").read_text(),
            Parameters=[
                {"ParameterKey": "CodeBucket", "ParameterValue": f"code-{member}"},
                {"ParameterKey": "CodeKey", "ParameterValue": "rule.zip"},
                {"ParameterKey": "CentralEventBusArn", "ParameterValue": bus},
            ],
            Capabilities=["CAPABILITY_IAM"],
        )
        forwarding = session.client("events")
        for name in (f"{NAME}-fwd-compl", f"{NAME}-fwd-alarm"):
            (target,) = forwarding.list_targets_by_rule(Rule=name)["Targets"]
            assert target["Arn"] == bus and f":{member}:role/" in target["RoleArn"]
        change, alarm = compliance_change(), alarm_change()
        change["detail"]["awsAccountId"] = member
        forwarding.put_events(
            Entries=[
                {"Source": e["source"], "DetailType": e["detail-type"], "Detail": json.dumps(e["detail"])}
                for e in (change, alarm, compliance_change(rule="another-rule"))
            ]
        )

    def drain(url: str) -> list[Any]:
        received = []
        while batch := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", []):
            received += [json.loads(m["Body"]) for m in batch]
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in batch],
            )
        return received

    forwarded = drain(raw)
    assert sorted(e["detail"]["awsAccountId"] for e in forwarded) == ["111111111111", "222222222222"]
    assert {e["detail"]["configRuleName"] for e in forwarded} == {NAME}  # another rule's stayed home
    received = drain(queue)
    receiver = "123456789012"  # moto's stamp, see above
    user = f"IAM user AIDAMEMBERBOB in member account {receiver} can sign in to the AWS console without MFA"
    failing = f"The IAM_USER_CONSOLE_MFA rule is failing in member account {receiver} (us-east-1)"
    expected = [
        f"{user}: bob: console password without MFA",
        f"{failing}: alarm {NAME}-evaluator-errors: Threshold Crossed: 1 datapoint",
    ]
    assert sorted(" ".join(r.split()) for r in received) == sorted(expected * 2)  # one each per member
