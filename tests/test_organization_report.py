"""report --organization: the aggregator's results for several accounts, paged, and the
StackSet's instances. moto lacks the aggregate calls: a botocore Stubber answers them with the
shapes the Config API reference documents (AggregateComplianceByConfigRules,
AggregateEvaluationResults, NextToken), and ListStackInstances likewise."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from console_mfa.aggregated import results

from iam_console_mfa import cli
from iam_console_mfa.organization_report import summarize

AGGREGATOR, RULE = "IAM_USER_CONSOLE_MFA-organization", "IAM_USER_CONSOLE_MFA"
WHEN = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)


def result(account: str, user_id: str, compliance: str, annotation: str = "") -> dict[str, Any]:
    return {
        "EvaluationResultIdentifier": {
            "EvaluationResultQualifier": {
                "ConfigRuleName": RULE,
                "ResourceType": "AWS::IAM::User",
                "ResourceId": user_id,
            },
            "OrderingTimestamp": WHEN,
        },
        "ComplianceType": compliance,
        "ResultRecordedTime": WHEN,
        "ConfigRuleInvokedTime": WHEN,
        **({"Annotation": annotation} if annotation else {}),  # 1-256 characters when present
        "AccountId": account,
        "AwsRegion": "us-east-1",
    }


def stubbed(holds_not_applicable: bool = True) -> tuple[Any, Any]:
    """``holds_not_applicable``: AWS documents aggregate results for COMPLIANT and NON_COMPLIANT
    only; an aggregator that holds NOT_APPLICABLE ones too lists account 222222222222 (its only
    user exempt), one that does not omits it from both calls."""
    config = boto3.client("config", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    cfn = boto3.client(
        "cloudformation", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x"
    )
    stub = Stubber(config)
    compliance = lambda account: {  # noqa: E731
        "ConfigRuleName": RULE,
        "Compliance": {"ComplianceType": "NON_COMPLIANT"},
        "AccountId": account,
        "AwsRegion": "us-east-1",
    }
    rule_filter = {"ConfigurationAggregatorName": AGGREGATOR, "Filters": {"ConfigRuleName": RULE}}
    stub.add_response(
        "describe_aggregate_compliance_by_config_rules",
        {"AggregateComplianceByConfigRules": [compliance("111111111111")], "NextToken": "page-2"},
        rule_filter,
    )
    stub.add_response(
        "describe_aggregate_compliance_by_config_rules",
        {"AggregateComplianceByConfigRules": [compliance("222222222222")] if holds_not_applicable else []},
        {**rule_filter, "NextToken": "page-2"},
    )
    details = {
        "ConfigurationAggregatorName": AGGREGATOR,
        "ConfigRuleName": RULE,
        "AwsRegion": "us-east-1",
        "Limit": 100,
    }
    stub.add_response(
        "get_aggregate_compliance_details_by_config_rule",
        {
            "AggregateEvaluationResults": [result("111111111111", "AIDABOB", "NON_COMPLIANT", "bob: no MFA")],
            "NextToken": "more",
        },
        {**details, "AccountId": "111111111111"},
    )
    stub.add_response(
        "get_aggregate_compliance_details_by_config_rule",
        {"AggregateEvaluationResults": [result("111111111111", "AIDAALICE", "COMPLIANT")]},
        {**details, "AccountId": "111111111111", "NextToken": "more"},
    )
    if holds_not_applicable:
        stub.add_response(
            "get_aggregate_compliance_details_by_config_rule",
            {"AggregateEvaluationResults": [result("222222222222", "AIDASVC", "NOT_APPLICABLE")]},
            {**details, "AccountId": "222222222222"},
        )
    cfn_stub = Stubber(cfn)
    instance = lambda account, status: {  # noqa: E731
        "StackSetId": "iam-console-mfa-accounts:1",
        "Region": "us-east-1",
        "Account": account,
        "Status": "CURRENT" if status == "SUCCEEDED" else "OUTDATED",
        "StackInstanceStatus": {"DetailedStatus": status},
    }
    cfn_stub.add_response(
        "list_stack_instances",
        {
            "Summaries": [
                instance("111111111111", "SUCCEEDED"),
                instance("222222222222", "SUCCEEDED"),
                instance("333333333333", "FAILED"),
            ]
        },
        {"StackSetName": "iam-console-mfa-accounts", "CallAs": "SELF"},
    )
    stub.activate()
    cfn_stub.activate()
    return config, cfn


def test_results_follow_every_page_and_every_account() -> None:
    from iam_console_mfa.organization_report import ACTIONS, stack_instances

    config, cfn = stubbed()
    called: set[str] = set()
    for client in (config, cfn):
        client.meta.events.register(
            "provide-client-params",
            lambda model, **_: called.add(f"{model.service_model.signing_name}:{model.name}"),
        )
    found = results(config, AGGREGATOR, RULE)
    stack_instances(cfn, "iam-console-mfa-accounts", "SELF")
    assert called == set(ACTIONS)  # what policy --doctor grants for it
    assert [(r.account, r.user_id, r.compliance) for r in found] == [
        ("111111111111", "AIDABOB", "NON_COMPLIANT"),
        ("111111111111", "AIDAALICE", "COMPLIANT"),
        ("222222222222", "AIDASVC", "NOT_APPLICABLE"),
    ]
    rows = summarize(found, {"111111111111": "SUCCEEDED", "333333333333": "FAILED"})
    assert [(r.account, r.non_compliant, r.compliant, r.not_applicable, r.stack_instance) for r in rows] == [
        ("111111111111", 1, 1, 0, "SUCCEEDED"),
        ("222222222222", 0, 0, 1, "none"),  # results, but no stack instance (left the OU?)
        ("333333333333", 0, 0, 0, "FAILED"),  # a failed instance has no results: listed anyway
    ]


@pytest.mark.parametrize("holds_not_applicable", [True, False])
@pytest.mark.parametrize("form", ["table", "json", "csv"])
def test_report_organization_prints_each_account_and_exits_1_on_a_finding(
    monkeypatch: pytest.MonkeyPatch, capsys: Any, form: str, holds_not_applicable: bool
) -> None:
    """Whether or not the aggregator holds NOT_APPLICABLE results, every account is listed and
    the exit code rests on NON_COMPLIANT alone."""
    config, cfn = stubbed(holds_not_applicable)
    clients = {"config": config, "cloudformation": cfn}
    fake = type(
        "Session", (), {"client": staticmethod(lambda name, **_: clients[name]), "region_name": "us-east-1"}
    )
    monkeypatch.setattr(cli, "session", lambda args, retries=None: fake())
    assert cli.main(["report", "--organization", "--format", form]) == 1
    out = capsys.readouterr().out
    if form == "json":
        document = json.loads(out)
        assert (document["kind"], document["rule_name"]) == ("organization", "IAM_USER_CONSOLE_MFA")
        assert document["schema_version"] == 2 and document["generated_at"].endswith("+00:00")
        assert [a["account"] for a in document["accounts"]] == ["111111111111", "222222222222", "333333333333"]
        assert [r["user_id"] for r in document["non_compliant"]] == ["AIDABOB"]
        assert document["non_compliant"][0]["recorded"] == "2026-11-30T06:00:00+00:00"  # ISO 8601
        member = next(a for a in document["accounts"] if a["account"] == "222222222222")
        assert (member["not_applicable"], member["stack_instance"]) == (int(holds_not_applicable), "SUCCEEDED")
        assert (member["last_evaluated"] is None) is not holds_not_applicable
    elif form == "csv":
        rows = list(csv.DictReader(io.StringIO(out)))
        assert [(r["account"], r["user_id"], r["compliance"]) for r in rows[:1]] == [
            ("111111111111", "AIDABOB", "NON_COMPLIANT")
        ]
        assert {r["recorded"] for r in rows} == {"2026-11-30T06:00:00+00:00"}
        assert len(rows) == 2 + holds_not_applicable
    else:
        assert "111111111111 AIDABOB: bob: no MFA" in out and "FAILED" in out
        member = next(line for line in out.splitlines() if "222222222222" in line)
        assert ("no result" in member) is not holds_not_applicable and "SUCCEEDED" in member
        assert "AWS documents aggregate results for COMPLIANT and NON_COMPLIANT only" in out
