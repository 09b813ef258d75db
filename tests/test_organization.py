"""Organization mode: every account's Config can invoke that account's own rule Lambda, and
no other account's Config can.

moto stores Lambda resource policies but evaluates none, so the policy Lambda keeps is read
back from moto (two accounts) and judged here by IAM's documented rules for a service
principal's request: Principal, Action, and each condition key as the request context holds
it. Config's invocation carries aws:SourceAccount and aws:SourceArn; it carries no
aws:PrincipalOrgID (only account principals of an organization have one), so a condition on
a key absent from the context does not match.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from iam_console_mfa.deploy import Deployer, plan
from iam_console_mfa.settings import load
from tests.stacks import STACKS
from tests.support import account_session, allows, new_function

CONFIG = "config.amazonaws.com"
ACCOUNTS = ("111111111111", "222222222222")


def rule_function_policy(session: boto3.Session, account: str) -> dict[str, Any]:
    """The rule Lambda's resource policy as rule.yaml's ConfigPermission makes it, in one account."""
    lam = new_function(session, "IAM_USER_CONSOLE_MFA-evaluator")
    declared = STACKS["rule.yaml"]["Resources"]["ConfigPermission"]["Properties"]
    assert declared["SourceAccount"] == {"Ref": "AWS::AccountId"}
    lam.add_permission(
        FunctionName="IAM_USER_CONSOLE_MFA-evaluator",
        StatementId="config",
        Action=declared["Action"],
        Principal=declared["Principal"],
        SourceAccount=account,  # !Ref AWS::AccountId, in the account the StackSet deploys to
    )
    return json.loads(lam.get_policy(FunctionName="IAM_USER_CONSOLE_MFA-evaluator")["Policy"])


def test_each_accounts_config_may_invoke_only_its_own_rule_lambda(account: None) -> None:
    sts = boto3.client("sts", region_name="us-east-1")
    policies = {a: rule_function_policy(account_session(sts, a), a) for a in ACCOUNTS}
    for owner, policy in policies.items():
        for caller in ACCOUNTS:
            context = {
                "aws:SourceAccount": caller,
                "aws:SourceArn": f"arn:aws:config:us-east-1:{caller}:config-rule/x",
            }
            assert allows(policy, CONFIG, "lambda:InvokeFunction", context) is (caller == owner), (
                owner,
                caller,
            )


def test_a_principal_org_id_condition_would_admit_no_config_invocation(account: None) -> None:
    """Why the organization Config rule with a PrincipalOrgID permission was replaced."""
    lam = new_function(boto3.Session(region_name="us-east-1"), "f")
    lam.add_permission(
        FunctionName="f",
        StatementId="org",
        Action="lambda:InvokeFunction",
        Principal=CONFIG,
        PrincipalOrgID="o-abcdefghij",
    )
    policy = json.loads(lam.get_policy(FunctionName="f")["Policy"])
    assert json.dumps(policy).count("PrincipalOrgID") == 1  # moto stored the condition as Lambda does
    member = {"aws:SourceAccount": ACCOUNTS[0]}  # a service principal's context has no aws:PrincipalOrgID
    assert not allows(policy, CONFIG, "lambda:InvokeFunction", member)


def test_no_stack_puts_principal_org_id_on_a_service_principal() -> None:
    for name, template in STACKS.items():
        for logical_id, resource in template["Resources"].items():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::Lambda::Permission" and props["Principal"].endswith(".amazonaws.com"):
                assert "PrincipalOrgID" not in props, (name, logical_id)
                assert props["SourceAccount"] == {"Ref": "AWS::AccountId"}, (name, logical_id)


@pytest.fixture
def organization_settings() -> dict[str, Any]:
    settings = load()
    settings["organization"] = {"enabled": True, "organizationalUnitIds": ["r-ab12"], "callAs": "SELF"}
    return settings


def test_organization_plan_deploys_the_stackset_instead_of_the_account_stack(
    organization_settings: dict[str, Any],
) -> None:
    steps = plan(organization_settings, "bucket", "IAM_USER_CONSOLE_MFA-abc.zip")
    assert [s.template for s in steps] == ["alerts.yaml", "organization.yaml"]
    parameters = steps[-1].parameters
    assert set(parameters) <= set(STACKS["organization.yaml"]["Parameters"])
    required = {k for k, v in STACKS["organization.yaml"]["Parameters"].items() if "Default" not in v}
    assert required <= set(parameters)
    assert parameters["OrganizationalUnitIds"] == "r-ab12"


@pytest.mark.parametrize("shape", ["object", "list"])
def test_a_bucket_policy_whose_statement_is_one_object_is_kept(shape: str) -> None:
    """IAM's policy grammar allows "Statement": {...}: it is kept, ours added beside it."""
    from iam_console_mfa.deploy import ORGANIZATION_READ_SID, shared_bucket_policy

    theirs = {"Sid": "TheirAuditors", "Effect": "Allow", "Principal": {"AWS": "1"}, "Action": "s3:ListBucket"}
    ours = {"Sid": ORGANIZATION_READ_SID, "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}
    current = {"Version": "2012-10-17", "Statement": theirs if shape == "object" else [theirs]}
    assert shared_bucket_policy(current, ours)["Statement"] == [theirs, ours]


def test_a_foreign_statement_with_our_sid_is_refused_not_replaced() -> None:
    from iam_console_mfa.deploy import ORGANIZATION_READ_SID, DeployError, shared_bucket_policy

    foreign = {"Sid": ORGANIZATION_READ_SID, "Effect": "Deny", "Principal": "*", "Action": "s3:DeleteObject"}
    ours = {"Sid": ORGANIZATION_READ_SID, "Effect": "Allow", "Principal": "*", "Action": "s3:GetObject"}
    with pytest.raises(DeployError, match="deploy did not write: rename or remove it"):
        shared_bucket_policy({"Statement": [foreign]}, ours)


def test_the_code_bucket_shares_two_objects_and_keeps_the_owners_statements() -> None:
    """Member accounts' CloudFormation fetches the Lambda code and the StackSet's template: S3
    checks aws:PrincipalOrgID. A user-supplied bucket's own statements survive (S3 answers
    GetBucketPolicy as documented: {"Policy": "<JSON>"}, or NoSuchBucketPolicy)."""
    s3 = boto3.client("s3", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    deployer = Deployer.__new__(Deployer)
    deployer.aws = type("Aws", (), {"client": staticmethod(lambda service: s3)})()
    deployer.say = lambda line: None
    sent: list[dict[str, Any]] = []
    s3.meta.events.register(
        "before-parameter-build.s3.PutBucketPolicy", lambda params, **_: sent.append(params)
    )
    theirs = {
        "Sid": "TheirAuditors",
        "Effect": "Allow",
        "Principal": {"AWS": "arn:aws-us-gov:iam::1:root"},
        "Action": "s3:ListBucket",
        "Resource": "arn:aws-us-gov:s3:::b",
    }
    ours_before = {  # an earlier version's statement, its Sid unprefixed: replaced
        "Sid": "OrganizationReadsRulePackage",
        "Effect": "Allow",
        "Principal": "*",
        "Action": "s3:GetObject",
        "Resource": "arn:aws-us-gov:s3:::b/*",
    }
    objects = ["arn:aws-us-gov:s3:::b/rule.zip", "arn:aws-us-gov:s3:::b/templates/rule.yaml"]
    with Stubber(s3) as stub:
        existing = {"Version": "2012-10-17", "Statement": [theirs, ours_before]}
        stub.add_response("get_bucket_policy", {"Policy": json.dumps(existing)})
        stub.add_response("put_bucket_policy", {})
        deployer._share_with_organization("b", "123456789012", objects, "o-abcdefghij")
        stub.add_client_error("get_bucket_policy", "NoSuchBucketPolicy", http_status_code=404)
        stub.add_response("put_bucket_policy", {})
        deployer._share_with_organization("b", "123456789012", objects, "o-abcdefghij")
        stub.assert_no_pending_responses()
    kept, fresh = sent
    assert kept["ExpectedBucketOwner"] == "123456789012"
    statements = json.loads(kept["Policy"])["Statement"]
    assert statements[0] == theirs and len(statements) == 2  # theirs kept, our old one replaced
    for params in (kept, fresh):
        statement = json.loads(params["Policy"])["Statement"][-1]
        assert statement["Action"] == "s3:GetObject" and statement["Resource"] == objects
        assert statement["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-abcdefghij"}}


def test_every_rule_stack_parameter_reaches_the_member_accounts() -> None:
    """organization.yaml declares every rule.yaml parameter as rule.yaml does and passes it to
    the StackSet; the one exception: AlarmTopicArn (members alert through the central bus)."""
    from tests.stacks import STACKS

    rule = STACKS["rule.yaml"]["Parameters"]
    organization = STACKS["organization.yaml"]
    (stack_set,) = [
        r for r in organization["Resources"].values() if r["Type"] == "AWS::CloudFormation::StackSet"
    ]
    passed = {p["ParameterKey"]: p["ParameterValue"] for p in stack_set["Properties"]["Parameters"]}
    assert set(passed) == set(rule) - {"AlarmTopicArn"}
    for name, value in passed.items():
        assert value == {"Ref": name}, name
        if name not in ("CentralEventBusArn",):  # "" there: the organization's own bus is given
            declared = {k: v for k, v in organization["Parameters"][name].items() if k != "Description"}
            assert declared == {k: v for k, v in rule[name].items() if k != "Description"}, name
