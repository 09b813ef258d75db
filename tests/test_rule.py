"""The rule through lambda_handler: real-shaped Config events, IAM in moto, and the exact
PutEvaluations request captured at the botocore level (see conftest)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from console_mfa.aws import configured_session
from console_mfa.errors import AwsCallFailed, InvalidEvent, InvalidRuleParameter, OutOfTime
from IAM_USER_CONSOLE_MFA import RuleInvocationFailed, lambda_handler

from iam_console_mfa.demo.account import Mfa, create_user
from iam_console_mfa.event_builders import change_event, scheduled_event, user_configuration_item
from iam_console_mfa.local_config import LocalConfig
from tests.stacks import STACKS
from tests.support import REAL_TOKEN, CallLog, fail_operation, oversized_event

TYPE = "AWS::IAM::User"
LONG_AGO = datetime.fromtimestamp(1763900000, UTC)


def run_change(user: dict[str, Any], tags: dict[str, str] | None = None, **parameters: str) -> None:
    item = user_configuration_item(user, tags=tags)
    lambda_handler(change_event(item, {"AssumeRoleMode": "False", **parameters}, token=REAL_TOKEN), None)


def only_evaluation(config_api: LocalConfig) -> dict[str, Any]:
    (request,) = config_api.requests["PutEvaluations"]
    assert request["ResultToken"] == REAL_TOKEN
    assert request["TestMode"] is False
    (evaluation,) = request["Evaluations"]
    assert evaluation["ComplianceResourceType"] == TYPE
    return evaluation


def test_no_console_password(iam: Any, config_api: LocalConfig, call_log: CallLog) -> None:
    user = create_user(iam, "carol", password=False)
    run_change(user)
    evaluation = only_evaluation(config_api)
    assert evaluation["ComplianceResourceId"] == user["UserId"]  # the UserId, not the name
    assert evaluation["ComplianceType"] == "NOT_APPLICABLE"
    assert evaluation["Annotation"] == "carol: no console password"
    assert call_log.operations("iam") == ["GetUser", "GetLoginProfile"]


@pytest.mark.parametrize(
    ("mfa", "kind"), [(Mfa.VIRTUAL, "virtual"), (Mfa.HARDWARE, "hardware TOTP"), (Mfa.FIDO, "FIDO")]
)
def test_password_with_mfa(iam: Any, config_api: LocalConfig, call_log: CallLog, mfa: Mfa, kind: str) -> None:
    user = create_user(iam, "alice", mfa=mfa)
    run_change(user)
    evaluation = only_evaluation(config_api)
    assert (evaluation["ComplianceResourceId"], evaluation["ComplianceType"]) == (user["UserId"], "COMPLIANT")
    assert evaluation["Annotation"].startswith("alice: console password with 1 MFA device (1 " + kind)
    assert call_log.operations("iam") == ["GetUser", "GetLoginProfile", "ListMFADevices"]


def test_password_without_mfa(iam: Any, config_api: LocalConfig, call_log: CallLog) -> None:
    user = create_user(iam, "bob")
    run_change(user)
    evaluation = only_evaluation(config_api)
    profile = iam.get_login_profile(UserName="bob")["LoginProfile"]
    assert evaluation == {
        "ComplianceResourceId": user["UserId"],
        "ComplianceResourceType": TYPE,
        "ComplianceType": "NON_COMPLIANT",
        # "never used": GetUser has no PasswordLastUsed for a password nobody signed in with
        "Annotation": f"bob: console password without MFA (password set {profile['CreateDate'].date()}, "
        "never used). Enable an MFA device, or console access will be removed.",
        "OrderingTimestamp": evaluation["OrderingTimestamp"],
    }
    assert call_log.operations("iam") == ["GetUser", "GetLoginProfile", "ListMFADevices"]


def test_deleted_configuration_item(iam: Any, config_api: LocalConfig, call_log: CallLog) -> None:
    user = create_user(iam, "gone")
    item = user_configuration_item(user, status="ResourceDeleted")
    lambda_handler(change_event(item, token=REAL_TOKEN), None)
    evaluation = only_evaluation(config_api)
    assert (evaluation["ComplianceResourceId"], evaluation["ComplianceType"]) == (
        user["UserId"],
        "NOT_APPLICABLE",
    )
    assert call_log.operations("iam") == []


@pytest.mark.parametrize("status", ["ResourceNotRecorded", "ResourceDeletedNotRecorded"])
@pytest.mark.parametrize("oversized", [False, True])
def test_an_item_this_regions_recorder_does_not_record_writes_nothing(
    iam: Any, config_api: LocalConfig, call_log: CallLog, status: str, oversized: bool
) -> None:
    """Config invokes the rule for IAM users in a region whose recorder does not record them
    (global types recorded elsewhere): rdklib would write NOT_APPLICABLE over the verdict the
    recording region wrote. Nothing is written, nothing is read, the oversized path included."""
    user = create_user(iam, "bob")  # no MFA: NON_COMPLIANT where it is recorded
    lambda_handler(change_event(user_configuration_item(user), token=REAL_TOKEN), None)
    assert only_evaluation(config_api)["ComplianceType"] == "NON_COMPLIANT"
    item = user_configuration_item(user, status=status)
    if oversized:
        history = {"configurationItems": [config_history_item(user, item, status)]}
        config_api.responses["GetResourceConfigHistory"] = lambda request: history
        event = oversized_event(user["UserId"], token=REAL_TOKEN)
    else:
        event = change_event(item, token=REAL_TOKEN)
    mark = len(call_log.calls)
    assert lambda_handler(event, None) == []
    assert config_api.results[user["UserId"]]["ComplianceType"] == "NON_COMPLIANT"
    assert [op for _, op in call_log.calls[mark:]] == (["GetResourceConfigHistory"] if oversized else [])


def test_event_left_scope(iam: Any, config_api: LocalConfig) -> None:
    user = create_user(iam, "bob")
    lambda_handler(change_event(user_configuration_item(user), token=REAL_TOKEN, left_scope=True), None)
    assert only_evaluation(config_api)["ComplianceType"] == "NOT_APPLICABLE"


def config_history_item(user: dict[str, Any], item: dict[str, Any], status: str = "OK") -> dict[str, Any]:
    """``item`` as GetResourceConfigHistory returns it: configuration is a JSON string."""
    return {
        "version": "1.3",
        "accountId": item["awsAccountId"],
        "configurationItemCaptureTime": datetime.now(UTC) + timedelta(seconds=1),  # the summary's, or newer
        "configurationItemStatus": status,
        "configurationStateId": "1",
        "configurationItemMD5Hash": "",
        "arn": item["ARN"],
        "resourceType": TYPE,
        "resourceId": user["UserId"],
        "resourceName": user["UserName"],
        "awsRegion": "global",
        "availabilityZone": "Not Applicable",
        "tags": item.get("tags") or {},
        "relatedEvents": [],
        "relationships": [],
        "configuration": json.dumps(item["configuration"]),
        "supplementaryConfiguration": {},
    }


def test_oversized_event_is_inflated_from_config_history(iam: Any, config_api: LocalConfig) -> None:
    user = create_user(iam, "bob", tags={"BreakGlass": "yes"})
    item = user_configuration_item(user, tags={"BreakGlass": "yes"})
    history_item = config_history_item(user, item)
    config_api.responses["GetResourceConfigHistory"] = lambda request: {"configurationItems": [history_item]}
    event = oversized_event(user["UserId"], {"AssumeRoleMode": "False", "ExemptTag": "BreakGlass"}, REAL_TOKEN)
    lambda_handler(event, None)
    assert config_api.requests["GetResourceConfigHistory"] == [
        {"resourceType": TYPE, "resourceId": user["UserId"], "limit": 1}
    ]
    evaluation = only_evaluation(config_api)
    assert (evaluation["ComplianceResourceId"], evaluation["ComplianceType"]) == (
        user["UserId"],
        "NOT_APPLICABLE",
    )
    assert evaluation["Annotation"] == "bob: console password without MFA, exempt by ExemptTag 'BreakGlass'"


@pytest.mark.parametrize(
    ("name", "parameters", "tags", "why"),
    [
        ("break-glass", {"ExemptUserNames": "Break-Glass"}, None, "ExemptUserNames 'Break-Glass'"),
        ("svc-deploy", {"ExemptUserNames": "admin,svc-*"}, None, "ExemptUserNames 'svc-*'"),
        (
            "ops",
            {"ExemptTag": "MfaExempt=approved"},
            {"MfaExempt": "approved"},
            "ExemptTag 'MfaExempt=approved'",
        ),
    ],
)
def test_exemptions(iam: Any, config_api: LocalConfig, call_log: CallLog, name, parameters, tags, why) -> None:
    user = create_user(iam, name, tags=tags)
    run_change(user, tags=tags, **parameters)
    evaluation = only_evaluation(config_api)
    assert evaluation["ComplianceType"] == "NOT_APPLICABLE"
    assert evaluation["Annotation"] == f"{name}: console password without MFA, exempt by {why}"
    assert "ListUserTags" not in call_log.operations("iam")  # change mode takes tags from the CI


def test_tag_mismatch_is_flagged(iam: Any, config_api: LocalConfig) -> None:
    user = create_user(iam, "ops", tags={"MfaExempt": "pending"})
    run_change(user, tags={"MfaExempt": "pending"}, ExemptTag="MfaExempt=approved")
    assert only_evaluation(config_api)["ComplianceType"] == "NON_COMPLIANT"


def test_grace_period(iam: Any, config_api: LocalConfig) -> None:
    user = create_user(iam, "newhire")
    run_change(user, GracePeriodDays="7")
    evaluation = only_evaluation(config_api)
    assert evaluation["ComplianceType"] == "COMPLIANT"
    assert "grace period ends on" in evaluation["Annotation"]


def seed_mixed_account(iam: Any, count: int = 60) -> dict[str, tuple[str, str]]:
    """count users cycling through every table row; returns UserId -> (name, expected verdict)."""
    states: list[tuple[dict[str, Any], str]] = [
        (dict(password=False), "NOT_APPLICABLE"),
        (dict(mfa=Mfa.VIRTUAL), "COMPLIANT"),
        (dict(mfa=Mfa.HARDWARE), "COMPLIANT"),
        (dict(mfa=Mfa.FIDO), "COMPLIANT"),
        (dict(tags={"BreakGlass": "true"}), "NOT_APPLICABLE"),
        (dict(), "NON_COMPLIANT"),
    ]
    expected = {}
    for i in range(count):
        kwargs, verdict = states[i % len(states)]
        name = f"svc-robot{i}" if i % 10 == 9 else f"user{i:03d}"
        user = create_user(iam, name, **kwargs)
        if name.startswith("svc-") and verdict == "NON_COMPLIANT":
            verdict = "NOT_APPLICABLE"
        expected[user["UserId"]] = (name, verdict)
    return expected


def test_periodic_sweep_evaluates_every_user_and_cleans_up(iam: Any, config_api: LocalConfig) -> None:
    expected = seed_mixed_account(iam, 60)
    vanished = "AIDAVANISHEDUSER00001"
    config_api.responses["GetComplianceDetailsByConfigRule"] = lambda request: {
        "EvaluationResults": [
            {
                "EvaluationResultIdentifier": {
                    "EvaluationResultQualifier": {
                        "ConfigRuleName": "IAM_USER_CONSOLE_MFA",
                        "ResourceType": TYPE,
                        "ResourceId": vanished,
                    },
                    "OrderingTimestamp": LONG_AGO,
                },
                "ComplianceType": "NON_COMPLIANT",
                # botocore parses the API's timestamps into datetimes
                "ResultRecordedTime": LONG_AGO,
                "ConfigRuleInvokedTime": LONG_AGO,
            }
        ]
    }
    parameters = {"AssumeRoleMode": "False", "ExemptUserNames": "svc-*", "ExemptTag": "BreakGlass=true"}
    lambda_handler(scheduled_event(parameters, token=REAL_TOKEN), None)

    (read,) = config_api.requests["GetComplianceDetailsByConfigRule"]
    assert read["ConfigRuleName"] == "IAM_USER_CONSOLE_MFA"
    assert all(len(r["Evaluations"]) <= 100 for r in config_api.requests["PutEvaluations"])
    results = config_api.by_resource()
    assert results.pop(vanished)["ComplianceType"] == "NOT_APPLICABLE"
    assert {uid: e["ComplianceType"] for uid, e in results.items()} == {
        uid: verdict for uid, (_, verdict) in expected.items()
    }
    for uid, (name, _) in expected.items():
        assert results[uid]["Annotation"].startswith(name + ":")
        assert results[uid]["ComplianceResourceType"] == TYPE


def test_sweep_fetches_tags_only_for_users_a_tag_could_spare(
    iam: Any, config_api: LocalConfig, call_log: CallLog
) -> None:
    seed_mixed_account(iam, 12)
    config_api.responses["GetComplianceDetailsByConfigRule"] = lambda request: {"EvaluationResults": []}
    lambda_handler(scheduled_event({"AssumeRoleMode": "False", "DataSource": "live"}, REAL_TOKEN), None)
    assert "ListUserTags" not in call_log.operations("iam")
    call_log.calls.clear()
    parameters = {"AssumeRoleMode": "False", "DataSource": "live", "ExemptTag": "BreakGlass=true"}
    lambda_handler(scheduled_event(parameters, REAL_TOKEN), None)
    # users 4, 5, 10, 11 have a password and no MFA: only they could be spared by a tag
    assert call_log.operations("iam").count("ListUserTags") == 4


def test_invalid_parameters_raise_and_write_nothing(iam: Any, config_api: LocalConfig) -> None:
    user = create_user(iam, "bob")
    with pytest.raises(InvalidRuleParameter, match=r"ExemptUserName='bob'.*did you mean ExemptUserNames"):
        run_change(user, ExemptUserName="bob")
    with pytest.raises(InvalidRuleParameter, match=r"GracePeriodDays='-1'"):
        lambda_handler(scheduled_event({"GracePeriodDays": "-1"}, REAL_TOKEN), None)
    assert "PutEvaluations" not in config_api.requests


@pytest.mark.parametrize("code", ["AccessDenied", "Throttling", "ServiceFailure"])
def test_iam_errors_raise_and_write_nothing(iam: Any, config_api: LocalConfig, code: str) -> None:
    user = create_user(iam, "bob")
    fail_operation(
        configured_session(), "iam", "GetLoginProfile", code, status=403 if code == "AccessDenied" else 400
    )
    with pytest.raises(AwsCallFailed, match=f"GetLoginProfile for user bob failed: {code}"):
        run_change(user)
    with pytest.raises(AwsCallFailed, match=f"GetLoginProfile for user bob failed: {code}"):
        lambda_handler(scheduled_event(token=REAL_TOKEN), None)
    assert "PutEvaluations" not in config_api.requests


def test_errors_rdklib_would_swallow_are_raised(iam: Any, config_api: LocalConfig) -> None:
    create_user(iam, "bob")
    fail_operation(configured_session(), "config-service", "PutEvaluations", "AccessDeniedException")
    with pytest.raises(RuleInvocationFailed, match="AccessDeniedException"):
        lambda_handler(scheduled_event(token=REAL_TOKEN), None)
    assert "PutEvaluations" not in config_api.requests


def test_user_deleted_during_inspection_is_skipped(iam: Any, config_api: LocalConfig) -> None:
    user = create_user(iam, "bob")
    fail_operation(configured_session(), "iam", "ListMFADevices", "NoSuchEntity", status=404)
    run_change(user)
    assert config_api.requests["PutEvaluations"][0]["Evaluations"] == []


@pytest.mark.parametrize(
    ("change", "logged"),
    [
        ("deleted", "no IAM user is named bob"),
        ("recreated", "bob now belongs to"),
        ("renamed", "bob now belongs to"),  # and its old name given to a newcomer
    ],
)
def test_change_event_for_a_name_that_no_longer_holds_the_user_id_writes_nothing(
    iam: Any,
    config_api: LocalConfig,
    call_log: CallLog,
    change: str,
    logged: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """GetLoginProfile answers NoSuchEntity for "no password" and "no such user" alike: without the
    GetUser check the deleted user would read "no console password", the others another user's facts."""
    user = create_user(iam, "bob", password=False)
    if change == "renamed":
        iam.update_user(UserName="bob", NewUserName="robert")
    else:
        iam.delete_user(UserName="bob")
    if change != "deleted":
        create_user(iam, "bob", mfa=Mfa.VIRTUAL)  # the name now holds another UserId
    run_change(user)  # the configuration item Config recorded before the change
    assert config_api.requests["PutEvaluations"][0]["Evaluations"] == []
    assert call_log.operations("iam")[-1] == "GetUser"  # nothing read by a name that is not the user's
    assert f"nothing evaluated: {logged}" in caplog.text


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda e: e.pop("resultToken"), "event.resultToken is missing"),
        (lambda e: e.update(invokingEvent="{not json"), "invokingEvent is not valid JSON"),
        (lambda e: e.update(ruleParameters='["x"]'), "ruleParameters must be a JSON object"),
        (lambda e: e.update(invokingEvent=json.dumps({"messageType": "Nope"})), "messageType 'Nope'"),
        (
            lambda e: e.update(
                invokingEvent=json.dumps({**json.loads(e["invokingEvent"]), "configurationItem": {}})
            ),
            "invokingEvent.configurationItem.resourceType is missing",
        ),
        (lambda e: e.pop("eventLeftScope"), "event.eventLeftScope is missing"),
    ],
)
def test_malformed_events_are_named(iam: Any, config_api: LocalConfig, mutate, message: str) -> None:
    event = change_event(user_configuration_item(create_user(iam, "bob")), token=REAL_TOKEN)
    mutate(event)
    with pytest.raises(InvalidEvent, match=message):
        lambda_handler(event, None)
    assert "PutEvaluations" not in config_api.requests


class LambdaContext:
    """The Lambda context's clock, moved by the test."""

    def __init__(self, remaining_ms: int) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def _sweep_of(iam: Any, users: int) -> None:
    for i in range(users):
        create_user(iam, f"user{i:03}", password=False)


@pytest.mark.parametrize(("users", "written_before_stop"), [(150, 0), (250, 100)])
def test_put_evaluations_stops_before_a_batch_whose_successors_cannot_finish(
    iam: Any, config_api: LocalConfig, users: int, written_before_stop: int
) -> None:
    """With 3 s left, two more batches (2 s each reserved) cannot be written: none is sent."""
    _sweep_of(iam, users)
    context = LambdaContext(60_000)

    def clock_runs_out(**_: Any) -> None:
        if (
            sum(len(r["Evaluations"]) for r in config_api.requests.get("PutEvaluations", []))
            >= written_before_stop
        ):
            context.remaining_ms = 3_000

    configured_session().events.register_first(
        "before-parameter-build.config-service.PutEvaluations", clock_runs_out
    )
    with pytest.raises(OutOfTime, match=f"{written_before_stop} evaluation\\(s\\) written"):
        lambda_handler(scheduled_event({"AssumeRoleMode": "False", "DataSource": "live"}, REAL_TOKEN), context)
    assert len(config_api.evaluations) == written_before_stop


def test_each_decision_and_each_sweep_is_one_structured_log_line(
    iam: Any, config_api: LocalConfig, caplog: pytest.LogCaptureFixture
) -> None:
    """The fields Lambda's JSON log format turns into keys (rule.yaml: LoggingConfig JSON)."""
    create_user(iam, "bob")
    create_user(iam, "alice", mfa=Mfa.VIRTUAL)
    with caplog.at_level(logging.INFO):
        lambda_handler(scheduled_event({"AssumeRoleMode": "False", "DataSource": "live"}, REAL_TOKEN), None)
    # LoggingConfig JSON turns a record's extra fields into keys: here they are its attributes
    decisions: dict[str, Any] = {vars(r)["user"]: r for r in caplog.records if hasattr(r, "verdict")}
    assert (decisions["bob"].verdict, decisions["bob"].reason, decisions["bob"].source) == (
        "NON_COMPLIANT",
        "no-mfa",
        "live",
    )
    assert decisions["alice"].verdict == "COMPLIANT" and decisions["alice"].user_id
    (sweep,) = [vars(r)["sweep"] for r in caplog.records if hasattr(r, "sweep")]
    assert sweep["users"] == 2 and sweep["source"] == "live" and sweep["writes"]["new"] == 2
    assert sweep["calls"]["GetLoginProfile"] == 2 and sweep["calls"]["ListUsers"] == 1
    function = STACKS["rule.yaml"]["Resources"]["Function"]["Properties"]
    assert function["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": {"Ref": "LogGroup"}}


def test_a_sweep_whose_batches_cannot_all_be_written_in_time_writes_none(
    iam: Any, config_api: LocalConfig
) -> None:
    """250 evaluations are 3 PutEvaluations batches of 2 s each: 5 s left after the sweep is too little."""
    for i in range(250):
        create_user(iam, f"u{i:03}", password=False)
    swept: list[bool] = []  # the sweep is over once the rule reads Config's results

    configured_session().events.register(
        "provide-client-params.config-service.GetComplianceDetailsByConfigRule", lambda **_: swept.append(True)
    )

    class Context:
        def get_remaining_time_in_millis(self) -> int:
            return 5_000 if swept else 600_000

    with pytest.raises(
        OutOfTime, match=r"PutEvaluations stopped with 5000 ms left for 3 batch\(es\): 0 evaluation"
    ):
        lambda_handler(
            scheduled_event({"AssumeRoleMode": "False", "DataSource": "live"}, REAL_TOKEN), Context()
        )
    assert "PutEvaluations" not in config_api.requests


def test_the_rule_shell_stays_a_thin_adapter() -> None:
    """rdklib's two methods and the handler's dispatch; the engine's work lives in console_mfa."""
    from pathlib import Path

    import IAM_USER_CONSOLE_MFA

    assert len(Path(IAM_USER_CONSOLE_MFA.__file__).read_text().splitlines()) < 150
