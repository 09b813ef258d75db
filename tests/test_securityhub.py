"""Security Hub findings: the pure builder, and the publisher against moto's Security Hub.

moto implements BatchImportFindings and GetFindings (filters on GeneratorId, AwsAccountId,
RecordState, Id). A refused finding (FailedFindings) is injected at the botocore level with
the API's answer shape.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from console_mfa.aws import configured_session
from console_mfa.budget import NO_DEADLINE, Deadline
from console_mfa.errors import OutOfTime
from console_mfa.findings import (
    DESCRIPTION_LIMIT,
    TITLE_LIMIT,
    Context,
    finding_id,
    open_finding,
    plan_findings,
)
from console_mfa.model import (
    Assessment,
    Compliance,
    LastUse,
    MfaKind,
    Reason,
    UserFacts,
    UserId,
    UserName,
    UserRef,
    Verdict,
)
from console_mfa.securityhub import FindingsRejected, import_findings, open_findings
from IAM_USER_CONSOLE_MFA import lambda_handler

from iam_console_mfa.demo.account import Mfa, create_user, enable_mfa
from iam_console_mfa.event_builders import scheduled_event
from iam_console_mfa.local_config import LocalConfig
from tests.support import REAL_TOKEN, CallLog

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
CONTEXT = Context("aws", "us-east-1", "123456789012", "IAM_USER_CONSOLE_MFA")
PARAMETERS = {"AssumeRoleMode": "False", "DataSource": "live", "SecurityHubFindings": "true"}
# Top-level fields a finding provider must not send: the customer's (BatchUpdateFindings), and
# those BatchImportFindings cannot change once a finding exists (Security Hub API reference).
CUSTOMER_FIELDS = {
    "Severity",
    "Types",
    "Confidence",
    "Criticality",
    "Workflow",
    "Note",
    "UserDefinedFields",
    "VerificationState",
}


def assessment(
    name: str = "bob", last_used: datetime | LastUse = LastUse.NEVER, mfa: bool = False
) -> Assessment:
    user = UserRef(UserId(f"AIDA{name.upper():0<17}"[:21]), UserName(name))
    facts = UserFacts(user, NOW - timedelta(days=90), (MfaKind.VIRTUAL,) if mfa else (), last_used)
    verdict = (
        Verdict(Compliance.COMPLIANT, Reason.MFA, f"{name}: console password with 1 MFA device (1 virtual)")
        if mfa
        else Verdict(
            Compliance.NON_COMPLIANT, Reason.NO_MFA, f"{name}: console password without MFA. Enable..."
        )
    )
    return Assessment(user, facts, verdict, f"arn:aws:iam::123456789012:user/team/{name}")


@pytest.mark.parametrize(
    ("last_used", "severity"), [(NOW - timedelta(days=2), "CRITICAL"), (NOW - timedelta(days=45), "HIGH")]
)
def test_open_finding_fields(last_used: datetime, severity: str) -> None:
    finding = open_finding(assessment(last_used=last_used), CONTEXT, NOW)
    assert finding["Id"] == "iam-console-mfa/123456789012/" + assessment().user.user_id
    assert finding["ProductArn"] == "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"
    assert finding["GeneratorId"] == "iam-console-mfa/IAM_USER_CONSOLE_MFA"
    assert finding["FindingProviderFields"] == {
        "Severity": {"Label": severity, "Original": severity},
        "Types": [
            "Software and Configuration Checks/Industry and Regulatory Standards/CIS AWS Foundations Benchmark"
        ],
    }
    (resource,) = finding["Resources"]
    assert resource["Type"] == "AwsIamUser" and resource["Id"] == "arn:aws:iam::123456789012:user/team/bob"
    assert resource["Details"]["AwsIamUser"] == {"UserName": "bob", "UserId": assessment().user.user_id}
    assert finding["Compliance"]["Status"] == "FAILED"
    assert finding["Description"].endswith("It was used in the last 30 days.") == (severity == "CRITICAL")
    assert (
        "AWS Foundational Security Best Practices v1.0.0/IAM.5" in finding["Compliance"]["RelatedRequirements"]
    )
    assert "CIS AWS Foundations Benchmark v1.4.0/1.10" in finding["Compliance"]["RelatedRequirements"]
    assert finding["Remediation"]["Recommendation"]["Url"].startswith("https://docs.aws.amazon.com/")
    assert finding["Description"].startswith("bob: console password without MFA")
    assert finding["RecordState"] == "ACTIVE"
    # The customer's fields and those BatchImportFindings cannot update are never sent.
    assert not CUSTOMER_FIELDS & set(finding)


def test_ids_are_stable_and_fields_within_asff_limits() -> None:
    long_name = "u" * 64
    first = open_finding(assessment(long_name), CONTEXT, NOW)
    again = open_finding(assessment(long_name), CONTEXT, NOW + timedelta(days=1))
    assert first["Id"] == again["Id"] == finding_id(CONTEXT, assessment(long_name).user.user_id)
    assert len(first["Title"]) <= TITLE_LIMIT and len(first["Description"]) <= DESCRIPTION_LIMIT


def test_plan_resolves_open_findings_of_users_no_longer_flagged() -> None:
    fixed, gone, still = assessment("fixed", mfa=True), assessment("gone"), assessment("still")
    held = {finding_id(CONTEXT, a.user.user_id): open_finding(a, CONTEXT, NOW) for a in (fixed, gone, still)}
    planned = {f["Id"]: f for f in plan_findings([fixed, still], held, CONTEXT, NOW)}
    assert planned[finding_id(CONTEXT, still.user.user_id)]["RecordState"] == "ACTIVE"
    for user, why in (
        (fixed, "fixed: console password with 1 MFA device"),
        (gone, "the user no longer exists"),
    ):
        resolved = planned[finding_id(CONTEXT, user.user.user_id)]
        assert resolved["RecordState"] == "ARCHIVED" and not CUSTOMER_FIELDS & set(resolved)
        assert resolved["Compliance"]["Status"] == "PASSED" and resolved["Description"].startswith(why)
        assert resolved["Resources"][0]["Id"] == user.arn


def test_only_non_compliant_users_get_an_open_finding() -> None:
    exempt = assessment("svc")._replace(
        verdict=Verdict(Compliance.NOT_APPLICABLE, Reason.EXEMPT, "svc: exempt by ExemptUserNames")
    )
    planned = plan_findings([assessment("bob"), assessment("alice", mfa=True), exempt], {}, CONTEXT, NOW)
    assert [f["Resources"][0]["Details"]["AwsIamUser"]["UserName"] for f in planned] == ["bob"]


def test_a_held_finding_without_user_details_is_resolved_by_its_id() -> None:
    """A finding edited elsewhere may have lost Resources[].Details: the user is the finding
    Id's last part (iam-console-mfa/<account>/<UserId>), so the update closes that finding."""
    gone = assessment("gone")
    held = open_finding(gone, CONTEXT, NOW)
    del held["Resources"][0]["Details"]
    (resolved,) = plan_findings([], {held["Id"]: held}, CONTEXT, NOW)
    assert resolved["Id"] == held["Id"] and resolved["RecordState"] == "ARCHIVED"


def test_a_text_longer_than_its_asff_field_is_cut_to_fit() -> None:
    """ASFF: Title at most 256 characters, Description at most 1,024 (the Security Hub API
    reference); a longer text keeps its beginning and ends with "..."."""
    long = assessment("bob")._replace(verdict=Verdict(Compliance.NON_COMPLIANT, Reason.NO_MFA, "x" * 5000))
    finding = open_finding(long, CONTEXT, NOW)
    assert finding["Description"] == "x" * 1021 + "..."
    exact = assessment("bob")._replace(verdict=Verdict(Compliance.NON_COMPLIANT, Reason.NO_MFA, "y" * 1024))
    assert open_finding(exact, CONTEXT, NOW)["Description"] == "y" * 1024  # what fits is kept whole


def test_plan_never_resolves_another_generators_or_an_archived_finding() -> None:
    bob = assessment("bob", mfa=True)
    ours = open_finding(assessment("bob"), CONTEXT, NOW)
    others: dict[str, Any] = {
        "other-tool": {**ours, "Id": "other-tool", "GeneratorId": "someone-else"},
        # Security Hub's own control, whose generator sorts before ours
        "iam5": {**ours, "Id": "iam5", "GeneratorId": "aws-foundational-security-best-practices/v/1.0.0/IAM.5"},
        "other-account": {**ours, "Id": "other-account", "AwsAccountId": "210987654321"},
        "lower-account": {**ours, "Id": "lower-account", "AwsAccountId": "000000000001"},
        "archived": {**ours, "Id": "archived", "RecordState": "ARCHIVED"},
    }
    assert plan_findings([bob], others, CONTEXT, NOW) == []


def test_open_findings_asks_for_this_generators_active_findings_in_this_account() -> None:
    """moto's GetFindings ignores Filters: the request is checked against the API's shape
    (StringFilter: Value, Comparison) with botocore's Stubber, paging on NextToken."""
    from botocore.stub import Stubber

    hub = boto3.client("securityhub", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    filters = {
        "GeneratorId": [{"Value": CONTEXT.generator_id, "Comparison": "EQUALS"}],
        "AwsAccountId": [{"Value": CONTEXT.account, "Comparison": "EQUALS"}],
        "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
    }
    first, second = (open_finding(assessment(n), CONTEXT, NOW) for n in ("bob", "carol"))
    with Stubber(hub) as stub:
        stub.add_response(
            "get_findings", {"Findings": [first], "NextToken": "t1"}, {"Filters": filters, "MaxResults": 100}
        )
        stub.add_response(
            "get_findings", {"Findings": [second]}, {"Filters": filters, "MaxResults": 100, "NextToken": "t1"}
        )
        assert set(open_findings(hub, CONTEXT, NO_DEADLINE)) == {first["Id"], second["Id"]}
        stub.assert_no_pending_responses()


def test_a_change_evaluation_asks_for_its_users_finding_only() -> None:
    """A change evaluation does not page every open finding: one GetFindings with an Id filter
    (moto ignores filters, so the request is checked with the Stubber)."""
    from botocore.stub import Stubber

    hub = boto3.client("securityhub", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    bob = open_finding(assessment("bob"), CONTEXT, NOW)
    filters = {
        "GeneratorId": [{"Value": CONTEXT.generator_id, "Comparison": "EQUALS"}],
        "AwsAccountId": [{"Value": CONTEXT.account, "Comparison": "EQUALS"}],
        "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
        "Id": [{"Value": bob["Id"], "Comparison": "EQUALS"}],
    }
    with Stubber(hub) as stub:
        stub.add_response("get_findings", {"Findings": [bob]}, {"Filters": filters, "MaxResults": 100})
        assert set(open_findings(hub, CONTEXT, NO_DEADLINE, [bob["Id"]])) == {bob["Id"]}
        stub.assert_no_pending_responses()


def test_reading_open_findings_stops_at_the_deadline() -> None:
    from botocore.stub import Stubber

    hub = boto3.client("securityhub", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    with Stubber(hub) as stub:
        stub.add_response("get_findings", {"Findings": [], "NextToken": "t1"})
        with pytest.raises(OutOfTime, match="open Security Hub findings"):
            open_findings(hub, CONTEXT, Deadline(lambda: 1_000))


@pytest.mark.parametrize("event", ["change", "sweep"])
def test_without_security_hub_config_results_are_written_and_the_failure_is_loud(
    iam: Any, config_api: LocalConfig, caplog: pytest.LogCaptureFixture, event: str
) -> None:
    """SecurityHubFindings=true in an account or region where Security Hub is not enabled
    (the StackSet passes the parameter to every member): Security Hub answers
    InvalidAccessException; Config's results are written first and stay, the failure is an
    error log line with security_hub=failed (rule.yaml's metric filter and alarm count it)."""
    from iam_console_mfa.event_builders import change_event, user_configuration_item

    bob = create_user(iam, "bob")
    configured_session().events.register_first("before-call.securityhub", not_enabled)
    if event == "change":
        lambda_handler(change_event(user_configuration_item(bob), PARAMETERS, REAL_TOKEN), None)
    else:
        lambda_handler(scheduled_event(PARAMETERS, REAL_TOKEN), None)
    assert config_api.results[bob["UserId"]]["ComplianceType"] == "NON_COMPLIANT"
    (failure,) = [r for r in caplog.records if getattr(r, "security_hub", None) == "failed"]
    assert failure.levelname == "ERROR" and "InvalidAccessException" in failure.getMessage()


def test_the_failure_log_line_is_what_the_stacks_alarm_counts() -> None:
    from tests.stacks import STACKS

    resources = STACKS["rule.yaml"]["Resources"]
    metric = resources["SecurityHubFailures"]["Properties"]
    assert metric["LogGroupName"] == {"Ref": "LogGroup"}
    assert metric["FilterPattern"] == '{ $.security_hub = "failed" }'  # the key publish_findings logs
    (transformation,) = metric["MetricTransformations"]
    alarm = resources["SecurityHubFailuresAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == (
        transformation["MetricNamespace"],
        transformation["MetricName"],
    )
    assert alarm["AlarmActions"] == resources["ErrorsAlarm"]["Properties"]["AlarmActions"]


def not_enabled(params: dict[str, Any], **_: Any) -> Any:
    """Security Hub's answer where it is not enabled (API reference: InvalidAccessException, 401)."""
    from botocore.awsrequest import AWSResponse
    from botocore.compat import HTTPHeaders

    error = {
        "Error": {"Code": "InvalidAccessException", "Message": "Account is not subscribed to AWS Security Hub"},
        "ResponseMetadata": {"HTTPStatusCode": 401},
    }
    return AWSResponse(params["url"], 401, HTTPHeaders(), None), error


def by_state(hub: Any, state: str) -> dict[str, dict[str, Any]]:
    """Findings in a RecordState, by user name (moto's GetFindings ignores Filters: filtered here)."""
    findings = hub.get_findings()["Findings"]
    return {
        f["Resources"][0]["Details"]["AwsIamUser"]["UserName"]: f for f in findings if f["RecordState"] == state
    }


def active(hub: Any) -> dict[str, str]:
    return {
        name: f["FindingProviderFields"]["Severity"]["Label"] for name, f in by_state(hub, "ACTIVE").items()
    }


def test_sweeps_import_then_archive_fixed_and_deleted_users(iam: Any, config_api: LocalConfig) -> None:
    hub = configured_session().client("securityhub")
    hub.enable_security_hub()
    for name in ("bob", "carol", "dave"):
        create_user(iam, name)
    lambda_handler(scheduled_event(PARAMETERS, REAL_TOKEN), None)
    assert active(hub) == {"bob": "HIGH", "carol": "HIGH", "dave": "HIGH"}
    enable_mfa(iam, iam.get_user(UserName="carol")["User"], Mfa.VIRTUAL)
    iam.delete_login_profile(UserName="dave")
    iam.delete_user(UserName="dave")
    lambda_handler(scheduled_event(PARAMETERS, REAL_TOKEN), None)
    assert active(hub) == {"bob": "HIGH"}
    archived = by_state(hub, "ARCHIVED")
    assert set(archived) == {"carol", "dave"}
    assert {f["Compliance"]["Status"] for f in archived.values()} == {"PASSED"}


def test_every_import_request_leaves_the_customers_fields_alone(iam: Any, config_api: LocalConfig) -> None:
    """The exact BatchImportFindings requests of an import and an archive, as sent on the wire."""
    sent: list[dict[str, Any]] = []
    configured_session().events.register(
        "before-send.securityhub.BatchImportFindings",
        lambda request, **_: sent.append(json.loads(request.body)),
    )
    hub = configured_session().client("securityhub")
    hub.enable_security_hub()
    create_user(iam, "bob")
    lambda_handler(scheduled_event(PARAMETERS, REAL_TOKEN), None)
    enable_mfa(iam, iam.get_user(UserName="bob")["User"], Mfa.VIRTUAL)
    lambda_handler(scheduled_event(PARAMETERS, REAL_TOKEN), None)
    (opened,), (archived,) = (request["Findings"] for request in sent)
    for finding in (opened, archived):
        assert not CUSTOMER_FIELDS & set(finding), CUSTOMER_FIELDS & set(finding)
        assert set(finding["FindingProviderFields"]) == {"Severity", "Types"}
    assert (opened["RecordState"], opened["Compliance"]["Status"]) == ("ACTIVE", "FAILED")
    assert (archived["RecordState"], archived["Compliance"]["Status"]) == ("ARCHIVED", "PASSED")


def test_250_flagged_users_go_out_in_3_batches(iam: Any, config_api: LocalConfig, call_log: CallLog) -> None:
    configured_session().client("securityhub").enable_security_hub()
    for i in range(250):
        create_user(iam, f"u{i:03}")
    lambda_handler(scheduled_event({**PARAMETERS, "DataSource": "credential-report"}, REAL_TOKEN), None)
    assert call_log.operations("securityhub").count("BatchImportFindings") == 3


def test_failed_findings_are_retried_once_then_fail_loudly(account: None) -> None:
    hub = configured_session().client("securityhub")
    answers = [
        {
            "FailedCount": 1,
            "SuccessCount": 1,
            "FailedFindings": [{"Id": "b", "ErrorCode": "Throttled", "ErrorMessage": "x"}],
        },
        {"FailedCount": 0, "SuccessCount": 1, "FailedFindings": []},
    ]
    sent: list[list[str]] = []

    def answer(params: dict[str, Any], **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse
        from botocore.compat import HTTPHeaders

        sent.append([f["Id"] for f in json.loads(params["body"])["Findings"]])
        return AWSResponse(params["url"], 200, HTTPHeaders(), None), answers.pop(0)

    configured_session().events.register_first("before-call.securityhub.BatchImportFindings", answer)
    hub = configured_session().client("securityhub")
    findings = [open_finding(assessment(n), CONTEXT, NOW) | {"Id": n} for n in ("a", "b")]
    assert import_findings(hub, findings) == 2
    assert sent == [["a", "b"], ["b"]]  # only the refused one again
    answers.extend(
        [{"FailedCount": 1, "SuccessCount": 0, "FailedFindings": [{"Id": "a", "ErrorCode": "E"}]}] * 2
    )
    with pytest.raises(FindingsRejected, match="refused 1 finding"):
        import_findings(hub, findings[:1])


def test_publisher_off_makes_no_security_hub_call(iam: Any, config_api: LocalConfig, call_log: CallLog) -> None:
    create_user(iam, "bob")
    lambda_handler(scheduled_event({"AssumeRoleMode": "False", "DataSource": "live"}, REAL_TOKEN), None)
    assert call_log.operations("securityhub") == []


def test_the_documented_finding_is_the_builders() -> None:
    """docs/deploy.md, Security Hub: bob, password set 2026-01-02, last used 2026-11-21, built at 06:00."""
    from pathlib import Path

    from console_mfa.decision import decide
    from console_mfa.policy import parse_policy

    readme = (Path(__file__).resolve().parents[1] / "docs" / "deploy.md").read_text()
    shown = json.loads(readme.split("```json\n", 1)[1].split("```", 1)[0])
    now = datetime(2026, 11, 24, 6, 0, tzinfo=UTC)
    user = UserRef(UserId("AIDAEXAMPLEBOB0000001"), UserName("bob"))
    facts = UserFacts(user, datetime(2026, 1, 2, tzinfo=UTC), (), datetime(2026, 11, 21, tzinfo=UTC))
    bob = Assessment(user, facts, decide(facts, parse_policy({}), now), "arn:aws:iam::123456789012:user/bob")
    assert shown == open_finding(bob, CONTEXT, now)


def test_a_change_evaluation_resolves_only_its_own_users_finding(iam: Any, config_api: LocalConfig) -> None:
    from iam_console_mfa.event_builders import change_event, user_configuration_item

    hub = configured_session().client("securityhub")
    hub.enable_security_hub()
    alice, bob = create_user(iam, "alice"), create_user(iam, "bob")
    lambda_handler(scheduled_event(PARAMETERS, REAL_TOKEN), None)
    assert set(active(hub)) == {"alice", "bob"}
    enable_mfa(iam, alice, Mfa.VIRTUAL)
    lambda_handler(change_event(user_configuration_item(alice), PARAMETERS, REAL_TOKEN), None)
    assert set(active(hub)) == {"bob"} and set(by_state(hub, "ARCHIVED")) == {"alice"}
    assert bob["UserName"] in active(hub)


def test_a_sweep_archives_the_finding_of_a_fixed_user_another_run_claimed(
    iam: Any, config_api: LocalConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bob's change is claimed by another run (the near-real-time store), which may have
    failed: the sweep still reads bob, and archives his finding now that he enrolled MFA."""
    from console_mfa.changes import run_id
    from console_mfa.reevaluate import TriggerStore

    from tests.config_double import create_changes_table

    session = configured_session()
    hub = session.client("securityhub")
    hub.enable_security_hub()
    bob = create_user(iam, "bob")
    create_user(iam, "carol")
    lambda_handler(scheduled_event(PARAMETERS, REAL_TOKEN), None)
    assert set(active(hub)) == {"bob", "carol"}
    monkeypatch.setenv("CHANGES_TABLE", create_changes_table(session))
    store = TriggerStore(session.client("dynamodb", region_name="us-east-1"), "changes")
    now = datetime.now(UTC)
    store.record([UserName("bob")], lambda: now)
    (change,) = store.changes(now)
    assert store.claim(change, now, run_id("another run's token"))
    enable_mfa(iam, bob, Mfa.VIRTUAL)
    lambda_handler(scheduled_event(PARAMETERS, REAL_TOKEN), None)
    assert set(active(hub)) == {"carol"} and set(by_state(hub, "ARCHIVED")) == {"bob"}
    assert config_api.results[bob["UserId"]]["ComplianceType"] == "COMPLIANT"


def test_findings_go_out_at_most_100_a_call(account: None) -> None:
    from console_mfa.securityhub import BATCH

    sent: list[int] = []

    def answer(params: dict[str, Any], **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse
        from botocore.compat import HTTPHeaders

        count = len(json.loads(params["body"])["Findings"])
        sent.append(count)
        return AWSResponse(params["url"], 200, HTTPHeaders(), None), {
            "FailedCount": 0,
            "SuccessCount": count,
            "FailedFindings": [],
        }

    configured_session().events.register_first("before-call.securityhub.BatchImportFindings", answer)
    findings = [open_finding(assessment(f"u{i}"), CONTEXT, NOW) | {"Id": f"f{i}"} for i in range(101)]
    import_findings(configured_session().client("securityhub"), findings)
    assert BATCH <= 100 and sent == [100, 1]  # the API's limit: 100 findings a call


def test_the_findings_policy_grants_exactly_what_a_sweep_calls(
    iam: Any, config_api: LocalConfig, call_log: CallLog
) -> None:
    """rule.yaml's SecurityHubFindingsPolicy, the registry and the calls made are one set."""
    from console_mfa.permissions import SECURITY_HUB_ACTIONS

    from tests.stacks import STACKS

    configured_session().client("securityhub").enable_security_hub()
    create_user(iam, "bob")
    setup = len(call_log.calls)
    lambda_handler(scheduled_event(PARAMETERS, REAL_TOKEN), None)
    called = {f"securityhub:{op}" for service, op in call_log.calls[setup:] if service == "securityhub"}
    policy = STACKS["rule.yaml"]["Resources"]["SecurityHubFindingsPolicy"]["Properties"]
    granted = {a for s in policy["PolicyDocument"]["Statement"] for a in s["Action"]}
    assert policy["RoleName"] == {"Ref": "FunctionRole"}
    assert called == granted == set(SECURITY_HUB_ACTIONS)


def test_the_finding_metadata_is_declared_once_and_fits_the_asff_shape() -> None:
    """Types, requirements, recommendation and severities come from one frozen declaration;
    a finding built from it is a valid BatchImportFindings request (botocore's own model)."""
    import dataclasses

    import boto3
    from botocore.validate import validate_parameters
    from console_mfa.decision import decide
    from console_mfa.findings import METADATA
    from console_mfa.policy import RuleParameters
    from console_mfa.risk import Risk

    with pytest.raises(dataclasses.FrozenInstanceError):
        METADATA.recommendation = "changed"  # type: ignore[misc]
    with pytest.raises(TypeError):
        METADATA.severity[Risk.HIGH] = "LOW"  # type: ignore[index]
    user = UserRef(UserId("AIDABOB"), UserName("bob"))
    facts = UserFacts(user, NOW - timedelta(days=90), (), NOW - timedelta(days=2), {})
    assessment = Assessment(
        user, facts, decide(facts, RuleParameters(), NOW), "arn:aws:iam::123456789012:user/bob", "live"
    )
    context = Context("aws", "us-east-1", "123456789012", "IAM_USER_CONSOLE_MFA")
    (finding,) = plan_findings([assessment], {}, context, NOW)
    model = boto3.client("securityhub", region_name="us-east-1").meta.service_model
    shape = model.operation_model("BatchImportFindings").input_shape
    assert shape is not None
    validate_parameters({"Findings": [finding]}, shape)
    assert finding["Compliance"]["RelatedRequirements"] == list(METADATA.related_requirements)
    assert finding["FindingProviderFields"]["Severity"]["Label"] == "CRITICAL"
