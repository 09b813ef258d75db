"""The CLI as a user runs it: a subprocess against a local moto server (AWS_ENDPOINT_URL)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest
from console_mfa.aws import configured_session

from iam_console_mfa import arguments, cli, output, policies
from iam_console_mfa.demo.account import Mfa, backdate, create_user
from tests.moto_server import reset
from tests.support import cli_session, error_answer, fail_operation, has_password, installed_outside_a_clone

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "iam_console_mfa.cli"]
FAKE = {"AWS_ACCESS_KEY_ID": "cli", "AWS_SECRET_ACCESS_KEY": "cli", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def server_iam(moto_server: str) -> Any:
    reset(moto_server)
    return server_client(moto_server, "iam")


def server_client(url: str, service: str) -> Any:
    """A client of the moto server with the fake credentials."""
    session: Any = boto3.Session(aws_access_key_id="cli", aws_secret_access_key="cli", region_name="us-east-1")
    return session.client(service, endpoint_url=url)


def run(url: str | None, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    environment.update(env if env is not None else {**FAKE, "AWS_ENDPOINT_URL": url or ""})
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=environment, cwd=ROOT, timeout=120)


def seed_every_verdict(iam: Any) -> dict[str, dict[str, Any]]:
    return {
        "alice": create_user(iam, "alice", mfa=Mfa.VIRTUAL),
        "hank": create_user(iam, "hank", mfa=Mfa.HARDWARE),
        "bob": create_user(iam, "bob"),
        "dave": create_user(iam, "dave"),
        "carol": create_user(iam, "carol", password=False),
        "svc-ci": create_user(iam, "svc-ci"),
        "oncall": create_user(iam, "oncall", tags={"BreakGlass": "yes"}),
    }


RULE_OPTIONS = ("--exempt", "svc-*", "--exempt-tag", "BreakGlass=yes")


def test_report_json_csv_table_and_exit_codes(moto_server: str, server_iam: Any) -> None:
    users = seed_every_verdict(server_iam)
    done = run(moto_server, "report", *RULE_OPTIONS, "--format", "json")
    assert done.returncode == 1, done.stderr  # some NON_COMPLIANT: CI gating
    report = json.loads(done.stdout)
    assert report["summary"] == {
        "users": 7,
        "console_users": 6,
        "console_users_with_mfa": 2,
        "non_compliant": 2,
        "exempt": 2,
        "in_grace": 0,
        "percent_console_users_with_mfa": 33.3,
    }
    by_name = {row["user"]: row for row in report["users"]}
    assert set(by_name) == {"alice", "hank", "bob", "dave", "carol", "svc-ci", "oncall"}  # everyone
    assert by_name["carol"]["password_set"] is None and by_name["carol"]["verdict"] == "NOT_APPLICABLE"
    assert (report["schema_version"], report["account"]) == (2, "123456789012")
    assert report["parameters"]["ExemptUserNames"] == "svc-*" and report["generated_at"].endswith("+00:00")
    assert (report["schema_version"], report["kind"]) == (2, "report")
    assert by_name["bob"]["verdict"] == "NON_COMPLIANT" and by_name["bob"]["risk"] == "HIGH"
    assert by_name["bob"]["user_id"] == users["bob"]["UserId"]
    assert by_name["alice"] | {"annotation": ""} == {
        "user": "alice",
        "user_id": users["alice"]["UserId"],
        "verdict": "COMPLIANT",
        "mfa": "virtual",
        "password_set": by_name["alice"]["password_set"],
        "password_last_used": None,
        "risk": "LOW",
        "annotation": "",
    }
    assert (
        by_name["svc-ci"]["verdict"] == "NOT_APPLICABLE"
        and "ExemptUserNames" in by_name["svc-ci"]["annotation"]
    )
    assert by_name["hank"]["mfa"] == "hardware TOTP"

    done = run(moto_server, "report", *RULE_OPTIONS, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert list(rows[0]) == list(output.COLUMNS)
    assert {r["user"]: r["verdict"] for r in rows} == {k: v["verdict"] for k, v in by_name.items()}

    done = run(moto_server, "report", *RULE_OPTIONS)
    assert (
        "7 users, 6 with a console password: 2 with MFA, 2 non-compliant, 2 exempt, 0 in grace" in done.stdout
    )
    assert "33.3%" in done.stdout
    for name in ("alice", "bob", "dave", "svc-ci", "oncall"):
        assert name in done.stdout
    assert "carol" not in done.stdout


def test_report_exit_zero_when_clean_and_output_file(moto_server: str, server_iam: Any, tmp_path: Path) -> None:
    create_user(server_iam, "alice", mfa=Mfa.FIDO)
    target = tmp_path / "report.json"
    done = run(moto_server, "report", "--format", "json", "--output", str(target))
    assert done.returncode == 0 and done.stdout == ""
    assert json.loads(target.read_text())["summary"]["percent_console_users_with_mfa"] == 100.0


def test_critical_when_password_used_recently(
    server_iam: Any, capsys: pytest.CaptureFixture, account: None
) -> None:
    iam = boto3.client("iam")
    create_user(iam, "bob")
    backdate("123456789012", "bob", days=90, password_last_used_days=2)
    assert cli.main(["report", "--format", "json"]) == 1
    (row,) = json.loads(capsys.readouterr().out)["users"]
    assert row["risk"] == "CRITICAL"


def test_enforce_dry_run_then_apply(moto_server: str, server_iam: Any) -> None:
    seed_every_verdict(server_iam)
    deploy_rule(moto_server, {})  # the options below override its (default) parameters
    dry = run(moto_server, "enforce", *RULE_OPTIONS)
    assert dry.returncode == 1, dry.stderr  # a dry run that would act: CI can gate on it
    assert "dry run" in dry.stdout and "bob" in dry.stdout and "dave" in dry.stdout
    logins = {
        u["UserName"] for u in server_iam.list_users()["Users"] if has_password(server_iam, u["UserName"])
    }
    assert logins == {"alice", "hank", "bob", "dave", "svc-ci", "oncall"}  # nothing changed

    applied = run(moto_server, "enforce", *RULE_OPTIONS, "--apply", "--yes")
    assert applied.returncode == 0, applied.stderr
    after = {u["UserName"] for u in server_iam.list_users()["Users"] if has_password(server_iam, u["UserName"])}
    assert logins - after == {"bob", "dave"}  # exactly the NON_COMPLIANT users
    assert run(moto_server, "report", *RULE_OPTIONS).returncode == 0


def test_enforce_json_is_an_audit_record(moto_server: str, server_iam: Any, tmp_path: Path) -> None:
    users = seed_every_verdict(server_iam)
    deploy_rule(moto_server, {})
    dry = run(moto_server, "enforce", *RULE_OPTIONS, "--format", "json")
    assert dry.returncode == 1, dry.stderr  # the same contract as the table
    record = json.loads(dry.stdout)
    assert (record["kind"], record["applied"], record["account"]) == ("enforce", False, "123456789012")
    assert record["principal"].startswith("arn:aws:") and record["parameters"]["ExemptUserNames"] == "svc-*"
    assert {a["UserName"]: a["Action"] for a in record["actions"]} == {
        "bob": "would tag the user and delete its login profile (dry run)",
        "dave": "would tag the user and delete its login profile (dry run)",
    }
    assert record["not_attempted"] == [] and has_password(server_iam, "bob")

    saved = tmp_path / "audit.json"
    applied = run(
        moto_server, "enforce", *RULE_OPTIONS, "--apply", "--yes", "--format", "json", "--output", str(saved)
    )
    assert applied.returncode == 0 and applied.stdout == "", applied.stderr
    assert f"wrote the audit record of 2 users to {saved}" in applied.stderr
    record = json.loads(saved.read_text())
    assert record["applied"] is True
    assert {a["UserId"] for a in record["actions"]} == {users["bob"]["UserId"], users["dave"]["UserId"]}
    assert not has_password(server_iam, "bob") and not has_password(server_iam, "dave")


def test_enforce_records_what_it_did_before_a_call_failed(
    account: None, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second user's DeleteLoginProfile is denied: the first user's removal, the failure
    and the user never reached are all in the record, and the run exits 2."""

    aws = configured_session()
    iam = aws.client("iam")
    for name in ("ann", "bea", "cid"):
        create_user(iam, name)
    deletions: list[str] = []

    def deny_the_second(params: dict[str, Any], **_: Any) -> Any:  # botocore's stubs: handlers return None
        deletions.append(params["body"]["UserName"])
        if len(deletions) < 2:
            return None  # moto answers
        return error_answer(params["url"], "AccessDenied", "denied", 403)

    aws.events.register_first("before-call.iam.DeleteLoginProfile", deny_the_second)
    monkeypatch.setattr(cli, "session", lambda args, retries=None: cli_session(aws))
    deploy_rule(None, {})
    assert cli.main(["enforce", "--apply", "--yes", "--format", "json"]) == 2
    captured = capsys.readouterr()
    record = json.loads(captured.out)
    actions = [(a["UserName"], a["Action"]) for a in record["actions"]]
    assert actions[0][1] == "tagged the user and deleted its login profile" and actions[1][1] == "failed"
    assert "DeleteLoginProfile for user" in record["actions"][1]["Reason"]
    assert [u["UserName"] for u in record["not_attempted"]] == ["cid"]
    assert "AccessDenied" in captured.err
    assert not has_password(iam, actions[0][0]) and has_password(iam, actions[1][0])


def test_enforce_one_user(moto_server: str, server_iam: Any) -> None:
    seed_every_verdict(server_iam)
    deploy_rule(moto_server, {})
    done = run(moto_server, "enforce", "--user", "BOB", "--apply", "--yes")
    assert done.returncode == 0, done.stderr
    assert not has_password(server_iam, "bob") and has_password(server_iam, "dave")
    missing = run(moto_server, "enforce", "--user", "nobody")
    assert missing.returncode == 2 and "no IAM user named 'nobody'" in missing.stderr


def test_evaluate_a_user_of_the_account(moto_server: str, server_iam: Any) -> None:
    bob = create_user(server_iam, "bob")
    done = run(moto_server, "evaluate", "--user", "bob")  # the change event Config would send
    assert done.returncode == 1, done.stderr  # NON_COMPLIANT found: the same contract as report
    assert bob["UserId"] in done.stdout and "NON_COMPLIANT" in done.stdout
    assert "rule parameters (rdk-config.json)" in done.stderr
    exempt = '{"AssumeRoleMode": "False", "ExemptUserNames": "bob"}'
    done = run(moto_server, "evaluate", "--user", "bob", "--parameters", exempt)
    assert done.returncode == 0, done.stderr
    assert "NOT_APPLICABLE" in done.stdout and "exempt by ExemptUserNames" in done.stdout
    done = run(moto_server, "evaluate", "--user", "nobody")
    assert (done.returncode, done.stderr) == (2, "error: no IAM user named 'nobody'\n")
    for both_or_neither in (["examples/events/change-event.json", "--user", "bob"], []):
        done = run(moto_server, "evaluate", *both_or_neither)
        assert done.returncode == 2 and "EVENT.json) or --user NAME" in done.stderr


def test_evaluate_saved_events(moto_server: str, server_iam: Any) -> None:
    # The saved change event names bob with UserId AIDAEXAMPLEBOB0000001, which moto never issues.
    done = run(moto_server, "evaluate", "examples/events/change-event.json")
    assert (done.returncode, done.stdout) == (2, "")  # never "no console password" for nobody
    assert done.stderr == "error: nothing evaluated: no IAM user is named bob (AIDAEXAMPLEBOB0000001)\n"
    bob = create_user(server_iam, "bob")  # the same name, another UserId
    create_user(server_iam, "svc-x")
    done = run(moto_server, "evaluate", "examples/events/change-event.json")
    assert (done.returncode, done.stderr) == (
        2,
        f"error: nothing evaluated: bob now belongs to {bob['UserId']}, not AIDAEXAMPLEBOB0000001 "
        "(renamed or recreated)\n",
    )
    done = run(moto_server, "evaluate", "examples/events/scheduled-event.json")
    assert done.returncode == 1, done.stderr  # bob
    assert (
        done.stdout.count("AWS::IAM::User") == 2
        and "svc-x: console password without MFA, exempt" in done.stdout
    )


def test_no_credentials(tmp_path: Path) -> None:
    nowhere = str(tmp_path / "none")
    env = {
        "AWS_CONFIG_FILE": nowhere,
        "AWS_SHARED_CREDENTIALS_FILE": nowhere,
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    done = run(None, "report", env=env)
    assert done.returncode == 2
    # The deployed rule's parameters are read first (DescribeConfigRules): no credentials, one line.
    assert done.stderr.strip().splitlines() == [
        "error: no AWS credentials found: set AWS_PROFILE or pass --profile"
    ]


def test_invalid_options() -> None:
    done = run("http://127.0.0.1:9", "report", "--format", "xml")
    assert done.returncode == 2 and "invalid choice: 'xml'" in done.stderr
    done = run("http://127.0.0.1:9", "report", "--grace-days", "-1")
    assert done.returncode == 2 and "Invalid rule parameter GracePeriodDays='-1'" in done.stderr


def test_access_denied_names_the_action_and_prints_the_policy(
    account: None, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:

    aws = configured_session()
    create_user(aws.client("iam"), "bob")
    fail_operation(aws, "iam", "GetLoginProfile", "AccessDenied", status=403)
    monkeypatch.setattr(
        cli, "session", lambda args, retries=None: cli_session(aws)
    )  # the CLI's session, with the stubbed call
    assert cli.main(["report"]) == 2
    err = capsys.readouterr().err
    assert "GetLoginProfile for user bob failed: AccessDenied" in err
    assert '"iam:GetLoginProfile"' in err and '"2012-10-17"' in err


def test_policy_command() -> None:
    done = run(None, "policy", env=dict(FAKE))
    assert (
        json.loads(done.stdout)["Statement"][0]["Action"]
        == policies.read_actions()
        == [
            "cloudtrail:LookupEvents",  # the credential report's delta
            "config:DescribeConfigRules",  # the deployed rule's parameters
            "iam:GenerateCredentialReport",
            "iam:GetCredentialReport",
            "iam:GetLoginProfile",
            "iam:GetUser",  # evaluate: the change path checks the name still holds the UserId
            "iam:ListMFADevices",
            "iam:ListUserTags",
            "iam:ListUsers",
            "iam:ListVirtualMFADevices",  # the live path's account-wide listing
        ]
    )
    done = run(None, "policy", "--enforce", env=dict(FAKE))
    assert "iam:DeleteLoginProfile" in json.loads(done.stdout)["Statement"][0]["Action"]


WITHOUT_DEV_PACKAGES = """
import sys
class Block:
    # what `pip install .` does not bring: the dev and demo extras
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"moto", "pytest", "hypothesis", "cfnlint", "rdk"}:
            raise ImportError(f"No module named {name!r} (blocked)")
sys.meta_path.insert(0, Block())
from iam_console_mfa.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize(
    ("args", "code", "stream", "expected"),
    [
        (["policy"], 0, "stdout", '"iam:ListUsers"'),
        (["policy", "--enforce"], 0, "stdout", '"iam:DeleteLoginProfile"'),
        (["deploy", "--dry-run"], 0, "stdout", "stack iam-console-mfa-rule <- cloudformation/rule.yaml"),
        (["demo"], 2, "stderr", "error: the demo needs moto: in a clone, pip install '.[demo]'\n"),
    ],
)
def test_commands_work_with_the_runtime_dependencies_alone(
    args: list[str], code: int, stream: str, expected: str
) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("AWS_")}, **FAKE}
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_DEV_PACKAGES, *args], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert done.returncode == code, done.stderr
    assert expected in getattr(done, stream)


def test_report_says_what_a_sweep_would_write_and_skip(
    iam: Any, config_api: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from IAM_USER_CONSOLE_MFA import lambda_handler

    from iam_console_mfa.event_builders import scheduled_event
    from tests.support import REAL_TOKEN

    for name in ("alice", "bob", "carol"):
        create_user(iam, name, mfa=Mfa.VIRTUAL)
    lambda_handler(scheduled_event({"AssumeRoleMode": "False", "DataSource": "live"}, REAL_TOKEN), None)
    (device,) = iam.list_mfa_devices(UserName="bob")["MFADevices"]
    iam.deactivate_mfa_device(UserName="bob", SerialNumber=device["SerialNumber"])
    monkeypatch.setattr(
        cli, "session", lambda args, retries=None: cli_session(configured_session())
    )  # Config answered by LocalConfig
    arguments = ["report", "--rule-name", "IAM_USER_CONSOLE_MFA", "--format", "json"]
    assert cli.main(arguments) == 2  # no such rule yet: nothing to compare with, said in one line
    assert "--rule-name IAM_USER_CONSOLE_MFA: no such Config rule in us-east-1" in capsys.readouterr().err
    deploy_rule(None, {"DataSource": "live"})
    assert cli.main(arguments) == 1
    assert (
        "a sweep of IAM_USER_CONSOLE_MFA would write 1 evaluation(s) (new 0, changed 1, refresh 0, deleted 0) "
        "and skip 2 unchanged" in capsys.readouterr().err
    )


def test_report_asff_writes_the_findings_the_rule_would_import(
    iam: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:

    create_user(iam, "bob")
    create_user(iam, "alice", mfa=Mfa.VIRTUAL)
    monkeypatch.setattr(cli, "session", lambda args, retries=None: cli_session(configured_session()))
    assert cli.main(["report", "--format", "asff"]) == 1
    (finding,) = json.loads(capsys.readouterr().out)
    assert finding["Resources"][0]["Details"]["AwsIamUser"]["UserName"] == "bob"
    assert finding["FindingProviderFields"]["Severity"]["Label"] == "HIGH"
    assert finding["Compliance"]["Status"] == "FAILED"
    assert finding["ProductArn"] == "arn:aws:securityhub:us-east-1:123456789012:product/123456789012/default"


# -- traps a newcomer met (each failed before it was fixed) ------------------------------------


def test_enforce_takes_the_deployed_rules_exemptions_from_rdk_config(
    moto_server: str, server_iam: Any, tmp_path: Path
) -> None:
    from iam_console_mfa.settings import SETTINGS

    settings = json.loads(SETTINGS.read_text())
    settings["ruleParameters"].update(ExemptUserNames="svc-*", ExemptTag="BreakGlass=approved")
    chosen = tmp_path / "team-settings.json"
    chosen.write_text(json.dumps(settings))
    create_user(server_iam, "breakglass", tags={"BreakGlass": "approved"})
    create_user(server_iam, "svc-ci")
    create_user(server_iam, "bob")
    deploy_rule(moto_server, {})  # deployed with the defaults: the file's values stand in
    dry = run(moto_server, "enforce", "--settings", str(chosen))
    assert dry.returncode == 1, dry.stderr  # bob would lose his password
    assert "bob" in dry.stdout and "breakglass" not in dry.stdout and "svc-ci" not in dry.stdout
    assert "ExemptUserNames='svc-*' (team-settings.json)" in dry.stderr  # --settings, by its name
    assert "GracePeriodDays='0' (team-settings.json)" in dry.stderr
    # --apply without --yes away from a terminal: refused, nothing changed
    refused = run(moto_server, "enforce", "--settings", str(chosen), "--apply")
    assert refused.returncode == 2
    assert refused.stderr.splitlines()[-1] == (
        "error: --apply removes console passwords: confirm with --yes when not on a terminal"
    )
    assert has_password(server_iam, "bob")


def deploy_rule(url: str | None, parameters: dict[str, str]) -> None:
    """The rule as rule.yaml deploys it: a custom Lambda rule with these InputParameters, on the
    moto server at ``url``, else in this process's moto account."""

    def client(service: str) -> Any:
        session: Any = configured_session()  # Any: the service name is a variable
        return server_client(url, service) if url else session.client(service)

    role = client("iam").create_role(RoleName="evaluator", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    function = client("lambda").create_function(
        FunctionName="IAM_USER_CONSOLE_MFA-evaluator",
        Runtime="python3.12",
        Role=role,
        Handler="IAM_USER_CONSOLE_MFA.lambda_handler",
        Code={"ZipFile": zip_with("IAM_USER_CONSOLE_MFA.py", "def lambda_handler(e, c): pass\n")},
    )["FunctionArn"]
    client("config").put_config_rule(
        ConfigRule={
            "ConfigRuleName": "IAM_USER_CONSOLE_MFA",
            "Scope": {"ComplianceResourceTypes": ["AWS::IAM::User"]},
            "Source": {
                "Owner": "CUSTOM_LAMBDA",
                "SourceIdentifier": function,
                "SourceDetails": [{"EventSource": "aws.config", "MessageType": "ScheduledNotification"}],
            },
            "InputParameters": json.dumps({"AssumeRoleMode": "False", **parameters}),
            "MaximumExecutionFrequency": "TwentyFour_Hours",
        }
    )


def zip_with(name: str, text: str) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, text)
    return buffer.getvalue()


def test_enforce_outside_a_clone_uses_the_deployed_rules_exemptions(
    moto_server: str, server_iam: Any, tmp_path: Path
) -> None:
    """Installed as a wheel, run where there is no rdk-config.json: the deployed rule
    (DescribeConfigRules) says who is exempt."""
    create_user(server_iam, "svc-x")
    create_user(server_iam, "bob")
    deploy_rule(moto_server, {"ExemptUserNames": "svc-*", "GracePeriodDays": "0"})
    done = run_outside_a_clone(tmp_path, moto_server, "enforce", "--apply", "--yes")
    assert done.returncode == 0, done.stderr
    assert "ExemptUserNames='svc-*' (deployed rule IAM_USER_CONSOLE_MFA)" in done.stderr
    assert has_password(server_iam, "svc-x") and not has_password(server_iam, "bob")


def test_enforce_apply_refuses_bare_defaults(moto_server: str, server_iam: Any, tmp_path: Path) -> None:
    create_user(server_iam, "svc-x")
    done = run_outside_a_clone(tmp_path, moto_server, "enforce", "--apply", "--yes")
    assert done.returncode == 2
    assert "no Config rule IAM_USER_CONSOLE_MFA in us-east-1" in done.stderr
    assert done.stderr.strip().splitlines()[-1].startswith("error: --apply: no Config rule")
    without = ("--without-deployed-rule",)
    done = run_outside_a_clone(tmp_path, moto_server, "enforce", "--apply", "--yes", *without)
    assert done.stderr.strip().splitlines()[-1].startswith("error: --apply with the rule's bare defaults")
    assert has_password(server_iam, "svc-x")
    allowed = run_outside_a_clone(
        tmp_path, moto_server, "enforce", "--apply", "--yes", *without, "--allow-defaults"
    )
    assert allowed.returncode == 0 and not has_password(server_iam, "svc-x")


@pytest.mark.parametrize(
    ("where", "acts"),
    [
        ({"AWS_DEFAULT_REGION": "eu-west-1"}, True),  # the environment's region: rdk-config.json's wins
        ({"args": ("--region", "eu-west-1")}, False),  # said explicitly: no rule there, refused
        ({"args": ("--rule-name", "another-rule")}, False),
    ],
)
def test_enforce_never_falls_back_to_other_exemptions_in_another_region_or_rule(
    moto_server: str, server_iam: Any, where: dict[str, Any], acts: bool
) -> None:
    """The rule (in rdk-config.json's region) exempts svc-*; IAM is global, so a region only
    decides which rule's exemptions apply: enforce --apply never acts without the deployed rule's."""
    create_user(server_iam, "svc-x")
    create_user(server_iam, "bob")
    deploy_rule(moto_server, {"ExemptUserNames": "svc-*"})
    env = {**FAKE, "AWS_ENDPOINT_URL": moto_server, **{k: v for k, v in where.items() if k != "args"}}
    done = run(moto_server, "enforce", *where.get("args", ()), "--apply", "--yes", env=env)
    assert has_password(server_iam, "svc-x")
    if acts:
        assert done.returncode == 0, done.stderr
        assert "Config rule IAM_USER_CONSOLE_MFA in us-east-1 (region from rdk-config.json)" in done.stderr
        assert not has_password(server_iam, "bob")
    else:
        assert done.returncode == 2 and "--without-deployed-rule" in done.stderr.splitlines()[-1]
        assert has_password(server_iam, "bob")


def test_every_command_reads_the_clones_settings_from_any_directory(
    moto_server: str, server_iam: Any, tmp_path: Path
) -> None:
    """The clone's CLI run elsewhere: enforce takes rdk-config.json's parameters, the same file
    deploy --dry-run plans from (they once looked in two places, and enforce forgot them)."""
    from iam_console_mfa.settings import SETTINGS

    configured = json.loads(SETTINGS.read_text())["ruleParameters"]
    create_user(server_iam, "bob")
    done = run_in(tmp_path, moto_server, "enforce")
    assert done.returncode == 1, done.stderr
    expected = f"GracePeriodDays={configured['GracePeriodDays']!r} (rdk-config.json)"
    assert expected in done.stderr
    plan = run_in(tmp_path, moto_server, "deploy", "--dry-run")
    assert plan.returncode == 0, plan.stderr
    assert f"GracePeriodDays = {configured['GracePeriodDays']!r}" in plan.stdout


def run_in(cwd: Path, url: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The CLI run from another directory than the clone."""
    environment = {k: v for k, v in (env or os.environ).items() if not k.startswith("AWS_")}
    environment.update({**FAKE, "AWS_ENDPOINT_URL": url})
    return subprocess.run([*CLI, *args], capture_output=True, text=True, env=environment, cwd=cwd, timeout=120)


def run_outside_a_clone(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    """The CLI installed as a wheel (no clone to find), run from ``tmp_path/work``."""
    work = tmp_path / "work"
    work.mkdir(exist_ok=True)
    return run_in(work, url, *args, env=installed_outside_a_clone(tmp_path / "site-packages"))


@pytest.mark.parametrize("content", ["[]", '"a string"', "42"])
def test_evaluate_refuses_a_file_that_is_not_an_event(tmp_path: Path, content: str) -> None:
    event = tmp_path / "event.json"
    event.write_text(content)
    done = run(None, "evaluate", str(event))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: {event}: a Config event is a JSON object, got {type(json.loads(content)).__name__}"
    ]


@pytest.mark.parametrize("target", ["missing/report.json", "."])
def test_report_output_is_checked_before_the_sweep(tmp_path: Path, target: str) -> None:
    path = tmp_path / target
    done = run(None, "report", "--output", str(path))  # no AWS reachable: the check comes first
    assert done.returncode == 2
    error = done.stderr.strip().splitlines()[-1]
    assert error in (
        f"error: --output {path} is a directory",
        f"error: --output {path}: directory {path.parent} does not exist",
    )


def test_demo_ignores_the_callers_aws_environment() -> None:
    env = {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
        "AWS_PROFILE": "does-not-exist",
        "AWS_DEFAULT_REGION": "eu-west-3",
    }
    done = run(None, "demo", env=env)
    assert done.returncode == 0, done.stderr
    assert "2 NON_COMPLIANT of 9 users" in done.stdout


def test_every_subcommand_help_explains_each_option_and_the_exit_codes() -> None:
    parser = arguments.build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, __import__("argparse")._SubParsersAction)]
    for name, command in commands.choices.items():
        text = command.format_help()
        assert "exit codes: 0" in text and "2 error" in text, name
        assert f"example:\n  iam-console-mfa {name}" in text, name
        assert command.description, name
        for action in command._actions:
            if action.option_strings and action.dest != "help":
                assert action.help, f"{name} {action.option_strings}: no help"


def test_a_missing_region_names_the_option_and_the_variable(tmp_path: Path) -> None:
    """No --region, no rdk-config.json (installed, run elsewhere), no environment region."""
    nowhere = str(tmp_path / "none")
    installed = installed_outside_a_clone(tmp_path / "site-packages")
    env = {k: v for k, v in installed.items() if not k.startswith("AWS_")}
    env.update({"AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x", "AWS_CONFIG_FILE": nowhere})
    done = subprocess.run([*CLI, "report"], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert done.returncode == 2
    assert (
        done.stderr.strip().splitlines()[-1] == "error: no AWS region: pass --region or set AWS_DEFAULT_REGION"
    )


# -- no traceback for any input or interruption -------------------------------------------------


def test_interruption_anywhere_is_one_line_and_exit_130(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    def interrupted(args: Any, console: Any) -> int:
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "report", interrupted)
    assert cli.main(["report"]) == 130
    assert capsys.readouterr().err == "interrupted: nothing more was done\n"


@pytest.mark.parametrize(("typed", "acts"), [("yes", True), ("Y", True), ("", False), (EOFError, False)])
def test_the_apply_prompt_takes_yes_and_treats_end_of_input_as_no(
    iam: Any, monkeypatch: pytest.MonkeyPatch, capsys, typed: Any, acts: bool
) -> None:

    create_user(iam, "bob")
    monkeypatch.setattr(cli, "session", lambda args, retries=None: cli_session(configured_session()))
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)

    def answer(prompt: str) -> str:
        assert prompt == "Remove the console password of 1 user? [y/N] "
        if typed is EOFError:
            raise EOFError
        return str(typed)

    monkeypatch.setattr("builtins.input", answer)
    deploy_rule(None, {})
    code = cli.main(["enforce", "--apply"])
    out, err = capsys.readouterr()
    assert "1 user to act on" in out  # the plan, before the question
    assert (code, has_password(iam, "bob")) == ((0, False) if acts else (2, True))
    if not acts:
        assert err.splitlines()[-1] == "error: nothing done: not confirmed"


def test_bad_files_and_flags_are_one_line_errors(tmp_path: Path) -> None:
    latin = tmp_path / "event.json"
    latin.write_bytes('{"é": 1}'.encode("latin-1"))
    done = run(None, "evaluate", str(latin), env=dict(FAKE))
    assert (
        done.returncode == 2
        and done.stderr == f"error: {latin} is not UTF-8 text (byte 2): a Config event is JSON\n"
    )
    done = run(None, "evaluate", env=dict(FAKE))
    assert done.returncode == 2 and done.stderr == "error: give a saved event (EVENT.json) or --user NAME\n"
    done = run(None, "enforce", "--yes", env=dict(FAKE))
    assert done.returncode == 2 and "--yes confirms --apply" in done.stderr


def test_an_output_that_cannot_be_written_is_one_line(moto_server: str, server_iam: Any) -> None:
    """/proc/version exists and nobody may write it (refused before the sweep, or when written as root)."""
    create_user(server_iam, "bob")
    done = run(moto_server, "report", "--output", "/proc/version")
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1].startswith("error: --output /proc/version: ")
    assert "Traceback" not in done.stderr


def test_evaluate_user_finds_any_spelling_and_saves_a_replayable_event(
    moto_server: str, server_iam: Any, tmp_path: Path
) -> None:
    bob = create_user(server_iam, "bob")
    saved = tmp_path / "bob.json"
    done = run(
        moto_server,
        "evaluate",
        "--user",
        "BOB",
        "--parameters",
        '{"GracePeriodDays": "7"}',
        "--save",
        str(saved),
    )
    assert done.returncode == 0, done.stderr  # 7 days of grace: COMPLIANT, and said so
    assert "rule parameters (--parameters): {'GracePeriodDays': '7'}" in done.stderr
    assert f"saved the event to {saved}" in done.stderr and "grace period ends" in done.stdout
    replay = run(moto_server, "evaluate", str(saved))
    assert replay.returncode == 0 and bob["UserId"] in replay.stdout


def test_evaluate_user_takes_the_deployed_rules_parameters(moto_server: str, server_iam: Any) -> None:
    """evaluate --user resolves parameters like every other command: the deployed rule first."""
    create_user(server_iam, "svc-x")
    deploy_rule(moto_server, {"ExemptUserNames": "svc-*"})
    done = run(moto_server, "evaluate", "--user", "svc-x")
    assert done.returncode == 0, done.stderr  # exempt: NOT_APPLICABLE, not NON_COMPLIANT
    assert "deployed rule IAM_USER_CONSOLE_MFA in us-east-1, region from rdk-config.json" in done.stderr
    assert "NOT_APPLICABLE" in done.stdout


def test_report_output_takes_its_format_from_the_extension_or_refuses_a_mismatch(
    server_iam: Any, account: None, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    iam = boto3.client("iam")
    create_user(iam, "bob")  # no MFA: one open finding
    create_user(iam, "carol", password=False)
    saved = tmp_path / "r.json"
    assert cli.main(["report", "--output", str(saved)]) == 1
    assert [u["user"] for u in json.loads(saved.read_text())["users"]] == ["bob", "carol"]
    findings = tmp_path / "r.asff"
    assert cli.main(["report", "--output", str(findings)]) == 1
    assert len(json.loads(findings.read_text())) == 1
    assert f"wrote 1 finding (asff) to {findings}" in capsys.readouterr().err  # not "2 users"
    assert cli.main(["report", "--format", "csv", "--output", str(saved)]) == 2
    assert "--format csv does not match --output" in capsys.readouterr().err


def test_policy_deploy_writes_one_file_per_managed_policy_and_the_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    from iam_console_mfa.deploy_permissions import deploy_policy, managed_policies
    from iam_console_mfa.settings import SETTINGS

    assert cli.main(["policy", "--deploy", "--output-dir", str(tmp_path)]) == 0
    expected = managed_policies(deploy_policy(json.loads(SETTINGS.read_text())))
    assert {p.stem: json.loads(p.read_text()) for p in tmp_path.glob("*.json")} == expected
    commands = [line for line in capsys.readouterr().out.splitlines() if line.startswith("aws iam")]
    assert commands == [
        f"aws iam create-policy --policy-name {name} --policy-document file://{tmp_path / name}.json"
        for name in expected
    ]


def test_enforce_action_require_mfa_attaches_the_stacks_quarantine_policy(
    account: None, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """enforce offers the rule's actions; require-mfa attaches the rule stack's own policy (its
    QuarantinePolicyArn output), and says so when the stack has none."""
    from tests.stacks import STACKS

    aws = configured_session()
    iam = aws.client("iam")
    create_user(iam, "bob")
    monkeypatch.setattr(cli, "session", lambda args, retries=None: cli_session(aws))
    apply = ["enforce", "--action", "require-mfa", "--apply", "--yes", "--without-deployed-rule"]
    assert cli.main(apply) == 2
    assert "stack iam-console-mfa-rule has no quarantine policy here" in capsys.readouterr().err
    template = {
        "Resources": {
            "QuarantinePolicy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Deny", "NotAction": ["iam:ChangePassword"], "Resource": "*"}],
                    }
                },
            }
        },
        "Outputs": {"QuarantinePolicyArn": {"Value": {"Ref": "QuarantinePolicy"}}},
    }
    assert "QuarantinePolicyArn" in STACKS["rule.yaml"]["Outputs"]  # the output the CLI reads
    aws.client("cloudformation").create_stack(
        StackName="iam-console-mfa-rule", TemplateBody=json.dumps(template)
    )
    assert cli.main([*apply, "--format", "json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)["actions"]
    assert record["Action"] == "tagged the user and attached the quarantine policy"
    assert len(iam.list_attached_user_policies(UserName="bob")["AttachedPolicies"]) == 1
    assert iam.get_login_profile(UserName="bob")  # the password stays


def test_init_writes_the_default_settings_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """Outside a clone, `init` gives the rdk-config.json to edit (the repository's, as installed)."""
    from iam_console_mfa.settings import SETTINGS, validate

    monkeypatch.chdir(tmp_path)
    assert cli.main(["init"]) == 0
    written = tmp_path / "rdk-config.json"
    assert written.read_text() == SETTINGS.read_text()
    validate(json.loads(written.read_text()))
    assert cli.main(["init"]) == 2  # never overwrites
    assert "rdk-config.json exists: edit it, or remove it first; nothing was written" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "service", "operation"),
    [
        (["digest"], "config-service", "GetComplianceDetailsByConfigRule"),
        (["report", "--organization"], "config-service", "DescribeAggregateComplianceByConfigRules"),
    ],
)
def test_an_endpoint_without_the_api_is_explained_once_for_every_command(
    account: None,
    capsys: pytest.CaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
    command: list[str],
    service: str,
    operation: str,
) -> None:
    """A local moto server answers an API it lacks with HTTP 500: every command says so in the
    same words doctor uses, not only doctor."""
    aws = configured_session()
    fail_operation(aws, service, operation, "500", status=500)
    monkeypatch.setattr(cli, "session", lambda args, retries=None: cli_session(aws))
    assert cli.main(command) == 2
    err = capsys.readouterr().err
    assert f"the endpoint does not implement {operation} (a local moto server lacks some AWS APIs)" in err


def test_every_cli_parameter_holding_an_aws_client_or_session_is_typed() -> None:
    """mypy checks each call against the service's stubs only where a signature names the client
    type: a parameter named like a client or session but annotated ``Any`` escapes that check."""
    import ast

    holders = {"aws", "session", "core", "iam", "config", "cfn", "cloudformation", "s3", "lam", "hub", "events"}
    holders |= {"organizations", "sts", "logs", "sns", "client", "retries"}
    untyped = []
    for path in sorted(Path(cli.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                arguments = [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]
                untyped += [
                    f"{path.name}:{node.lineno} {node.name}({a.arg})"
                    for a in arguments
                    if a.arg in holders and (a.annotation is None or ast.unparse(a.annotation) == "Any")
                ]
    assert untyped == []
