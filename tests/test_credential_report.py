"""console_mfa.credential_report and the sweep's report path: a possibly stale credential report, its
staleness guard (every flag confirmed live), report states and errors, the live fallback."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import pytest
from console_mfa.aws import configured_session
from console_mfa.credential_report import ReportRow, ReportUnavailable, fetch_report
from console_mfa.errors import AwsCallFailed
from console_mfa.live import ListedUser
from console_mfa.model import LastUse, UserId, UserName, UserRef
from console_mfa.policy import DataSource, ExemptTag, RuleParameters
from console_mfa.sweep import report_facts

from iam_console_mfa.demo.account import Mfa, create_user
from tests.support import (
    HEADER,
    CallLog,
    TrailEvents,
    answer_operation,
    report_row,
    stub_report,
    stubbed_iam,
    verdicts_by_name,
)

REPORT = RuleParameters(data_source=DataSource.CREDENTIAL_REPORT)


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
    policy = RuleParameters(exempt_user_names=("svc-*",), data_source=DataSource.CREDENTIAL_REPORT)
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


def test_a_row_of_another_path_is_another_user_even_in_the_same_second(iam: Any, call_log: CallLog) -> None:
    """bob of /ops/ (the report's row, MFA active) deleted, and bob of / created within the
    same second: the name and creation time agree, the ARN does not, so the row is not his."""
    user = create_user(iam, "bob")
    old_row = report_row({**user, "Arn": user["Arn"].replace(":user/", ":user/ops/")}, True, True)
    stub_report(configured_session(), [old_row])
    assert verdicts_by_name(REPORT) == {"bob": "NON_COMPLIANT"}
    assert call_log.operations("iam").count("GetLoginProfile") == 1


def test_report_path_reads_tags_only_for_candidates(iam: Any, call_log: CallLog) -> None:
    exempt = create_user(iam, "ops", tags={"BreakGlass": "approved"})
    fine = create_user(iam, "fine", mfa=Mfa.VIRTUAL, tags={"BreakGlass": "approved"})
    stub_report(configured_session(), [report_row(exempt, True, False), report_row(fine, True, True)])
    policy = RuleParameters(
        exempt_tag=ExemptTag("BreakGlass", "approved"),
        data_source=DataSource.CREDENTIAL_REPORT,
    )
    assert verdicts_by_name(policy) == {"ops": "NOT_APPLICABLE", "fine": "COMPLIANT"}
    assert call_log.operations("iam").count("ListUserTags") == 1


# -- report states and errors (Stubber) ---------------------------------------------------------


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


@pytest.mark.parametrize(
    "row_arn",
    [
        "arn:aws:iam::123456789012:user/team/bob",  # the same name under another path
        "arn:aws:iam::123456789012:user/a/bob",  # (whichever sorts first)
    ],
)
def test_a_row_of_another_user_of_the_same_name_gives_no_facts(row_arn: str) -> None:
    """The report names rows by user name: a row whose ARN or creation second differs is of
    another user, and that user is read live instead."""
    created = datetime(2026, 1, 2, 8, 30, tzinfo=UTC)
    listed = ListedUser(
        UserRef(UserId("AIDAEXAMPLEBOB000001"), UserName("bob")),
        "arn:aws:iam::123456789012:user/ops/bob",
        created,
        LastUse.NEVER,
    )
    row = ReportRow(listed.arn, created.isoformat(), True, "2026-01-02T08:30:00+00:00", False)
    assert report_facts(listed, row) is not None
    assert report_facts(listed, row._replace(arn=row_arn)) is None
    assert report_facts(listed, row._replace(user_creation_time="2026-01-02T08:30:01+00:00")) is None
    assert report_facts(listed, row._replace(user_creation_time="N/A")) is None  # no time: no match
    unknown_change = report_facts(listed, row._replace(password_last_changed="N/A"))
    assert unknown_change is not None and unknown_change.password_created == created  # the user's creation
