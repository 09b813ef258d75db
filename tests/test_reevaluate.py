"""Near-real-time re-evaluation: IAM change events -> queue -> one StartConfigRulesEvaluation
per batch.

moto has no StartConfigRulesEvaluation: the Config client is a botocore Stubber that checks the
exact request and answers as Config does ({} on success; LimitExceededException or
ResourceInUseException while the rule's last evaluation runs). The coalescing itself (60 s
batching window, one concurrent execution) and the dead-letter path are AWS's, configured in
rule.yaml and checked there.
"""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from console_mfa.reevaluate import ReevaluationDeferred, handler
from console_mfa.trail import VERDICT_EVENTS

from tests.stacks import STACKS

RULE = STACKS["rule.yaml"]["Resources"]


def sqs_batch(count: int) -> dict[str, Any]:
    """An SQS event as Lambda delivers it, each body an EventBridge "AWS API Call via CloudTrail" event."""
    return {
        "Records": [
            {
                "messageId": f"m{i}",
                "eventSource": "aws:sqs",
                "body": json.dumps(
                    {
                        "source": "aws.iam",
                        "detail-type": "AWS API Call via CloudTrail",
                        "detail": {
                            "eventSource": "iam.amazonaws.com",
                            "eventName": "CreateLoginProfile",
                            "requestParameters": {"userName": f"new-hire-{i}"},
                        },
                    }
                ),
            }
            for i in range(count)
        ]
    }


@pytest.fixture
def config(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("CONFIG_RULE_NAME", "IAM_USER_CONSOLE_MFA")
    return boto3.client("config", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


@pytest.mark.parametrize("events", [1, 50])
def test_a_batch_of_changes_starts_exactly_one_evaluation(config: Any, events: int) -> None:
    with Stubber(config) as stub:
        stub.add_response("start_config_rules_evaluation", {}, {"ConfigRuleNames": ["IAM_USER_CONSOLE_MFA"]})
        assert handler(sqs_batch(events), None, config) == {
            "ConfigRuleName": "IAM_USER_CONSOLE_MFA",
            "events": events,
        }
        stub.assert_no_pending_responses()


@pytest.mark.parametrize("code", ["LimitExceededException", "ResourceInUseException"])
def test_a_busy_rule_returns_the_batch_to_the_queue(config: Any, code: str) -> None:
    with Stubber(config) as stub, pytest.raises(ReevaluationDeferred, match=f"{code}; 3 event"):
        stub.add_client_error("start_config_rules_evaluation", code, http_status_code=400)
        handler(sqs_batch(3), None, config)


def test_any_other_error_fails_the_batch_too(config: Any) -> None:
    with Stubber(config) as stub, pytest.raises(Exception, match="AccessDenied"):
        stub.add_client_error("start_config_rules_evaluation", "AccessDeniedException", http_status_code=400)
        handler(sqs_batch(1), None, config)


def test_the_stack_wires_the_events_the_delta_reads_and_coalesces_bursts() -> None:
    pattern = RULE["IamChangeEvents"]["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["AWS API Call via CloudTrail"]
    assert set(pattern["detail"]["eventName"]) == set(VERDICT_EVENTS)  # one list of events, two uses
    mapping = RULE["ReevaluateBatches"]["Properties"]
    assert mapping["MaximumBatchingWindowInSeconds"] == 60 and mapping["BatchSize"] >= 50
    function = RULE["ReevaluateFunction"]["Properties"]
    assert function["ReservedConcurrentExecutions"] == 1  # one sweep start at a time
    assert function["Handler"] == "console_mfa.reevaluate.handler"
    assert RULE["ReevaluationQueue"]["Properties"]["VisibilityTimeout"] >= 6 * function["Timeout"]
    redrive = RULE["ReevaluationQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["ReevaluationDeadLetters", "Arn"]}
    alarm = RULE["ReevaluationDeadLettersAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["ReevaluationDeadLetters", "QueueName"]}
    (send,) = RULE["ReevaluationQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert send["Principal"] == {"Service": "events.amazonaws.com"}
    assert send["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": ["IamChangeEvents", "Arn"]}
    assert send["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    for name in ("IamChangeEvents", "ReevaluationQueue", "ReevaluateFunction", "ReevaluateBatches"):
        assert RULE[name]["Condition"] == "WithReevaluation"


def test_the_reevaluate_role_may_only_start_evaluations_and_read_its_queue() -> None:
    from console_mfa.permissions import REEVALUATE_ACTIONS

    statements = RULE["ReevaluateRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    granted = {a for s in statements for a in s["Action"] if not a.startswith(("logs:", "sqs:"))}
    assert granted == set(REEVALUATE_ACTIONS)
    (queue,) = [s for s in statements if s["Action"][0].startswith("sqs:")]
    assert queue["Resource"] == {"Fn::GetAtt": ["ReevaluationQueue", "Arn"]}
