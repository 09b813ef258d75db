"""console_mfa.aws: retries under throttling and PutEvaluations' FailedEvaluations, with
botocore's own retry path running against a local Config endpoint."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

import boto3
import pytest
from console_mfa.aws import FailedEvaluations, configured_session
from console_mfa.policy import DataSource, RuleParameters
from IAM_USER_CONSOLE_MFA import lambda_handler

from iam_console_mfa.demo.account import Mfa, create_user
from iam_console_mfa.event_builders import scheduled_event
from tests.support import REAL_TOKEN, JsonEndpoint, Throttler, serving, verdicts_by_name


@pytest.mark.parametrize("source", ["live", "credential-report"])
def test_throttling_on_30_percent_of_calls_gives_the_same_verdicts(iam: Any, source: str) -> None:
    users = [create_user(iam, f"u{i}", mfa=Mfa.VIRTUAL if i % 3 else Mfa.NONE) for i in range(30)]
    calm = verdicts_by_name(RuleParameters(data_source=DataSource(source)))
    throttler = Throttler(configured_session())
    throttled = verdicts_by_name(RuleParameters(data_source=DataSource(source)))
    assert throttled == calm and len(calm) == len(users)
    assert throttler.throttled >= 5 and throttler.throttled >= 0.29 * throttler.attempts


class ConfigEndpoint(JsonEndpoint):
    """Config's API on loopback: PutEvaluations answered from a script, retries real."""

    script: ClassVar[list[dict[str, Any]]] = []
    received: ClassVar[list[dict[str, Any]]] = []

    def answer(self, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        self.received.append({"operation": operation, **body})
        if operation == "PutEvaluations":
            return 200, self.script.pop(0) if self.script else {"FailedEvaluations": []}
        return 200, {"EvaluationResults": []}  # GetComplianceDetailsByConfigRule: nothing evaluated before


@pytest.fixture
def config_endpoint(account: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[ConfigEndpoint]]:
    ConfigEndpoint.script, ConfigEndpoint.received = [], []
    with serving(ConfigEndpoint, "AWS_ENDPOINT_URL_CONFIG_SERVICE", monkeypatch):
        yield ConfigEndpoint


def failed(evaluation_id: str) -> dict[str, Any]:
    return {
        "ComplianceResourceId": evaluation_id,
        "ComplianceResourceType": "AWS::IAM::User",
        "ComplianceType": "NON_COMPLIANT",
        "OrderingTimestamp": 1763900000.0,
    }


def puts(endpoint: type[ConfigEndpoint]) -> list[dict[str, Any]]:
    return [r for r in endpoint.received if r["operation"] == "PutEvaluations"]


def test_failed_evaluations_are_retried_once(config_endpoint: type[ConfigEndpoint]) -> None:
    iam = boto3.client("iam")
    for i in range(150):
        create_user(iam, f"u{i:03d}", password=i % 2 == 0)
    config_endpoint.script = [{"FailedEvaluations": [failed("x")]}]  # first batch: one refused
    lambda_handler(scheduled_event(token=REAL_TOKEN), None)
    batches = [len(r["Evaluations"]) for r in puts(config_endpoint)]
    assert batches == [100, 100, 50]  # the refused batch sent again, then the rest
    assert puts(config_endpoint)[0]["Evaluations"] == puts(config_endpoint)[1]["Evaluations"]


def test_failed_evaluations_twice_fail_the_invocation(config_endpoint: type[ConfigEndpoint]) -> None:
    create_user(boto3.client("iam"), "bob")
    config_endpoint.script = [{"FailedEvaluations": [failed("AIDAX")]}] * 2
    with pytest.raises(FailedEvaluations, match="refused 1 evaluation"):
        lambda_handler(scheduled_event(token=REAL_TOKEN), None)
    assert len(puts(config_endpoint)) == 2


def test_an_html_error_page_becomes_one_line() -> None:
    """A local moto server answers an unimplemented call with an HTML page and HTTP 500."""
    from console_mfa.errors import AwsCallFailed

    page = "<!doctype html>\n<html lang=en>\n<title>500 Internal Server Error</title>\n<h1>Server Error</h1>"
    assert (
        str(AwsCallFailed("LookupEvents", "500", page)) == "LookupEvents failed: 500: 500 Internal Server Error"
    )
    assert str(AwsCallFailed("GetUser", "NoSuchEntity", "line one\nline two", "bob")) == (
        "GetUser for user bob failed: NoSuchEntity: line one"
    )
