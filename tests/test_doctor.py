"""``iam-console-mfa doctor`` on a moto account that is ready, and missing one thing at a time.

moto lacks DescribeConfigRuleEvaluationStatus and ListEnabledProductsForImport: both are
answered at the botocore level with AWS's shapes; LookupEvents by the suite's CloudTrail stub.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from console_mfa.aws import configured_session

from iam_console_mfa import cli
from tests.stacks import STACKS
from tests.support import TrailEvents, answer_operation, cli_session, fail_operation, new_function

ACCOUNT = "123456789012"
RULE = "IAM_USER_CONSOLE_MFA"
CONFIG_PRODUCT = f"arn:aws:securityhub:us-east-1:{ACCOUNT}:product-subscription/aws/config"


def function(name: str, config_may_invoke: bool = False) -> str:
    lam = new_function(configured_session(), name)
    if config_may_invoke:
        lam.add_permission(
            FunctionName=name,
            StatementId="config",
            Action="lambda:InvokeFunction",
            Principal="config.amazonaws.com",
            SourceAccount=ACCOUNT,
        )
    return lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]


def ready_account(skip: str = "", exempt_tag: str = "") -> None:
    session = configured_session()
    config = session.client("config")
    if skip != "recorder":
        session.client("s3").create_bucket(Bucket="config-bucket")
        config.put_configuration_recorder(
            ConfigurationRecorder={
                "name": "default",
                "roleARN": f"arn:aws:iam::{ACCOUNT}:role/config",
                "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True},
            }
        )
        config.put_delivery_channel(DeliveryChannel={"name": "default", "s3BucketName": "config-bucket"})
        config.start_configuration_recorder(ConfigurationRecorderName="default")
    evaluator = function(f"{RULE}-evaluator", config_may_invoke=skip != "permission")
    if skip != "remediation":
        function(f"{RULE}-remediation")
    if skip != "digest":
        function(f"{RULE}-digest")
    if skip != "rule":
        config.put_config_rule(
            ConfigRule={
                "ConfigRuleName": RULE,
                "InputParameters": json.dumps({"ExemptTag": exempt_tag} if exempt_tag else {}),
                "Scope": {"ComplianceResourceTypes": ["AWS::IAM::User"]},
                "Source": {
                    "Owner": "CUSTOM_LAMBDA",
                    "SourceIdentifier": evaluator,
                    "SourceDetails": [{"EventSource": "aws.config", "MessageType": "ScheduledNotification"}],
                },
            }
        )
    answer_operation(
        session,
        "config-service",
        "DescribeConfigRuleEvaluationStatus",
        lambda: {
            "ConfigRulesEvaluationStatus": [
                {
                    "ConfigRuleName": RULE,
                    "LastSuccessfulEvaluationTime": datetime(2026, 11, 24, 6, 0, tzinfo=UTC),
                }
            ]
        },
    )
    if skip != "securityhub":
        session.client("securityhub").enable_security_hub()
    products = [] if skip == "integration" else [CONFIG_PRODUCT]
    answer_operation(
        session, "securityhub", "ListEnabledProductsForImport", lambda: {"ProductSubscriptions": products}
    )
    answer_operation(  # moto lacks it: IAM.5 disabled in the one enabled standard
        session,
        "securityhub",
        "ListStandardsControlAssociations",
        lambda: {"StandardsControlAssociationSummaries": [iam5(FSBP, "DISABLED")]},
    )


FSBP = "arn:aws:securityhub:us-east-1::standards/aws-foundational-security-best-practices/v/1.0.0"
CIS = "arn:aws:securityhub:us-east-1::standards/cis-aws-foundations-benchmark/v/3.0.0"


def iam5(standard: str, status: str) -> dict[str, Any]:
    """One ListStandardsControlAssociations summary, as the Security Hub API reference shapes it."""
    return {
        "StandardsArn": standard,
        "SecurityControlId": "IAM.5",
        "SecurityControlArn": f"arn:aws:securityhub:us-east-1:{ACCOUNT}:security-control/IAM.5",
        "AssociationStatus": status,
        "StandardsControlTitle": "MFA should be enabled for all IAM users that have a console password",
    }


def doctor(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(cli, "session", lambda args, retries=None: cli_session(configured_session()))
    return cli.main(["doctor", *args])


def test_a_ready_account_passes_every_check(account: None, monkeypatch, capsys) -> None:
    ready_account()
    assert doctor(monkeypatch) == 0
    out = capsys.readouterr().out
    for name in (
        "recorder",
        "delivery channel",
        "rule",
        "last evaluation",
        "invoke permission",
        "remediation",
        "digest",
        "Security Hub",
        "CloudTrail event history",
        "credential report",
    ):
        assert f"ok       {name}: " in out, name
    assert "MISSING" not in out


@pytest.mark.parametrize(
    ("skip", "line"),
    [
        (
            "recorder",
            "MISSING  recorder: no recorder in us-east-1 -> record AWS::IAM::User "
            "in us-east-1 only (IAM is global, one region is enough): aws configservice",
        ),
        ("rule", "MISSING  rule: IAM_USER_CONSOLE_MFA in us-east-1 -> deploy it: iam-console-mfa deploy"),
        ("permission", "MISSING  invoke permission: no config.amazonaws.com permission with SourceAccount"),
        (
            "remediation",
            "MISSING  remediation: IAM_USER_CONSOLE_MFA-remediation (disable-console) -> deploy it",
        ),
        ("digest", "MISSING  digest: IAM_USER_CONSOLE_MFA-digest missing -> deploy it"),
    ],
)
def test_each_missing_piece_is_one_line_with_its_fix(
    account: None, monkeypatch, capsys, skip: str, line: str
) -> None:
    ready_account(skip)
    assert doctor(monkeypatch) == 1
    assert line in capsys.readouterr().out


def guard(key: str) -> None:
    """rule.yaml's ExemptTagGuard, as CloudFormation puts it on the remediation role."""
    template = STACKS["rule.yaml"]["Resources"]["ExemptTagGuard"]["Properties"]
    text, _ = template["PolicyDocument"]["Fn::Sub"]
    document = text.replace("${AWS::Partition}", "aws").replace("${AWS::AccountId}", ACCOUNT)
    configured_session().client("iam").put_role_policy(
        RoleName=f"{RULE}-remediation-role",
        PolicyName=template["PolicyName"],
        PolicyDocument=document.replace("${ExemptTagKey}", key),
    )


@pytest.mark.parametrize(
    ("rule_tag", "guarded", "ok"),
    [
        ("", None, True),
        ("BreakGlass=approved", "BreakGlass", True),
        ("breakglass", "BreakGlass", True),  # IAM tag keys are case-insensitive
        ("BreakGlass", None, False),  # exempted with PutConfigRule after deploy: no guard
        ("BreakGlass", "Team", False),
        ("", "Team", False),
    ],
)
def test_doctor_says_when_the_iam_guard_differs_from_the_rules_exempt_tag(
    account: None, monkeypatch, capsys, rule_tag: str, guarded: str | None, ok: bool
) -> None:
    ready_account(exempt_tag=rule_tag)
    if guarded:
        guard(guarded)
    assert doctor(monkeypatch) == (0 if ok else 1)
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if "exempt-tag guard" in line)
    assert line.startswith("ok " if ok else "MISSING"), line
    if not ok:
        assert "-> redeploy with ExemptTag set to the rule's" in line


@pytest.mark.parametrize(
    ("skip", "line"),
    [
        (
            "securityhub",
            "Security Hub: not enabled in us-east-1 -> aws securityhub enable-security-hub --region us-east-1",
        ),
        (
            "integration",
            "Security Hub: AWS Config integration off -> aws securityhub enable-import-findings-for-product "
            "--region us-east-1 --product-arn arn:aws:securityhub:us-east-1::product/aws/config",
        ),
    ],
)
def test_security_hub_is_optional_unless_native_findings_are_on(
    account: None, monkeypatch, capsys, tmp_path, skip: str, line: str
) -> None:
    from iam_console_mfa.settings import SETTINGS

    ready_account(skip)
    assert doctor(monkeypatch) == 0  # SecurityHubFindings=false: Config's findings are optional there
    assert f"optional {line}" in capsys.readouterr().out
    settings = json.loads(SETTINGS.read_text())
    settings["ruleParameters"]["SecurityHubFindings"] = "true"
    chosen = tmp_path / "rdk-config.json"
    chosen.write_text(json.dumps(settings))
    assert doctor(monkeypatch, "--settings", str(chosen)) == 1
    assert f"MISSING  {line}" in capsys.readouterr().out


def test_json_output(account: None, monkeypatch, capsys) -> None:
    ready_account("rule")
    assert doctor(monkeypatch, "--format", "json") == 1
    checks = {c["name"]: c for c in json.loads(capsys.readouterr().out)}
    assert checks["recorder"]["ok"] is True
    assert checks["rule"] == {
        "name": "rule",
        "ok": False,
        "detail": "IAM_USER_CONSOLE_MFA in us-east-1",
        "fix": "deploy it: iam-console-mfa deploy",
        "required": True,
    }


def test_a_denied_call_fails_its_check_only_naming_the_permission(account: None, monkeypatch, capsys) -> None:
    ready_account()
    fail_operation(
        configured_session(), "config-service", "DescribeConfigurationRecorders", "AccessDeniedException"
    )
    assert doctor(monkeypatch) == 1
    out = capsys.readouterr().out
    assert (
        "MISSING  recorder: DescribeConfigurationRecorders failed: AccessDeniedException: stubbed "
        "AccessDeniedException for DescribeConfigurationRecorders -> "
        "grant config:DescribeConfigurationRecorders (iam-console-mfa policy --doctor)"
    ) in out
    assert "ok       credential report: " in out  # every other check still ran


def test_an_endpoint_that_lacks_a_call_fails_that_check_in_one_line(
    account: None, monkeypatch, capsys, trail: TrailEvents
) -> None:
    """The README's moto server answers LookupEvents with an HTML page and HTTP 500."""
    ready_account()
    trail.fail_with = "500"
    assert doctor(monkeypatch) == 1
    (line,) = [x for x in capsys.readouterr().out.splitlines() if "CloudTrail" in x]
    assert line.startswith("MISSING  CloudTrail event history: LookupEvents failed: 500: ")
    assert line.endswith(
        "-> the endpoint does not implement LookupEvents (a local moto server lacks some AWS APIs); "
        "against AWS this call works: nothing was changed by it"
    )


def organization_settings(tmp_path: Path) -> str:
    """rdk-config.json with organization mode on (the clone's has it off)."""
    from iam_console_mfa.settings import SETTINGS

    settings = json.loads(SETTINGS.read_text())
    settings["organization"] = {"enabled": True, "organizationalUnitIds": ["r-ab12"], "callAs": "SELF"}
    path = tmp_path / "organization.json"
    path.write_text(json.dumps(settings))
    return str(path)


def test_policy_doctor_grants_exactly_what_doctor_calls(account: None, monkeypatch, capsys, tmp_path) -> None:
    """Derived from the calls made: an organization run with every check reached."""
    from iam_console_mfa.doctor import CALL_ACTIONS
    from tests.support import CallLog

    ready_account()
    answer_operation(configured_session(), "cloudformation", "ListStackInstances", lambda: {"Summaries": []})
    # A delegated administrator's view (every Organizations call reached), as documented.
    other = {"Id": "o-exampleorgid", "MasterAccountId": "111111111111"}
    answer_operation(
        configured_session(), "organizations", "DescribeOrganization", lambda: {"Organization": other}
    )
    answer_operation(
        configured_session(),
        "organizations",
        "ListAWSServiceAccessForOrganization",
        lambda: {"EnabledServicePrincipals": []},
    )
    answer_operation(
        configured_session(),
        "organizations",
        "ListDelegatedAdministrators",
        lambda: {"DelegatedAdministrators": []},
    )
    log = CallLog(configured_session())
    doctor(monkeypatch, "--organization", "--settings", organization_settings(tmp_path))
    capsys.readouterr()
    made = {op for _, op in log.calls if op != "GetCallerIdentity"}  # needs no permission
    assert made == set(CALL_ACTIONS)
    assert cli.main(["policy", "--doctor"]) == 0
    (statement,) = json.loads(capsys.readouterr().out)["Statement"]
    from iam_console_mfa.organization_report import ACTIONS

    assert set(statement["Action"]) == set(CALL_ACTIONS.values()) | {
        "config:GetComplianceDetailsByConfigRule",
        *ACTIONS,
    }


def test_organization_lists_every_member_accounts_stack_instance(
    account: None, monkeypatch, capsys, tmp_path
) -> None:
    ready_account()
    answer_operation(
        configured_session(),
        "cloudformation",
        "ListStackInstances",
        lambda: {
            "Summaries": [
                {
                    "Account": "111111111111",
                    "Region": "us-east-1",
                    "StackSetId": "s",
                    "Status": "CURRENT",
                    "StackInstanceStatus": {"DetailedStatus": "SUCCEEDED"},
                },
                {
                    "Account": "222222222222",
                    "Region": "us-east-1",
                    "StackSetId": "s",
                    "Status": "OUTDATED",
                    "StatusReason": "Role AWSCloudFormationStackSetExecutionRole is invalid",
                    "StackInstanceStatus": {"DetailedStatus": "FAILED"},
                },
            ]
        },
    )
    assert doctor(monkeypatch, "--organization", "--settings", organization_settings(tmp_path)) == 1
    out = capsys.readouterr().out
    assert "ok       account 111111111111: us-east-1: SUCCEEDED" in out
    assert "MISSING  account 222222222222: us-east-1: FAILED -> see the StackSet's operations: Role" in out
    assert "MISSING  members' alerts: event bus IAM_USER_CONSOLE_MFA-organization missing" in out


USER = "AWS::IAM::User"


@pytest.mark.parametrize(
    ("group", "records", "widened"),
    [
        # the most common recorder: everything regional, no global types
        (
            {"allSupported": True, "includeGlobalResourceTypes": False},
            False,
            {"allSupported": True, "includeGlobalResourceTypes": True},
        ),
        ({"allSupported": True, "includeGlobalResourceTypes": True}, True, None),
        (
            {
                "allSupported": False,
                "resourceTypes": ["AWS::S3::Bucket"],
                "recordingStrategy": {"useOnly": "INCLUSION_BY_RESOURCE_TYPES"},
            },
            False,
            {
                "allSupported": False,
                "resourceTypes": ["AWS::S3::Bucket", USER],
                "recordingStrategy": {"useOnly": "INCLUSION_BY_RESOURCE_TYPES"},
            },
        ),
        (
            {
                "allSupported": False,
                "exclusionByResourceTypes": {"resourceTypes": [USER, "AWS::EC2::Volume"]},
                "recordingStrategy": {"useOnly": "EXCLUSION_BY_RESOURCE_TYPES"},
            },
            False,
            {
                "allSupported": False,
                "exclusionByResourceTypes": {"resourceTypes": ["AWS::EC2::Volume"]},
                "recordingStrategy": {"useOnly": "EXCLUSION_BY_RESOURCE_TYPES"},
            },
        ),
        (
            {
                "allSupported": False,
                "exclusionByResourceTypes": {"resourceTypes": ["AWS::EC2::Volume"]},
                "recordingStrategy": {"useOnly": "EXCLUSION_BY_RESOURCE_TYPES"},
            },
            True,
            None,
        ),
    ],
)
def test_doctor_recognises_every_recording_strategy_and_never_narrows_one(
    group: dict, records: bool, widened: dict | None
) -> None:
    """RecordingGroup as the AWS Config API reference documents it (allSupported,
    includeGlobalResourceTypes, recordingStrategy.useOnly, exclusionByResourceTypes)."""
    from iam_console_mfa.doctor import records_users, with_users

    assert records_users(group) is records
    if widened is not None:
        assert with_users(group) == widened and records_users(widened)


@pytest.mark.parametrize("running", [True, False])
def test_doctor_prints_the_recorder_it_found_with_iam_users_added(
    account: None, monkeypatch, capsys, running: bool
) -> None:
    """DescribeConfigurationRecorders answered as AWS documents it: PutConfigurationRecorder
    replaces the whole recorder, so the fix printed is that recorder, IAM users added, its
    recording mode and everything else kept; a stopped one is also started."""
    ready_account()
    recorder = {
        "name": "default",
        "roleARN": f"arn:aws:iam::{ACCOUNT}:role/config",
        "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": False},
        "recordingMode": {"recordingFrequency": "DAILY"},
    }
    session = configured_session()
    answer_operation(
        session,
        "config-service",
        "DescribeConfigurationRecorders",
        lambda: {"ConfigurationRecorders": [recorder]},
    )
    answer_operation(
        session,
        "config-service",
        "DescribeConfigurationRecorderStatus",
        lambda: {"ConfigurationRecordersStatus": [{"name": "default", "recording": running}]},
    )
    assert doctor(monkeypatch) == 1
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "recorder:" in line]
    printed = json.loads(line.split("--configuration-recorder '", 1)[1].split("'", 1)[0])
    assert printed == {**recorder, "recordingGroup": {"allSupported": True, "includeGlobalResourceTypes": True}}
    assert ("start-configuration-recorder" in line) is (not running)


def test_a_stopped_recorder_that_records_users_is_only_started(account: None, monkeypatch, capsys) -> None:
    ready_account()
    configured_session().client("config").stop_configuration_recorder(ConfigurationRecorderName="default")
    assert doctor(monkeypatch) == 1
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "recorder:" in line]
    assert "put-configuration-recorder" not in line
    assert line.endswith(
        "start-configuration-recorder --region us-east-1 --configuration-recorder-name default"
    )


def test_doctor_organization_says_when_organization_mode_is_off(account: None, monkeypatch, capsys) -> None:
    """rdk-config.json's organization.enabled is false: said first, not a missing StackSet."""
    assert doctor(monkeypatch, "--organization") == 2
    assert "organization.enabled is false in rdk-config.json" in capsys.readouterr().err


def test_doctor_notices_the_managed_rule_that_would_report_every_user_twice(
    account: None, monkeypatch, capsys
) -> None:
    """AWS's managed rule (what Security Hub's IAM.5 runs) beside this one: an optional check,
    with the way to keep one of them; it never makes doctor fail."""
    ready_account()
    configured_session().client("config").put_config_rule(
        ConfigRule={
            "ConfigRuleName": "securityhub-mfa-enabled-for-iam-console-access-abc123",
            "Scope": {"ComplianceResourceTypes": ["AWS::IAM::User"]},
            "Source": {"Owner": "AWS", "SourceIdentifier": "MFA_ENABLED_FOR_IAM_CONSOLE_ACCESS"},
        }
    )
    assert doctor(monkeypatch) == 0
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "managed rule:" in line]
    assert line.startswith("optional managed rule: securityhub-mfa-enabled-for-iam-console-access-abc123")
    assert "the IAM.5 check prints the command" in line and "Migrate" in line


def test_doctor_notices_iam5_enabled_in_a_standard_and_prints_the_command_that_disables_it(
    account: None, monkeypatch, capsys
) -> None:
    """Security Hub's IAM.5, enabled in two of three standards: one optional line naming them,
    and the one command (batch-update-standards-control-associations) for both."""
    ready_account()
    answer_operation(
        configured_session(),
        "securityhub",
        "ListStandardsControlAssociations",
        lambda: {
            "StandardsControlAssociationSummaries": [
                iam5(FSBP, "ENABLED"),
                iam5(CIS, "ENABLED"),
                iam5("arn:aws:securityhub:us-east-1::standards/nist-800-53/v/5.0.0", "DISABLED"),
            ]
        },
    )
    assert doctor(monkeypatch) == 0  # optional: keeping both is a choice
    (line,) = [line for line in capsys.readouterr().out.splitlines() if "IAM.5:" in line]
    assert line.startswith(
        "optional IAM.5: enabled in 2 standard(s) (aws-foundational-security-best-practices/v/1.0.0, "
        "cis-aws-foundations-benchmark/v/3.0.0)"
    )
    assert line.endswith(
        "--standards-control-association-updates "
        f"'StandardsArn={FSBP},SecurityControlId=IAM.5,AssociationStatus=DISABLED,UpdatedReason=covered by "
        "IAM_USER_CONSOLE_MFA' "
        f"'StandardsArn={CIS},SecurityControlId=IAM.5,AssociationStatus=DISABLED,UpdatedReason=covered by "
        "IAM_USER_CONSOLE_MFA'"
    )


def test_iam5_is_no_concern_where_security_hub_is_off(account: None, monkeypatch, capsys) -> None:
    ready_account(skip="securityhub")
    from tests.support import fail_operation

    fail_operation(
        configured_session(), "securityhub", "ListStandardsControlAssociations", "InvalidAccessException"
    )
    doctor(monkeypatch)
    assert (
        "ok       IAM.5: Security Hub is not enabled in us-east-1: no IAM.5 findings" in capsys.readouterr().out
    )
