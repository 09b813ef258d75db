"""A stand-in for the AWS Config API, for the demo and the tests (no AWS account needed).

moto cannot accept PutEvaluations without TestMode, nor serve GetComplianceDetailsByConfigRule
or GetResourceConfigHistory for IAM users. LocalConfig answers those operations through a
``before-call`` hook on a boto3 session, after botocore has validated and serialized the
request, records every request body, and keeps one evaluation per resource as the Config
dashboard would. Which one is undocumented (PutEvaluations' OrderingTimestamp is "the time of
the event that triggered the evaluation"): ``ordering`` picks the last one written
("last-write") or the one with the newest OrderingTimestamp ("newest"); the rule must be
right under both.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders

FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:IAM_USER_CONSOLE_MFA-evaluator"
Responder = Callable[[dict[str, Any]], dict[str, Any]]


class LocalConfig:
    ORDERINGS = ("last-write", "newest")

    def __init__(
        self, session: boto3.Session, rule_name: str = "IAM_USER_CONSOLE_MFA", ordering: str = "last-write"
    ) -> None:
        if ordering not in self.ORDERINGS:
            raise ValueError(f"ordering must be one of {self.ORDERINGS}, got {ordering!r}")
        self.rule_name = rule_name
        self.ordering = ordering
        self.requests: dict[str, list[dict[str, Any]]] = {}
        self.results: dict[str, dict[str, Any]] = {}  # ComplianceResourceId -> latest evaluation
        self.recorded_at: dict[str, datetime] = {}  # ComplianceResourceId -> when it was written
        self.rules: dict[str, dict[str, Any]] = {}  # deploy_rule's, answered by DescribeConfigRules
        self.responses: dict[str, Responder] = {
            "PutEvaluations": self._put_evaluations,
            "GetComplianceDetailsByConfigRule": self._compliance_details,
        }
        session.events.register_first("before-call.config-service", self._answer)  # type: ignore[arg-type]

    def _answer(
        self, model: Any, params: dict[str, Any], **_: Any
    ) -> tuple[AWSResponse, dict[str, Any]] | None:
        request = json.loads(params["body"] or b"{}")
        if (
            model.name == "DescribeConfigRules"
            and self.rules
            and set(request.get("ConfigRuleNames", [])) <= set(self.rules)
        ):
            return AWSResponse(params["url"], 200, HTTPHeaders(), None), self._describe_rules(request)
        respond = self.responses.get(model.name)
        if respond is None:
            return None
        self.requests.setdefault(model.name, []).append(request)
        return AWSResponse(params["url"], 200, HTTPHeaders(), None), respond(request)

    def _put_evaluations(self, request: dict[str, Any]) -> dict[str, Any]:
        if not request.get("TestMode"):
            for evaluation in request["Evaluations"]:
                resource = evaluation["ComplianceResourceId"]
                held = self.results.get(resource)
                # botocore sends OrderingTimestamp as epoch seconds (the JSON protocol)
                if (
                    self.ordering == "newest"
                    and held
                    and held["OrderingTimestamp"] > evaluation["OrderingTimestamp"]
                ):
                    continue
                self.results[resource] = evaluation
                self.recorded_at[resource] = datetime.now(UTC)
        return {"FailedEvaluations": []}

    def _compliance_details(self, request: dict[str, Any]) -> dict[str, Any]:
        wanted = set(request.get("ComplianceTypes") or ["COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"])
        matching = [e for e in self.results.values() if e["ComplianceType"] in wanted]
        start = int(request.get("NextToken") or 0)
        limit = request.get("Limit") or 100
        page = matching[start : start + limit]
        now = datetime.now(UTC)  # botocore parses the API's timestamps into datetimes
        response: dict[str, Any] = {
            "EvaluationResults": [
                {
                    "EvaluationResultIdentifier": {
                        "EvaluationResultQualifier": {
                            "ConfigRuleName": self.rule_name,
                            "ResourceType": e["ComplianceResourceType"],
                            "ResourceId": e["ComplianceResourceId"],
                        },
                        "OrderingTimestamp": now,
                    },
                    "ComplianceType": e["ComplianceType"],
                    "ResultRecordedTime": self.recorded_at[e["ComplianceResourceId"]],
                    "ConfigRuleInvokedTime": now,
                    **({"Annotation": e["Annotation"]} if "Annotation" in e else {}),
                }
                for e in page
            ]
        }
        if start + limit < len(matching):
            response["NextToken"] = str(start + limit)
        return response

    def deploy_rule(self, input_parameters: dict[str, str]) -> None:
        """The rule as Config holds it after a deploy, or after PutConfigRule changed it: what
        DescribeConfigRules answers for ``rule_name`` (moto needs a real Lambda function)."""
        rule_id = "config-rule-ab12cd"
        self.rules[self.rule_name] = {
            "ConfigRuleName": self.rule_name,
            "ConfigRuleArn": f"arn:aws:config:us-east-1:123456789012:config-rule/{rule_id}",
            "ConfigRuleId": rule_id,
            "Source": {"Owner": "CUSTOM_LAMBDA", "SourceIdentifier": FUNCTION_ARN},
            "InputParameters": json.dumps(input_parameters),
            "ConfigRuleState": "ACTIVE",
        }

    def _describe_rules(self, request: dict[str, Any]) -> dict[str, Any]:
        names = request.get("ConfigRuleNames") or list(self.rules)
        return {"ConfigRules": [self.rules[n] for n in names]}

    def age(self, days: float) -> None:
        """Move every recorded result into the past (Config's ResultRecordedTime)."""
        self.recorded_at = {k: v - timedelta(days=days) for k, v in self.recorded_at.items()}

    @property
    def evaluations(self) -> list[dict[str, Any]]:
        """Every evaluation sent with PutEvaluations, in order."""
        return [e for r in self.requests.get("PutEvaluations", []) for e in r["Evaluations"]]

    def by_resource(self) -> dict[str, dict[str, Any]]:
        return {e["ComplianceResourceId"]: e for e in self.evaluations}
