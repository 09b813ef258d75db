"""Fresh in both directions: the credential report path with its CloudTrail delta gives the
verdicts of reading every user live, whatever changed after the report was generated.

The report is frozen at the moment of the test's choosing (moto's always reflects the
present): GetCredentialReport answers with the content captured then. CloudTrail
LookupEvents, which moto lacks, is answered by tests.support.TrailEvents with AWS-shaped
events the test records for each change it makes (as CloudTrail would).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import pytest
from console_mfa.aws import configured_session
from console_mfa.budget import Deadline
from console_mfa.errors import OutOfTime
from console_mfa.live import LiveIam
from console_mfa.policy import DataSource, RuleParameters
from console_mfa.sweep import sweep
from console_mfa.trail import VERDICT_EVENTS, DeltaUnavailable, changed_since, iam_event_region
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from iam_console_mfa.demo.account import Mfa, create_user, enable_mfa
from tests.conftest import _answer_lookup_events
from tests.support import CallLog, JsonEndpoint, TrailEvents, answer_operation, has_password, serving

LIVE = RuleParameters(data_source=DataSource.LIVE)
REPORT = RuleParameters(data_source=DataSource.CREDENTIAL_REPORT)


def freeze_report(iam: Any) -> datetime:
    """From now on IAM serves the report of this moment, generated an hour ago."""
    iam.generate_credential_report()
    content = iam.get_credential_report()["Content"]
    generated = datetime.now(UTC) - timedelta(hours=1)
    session = configured_session()
    answer_operation(session, "iam", "GenerateCredentialReport", lambda: {"State": "COMPLETE"})
    answer_operation(
        session,
        "iam",
        "GetCredentialReport",
        lambda: {"Content": content, "ReportFormat": "text/csv", "GeneratedTime": generated},
    )
    return generated


def verdicts(policy: RuleParameters, deadline: Deadline | None = None) -> dict[str, str]:
    session = configured_session()
    iam, trail = session.client("iam"), session.client("cloudtrail", region_name="us-east-1")
    assessed = sweep(LiveIam(iam), policy, datetime.now(UTC), deadline or Deadline(), trail=trail)
    return {a.user.user_name: a.verdict.compliance.value for a in assessed}


def serial(iam: Any, name: str) -> str:
    return iam.list_mfa_devices(UserName=name)["MFADevices"][0]["SerialNumber"]


def change(iam: Any, trail: TrailEvents, name: str, what: str) -> None:
    """Make one change to a user and record the CloudTrail events IAM would."""
    now = datetime.now(UTC)
    user = iam.get_user(UserName=name)["User"]
    password = has_password(iam, name)
    devices = iam.list_mfa_devices(UserName=name)["MFADevices"]
    if what == "add-password" and not password:
        iam.create_login_profile(UserName=name, Password="Correct-Horse-9!")
        trail.record("CreateLoginProfile", name, now)
    elif what == "remove-password" and password:
        iam.delete_login_profile(UserName=name)
        trail.record("DeleteLoginProfile", name, now)
    elif what == "enable-mfa" and not devices:
        enable_mfa(iam, user, Mfa.HARDWARE)
        trail.record("EnableMFADevice", name, now, serialNumber=serial(iam, name))
    elif what == "deactivate-mfa" and devices:
        iam.deactivate_mfa_device(UserName=name, SerialNumber=devices[0]["SerialNumber"])
        trail.record("DeactivateMFADevice", name, now, serialNumber=devices[0]["SerialNumber"])
        if ":mfa/" in devices[0]["SerialNumber"]:  # a virtual device: delete it too
            iam.delete_virtual_mfa_device(SerialNumber=devices[0]["SerialNumber"])
            trail.record("DeleteVirtualMFADevice", "", now, serialNumber=devices[0]["SerialNumber"])
    elif what == "recreate":
        for device in devices:
            iam.deactivate_mfa_device(UserName=name, SerialNumber=device["SerialNumber"])
            if ":mfa/" in device["SerialNumber"]:
                iam.delete_virtual_mfa_device(SerialNumber=device["SerialNumber"])
        if password:
            iam.delete_login_profile(UserName=name)
        iam.delete_user(UserName=name)
        create_user(iam, name)  # same name and ARN, a new UserId, a password, no MFA
        trail.record("CreateUser", name, now)


def seed(iam: Any) -> list[str]:
    states = [Mfa.VIRTUAL, Mfa.HARDWARE, Mfa.NONE, Mfa.FIDO]
    names = []
    for i, mfa in enumerate(states * 2):
        name = f"user-{i}"
        create_user(iam, name, password=i % 3 != 2, mfa=mfa)
        names.append(name)
    return names


@pytest.mark.parametrize(
    ("what", "user", "verdict"),
    [
        ("add-password", "user-2", "NON_COMPLIANT"),  # no password in the report, one now
        ("remove-password", "user-1", "NOT_APPLICABLE"),
        ("enable-mfa", "user-6", "COMPLIANT"),  # user-6: password, no MFA in the report
        ("deactivate-mfa", "user-1", "NON_COMPLIANT"),  # hardware device deactivated
        ("deactivate-mfa", "user-0", "NON_COMPLIANT"),  # virtual device deactivated and deleted
        ("recreate", "user-4", "NON_COMPLIANT"),
    ],
)
def test_each_change_after_the_report_gives_the_live_verdict(
    iam: Any, trail: TrailEvents, what: str, user: str, verdict: str
) -> None:
    seed(iam)
    freeze_report(iam)
    change(iam, trail, user, what)
    report_path = verdicts(REPORT)
    assert report_path[user] == verdict
    assert report_path == verdicts(LIVE)


CHANGES = st.lists(
    st.tuples(
        st.integers(0, 7),
        st.sampled_from(["add-password", "remove-password", "enable-mfa", "deactivate-mfa", "recreate"]),
    ),
    max_size=12,
)


@settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
@given(changes=CHANGES)
def test_report_path_with_the_delta_equals_live_after_any_changes(
    account: None, trail: TrailEvents, changes: list[tuple[int, str]]
) -> None:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    iam_backends[DEFAULT_ACCOUNT_ID]["global"].reset()
    trail.events.clear()
    iam = configured_session().client("iam")
    names = seed(iam)
    freeze_report(iam)
    for index, what in changes:
        change(iam, trail, names[index], what)
    assert verdicts(REPORT) == verdicts(LIVE)


def test_lookups_page_through_every_event_and_name_each_user_once(
    iam: Any, trail: TrailEvents, call_log: CallLog
) -> None:
    for i in range(120):
        create_user(iam, f"u{i:03}", password=False)
    freeze_report(iam)
    now = datetime.now(UTC)
    for i in range(120):  # 120 events of one kind: 3 pages of at most 50
        iam.create_login_profile(UserName=f"u{i:03}", Password="Correct-Horse-9!")
        trail.record("CreateLoginProfile", f"u{i:03}", now)
    assert set(verdicts(REPORT).values()) == {"NON_COMPLIANT"}
    lookups = [r for r in trail.requests if r["LookupAttributes"][0]["AttributeValue"] == "CreateLoginProfile"]
    assert [r.get("NextToken") for r in lookups] == [None, "50", "100"]
    assert {r["LookupAttributes"][0]["AttributeValue"] for r in trail.requests} == set(VERDICT_EVENTS)


def test_other_services_create_user_events_leave_the_delta_intact(
    iam: Any, trail: TrailEvents, call_log: CallLog, caplog: pytest.LogCaptureFixture
) -> None:
    """Amazon MQ, WorkMail, Amazon Connect, Transfer Family... have a CreateUser too: it names no
    IAM user and must not void the delta (which would read every user live)."""
    for i in range(30):
        create_user(iam, f"u{i:02}", mfa=Mfa.VIRTUAL)
    freeze_report(iam)
    trail.record("CreateUser", "u08", datetime.now(UTC))  # IAM's, listed after the newer ones below
    trail.record("CreateUser", "", datetime.now(UTC), source="mq.amazonaws.com", username="broker")
    trail.record("CreateUser", "", datetime.now(UTC), source="workmail.amazonaws.com", name="mailbox")
    trail.record("CreateUser", "", datetime.now(UTC), source="connect.amazonaws.com", Username="agent")
    trail.record("CreateLoginProfile", "u07", datetime.now(UTC))  # and one IAM change
    with caplog.at_level(logging.INFO):
        assert set(verdicts(REPORT).values()) == {"COMPLIANT"}
    assert call_log.operations("iam").count("GetLoginProfile") == 2  # u07's and u08's: no live fallback
    assert "2 of 30 users read live (2 named by CloudTrail or the change store)" in caplog.text


class ThrottledCloudTrail(JsonEndpoint):
    """A CloudTrail endpoint that throttles every request: botocore's retries really run."""

    attempts: ClassVar[int] = 0

    def answer(self, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        type(self).attempts += 1
        return 400, {"__type": "ThrottlingException", "message": "Rate exceeded"}


@pytest.fixture
def throttled_cloudtrail(account: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[type[ThrottledCloudTrail]]:
    configured_session().events.unregister("before-call.cloudtrail.LookupEvents", _answer_lookup_events)
    ThrottledCloudTrail.attempts = 0
    with serving(ThrottledCloudTrail, "AWS_ENDPOINT_URL_CLOUDTRAIL", monkeypatch):
        yield ThrottledCloudTrail


def test_no_delta_means_live_reads_never_a_trusted_stale_row(
    iam: Any, trail: TrailEvents, caplog: pytest.LogCaptureFixture
) -> None:
    create_user(iam, "bob", mfa=Mfa.VIRTUAL)
    freeze_report(iam)
    iam.deactivate_mfa_device(UserName="bob", SerialNumber=serial(iam, "bob"))  # CloudTrail unreadable
    trail.fail_with = "AccessDeniedException"
    with caplog.at_level(logging.WARNING):
        assert verdicts(REPORT) == {"bob": "NON_COMPLIANT"}
    assert "CloudTrail delta unavailable (LookupEvents failed: AccessDeniedException" in caplog.text


def test_throttling_is_retried_then_the_sweep_reads_live(
    iam: Any, throttled_cloudtrail: type[ThrottledCloudTrail], caplog: pytest.LogCaptureFixture
) -> None:
    create_user(iam, "bob", mfa=Mfa.VIRTUAL)
    freeze_report(iam)
    iam.deactivate_mfa_device(UserName="bob", SerialNumber=serial(iam, "bob"))
    with caplog.at_level(logging.WARNING):
        assert verdicts(REPORT) == {"bob": "NON_COMPLIANT"}
    assert "LookupEvents failed: ThrottlingException" in caplog.text
    assert throttled_cloudtrail.attempts == 9  # the first attempt and botocore's 8 retries (standard mode)


def test_no_time_for_the_delta_nor_for_live_reads_fails_loudly(iam: Any, trail: TrailEvents) -> None:
    for i in range(5):
        create_user(iam, f"u{i}")
    freeze_report(iam)
    clock = [200_000]

    def remaining() -> int:  # the report takes its half, then time runs out
        clock[0] -= 60_000
        return clock[0]

    with pytest.raises(OutOfTime):
        verdicts(REPORT, Deadline(remaining))


def test_iam_events_are_read_in_the_partitions_iam_region() -> None:
    assert iam_event_region("eu-west-1") == "us-east-1"
    assert iam_event_region("us-east-1") == "us-east-1"
    assert iam_event_region("us-gov-east-1") == "us-gov-west-1"
    assert iam_event_region("cn-northwest-1") == "cn-north-1"


def test_an_event_stamped_minutes_before_the_report_is_still_read_live(iam: Any, trail: TrailEvents) -> None:
    """CloudTrail's clock and the report's may differ: a change stamped up to 5 minutes before
    GeneratedTime may be missing from the report, so it is read live too."""
    create_user(iam, "bob", mfa=Mfa.VIRTUAL)
    device = serial(iam, "bob")
    generated = freeze_report(iam)
    iam.deactivate_mfa_device(UserName="bob", SerialNumber=device)
    trail.record("DeactivateMFADevice", "bob", generated - timedelta(minutes=3), serialNumber=device)
    assert verdicts(REPORT) == {"bob": "NON_COMPLIANT"}


def test_an_iam_event_that_names_no_user_voids_the_delta(
    iam: Any, trail: TrailEvents, caplog: pytest.LogCaptureFixture
) -> None:
    """Who changed is unknown: no row of the report can be trusted, every user is read live."""
    create_user(iam, "bob", mfa=Mfa.VIRTUAL)
    freeze_report(iam)
    iam.deactivate_mfa_device(UserName="bob", SerialNumber=serial(iam, "bob"))
    trail.record("DeactivateMFADevice", "", datetime.now(UTC))  # an IAM event without userName
    with caplog.at_level(logging.WARNING):
        assert verdicts(REPORT) == {"bob": "NON_COMPLIANT"}
    assert "DeactivateMFADevice event event-0 names no user" in caplog.text


def test_without_a_cloudtrail_client_the_report_is_not_trusted(iam: Any) -> None:
    create_user(iam, "bob", mfa=Mfa.VIRTUAL)
    freeze_report(iam)
    iam.deactivate_mfa_device(UserName="bob", SerialNumber=serial(iam, "bob"))
    assessed = sweep(LiveIam(iam), REPORT, datetime.now(UTC), trail=None)
    assert [a.verdict.compliance.value for a in assessed] == ["NON_COMPLIANT"]


def test_a_user_exempt_by_name_who_enables_mfa_is_read_live(iam: Any, trail: TrailEvents) -> None:
    """The report's row of a name-exempt user without MFA is trusted (no confirmation: the
    exemption already spares it); after EnableMFADevice the user is COMPLIANT, not exempt."""
    create_user(iam, "svc-x")
    freeze_report(iam)
    change(iam, trail, "svc-x", "enable-mfa")
    exempt = RuleParameters(data_source=DataSource.CREDENTIAL_REPORT, exempt_user_names=("svc-*",))
    assert verdicts(exempt) == {"svc-x": "COMPLIANT"} == verdicts(exempt._replace(data_source=DataSource.LIVE))


def delta(trail: TrailEvents, deadline: Deadline | None = None) -> set[str]:
    cloudtrail = configured_session().client("cloudtrail", region_name="us-east-1")
    now = datetime.now(UTC)
    return set(changed_since(cloudtrail, now - timedelta(hours=1), now, deadline or Deadline()))


def test_the_user_is_named_by_the_record_or_else_by_the_lookups_resources(
    account: None, trail: TrailEvents, caplog: pytest.LogCaptureFixture
) -> None:
    now = datetime.now(UTC)
    trail.record("CreateLoginProfile", "bob", now)
    trail.events[-1]["Resources"] = []  # the record names bob
    trail.record("DeleteLoginProfile", "carol", now)
    trail.events[-1]["CloudTrailEvent"] = "{not json"  # only the lookup's summary names carol
    key = {"ResourceType": "AWS::IAM::AccessKey", "ResourceName": "AKIAIOSFODNN7EXAMPLE"}
    device = {"ResourceType": "AWS::IAM::VirtualMFADevice", "ResourceName": "carols-phone"}
    trail.events[-1]["Resources"][:0] = [key, device]  # resources that are no user name nobody
    trail.record("DeactivateMFADevice", "", now, serialNumber="arn:aws:iam::123456789012:mfa/path/dave")
    trail.record("EnableMFADevice", "erin", now, serialNumber="arn:aws:iam::123456789012:u2f/user/erin/x")
    with caplog.at_level(logging.INFO):
        assert delta(trail) == {"bob", "carol", "dave", "erin"}  # dave: the virtual device's name
    assert "4 event(s), 4 user(s) to read live" in caplog.text


def test_the_lookups_cover_the_clock_skew_before_since_up_to_until(account: None, trail: TrailEvents) -> None:
    """CloudTrail's and the report's clocks may differ by minutes: every lookup starts 5 minutes
    before ``since`` and ends at ``until``, one per verdict-changing event name."""
    until = datetime.now(UTC).replace(microsecond=0)
    since = until - timedelta(hours=1)
    cloudtrail = configured_session().client("cloudtrail", region_name="us-east-1")
    changed_since(cloudtrail, since, until, Deadline())
    windows = {(float(r["StartTime"]), float(r["EndTime"])) for r in trail.requests}
    assert windows == {((since - timedelta(minutes=5)).timestamp(), until.timestamp())}
    assert len(trail.requests) == len(VERDICT_EVENTS)


BOB = {"type": "IAMUser", "userName": "bob", "arn": "arn:aws:iam::123456789012:user/bob"}
ADMIN_ROLE = {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/admin/session"}
ROOT = {"type": "Root", "arn": "arn:aws:iam::123456789012:root"}


def test_a_user_who_deactivates_their_own_device_is_named_by_the_caller(iam: Any, trail: TrailEvents) -> None:
    """DeactivateMFADevice's UserName is optional: without it IAM acts on the caller. bob's
    device is called "phone" (a name of his choosing): the device's name is not the user's."""
    create_user(iam, "bob", mfa=Mfa.VIRTUAL)
    freeze_report(iam)
    iam.deactivate_mfa_device(UserName="bob", SerialNumber=serial(iam, "bob"))
    trail.record(
        "DeactivateMFADevice",
        "",
        datetime.now(UTC),
        caller=BOB,
        serialNumber="arn:aws:iam::123456789012:mfa/phone",
    )
    assert delta(trail) == {"bob"}
    assert verdicts(REPORT) == {"bob": "NON_COMPLIANT"} == verdicts(LIVE)


def test_failed_calls_and_the_root_users_own_changes_leave_the_delta_intact(
    account: None, trail: TrailEvents
) -> None:
    """A failed call changed nothing (CloudTrail records it, with errorCode), and the root user
    is not an IAM user: neither names a user to read, nor voids the delta."""
    now = datetime.now(UTC)
    trail.record("DeleteLoginProfile", "", now, caller=ADMIN_ROLE, error_code="NoSuchEntity")
    trail.record("CreateLoginProfile", "carol", now, caller=ADMIN_ROLE, error_code="AccessDenied")
    trail.record("DeactivateMFADevice", "", now, caller=ROOT, serialNumber="arn:aws:iam::123456789012:mfa/root")
    trail.record("DeleteLoginProfile", "", now, caller=ROOT)
    assert delta(trail) == set()


def test_the_calls_whose_user_defaults_to_the_caller_are_iams() -> None:
    """The events read for the caller are exactly those whose UserName botocore's IAM model
    (the API as AWS publishes it) leaves optional."""
    import botocore.session
    from console_mfa.trail import CALLER_DEFAULT_EVENTS

    model = botocore.session.get_session().get_service_model("iam")
    optional = set()
    for name in VERDICT_EVENTS:
        shape = model.operation_model(name).input_shape
        assert shape is not None, name
        if "UserName" in shape.members and "UserName" not in shape.required_members:
            optional.add(name)
    assert optional == CALLER_DEFAULT_EVENTS


def test_time_running_out_during_the_delta_stops_its_lookups(account: None, trail: TrailEvents) -> None:
    """Six lookups of up to 2 a second can take seconds: the deadline is checked before each."""
    clock = iter([60_000, 60_000])  # two lookups, then no time left

    with pytest.raises(DeltaUnavailable, match="sweep stopped"):
        delta(trail, Deadline(lambda: next(clock, 0)))
    assert len(trail.requests) == 2
