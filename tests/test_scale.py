"""The sweep at scale: credential report path, its staleness guard, fallbacks, retries,
PutEvaluations failures and the time budget."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, ClassVar

import boto3
import pytest
from botocore.stub import Stubber
from console_mfa.aws import FailedEvaluations, configured_session
from console_mfa.errors import AwsCallFailed, OutOfTime
from console_mfa.live import LiveIam
from console_mfa.policy import DataSource, ExemptTag, Policy
from console_mfa.report import ReportUnavailable, fetch_report
from console_mfa.sweep import choose_source, sweep
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IAM_USER_CONSOLE_MFA import lambda_handler

from iam_console_mfa.events import ACCOUNT_ID, scheduled_event
from iam_console_mfa.local_config import LocalConfig
from iam_console_mfa.seed import Mfa, backdate, create_user, enable_mfa
from tests.support import REAL_TOKEN, CallLog, JsonEndpoint, Throttler, TrailEvents, answer_operation, serving

HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active"
)
NOW = datetime.now(UTC)


def report_row(user: dict[str, Any], password: bool, mfa: bool) -> str:
    created = user["CreateDate"].strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return ",".join(
        [
            user["UserName"],
            user["Arn"],
            created,
            str(password).lower(),
            "no_information" if password else "N/A",
            created if password else "N/A",
            "N/A",
            str(mfa).lower(),
            "false",
        ]
    )


def stub_report(session: boto3.Session, rows: list[str]) -> None:
    """The report IAM would serve, possibly hours old (moto's always reflects the present)."""
    content = "\n".join(
        [
            HEADER,
            "<root_account>,arn:aws:iam::123456789012:root,N/A,not_supported,"
            "no_information,not_supported,not_supported,true,false",
            *rows,
        ]
    ).encode()
    answer_operation(session, "iam", "GenerateCredentialReport", lambda: {"State": "COMPLETE"})
    answer_operation(
        session,
        "iam",
        "GetCredentialReport",
        lambda: {"Content": content, "ReportFormat": "text/csv", "GeneratedTime": datetime(2026, 11, 23, 6, 0)},
    )


def verdicts_by_name(policy: Policy) -> dict[str, str]:
    """Sweep with a new client, so that hooks registered by the test apply to it."""
    iam = configured_session().client("iam")
    now = datetime.now(UTC)
    trail = configured_session().client("cloudtrail", region_name="us-east-1")
    return {a.user.user_name: a.verdict.compliance.value for a in sweep(LiveIam(iam), policy, now, trail=trail)}


REPORT = Policy(data_source=DataSource.CREDENTIAL_REPORT)


# -- staleness guard ---------------------------------------------------------------------------


def test_report_flag_is_confirmed_live_before_non_compliant(iam: Any, call_log: CallLog) -> None:
    enrolled = create_user(iam, "enrolled-since", mfa=Mfa.VIRTUAL)  # report: no MFA (stale)
    still = create_user(iam, "still-no-mfa")  # report: no MFA, live agrees
    stub_report(configured_session(), [report_row(enrolled, True, False), report_row(still, True, False)])
    assert verdicts_by_name(REPORT) == {"enrolled-since": "COMPLIANT", "still-no-mfa": "NON_COMPLIANT"}
    assert sorted(call_log.operations("iam")) == sorted(
        ["ListUsers", "GenerateCredentialReport", "GetCredentialReport"]
        + ["GetLoginProfile", "ListMFADevices"] * 2
    )


def test_password_removed_since_report_is_not_flagged(iam: Any, call_log: CallLog) -> None:
    user = create_user(iam, "offboarded", password=False)  # report still shows a password
    stub_report(configured_session(), [report_row(user, True, False)])
    assert verdicts_by_name(REPORT) == {"offboarded": "NOT_APPLICABLE"}


def test_report_answers_without_live_reads_when_nothing_to_flag(iam: Any, call_log: CallLog) -> None:
    users = [create_user(iam, "a", mfa=Mfa.HARDWARE), create_user(iam, "b", password=False)]
    svc = create_user(iam, "svc-x")
    stub_report(
        configured_session(),
        [report_row(users[0], True, True), report_row(users[1], False, False), report_row(svc, True, False)],
    )
    policy = Policy(exempt_user_names=("svc-*",), data_source=DataSource.CREDENTIAL_REPORT)
    assert verdicts_by_name(policy) == {"a": "COMPLIANT", "b": "NOT_APPLICABLE", "svc-x": "NOT_APPLICABLE"}
    assert "GetLoginProfile" not in call_log.operations("iam")


def test_mfa_removed_after_the_report_is_seen_through_the_cloudtrail_delta(
    iam: Any, trail: TrailEvents
) -> None:
    # The report (06:00) still shows MFA; CloudTrail has the DeactivateMFADevice after it.
    user = create_user(iam, "removed-mfa")
    stub_report(configured_session(), [report_row(user, True, True)])
    trail.record("DeactivateMFADevice", "removed-mfa", datetime(2026, 11, 23, 7, 0, tzinfo=UTC))
    assert verdicts_by_name(REPORT) == {"removed-mfa": "NON_COMPLIANT"}


def test_user_absent_from_report_or_recreated_is_read_live(iam: Any, call_log: CallLog) -> None:
    old = create_user(iam, "recreated")
    stale_row = report_row({**old, "CreateDate": datetime(2020, 1, 1, tzinfo=UTC)}, True, True)
    create_user(iam, "brand-new")  # created after the report
    stub_report(configured_session(), [stale_row])
    assert verdicts_by_name(REPORT) == {"recreated": "NON_COMPLIANT", "brand-new": "NON_COMPLIANT"}
    assert call_log.operations("iam").count("GetLoginProfile") == 2


def test_report_path_reads_tags_only_for_candidates(iam: Any, call_log: CallLog) -> None:
    exempt = create_user(iam, "ops", tags={"BreakGlass": "approved"})
    fine = create_user(iam, "fine", mfa=Mfa.VIRTUAL, tags={"BreakGlass": "approved"})
    stub_report(configured_session(), [report_row(exempt, True, False), report_row(fine, True, True)])
    policy = Policy(
        exempt_tag=ExemptTag("BreakGlass", "approved"),
        data_source=DataSource.CREDENTIAL_REPORT,
    )
    assert verdicts_by_name(policy) == {"ops": "NOT_APPLICABLE", "fine": "COMPLIANT"}
    assert call_log.operations("iam").count("ListUserTags") == 1


# -- report states and errors (Stubber) ---------------------------------------------------------


def stubbed_iam() -> tuple[Any, Stubber]:
    client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


GET_OK = {
    "Content": f"{HEADER}\nalice,arn:aws:iam::1:user/alice,2026-01-01T00:00:00+00:00,true,N/A,"
    "2026-01-01T00:00:00+00:00,N/A,true,false\n".encode(),
    "ReportFormat": "text/csv",
    "GeneratedTime": datetime(2026, 11, 23, tzinfo=UTC),
}


def test_report_polls_until_complete() -> None:
    client, stub = stubbed_iam()
    stub.add_response("generate_credential_report", {"State": "STARTED"}, {})
    stub.add_client_error("generate_credential_report", "LimitExceeded", http_status_code=409)
    stub.add_response("generate_credential_report", {"State": "INPROGRESS"}, {})
    stub.add_response("generate_credential_report", {"State": "COMPLETE"}, {})
    stub.add_client_error("get_credential_report", "ReportInProgress", http_status_code=404)
    stub.add_response("generate_credential_report", {"State": "COMPLETE"}, {})
    stub.add_client_error("get_credential_report", "ReportExpired", http_status_code=410)
    stub.add_response("generate_credential_report", {"State": "COMPLETE"}, {})
    stub.add_client_error("get_credential_report", "ReportNotPresent", http_status_code=410)
    stub.add_response("generate_credential_report", {"State": "COMPLETE"}, {})
    stub.add_response("get_credential_report", GET_OK, {})
    sleeps: list[float] = []
    with stub:
        report = fetch_report(client, 600, sleep=sleeps.append)
        stub.assert_no_pending_responses()
    assert list(report.rows) == ["alice"]
    assert report.rows["alice"].mfa_active and report.rows["alice"].password_enabled
    assert sleeps == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]  # bounded exponential backoff


def test_report_gives_up_within_its_budget() -> None:
    client, stub = stubbed_iam()
    now = [0.0]
    for _ in range(4):
        stub.add_response("generate_credential_report", {"State": "INPROGRESS"}, {})
    with stub, pytest.raises(ReportUnavailable, match="not COMPLETE after 4 request"):
        fetch_report(client, 5, sleep=lambda s: now.__setitem__(0, now[0] + s), clock=lambda: now[0])


def test_report_access_denied_is_loud() -> None:
    client, stub = stubbed_iam()
    stub.add_client_error("generate_credential_report", "AccessDenied", http_status_code=403)
    with stub, pytest.raises(AwsCallFailed, match="GenerateCredentialReport failed: AccessDenied"):
        fetch_report(client, 60, sleep=lambda s: None)


def test_unavailable_report_falls_back_to_live(iam: Any, call_log: CallLog, caplog, monkeypatch) -> None:
    create_user(iam, "bob")
    create_user(iam, "alice", mfa=Mfa.VIRTUAL)
    answer_operation(configured_session(), "iam", "GenerateCredentialReport", lambda: {"State": "INPROGRESS"})
    monkeypatch.setattr("console_mfa.sweep.REPORT_BUDGET_SECONDS", 0.0)
    with caplog.at_level(logging.WARNING):
        assert verdicts_by_name(REPORT) == {"bob": "NON_COMPLIANT", "alice": "COMPLIANT"}
    assert "falling back to live reads for 2 users" in caplog.text
    assert "GetCredentialReport" not in call_log.operations("iam")


# -- pagination, throttling ----------------------------------------------------------------------


def test_list_users_follows_every_page_at_iam_maximum_page_size() -> None:
    client, stub = stubbed_iam()
    created = datetime(2026, 1, 1, tzinfo=UTC)
    pages = [[f"u{p}-{i}" for i in range(3)] for p in range(3)]
    for number, names in enumerate(pages):
        response: dict[str, Any] = {
            "Users": [
                {
                    "UserName": n,
                    "UserId": f"AIDA{n.upper():0<17}",
                    "Arn": f"arn:aws:iam::1:user/{n}",
                    "Path": "/",
                    "CreateDate": created,
                }
                for n in names
            ],
            "IsTruncated": number < 2,
        }
        if number < 2:
            response["Marker"] = f"m{number}"
        expected = {"MaxItems": 1000, **({"Marker": f"m{number - 1}"} if number else {})}
        stub.add_response("list_users", response, expected)
    with stub:
        listed = list(LiveIam(client).list_users())
    assert [u.user.user_name for u in listed] == [n for page in pages for n in page]


@pytest.mark.parametrize("source", ["live", "credential-report"])
def test_throttling_on_30_percent_of_calls_gives_the_same_verdicts(iam: Any, source: str) -> None:
    users = [create_user(iam, f"u{i}", **({"mfa": Mfa.VIRTUAL} if i % 3 else {})) for i in range(30)]
    calm = verdicts_by_name(Policy(data_source=DataSource(source)))
    throttler = Throttler(configured_session())
    throttled = verdicts_by_name(Policy(data_source=DataSource(source)))
    assert throttled == calm and len(calm) == len(users)
    assert throttler.throttled >= 5 and throttler.throttled >= 0.29 * throttler.attempts


# -- PutEvaluations: batches and FailedEvaluations ------------------------------------------------


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


# -- time budget, DataSource ----------------------------------------------------------------------


class LambdaContext:
    def __init__(self, remaining_ms: list[int], per_call_ms: int) -> None:
        self.remaining, self.per_call = remaining_ms, per_call_ms

    def get_remaining_time_in_millis(self) -> int:
        self.remaining[0] -= self.per_call
        return self.remaining[0]


def test_sweep_fails_before_lambda_timeout_and_writes_nothing(iam: Any, config_api: LocalConfig) -> None:
    for i in range(20):
        create_user(iam, f"u{i}")
    context = LambdaContext([30_000], per_call_ms=1_000)
    with pytest.raises(OutOfTime, match=r"sweep stopped with \d+ ms left \(\d+ of 20 users inspected live\)"):
        lambda_handler(scheduled_event({"DataSource": "live"}, REAL_TOKEN), context)
    assert "PutEvaluations" not in config_api.requests


def test_auto_picks_live_up_to_20_users() -> None:
    assert choose_source(Policy(), 20) is DataSource.LIVE
    assert choose_source(Policy(), 21) is DataSource.CREDENTIAL_REPORT
    assert choose_source(Policy(data_source=DataSource.LIVE), 5000) is DataSource.LIVE


# -- both strategies agree -----------------------------------------------------------------------

STATES = st.sampled_from(["none", "no-mfa", "virtual", "hardware", "fido", "svc", "tagged", "new"])


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(states=st.lists(STATES, min_size=200, max_size=220))
def test_live_and_report_sweeps_agree(states: list[str], account: None) -> None:
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    iam_backends[DEFAULT_ACCOUNT_ID]["global"].reset()
    iam = boto3.client("iam")
    for i, state in enumerate(states):
        name = f"svc-{i}" if state == "svc" else f"user-{i}"
        mfa = {"virtual": Mfa.VIRTUAL, "hardware": Mfa.HARDWARE, "fido": Mfa.FIDO}.get(state, Mfa.NONE)
        create_user(
            iam, name, password=state != "none", tags={"BreakGlass": "yes"} if state == "tagged" else None
        )
        if state != "new":
            backdate(ACCOUNT_ID, name, 30)
        if mfa is not Mfa.NONE:
            enable_mfa(iam, iam.get_user(UserName=name)["User"], mfa)
    base = Policy(exempt_user_names=("svc-*",), exempt_tag=ExemptTag("BreakGlass", "yes"), grace_period_days=7)
    trail = configured_session().client("cloudtrail", region_name="us-east-1")
    live = {a.user.user_id: a.verdict for a in sweep(LiveIam(iam), base, NOW, trail=trail)}
    report_policy = Policy(base.exempt_user_names, base.exempt_tag, 7, DataSource.CREDENTIAL_REPORT)
    report = {a.user.user_id: a.verdict for a in sweep(LiveIam(iam), report_policy, NOW, trail=trail)}
    assert {k: v.compliance for k, v in report.items()} == {k: v.compliance for k, v in live.items()}
    assert {k: v.reason for k, v in report.items()} == {k: v.reason for k, v in live.items()}
    assert len(live) == len(states)
