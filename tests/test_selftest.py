"""selftest end to end against moto, with the rule's own Lambda standing in for what Config does.

moto has IAM, but no Config rule evaluation: after each CreateLoginProfile the double invokes
lambda_handler with the change event Config would send (a fresh configuration item), and
LocalConfig keeps the results that GetComplianceDetailsByResource answers (shaped as the API
documents). StartRemediationExecution runs the remediation Lambda's handler, as Config's
remediation would through the SSM document. The clock is a counter and sleeping is free.
"""

from __future__ import annotations

import fnmatch
import json
from typing import Any

import pytest
from console_mfa.aws import IAM_PROPAGATION_WAITS_SECONDS, configured_session
from console_mfa.remediation import handler as remediation_handler
from IAM_USER_CONSOLE_MFA import lambda_handler

from iam_console_mfa import cli, selftest
from iam_console_mfa.demo.account import create_user
from iam_console_mfa.event_builders import change_event, user_configuration_item
from iam_console_mfa.local_config import LocalConfig
from iam_console_mfa.selftest import ACTIONS, PREFIX, REMEDIATE, TAG, TAG_ON_CREATE, policy, totp
from tests.support import REAL_TOKEN, answer_operation, cli_session, error_answer
from tests.test_remediation_modes import QUARANTINE, rendered

RULE = "IAM_USER_CONSOLE_MFA"


def results_by_resource(config_api: LocalConfig) -> None:
    def answer(request: dict[str, Any]) -> dict[str, Any]:
        held = config_api.results.get(request["ResourceId"])
        if held is None:
            return {"EvaluationResults": []}
        qualifier = {
            "ConfigRuleName": RULE,
            "ResourceType": "AWS::IAM::User",
            "ResourceId": request["ResourceId"],
        }
        return {
            "EvaluationResults": [
                {
                    "EvaluationResultIdentifier": {"EvaluationResultQualifier": qualifier},
                    "ComplianceType": held["ComplianceType"],
                }
            ]
        }

    config_api.responses["GetComplianceDetailsByResource"] = answer


@pytest.fixture
def deployed_rule(
    iam: Any, config_api: LocalConfig, deployed: Any, monkeypatch: pytest.MonkeyPatch
) -> list[str]:
    """Config with the rule deployed: describes it, evaluates each new console user, remediates."""
    session = configured_session()
    answer_operation(
        session, "config-service", "DescribeConfigRules", lambda: {"ConfigRules": [{"ConfigRuleName": RULE}]}
    )
    results_by_resource(config_api)
    evaluated: list[str] = []

    def config_notices(params: dict[str, Any], **_: Any) -> None:  # a new login profile: evaluated
        name = params["UserName"]
        user = iam.get_user(UserName=name)["User"]
        lambda_handler(
            change_event(
                user_configuration_item(user, {"iam-console-mfa-selftest": "true"}),
                {"AssumeRoleMode": "False"},
                REAL_TOKEN,
            ),
            None,
        )
        evaluated.append(name)

    asked: list[dict[str, Any]] = []  # after-call does not carry the request: keep it from before
    session.events.register(
        "provide-client-params.iam.CreateLoginProfile", lambda params, **_: asked.append(params)
    )
    session.events.register("after-call.iam.CreateLoginProfile", lambda **_: config_notices(asked.pop()))
    config_api.responses["StartRemediationExecution"] = lambda request: (
        remediation_handler({"IAMUserId": request["ResourceKeys"][0]["resourceId"]}, None)
        and {"FailedItems": []}
    )
    monkeypatch.setattr(cli, "session", lambda args, retries=None: cli_session(configured_session()))
    monkeypatch.setattr("iam_console_mfa.selftest.time.sleep", lambda seconds: None)
    return evaluated


def leftovers(iam: Any) -> list[str]:
    return [u["UserName"] for u in iam.list_users()["Users"] if u["UserName"].startswith(PREFIX)]


def test_selftest_measures_detection_spares_the_twin_remediates_and_cleans_up(
    iam: Any, deployed_rule: list[str], capsys: Any
) -> None:
    assert cli.main(["selftest", "--yes", "--remediate"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines] == [
        "ok     created",
        "ok     detection",
        "ok     twin with MFA",
        "ok     remediation (disable-console)",
        "ok     cleanup",
    ]
    assert "NON_COMPLIANT after" in lines[1] and lines[2].endswith("-mfa: COMPLIANT")
    assert "password removed; user tagged" in lines[3]
    assert len(deployed_rule) == 2 and leftovers(iam) == []


def quarantine_mode(iam: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The rule deployed with RemediationAction require-mfa, its quarantine policy in place."""
    arn = iam.create_policy(PolicyName="quarantine", PolicyDocument=json.dumps(rendered(QUARANTINE)))["Policy"][
        "Arn"
    ]
    monkeypatch.setenv("QUARANTINE_POLICY_ARN", arn)
    rule = {"ConfigRuleName": RULE, "InputParameters": json.dumps({"RemediationAction": "require-mfa"})}
    answer_operation(
        configured_session(), "config-service", "DescribeConfigRules", lambda: {"ConfigRules": [rule]}
    )


def test_selftest_exercises_the_deployed_remediation_action(
    iam: Any, deployed_rule: list[str], capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """require-mfa: the quarantine policy is attached, and detached again before the user is deleted."""
    quarantine_mode(iam, monkeypatch)
    assert cli.main(["selftest", "--yes", "--remediate"]) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "remediation" in line]
    assert line == "ok     remediation (require-mfa): quarantine policy quarantine attached; user tagged"
    assert leftovers(iam) == []


def test_a_rule_that_never_flags_fails_the_selftest_and_still_cleans_up(
    iam: Any, config_api: LocalConfig, deployed_rule: list[str], capsys: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_api.responses["GetComplianceDetailsByResource"] = lambda request: {"EvaluationResults": []}
    assert cli.main(["selftest", "--yes", "--timeout", "0"]) == 1
    out = capsys.readouterr().out
    assert "FAILED detection: not flagged within 0 s" in out and leftovers(iam) == []


@pytest.mark.parametrize("interruption", [KeyboardInterrupt, RuntimeError])
def test_an_interruption_or_a_failure_midway_leaves_no_user(
    iam: Any, deployed_rule: list[str], monkeypatch: pytest.MonkeyPatch, interruption: type[BaseException]
) -> None:
    def stop(*_: Any) -> None:
        raise interruption()

    monkeypatch.setattr("iam_console_mfa.selftest._poll", stop)
    with pytest.raises(interruption):
        list(selftest.run(configured_session(), RULE, 60, False))
    assert leftovers(iam) == []


def test_no_yes_no_rule_and_leftover_cleanup(
    iam: Any, config_api: LocalConfig, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    monkeypatch.setattr(cli, "session", lambda args, retries=None: cli_session(configured_session()))
    assert cli.main(["selftest"]) == 2 and "confirm with --yes" in capsys.readouterr().err
    assert cli.main(["selftest", "--yes"]) == 2  # moto's Config holds no rule
    assert "no Config rule IAM_USER_CONSOLE_MFA in us-east-1: deploy it first" in capsys.readouterr().err
    create_user(iam, f"{PREFIX}left", tags={TAG["Key"]: TAG["Value"]})
    create_user(iam, f"{PREFIX}lookalike")  # the name, not the tag: not ours
    assert cli.main(["selftest", "--cleanup"]) == 0
    assert leftovers(iam) == [f"{PREFIX}lookalike"]


def test_totp_codes_are_rfc_6238s() -> None:
    """RFC 6238, appendix B: the SHA-1 test key at 59 s gives 94287082 (its last 6 digits here)."""
    import base64

    seed = base64.b32encode(b"12345678901234567890")
    assert totp(seed, 59) == "287082" and totp(seed, 1111111109) == "081804"


def test_policy_selftest_grants_what_selftest_calls_its_iam_writes_scoped(
    iam: Any, deployed_rule: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Derived from the calls selftest's own clients make (the rule's and the remediation's
    Lambdas run in this process too, with their own)."""
    called: set[str] = set()

    def tracked(name: str, **kwargs: Any) -> Any:
        session: Any = configured_session()  # Any: the service name is a variable
        client = session.client(name, **kwargs)
        client.meta.events.register(
            "provide-client-params",
            lambda model, **_: called.add(f"{model.service_model.signing_name}:{model.name}"),
        )
        return client

    monkeypatch.setattr(
        cli,
        "session",
        lambda args, retries=None: type(
            "S", (), {"client": staticmethod(tracked), "region_name": "us-east-1"}
        )(),
    )
    assert cli.main(["selftest", "--yes", "--remediate"]) == 0
    quarantine_mode(iam, monkeypatch)  # the other modes' calls: attached policies, detached at clean-up
    assert cli.main(["selftest", "--yes", "--remediate"]) == 0
    assert cli.main(["selftest", "--cleanup"]) == 0
    assert called | set(TAG_ON_CREATE.values()) == set(ACTIONS)  # tag-on-create: authorized as Tag*
    granted = policy(remediate=True)
    assert {a for s in granted["Statement"] for a in s["Action"]} == set(ACTIONS)
    # not granted unless asked: IAM cannot scope it to one rule (it has no resource type)
    assert REMEDIATE not in {a for s in policy(remediate=False)["Statement"] for a in s["Action"]}


USER = "arn:aws:iam::123456789012:user/"
TAGGED = {f"aws:RequestTag/{TAG['Key']}": TAG["Value"], "aws:TagKeys": [TAG["Key"]]}


def allowed(policy_: dict[str, Any], action: str, resource: str, context: dict[str, Any]) -> bool:
    """An identity policy's Allow as IAM evaluates it, for the operators these statements use:
    StringEquals (a key absent from the request fails it) and ForAllValues:StringEquals."""
    for statement in policy_["Statement"]:
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        if action not in statement["Action"] or not any(fnmatch.fnmatchcase(resource, r) for r in resources):
            continue
        conditions = statement.get("Condition", {})
        equals = all(context.get(k) == v for k, v in conditions.get("StringEquals", {}).items())
        every = all(
            set(context.get(k, [])) <= set(v)
            for k, v in conditions.get("ForAllValues:StringEquals", {}).items()
        )
        if equals and every:
            return True
    return False


@pytest.mark.parametrize(
    ("action", "resource", "context", "granted"),
    [
        ("iam:CreateUser", f"{USER}{PREFIX}x", TAGGED, True),
        ("iam:TagUser", f"{USER}{PREFIX}x", TAGGED, True),  # CreateUser with Tags needs it too
        ("iam:CreateUser", f"{USER}{PREFIX}x", {}, False),  # a self-test name without the tag
        ("iam:CreateUser", f"{USER}{PREFIX}x", {**TAGGED, "aws:TagKeys": [TAG["Key"], "Admin"]}, False),
        ("iam:CreateUser", f"{USER}alice", TAGGED, False),
        ("iam:CreateLoginProfile", f"{USER}{PREFIX}x", {f"aws:ResourceTag/{TAG['Key']}": "true"}, True),
        ("iam:CreateLoginProfile", f"{USER}{PREFIX}x", {}, False),  # someone else's look-alike
        ("iam:TagMFADevice", f"arn:aws:iam::123456789012:mfa/{PREFIX}x", TAGGED, True),
    ],
)
def test_the_selftest_policy_creates_and_changes_only_its_own_tagged_users(
    action: str, resource: str, context: dict[str, Any], granted: bool
) -> None:
    assert allowed(policy(remediate=False), action, resource, context) is granted


@pytest.mark.parametrize("conflicts", [2, 99])
def test_cleanup_waits_while_iam_still_sees_what_was_removed(iam: Any, conflicts: int) -> None:
    """IAM is eventually consistent: DeleteUser may answer DeleteConflict (stubbed at the botocore
    level, as IAM answers it) until the removed password and device are visible; cleanup asks
    again after bounded waits, then fails loudly."""
    name = f"{PREFIX}left"
    create_user(iam, name, tags={TAG["Key"]: TAG["Value"]})
    answered: list[int] = []

    def conflict(params: dict[str, Any], **_: Any) -> Any:
        if len(answered) >= conflicts:
            return None  # moto answers
        answered.append(1)
        return error_answer(params["url"], "DeleteConflict", "must delete login profile first", 409)

    session = configured_session()
    session.events.register_first("before-call.iam.DeleteUser", conflict)
    waits: list[float] = []
    if conflicts == 2:
        assert selftest.cleanup(session.client("iam"), [name], waits.append) == [name]
        assert waits == [1.0, 2.0] and leftovers(iam) == []
    else:
        with pytest.raises(selftest.CleanupIncomplete, match=r"DeleteConflict.*selftest --cleanup"):
            selftest.cleanup(session.client("iam"), [name], waits.append)
        assert waits == list(IAM_PROPAGATION_WAITS_SECONDS)


def interrupt(params: Any = None, **_: Any) -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    "moment",
    [
        "after-call.iam.CreateUser",  # created, not yet known to the caller
        "after-call.iam.CreateLoginProfile",  # a console user without MFA exists
        "after-call.iam.CreateVirtualMFADevice",  # a device, not yet enabled
        "before-call.iam.EnableMFADevice",  # enabling fails: the device stays unassigned
        "after-call.iam.EnableMFADevice",
    ],
)
def test_selftest_interrupted_at_any_step_leaves_nothing(
    iam: Any, deployed_rule: list[str], moment: str, capsys: Any
) -> None:
    configured_session().events.register_first(moment, interrupt)
    assert cli.main(["selftest", "--yes"]) == 130
    assert "the self-test's users were deleted" in capsys.readouterr().err
    assert leftovers(iam) == []
    assert iam.list_virtual_mfa_devices()["VirtualMFADevices"] == []


def test_a_failure_mid_cleanup_deletes_the_rest_and_names_the_command(iam: Any) -> None:
    first, second = f"{PREFIX}a", f"{PREFIX}b"
    for name in (first, second):
        create_user(iam, name, tags={TAG["Key"]: TAG["Value"]})

    def deny_the_first(params: dict[str, Any], **_: Any) -> Any:
        if params["body"]["UserName"] != first:
            return None  # moto answers
        return error_answer(params["url"], "AccessDenied", "denied", 403)

    configured_session().events.register_first("before-call.iam.DeleteLoginProfile", deny_the_first)
    with pytest.raises(selftest.CleanupIncomplete) as raised:
        selftest.cleanup(configured_session().client("iam"), [first, second], lambda s: None)
    assert f"could not delete {first} (" in str(raised.value) and second not in str(raised.value)
    assert "run `iam-console-mfa selftest --cleanup` to finish" in str(raised.value)
    assert leftovers(iam) == [first]  # the second was deleted all the same
