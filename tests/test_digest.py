"""The scheduled digest: the builder on Config results, the function on moto, the CLI.

moto lacks GetComplianceDetailsByConfigRule and the aggregate calls: they are answered at the
botocore level with pages shaped as the AWS Config API reference documents them
(EvaluationResults / AggregateEvaluationResults with EvaluationResultIdentifier,
ComplianceType, ResultRecordedTime, Annotation; NextToken). SNS, SQS and Secrets Manager are
moto's; the Slack webhook's HTTPS call is captured in place of urlopen.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from console_mfa import digest_function
from console_mfa.aws import configured_session
from console_mfa.decision import decide, read_non_compliant
from console_mfa.digest import (
    LISTED,
    SNS_MESSAGE_BYTES,
    StoredResult,
    as_chat,
    as_json,
    as_text,
    build,
    sns_message,
)
from console_mfa.model import Compliance, LastUse, UserFacts, UserId, UserName, UserRef
from console_mfa.policy import parse_policy

from iam_console_mfa import cli
from tests.support import answer_operation, cli_session

NOW = datetime(2026, 12, 7, 8, 0, tzinfo=UTC)
ACCOUNT = "123456789012"


def annotation(name: str, last_used: datetime | LastUse, password_days: int = 120) -> str:
    """What decide writes for a user without MFA (the digest reads nothing else)."""
    facts = UserFacts(
        UserRef(UserId(f"AIDA{name.upper()}"), UserName(name)),
        password_created=NOW - timedelta(days=password_days),
        password_last_used=last_used,
        tags={},
    )
    verdict = decide(facts, parse_policy({"ExemptTag": "BreakGlass"}), NOW)
    assert verdict.compliance is Compliance.NON_COMPLIANT
    return verdict.annotation


def result(
    name: str, compliance: Compliance, text: str, days_ago: float, account: str = ACCOUNT
) -> StoredResult:
    return StoredResult(account, f"AIDA{name.upper()}", compliance, text, NOW - timedelta(days=days_ago))


RESULTS = [
    result("bob", Compliance.NON_COMPLIANT, annotation("bob", NOW - timedelta(days=2)), 90),
    result("dave", Compliance.NON_COMPLIANT, annotation("dave", LastUse.NEVER), 3),
    result("erin", Compliance.NON_COMPLIANT, annotation("erin", NOW - timedelta(days=200)), 40),
    result("alice", Compliance.COMPLIANT, "alice: console password with 1 MFA device (1 virtual)", 9),
    result(
        "svc-ci",
        Compliance.NOT_APPLICABLE,
        "svc-ci: console password without MFA, exempt by ExemptUserNames 'svc-*'",
        9,
    ),
    result("carol", Compliance.NOT_APPLICABLE, "carol: no console password", 9),
]


def digest_of(results: list[StoredResult]) -> Any:
    return build(
        results, rule="IAM_USER_CONSOLE_MFA", region="us-east-1", now=NOW, period_days=7, remediation="manual"
    )


def test_the_annotation_decide_writes_is_read_back_whole() -> None:
    for last_used, expected in (
        (NOW - timedelta(days=3), (NOW - timedelta(days=3)).date()),
        (LastUse.NEVER, LastUse.NEVER),
        (LastUse.UNKNOWN, LastUse.UNKNOWN),
    ):
        noted = read_non_compliant(annotation("bob.smith+ops@corp", last_used))
        assert noted is not None
        assert noted == ("bob.smith+ops@corp", (NOW - timedelta(days=120)).date(), expected)
    assert read_non_compliant("bob: console password with 1 MFA device (1 virtual)") is None


def test_counts_risk_order_and_for_how_long() -> None:
    built = digest_of(RESULTS)
    assert built.by_compliance == {"NON_COMPLIANT": 3, "COMPLIANT": 1, "NOT_APPLICABLE": 2}
    assert built.by_risk == {"CRITICAL": 1, "HIGH": 2} and built.exempt == 1 and built.new == 1
    # CRITICAL first (used in the last 30 days), then the longest NON_COMPLIANT
    assert [f.user_name for f in built.flagged] == ["bob", "erin", "dave"]
    text = as_text(built)
    assert text.splitlines()[0] == "IAM_USER_CONSOLE_MFA: 3 IAM users without MFA (account 123456789012)"
    assert "Users: 1 COMPLIANT, 3 NON_COMPLIANT, 2 NOT_APPLICABLE (1 exempt)." in text
    assert "Without MFA: 1 CRITICAL, 2 HIGH; 1 new in the last 7 days." in text
    assert "- CRITICAL bob: password set 2026-08-09, last used 2026-12-05; NON_COMPLIANT for 90 days" in text
    assert "- HIGH dave: password set 2026-08-09, never used; NON_COMPLIANT for 3 days" in text
    assert text.rstrip().endswith("configRuleName=IAM_USER_CONSOLE_MFA")
    assert as_json(built)["non_compliant"][0] == {
        "account": ACCOUNT,
        "user_id": "AIDABOB",
        "user_name": "bob",
        "risk": "CRITICAL",
        "password_set": "2026-08-09",
        "last_used": "2026-12-05",
        "non_compliant_since": (NOW - timedelta(days=90)).isoformat(),
    }


def test_a_long_list_ends_with_and_n_more_within_the_limits() -> None:
    many = [
        result(f"user{i:04}", Compliance.NON_COMPLIANT, annotation(f"user{i:04}", LastUse.NEVER), i % 30)
        for i in range(5000)
    ]
    built = digest_of(many)
    text = as_text(built)
    assert sum(line.startswith("- HIGH user") for line in text.splitlines()) == LISTED["text"]
    assert f"- and {5000 - LISTED['text']} more (iam-console-mfa report)" in text
    chat = as_chat(built)["content"]["description"]
    assert f"• and {5000 - LISTED['chat']} more" in chat and chat.count("\n• HIGH") == LISTED["chat"]
    assert len(sns_message(built).encode()) < SNS_MESSAGE_BYTES


def test_a_clean_account_says_so() -> None:
    built = digest_of([r for r in RESULTS if r.compliance is not Compliance.NON_COMPLIANT])
    assert built.clean
    text = as_text(built)
    assert text.startswith("IAM_USER_CONSOLE_MFA: every console user has MFA (account 123456789012)")
    assert "Nobody to remind." in text


# Amazon Q Developer in chat applications, "Custom notifications": the documented event schema.
CHAT_SCHEMA = {
    "type": "object",
    "required": ["version", "source", "content"],
    "properties": {
        "version": {"const": "1.0"},
        "source": {"const": "custom"},
        "id": {"type": "string"},
        "content": {
            "type": "object",
            "required": ["description"],
            "additionalProperties": False,
            "properties": {
                "textType": {"const": "client-markdown"},
                "title": {"type": "string"},
                "description": {"type": "string"},
                "nextSteps": {"type": "array", "items": {"type": "string"}},
                "keywords": {"type": "array", "items": {"type": "string"}},
            },
        },
        "metadata": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "threadId": {"type": "string"},
                "summary": {"type": "string"},
                "eventType": {"type": "string"},
                "relatedResources": {"type": "array", "items": {"type": "string"}},
                "additionalContext": {"type": "object", "additionalProperties": {"type": "string"}},
            },
        },
    },
    "additionalProperties": False,
}


def test_the_chat_message_follows_the_documented_custom_notification_schema() -> None:
    for results in (RESULTS, []):
        jsonschema.validate(as_chat(digest_of(results)), CHAT_SCHEMA)


def compliance_details(results: list[StoredResult]) -> Any:
    """GetComplianceDetailsByConfigRule's answer, one page as documented."""
    return lambda: {
        "EvaluationResults": [
            {
                "EvaluationResultIdentifier": {
                    "EvaluationResultQualifier": {
                        "ConfigRuleName": "IAM_USER_CONSOLE_MFA",
                        "ResourceType": "AWS::IAM::User",
                        "ResourceId": r.user_id,
                        "EvaluationMode": "DETECTIVE",
                    },
                    "OrderingTimestamp": r.recorded,
                },
                "ComplianceType": r.compliance.value,
                "ResultRecordedTime": r.recorded,
                "ConfigRuleInvokedTime": r.recorded,
                "Annotation": r.annotation,
            }
            for r in results
        ]
    }


class Context:
    invoked_function_arn = f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:IAM_USER_CONSOLE_MFA-digest"


@pytest.fixture
def topic(account: None, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The alert topic with a queue subscribed (what an email or chat subscription receives)."""
    session = configured_session()
    sns, sqs = session.client("sns"), session.client("sqs")
    topic_arn = sns.create_topic(Name="alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
    monkeypatch.setenv("RULE_NAME", "IAM_USER_CONSOLE_MFA")
    monkeypatch.setenv("TOPIC_ARN", topic_arn)
    answer_operation(session, "config-service", "GetComplianceDetailsByConfigRule", compliance_details(RESULTS))
    return lambda: [
        json.loads(m["Body"])
        for m in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    ]


def test_the_function_publishes_email_text_and_the_chat_notification(topic: Any) -> None:
    assert digest_function.handler({}, Context()) == {"sent": True, "non_compliant": 3}
    (envelope,) = topic()
    assert envelope["Subject"] == "IAM_USER_CONSOLE_MFA: 3 IAM users without MFA (account 123456789012)"
    chat = json.loads(envelope["Message"])  # the "default" message: what chat receives
    jsonschema.validate(chat, CHAT_SCHEMA)
    assert chat["content"]["description"].splitlines()[4].startswith("• CRITICAL bob: password set")
    structured = json.loads(sns_message(digest_of(RESULTS)))
    assert structured["email"].startswith("IAM_USER_CONSOLE_MFA: 3 IAM users without MFA")


def test_nothing_is_sent_when_clean_unless_asked(topic: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    clean = [r for r in RESULTS if r.compliance is not Compliance.NON_COMPLIANT]
    answer_operation(
        configured_session(), "config-service", "GetComplianceDetailsByConfigRule", compliance_details(clean)
    )
    assert digest_function.handler({}, Context()) == {"sent": False, "non_compliant": 0}
    assert topic() == []
    monkeypatch.setenv("SEND_WHEN_CLEAN", "true")
    assert digest_function.handler({}, Context())["sent"] is True
    assert topic()[0]["Subject"].endswith("every console user has MFA (account 123456789012)")


def test_the_webhook_url_comes_from_secrets_manager_and_gets_markdown(
    topic: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = configured_session().client("secretsmanager")
    url = "https://hooks.slack.com/services/T000/B000/XXXX"
    secret_arn = secrets.create_secret(Name="slack-webhook", SecretString=url)["ARN"]
    monkeypatch.setenv("WEBHOOK_SECRET_ARN", secret_arn)
    posted: list[Any] = []

    class Answer:
        status = 200

        def __enter__(self) -> Answer:
            return self

        def __exit__(self, *_: object) -> None:
            return None

    def urlopen(request: Any, timeout: float) -> Answer:
        posted.append(request)
        return Answer()

    monkeypatch.setattr("urllib.request.urlopen", urlopen)
    digest_function.handler({}, Context())
    (request,) = posted
    assert request.full_url == url and request.get_method() == "POST"
    assert json.loads(request.data)["text"].startswith("**IAM_USER_CONSOLE_MFA: 3 IAM users without MFA")
    monkeypatch.setattr(Answer, "status", 500)
    with pytest.raises(RuntimeError, match="the webhook answered HTTP 500"):
        digest_function.handler({}, Context())
    secrets.put_secret_value(SecretId=secret_arn, SecretString="http://insecure.example.com/hook")
    with pytest.raises(ValueError, match="https://"):
        digest_function.handler({}, Context())


def test_an_unreadable_result_fails_the_function_loudly(topic: Any) -> None:
    from tests.support import fail_operation

    fail_operation(
        configured_session(), "config-service", "GetComplianceDetailsByConfigRule", "AccessDeniedException"
    )
    with pytest.raises(Exception, match="GetComplianceDetailsByConfigRule"):
        digest_function.handler({}, Context())
    assert topic() == []


def test_the_organization_digest_reads_the_aggregator_pages(
    topic: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two member accounts, one of them with two pages of results (NextToken)."""
    member, other = "111111111111", "222222222222"
    monkeypatch.setenv("AGGREGATOR_NAME", "IAM_USER_CONSOLE_MFA-organization")
    session = configured_session()
    answer_operation(
        session,
        "config-service",
        "DescribeAggregateComplianceByConfigRules",
        lambda: {
            "AggregateComplianceByConfigRules": [
                {"ConfigRuleName": "IAM_USER_CONSOLE_MFA", "AccountId": a, "AwsRegion": "us-east-1"}
                for a in (member, other)
            ]
        },
    )
    pages = {
        (member, None): ([RESULTS[0]], "next"),
        (member, "next"): ([RESULTS[1]], None),
        (other, None): ([RESULTS[3]], None),
    }

    def aggregate(params: dict[str, Any], **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse
        from botocore.compat import HTTPHeaders

        body = json.loads(params["body"])
        found, token = pages[(body["AccountId"], body.get("NextToken"))]
        details = compliance_details(found)()["EvaluationResults"]
        page = {
            "AggregateEvaluationResults": [
                {**d, "AccountId": body["AccountId"], "AwsRegion": "us-east-1"} for d in details
            ]
        }
        return AWSResponse(params["url"], 200, HTTPHeaders(), None), {
            **page,
            **({"NextToken": token} if token else {}),
        }

    session.events.register_first(
        "before-call.config-service.GetAggregateComplianceDetailsByConfigRule", aggregate
    )
    assert digest_function.handler({}, Context())["non_compliant"] == 2
    (envelope,) = topic()
    assert envelope["Subject"] == "IAM_USER_CONSOLE_MFA: 2 IAM users without MFA (2 accounts)"
    assert f"CRITICAL {member} bob" in json.loads(envelope["Message"])["content"]["description"]


def test_the_cli_prints_the_same_digest(topic: Any, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    monkeypatch.setattr(cli, "session", lambda args, retries=None: cli_session(configured_session()))
    assert cli.main(["digest", "--format", "json"]) == 1
    shown = json.loads(capsys.readouterr().out)
    assert [u["user_name"] for u in shown["non_compliant"]] == ["bob", "erin", "dave"]
    assert shown["by_risk"] == {"CRITICAL": 1, "HIGH": 2}
    assert date.fromisoformat(shown["generated"][:10]) >= NOW.date() - timedelta(days=1)
    assert cli.main(["digest", "--send"]) == 2  # no alerts stack here: said, nothing sent
    assert "the alerts stack iam-console-mfa-alerts is not deployed here" in capsys.readouterr().err
    assert topic() == []


def test_the_digest_role_grants_exactly_what_the_function_calls(
    topic: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Derived from the calls made (account and organization digests, with the webhook), against
    alerts.yaml's digest policies: nothing missing, nothing more."""
    from tests.stacks import STACKS
    from tests.support import CallLog

    prefix = {"config-service": "config", "sns": "sns", "secrets-manager": "secretsmanager"}
    secret_arn = (
        configured_session()
        .client("secretsmanager")
        .create_secret(Name="hook", SecretString="https://x")["ARN"]
    )
    monkeypatch.setenv("WEBHOOK_SECRET_ARN", secret_arn)
    monkeypatch.setattr(digest_function, "post_webhook", lambda url, text: None)
    log = CallLog(configured_session())
    digest_function.handler({}, Context())
    monkeypatch.setenv("AGGREGATOR_NAME", "IAM_USER_CONSOLE_MFA-organization")
    session = configured_session()
    place = {"ConfigRuleName": "IAM_USER_CONSOLE_MFA", "AccountId": ACCOUNT, "AwsRegion": "us-east-1"}
    answer_operation(
        session,
        "config-service",
        "DescribeAggregateComplianceByConfigRules",
        lambda: {"AggregateComplianceByConfigRules": [place]},
    )
    answer_operation(
        session,
        "config-service",
        "GetAggregateComplianceDetailsByConfigRule",
        lambda: {"AggregateEvaluationResults": []},
    )
    monkeypatch.setenv("SEND_WHEN_CLEAN", "true")
    digest_function.handler({}, Context())
    called = {f"{prefix[service]}:{operation}" for service, operation in log.calls}

    resources = STACKS["alerts.yaml"]["Resources"]
    granted = set()
    for name in ("DigestRole", "DigestReadsResults", "DigestReadsAggregator", "DigestReadsWebhook"):
        properties = resources[name]["Properties"]
        documents = [p["PolicyDocument"] for p in properties.get("Policies", [])] or [
            properties["PolicyDocument"]
        ]
        granted |= {a for d in documents for s in d["Statement"] for a in s["Action"]}
    logs_and_key = {"logs:CreateLogStream", "logs:PutLogEvents", "kms:Decrypt", "kms:GenerateDataKey"}
    assert called == granted - logs_and_key
