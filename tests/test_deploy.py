"""Deployment end to end against a local moto server, with the CLI and with the RDK.

moto deploys S3, Lambda, IAM, SSM documents, SNS, KMS and EventBridge from the templates but
skips AWS::Config::* and AWS::CloudWatch::Alarm resources: those are checked in
test_templates.py.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest

from iam_console_mfa.organization_access import STACKSETS
from iam_console_mfa.settings import SETTINGS
from tests.conftest import FAKE
from tests.stacks import DOCUMENT
from tests.support import installed_outside_a_clone

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent

DEPLOY_DOC = Path(__file__).resolve().parents[1] / "docs" / "deploy.md"


def client(env: dict[str, str], service: str) -> Any:
    session: Any = boto3.Session(region_name="us-east-1")  # Any: the service name is a variable
    return session.client(
        service,
        endpoint_url=env["AWS_ENDPOINT_URL"],
        aws_access_key_id="deploy",
        aws_secret_access_key="deploy",
    )


def cli(env: dict[str, str], *args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(BIN / "iam-console-mfa"), *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300
    )


def test_deploy_creates_every_stack_from_rdk_config(server: dict[str, str]) -> None:
    done = cli(server, "deploy")
    assert done.returncode == 0, done.stdout + done.stderr
    for stack in ("iam-console-mfa-alerts", "iam-console-mfa-rule"):
        assert f"{stack}: creating" in done.stdout
        assert f"{stack}" in done.stdout and "CREATE_COMPLETE" in done.stdout

    function = client(server, "lambda").get_function(FunctionName="IAM_USER_CONSOLE_MFA-evaluator")
    assert function["Configuration"]["Runtime"] == "python3.12"
    assert function["Configuration"]["Handler"] == "IAM_USER_CONSOLE_MFA.lambda_handler"
    remediation = client(server, "lambda").get_function(FunctionName="IAM_USER_CONSOLE_MFA-remediation")
    assert remediation["Configuration"]["Handler"] == "console_mfa.remediation.handler"
    assert remediation["Configuration"]["Role"] != function["Configuration"]["Role"]
    s3 = client(server, "s3")
    (bucket,) = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert bucket == "iam-console-mfa-123456789012-us-east-1"
    (obj,) = s3.list_objects_v2(Bucket=bucket)["Contents"]
    names = zipfile.ZipFile(io.BytesIO(s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read())).namelist()
    assert {
        "IAM_USER_CONSOLE_MFA.py",
        "console_mfa/decision.py",
        "console_mfa/credential_report.py",
        "rdklib/__init__.py",
    } <= set(names)
    assert not [n for n in names if n.endswith("_test.py")]

    documents = client(server, "ssm").list_documents(
        Filters=[{"Key": "DocumentType", "Values": ["Automation"]}]
    )
    (document,) = documents["DocumentIdentifiers"]
    content = client(server, "ssm").get_document(Name=document["Name"])["Content"]
    # moto keeps a Content given as a CloudFormation object as its Python repr, not JSON
    stored = json.loads(content) if content.startswith('{"') else ast.literal_eval(content)
    payload = stored["mainSteps"][0]["inputs"]["InputPayload"]
    assert payload["FunctionName"] == remediation["Configuration"]["FunctionArn"]  # resolved by CloudFormation
    assert stored["mainSteps"][0]["inputs"]["Script"] == DOCUMENT["mainSteps"][0]["inputs"]["Script"]

    (topic,) = client(server, "sns").list_topics()["Topics"]
    attributes = client(server, "sns").get_topic_attributes(TopicArn=topic["TopicArn"])["Attributes"]
    assert attributes.get("KmsMasterKeyId")
    rules = client(server, "events").list_rules()["Rules"]
    patterns = [json.loads(r["EventPattern"]) for r in rules if "EventPattern" in r]
    (schedule,) = [r for r in rules if "ScheduleExpression" in r]  # the digest's
    assert schedule["Name"] == "IAM_USER_CONSOLE_MFA-digest"
    assert schedule["ScheduleExpression"] == "cron(0 8 ? * MON *)"
    digest = client(server, "lambda").get_function(FunctionName="IAM_USER_CONSOLE_MFA-digest")["Configuration"]
    assert digest["Handler"] == "console_mfa.digest_function.handler"
    assert digest["Environment"]["Variables"]["TOPIC_ARN"] == topic["TopicArn"]
    assert sorted(p["detail"]["newEvaluationResult"]["complianceType"][0] for p in patterns) == [
        "COMPLIANT",
        "NON_COMPLIANT",
    ]
    rule_stack = client(server, "cloudformation").describe_stacks(StackName="iam-console-mfa-rule")["Stacks"][0]
    given = {p["ParameterKey"]: p["ParameterValue"] for p in rule_stack["Parameters"]}
    assert given["AlarmTopicArn"] == topic["TopicArn"]  # the alarm notifies the alerts topic

    again = cli(server, "deploy")  # idempotent: same package key, stacks updated in place
    assert again.returncode == 0, again.stdout + again.stderr
    assert len(s3.list_objects_v2(Bucket=bucket)["Contents"]) == 1


def test_dry_run_calls_nothing(tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        **FAKE,
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9",
    }  # nothing listens there
    done = cli(env, "deploy", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "stack iam-console-mfa-rule <- cloudformation/rule.yaml" in done.stdout
    assert "AlarmTopicArn = '<alerts.TopicArn>'" in done.stdout
    assert "RemediationMode = 'manual'" in done.stdout
    assert "organization" not in done.stdout


def test_invalid_settings_are_refused(tmp_path: Path) -> None:
    settings = json.loads(SETTINGS.read_text())
    settings["sweepFrequency"] = "Daily"
    bad = tmp_path / "rdk-config.json"
    bad.write_text(json.dumps(settings))
    done = cli({**os.environ, **FAKE}, "deploy", "--settings", str(bad), "--dry-run")
    assert done.returncode == 2
    assert done.stderr == (
        "error: rdk-config.json: sweepFrequency: 'Daily' is not allowed; "
        "allowed: One_Hour, Three_Hours, Six_Hours, Twelve_Hours, TwentyFour_Hours\n"
    )


def test_rdk_create_rule_template_reads_parameters_json(tmp_path: Path) -> None:
    out = tmp_path / "rdk.json"
    done = subprocess.run(
        [str(BIN / "rdk"), "create-rule-template", "IAM_USER_CONSOLE_MFA", "-o", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT / "rules",
        env={**os.environ, **FAKE},
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    resources = json.loads(out.read_text())["Resources"]
    (rule,) = [r for r in resources.values() if r["Type"] == "AWS::Config::ConfigRule"]
    assert rule["Properties"]["Scope"]["ComplianceResourceTypes"] == ["AWS::IAM::User"]
    # parameters.json's Remediation block becomes the rule's RemediationConfiguration
    (remediation,) = [r for r in resources.values() if r["Type"] == "AWS::Config::RemediationConfiguration"]
    assert remediation["Properties"]["TargetId"] == {
        "Fn::ImportValue": "IAM_USER_CONSOLE_MFA-RemediationDocument"
    }
    # rdk's template passes cfn-lint's checks of that resource type's schema
    lint = subprocess.run(
        [str(BIN / "cfn-lint"), "--format", "parseable", str(out)], capture_output=True, text=True
    )
    assert not [line for line in lint.stdout.splitlines() if "Remediation" in line], lint.stdout


def test_rdk_deploy_against_moto(rdk_server: dict[str, str], tmp_path: Path) -> None:
    """The RDK route as docs/deploy.md gives it: the remediation stack, then rdk deploy."""
    server = rdk_server
    from iam_console_mfa.deploy import package

    rules = tmp_path / "rules"
    shutil.copytree(ROOT / "rules" / "IAM_USER_CONSOLE_MFA", rules / "IAM_USER_CONSOLE_MFA")
    s3, cloudformation = client(server, "s3"), client(server, "cloudformation")
    s3.create_bucket(Bucket="rdk-code")
    s3.put_object(Bucket="rdk-code", Key="package.zip", Body=package())
    cloudformation.create_stack(
        StackName="iam-console-mfa-remediation",
        TemplateBody=(ROOT / "cloudformation/remediation.json").read_text(),
        Parameters=[
            {"ParameterKey": "CodeBucket", "ParameterValue": "rdk-code"},
            {"ParameterKey": "CodeKey", "ParameterValue": "package.zip"},
        ],
        Capabilities=["CAPABILITY_IAM"],
    )
    exports = {e["Name"]: e["Value"] for e in cloudformation.list_exports()["Exports"]}
    document = exports["IAM_USER_CONSOLE_MFA-RemediationDocument"]
    automations = client(server, "ssm").list_documents(
        Filters=[{"Key": "DocumentType", "Values": ["Automation"]}]
    )
    assert [d["Name"] for d in automations["DocumentIdentifiers"]] == [document]
    assert ":role/" in exports["IAM_USER_CONSOLE_MFA-AutomationRoleArn"]
    done = subprocess.run(
        [
            str(BIN / "rdk"),
            "deploy",
            "IAM_USER_CONSOLE_MFA",
            "--custom-code-bucket",
            "rdk-code",
            "--rdklib-layer-arn",
            "arn:aws:lambda:us-east-1:123456789012:layer:rdklib:1",
            "--lambda-timeout",  # as docs/deploy.md shows it: rdk's default of 60 s is too short
            str(json.loads(SETTINGS.read_text())["lambda"]["timeoutSeconds"]),
        ],
        capture_output=True,
        text=True,
        cwd=rules,
        env=server,
        timeout=300,
    )
    assert "Config deploy complete" in done.stdout, done.stdout + done.stderr
    functions = client(server, "lambda").list_functions()["Functions"]
    assert sorted((f["Runtime"], f["Handler"]) for f in functions) == [
        ("python3.12", "IAM_USER_CONSOLE_MFA.lambda_handler"),
        ("python3.12", "console_mfa.remediation.handler"),
    ]
    (evaluator,) = [f for f in functions if f["Handler"] == "IAM_USER_CONSOLE_MFA.lambda_handler"]
    assert evaluator["Timeout"] == json.loads(SETTINGS.read_text())["lambda"]["timeoutSeconds"] == 600
    timeout_in_docs = re.search(
        r"rdk deploy IAM_USER_CONSOLE_MFA .*--lambda-timeout (\d+)", DEPLOY_DOC.read_text()
    )
    assert timeout_in_docs and int(timeout_in_docs.group(1)) == evaluator["Timeout"]
    # moto skips AWS::Config::*: the configuration rdk deployed is read from its template, and
    # every value it imports is one the remediation stack exports
    (rdk_stack,) = [
        s for s in cloudformation.describe_stacks()["Stacks"] if s["StackName"] != "iam-console-mfa-remediation"
    ]
    body = cloudformation.get_template(StackName=rdk_stack["StackName"])["TemplateBody"]
    template = body if isinstance(body, dict) else json.loads(body)
    (remediation,) = [
        r for r in template["Resources"].values() if r["Type"] == "AWS::Config::RemediationConfiguration"
    ]
    imports = set(re.findall(r'"Fn::ImportValue": "([^"]+)"', json.dumps(remediation)))
    assert imports == set(exports)


def test_every_s3_call_names_the_expected_bucket_owner() -> None:
    """A bucket of that predictable name owned by another account gets 403, never the code.

    S3's ExpectedBucketOwner check is not enforced by moto: the requests are checked here.
    """
    from botocore.stub import Stubber

    from iam_console_mfa.deploy import Deployer

    s3 = boto3.client("s3", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    owner = {"ExpectedBucketOwner": "123456789012"}
    with Stubber(s3) as stub:
        stub.add_client_error(
            "head_bucket", "404", http_status_code=404, expected_params={"Bucket": "b", **owner}
        )
        stub.add_response(
            "create_bucket",
            {"Location": "/b"},
            {"Bucket": "b", "CreateBucketConfiguration": {"LocationConstraint": "eu-west-1"}},
        )
        block = {
            k: True
            for k in ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")
        }
        stub.add_response(
            "put_public_access_block", {}, {"Bucket": "b", "PublicAccessBlockConfiguration": block, **owner}
        )
        stub.add_response(
            "put_object",
            {},
            {"Bucket": "b", "Key": "k", "Body": b"zip", "ServerSideEncryption": "AES256", **owner},
        )
        deployer = Deployer.__new__(Deployer)
        deployer.aws = type("Aws", (), {"client": staticmethod(lambda service: s3)})()
        deployer.say = lambda line: None
        assert not deployer._bucket_exists("b", "123456789012")
        deployer._create_bucket("b", "eu-west-1", "123456789012")
        deployer._put("b", "k", b"zip", "123456789012")
        stub.assert_no_pending_responses()


LAMBDA_IMPORTS = """
import importlib, pkgutil, sys
sys.path.insert(0, sys.argv[1])  # the unpacked package, as Lambda puts it on the path
class Block:  # what the Lambda runtime does not have: type stubs and the development tools
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top.startswith(("mypy", "boto3_stubs", "botocore_stubs")) or top in {"moto", "iam_console_mfa"}:
            raise ImportError(f"No module named {name!r} (blocked)")
sys.meta_path.insert(0, Block())
import console_mfa, IAM_USER_CONSOLE_MFA
for module in pkgutil.iter_modules(console_mfa.__path__):
    importlib.import_module(f"console_mfa.{module.name}")
print(console_mfa.__file__)
"""


def test_the_lambda_imports_with_rdklib_and_boto3_alone(tmp_path: Path) -> None:
    """The engine's typed client annotations come from stub packages only the checker sees."""
    from iam_console_mfa.deploy import package

    with zipfile.ZipFile(io.BytesIO(package())) as archive:
        archive.extractall(tmp_path)
    done = subprocess.run(
        [sys.executable, "-S", "-c", LAMBDA_IMPORTS, str(tmp_path)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if "site-packages" in p)},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(tmp_path / "console_mfa" / "__init__.py")


def test_the_lambda_package_holds_exactly_the_rule_its_engine_and_rdklib() -> None:
    from iam_console_mfa.deploy import package

    RULE_DIR = ROOT / "rules/IAM_USER_CONSOLE_MFA"  # noqa: N806

    with zipfile.ZipFile(io.BytesIO(package())) as archive:
        names = set(archive.namelist())
    engine = {f"console_mfa/{p.name}" for p in (RULE_DIR / "console_mfa").glob("*.py")}
    rdklib = {n for n in names if n.startswith("rdklib/")}
    assert names == {"IAM_USER_CONSOLE_MFA.py", *engine, *rdklib}
    assert "rdklib/__init__.py" in rdklib and "console_mfa/decision.py" in engine
    # nothing built sits in the rule folder that rdk deploy zips whole
    assert {p.name for p in RULE_DIR.iterdir()} == {
        "IAM_USER_CONSOLE_MFA.py",
        "IAM_USER_CONSOLE_MFA_test.py",
        "console_mfa",
        "parameters.json",
    } | ({"__pycache__"} if (RULE_DIR / "__pycache__").exists() else set())


def test_organization_deploy_shares_the_package_and_deploys_the_stackset_not_the_rule(
    server: dict[str, str], tmp_path: Path
) -> None:
    """moto creates the organization stack (it skips the StackSet and aggregator resources,
    whose invariants test_templates.py checks); what deploy itself does is checked here."""
    org = client(server, "organizations")
    organization_id = org.create_organization(FeatureSet="ALL")["Organization"]["Id"]
    org.enable_aws_service_access(ServicePrincipal=STACKSETS)  # service-managed StackSets need it
    root = org.list_roots()["Roots"][0]["Id"]
    settings = json.loads(SETTINGS.read_text())
    settings["organization"] = {"enabled": True, "organizationalUnitIds": [root], "callAs": "SELF"}
    chosen = tmp_path / "rdk-config.json"
    chosen.write_text(json.dumps(settings))
    bucket = "iam-console-mfa-123456789012-us-east-1"
    client(server, "s3").create_bucket(Bucket=bucket)  # the owner's bucket, with a policy of its own
    own = {
        "Sid": "TheOwnersOwn",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:DeleteBucket",
        "Resource": f"arn:aws:s3:::{bucket}",
    }
    client(server, "s3").put_bucket_policy(
        Bucket=bucket, Policy=json.dumps({"Version": "2012-10-17", "Statement": [own]})
    )
    done = cli(server, "deploy", "--settings", str(chosen))
    assert done.returncode == 0, done.stdout + done.stderr
    stacks = {s["StackName"]: s for s in client(server, "cloudformation").describe_stacks()["Stacks"]}
    assert set(stacks) == {"iam-console-mfa-alerts", "iam-console-mfa-organization"}  # no rule here too
    given = {
        p["ParameterKey"]: p["ParameterValue"] for p in stacks["iam-console-mfa-organization"]["Parameters"]
    }
    assert root in given["OrganizationalUnitIds"]  # moto shows a CommaDelimitedList as its repr
    alerts = {o["OutputKey"]: o["OutputValue"] for o in stacks["iam-console-mfa-alerts"]["Outputs"]}
    assert given["CentralEventBusArn"] == alerts["CentralEventBusArn"]  # the bus, before the StackSet
    assert alerts["CentralEventBusArn"].endswith(":event-bus/IAM_USER_CONSOLE_MFA-organization")
    s3 = client(server, "s3")
    key = given["TemplateURL"].split(".amazonaws.com/", 1)[1]
    assert given["TemplateURL"].startswith(f"https://{bucket}.s3.us-east-1.amazonaws.com/templates/")
    assert (
        s3.get_object(Bucket=bucket, Key=key)["Body"].read() == (ROOT / "cloudformation/rule.yaml").read_bytes()
    )
    mine, ours = json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"]
    assert mine["Sid"] == "TheOwnersOwn"  # a statement deploy does not own survives
    assert ours["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": organization_id}}
    assert ours["Action"] == "s3:GetObject" and given["CodeKey"].endswith(".zip")
    assert ours["Resource"] == [f"arn:aws:s3:::{bucket}/{given['CodeKey']}", f"arn:aws:s3:::{bucket}/{key}"]


def in_process_deploy(
    server: dict[str, str], monkeypatch: pytest.MonkeyPatch, settings: dict[str, Any], uninstall: bool = False
) -> list[tuple[str, str]]:
    """Run the Deployer (then, with ``uninstall``, uninstall --yes) in this process against the
    moto server; return every call made."""
    from iam_console_mfa import uninstall as uninstaller
    from iam_console_mfa.deploy import Deployer
    from tests.support import CallLog

    for key in ("AWS_ENDPOINT_URL", *FAKE):
        monkeypatch.setenv(key, server[key])
    session = boto3.Session(region_name="us-east-1")
    log = CallLog(session)
    Deployer(session, settings, lambda _: None).run()
    if uninstall:
        removal = uninstaller.plan_removal(session, settings)
        assert removal.stacks and not removal.refused
        uninstaller.remove(session, removal, keep_logs=False, say=lambda _: None)
    return log.calls


def allows(policy: dict[str, Any], action: str) -> bool:
    return any(action in statement["Action"] for statement in policy["Statement"])


@pytest.mark.parametrize("organization", [False, True])
def test_the_deploy_policy_allows_every_call_deploy_makes(
    server: dict[str, str], monkeypatch: pytest.MonkeyPatch, organization: bool
) -> None:
    """Derived from the calls deploy and uninstall make, not from a list: a new call without its
    action fails here."""
    from iam_console_mfa.deploy_permissions import CALL_ACTIONS, deploy_policy

    settings = json.loads(SETTINGS.read_text())
    if organization:
        org = client(server, "organizations")
        org.create_organization(FeatureSet="ALL")
        org.enable_aws_service_access(ServicePrincipal=STACKSETS)
        settings["organization"] = {
            "enabled": True,
            "organizationalUnitIds": [org.list_roots()["Roots"][0]["Id"]],
            "callAs": "SELF",
        }
    calls = in_process_deploy(server, monkeypatch, settings, uninstall=True)
    policy = deploy_policy(settings)
    made = {operation for service, operation in calls if operation != "GetCallerIdentity"}  # needs none
    assert made <= set(CALL_ACTIONS), made - set(CALL_ACTIONS)
    assert [CALL_ACTIONS[op] for op in sorted(made) if not allows(policy, CALL_ACTIONS[op])] == []
    assert ("PutBucketPolicy" in made) is organization is allows(policy, "s3:PutBucketPolicy")
    assert {"DeleteStack", "DeleteObjects", "DeleteBucket"} <= made
    assert "DeleteLogGroup" in made  # the digest's here; members' log groups stay in members
    # What CloudFormation needs for each resource type: a Lambda function, an organization StackSet.
    assert allows(policy, "lambda:CreateFunction") and allows(policy, "config:PutConfigRule")
    assert allows(policy, "cloudformation:CreateStackSet") is organization


def test_the_deploy_policy_fits_two_managed_policies() -> None:
    """IAM quota: a managed policy holds at most 6,144 characters, white space not counted."""
    from iam_console_mfa.deploy_permissions import deploy_policy, managed_policies

    settings = json.loads(SETTINGS.read_text())
    settings["organization"] = {"enabled": True, "organizationalUnitIds": ["r-abcd"], "callAs": "SELF"}
    for chosen in (json.loads(SETTINGS.read_text()), settings):
        whole = deploy_policy(chosen)
        parts = managed_policies(whole)
        granted = {
            (a, json.dumps(s["Resource"])) for p in parts.values() for s in p["Statement"] for a in s["Action"]
        }
        assert granted == {(a, json.dumps(s["Resource"])) for s in whole["Statement"] for a in s["Action"]}
        for document in parts.values():
            assert len("".join(json.dumps(document).split())) <= 6144


def test_a_denied_deploy_call_names_the_permission_it_lacks(
    server: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """S3 answers a denied HeadBucket with a bare 403 and no body: the message must still say what."""
    from iam_console_mfa import cli
    from tests.support import fail_operation

    for key in ("AWS_ENDPOINT_URL", *FAKE):
        monkeypatch.setenv(key, server[key])
    made = cli.session

    def denying(args: Any) -> Any:
        aws = made(args)
        fail_operation(aws, "s3", "HeadBucket", "403", status=403)
        return aws

    monkeypatch.setattr(cli, "session", denying)
    assert cli.main(["deploy"]) == 2
    assert capsys.readouterr().err == (
        "error: HeadBucket was denied: the credentials lack s3:ListBucket (or the bucket belongs to another "
        "account); `iam-console-mfa policy --deploy` prints what deploy needs\n"
    )


def test_generated_stack_permissions_match_the_generator() -> None:
    from iam_console_mfa.generate import STACK_PERMISSIONS, stack_permissions

    assert STACK_PERMISSIONS.read_text() == stack_permissions(), "run `make generate` and commit"


def test_an_install_outside_the_clone_packages_the_same_lambda(tmp_path: Path) -> None:
    """A wheel puts the modules in site-packages, far from rules/ and cloudformation/: `package`
    finds the rule through its modules (it once zipped rdklib alone), and `deploy` without an
    rdk-config.json says how to get one. (scripts/check-wheel installs the real wheel.)"""
    from iam_console_mfa.deploy import package

    env = installed_outside_a_clone(tmp_path / "site-packages")
    elsewhere = tmp_path / "work"
    elsewhere.mkdir()
    command = [sys.executable, "-m", "iam_console_mfa.cli"]
    done = subprocess.run(
        [*command, "package", "--output", "rule.zip"], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert (elsewhere / "rule.zip").read_bytes() == package()
    done = subprocess.run(
        [*command, "deploy", "--dry-run"], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert (done.returncode, done.stderr) == (
        2,
        f"error: {elsewhere / 'rdk-config.json'} not found: run this in a clone of the repository or "
        "where your rdk-config.json is (`iam-console-mfa init` writes the default one), "
        "or pass --settings FILE\n",
    )
    # the settings schema ships with the package: policy --deploy needs only the settings file
    shutil.copy(ROOT / "rdk-config.json", elsewhere / "mine.json")
    done = subprocess.run(
        [*command, "policy", "--deploy", "--settings", "mine.json"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert set(json.loads(done.stdout)) >= {"iam-console-mfa-deploy", "iam-console-mfa-deploy-resources"}


def test_the_package_is_compressed_and_carries_rdklibs_licence() -> None:
    import zipfile

    from iam_console_mfa.deploy import package

    with zipfile.ZipFile(io.BytesIO(package())) as archive:
        infos = {i.filename: i for i in archive.infolist()}
    assert {i.compress_type for i in infos.values()} == {zipfile.ZIP_DEFLATED}
    assert {"rdklib/LICENSE", "rdklib/NOTICE"} <= set(infos)
    assert not [name for name in infos if name.endswith("_test.py")]


def test_a_dry_run_for_another_region_is_refused_like_the_deploy(server: dict[str, str]) -> None:
    done = cli(server, "deploy", "--dry-run", "--region", "mars-1")
    assert done.returncode == 2
    assert done.stderr == "error: --region mars-1 differs from rdk-config.json region us-east-1\n"


def test_organization_mode_without_an_organization_creates_nothing(
    server: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """moto answers DescribeOrganization with AWSOrganizationsNotInUseException, as AWS does
    when the account belongs to no organization: deploy stops before any bucket or stack."""
    from iam_console_mfa.deploy import DeployError

    settings = json.loads(SETTINGS.read_text())
    settings["organization"] = {
        "enabled": True,
        "organizationalUnitIds": ["ou-ab12-cdefghij"],
        "callAs": "SELF",
    }
    with pytest.raises(DeployError, match=r"AWSOrganizationsNotInUseException.*nothing was created"):
        in_process_deploy(server, monkeypatch, settings)
    assert client(server, "s3").list_buckets()["Buckets"] == []
    assert client(server, "cloudformation").describe_stacks()["Stacks"] == []
