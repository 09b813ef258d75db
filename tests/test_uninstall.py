"""The lifecycle against a local moto server: deploy, upgrade, uninstall, deploy again; what is
not ours stays.

moto deletes stacks and the resources it created for them; it keeps a resource whose
DeletionPolicy is Retain as CloudFormation does (the log groups, checked here).
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import boto3
import pytest

from iam_console_mfa.organization_access import STACKSETS
from iam_console_mfa.settings import SETTINGS
from tests.conftest import FAKE
from tests.stacks import without_nested_conditions
from tests.test_deploy import cli, client

BUCKET = "iam-console-mfa-123456789012-us-east-1"


def log_groups(env: dict[str, str]) -> list[str]:
    groups = client(env, "logs").describe_log_groups(logGroupNamePrefix="/aws/lambda/IAM_USER_CONSOLE_MFA-")
    return sorted(g["logGroupName"] for g in groups["logGroups"])


def stacks(env: dict[str, str]) -> set[str]:
    return {
        s["StackName"]
        for s in client(env, "cloudformation").describe_stacks()["Stacks"]
        if s["StackStatus"] != "DELETE_COMPLETE"
    }


def buckets(env: dict[str, str]) -> list[str]:
    return [b["Name"] for b in client(env, "s3").list_buckets()["Buckets"]]


def section_commands(title: str) -> list[list[str]]:
    """The iam-console-mfa commands in a docs/deploy.md section's bash blocks, in order."""
    text = (Path(__file__).resolve().parents[1] / "docs" / "deploy.md").read_text()
    section = text.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]
    lines = [
        line for block in re.findall(r"```bash\n(.*?)```", section, re.DOTALL) for line in block.splitlines()
    ]
    return [shlex.split(line, comments=True)[1:] for line in lines if line.startswith("iam-console-mfa ")]


def test_the_documented_lifecycle_deploy_upgrade_uninstall_and_again(server: dict[str, str]) -> None:
    """docs/deploy.md's Upgrade and Uninstall commands, as shown, over a first deploy (Install is
    make install, which make test runs first); then a deploy again, an uninstall that keeps the
    logs, and a deploy that does not collide with them."""
    install = (Path(__file__).resolve().parents[1] / "docs" / "deploy.md").read_text()
    assert "make install" in install.split("\n## Install\n", 1)[1].split("\n## ", 1)[0]
    upgrade, removal = section_commands("Upgrade"), section_commands("Uninstall")
    assert upgrade == [["deploy", "--dry-run"], ["deploy"]] and removal == [
        ["uninstall"],
        ["uninstall", "--yes"],
    ]
    assert cli(server, "deploy").returncode == 0
    first_logs = log_groups(server)
    # evaluator, remediation, digest; moto skips the re-evaluation's (its condition nests another)
    assert len(first_logs) == 3
    for command in upgrade:
        done = cli(server, *command)
        assert done.returncode == 0, (command, done.stdout + done.stderr)

    plan = cli(server, *removal[0])
    assert plan.returncode == 0, plan.stderr
    lines = plan.stdout.splitlines()
    assert lines[0] == "delete stack iam-console-mfa-rule"  # the rule alerts through the alerts stack
    assert "delete stack iam-console-mfa-alerts" in lines
    assert sorted(line.split()[-1] for line in lines if "delete log group" in line) == first_logs
    assert (
        f"delete bucket {BUCKET}" in lines and lines[-1] == "nothing changed: run again with --yes to remove it"
    )
    assert stacks(server) == {"iam-console-mfa-alerts", "iam-console-mfa-rule"}  # the plan changed nothing

    done = cli(server, *removal[1])
    assert done.returncode == 0, done.stdout + done.stderr
    assert stacks(server) == set() and log_groups(server) == [] and BUCKET not in buckets(server)
    assert client(server, "lambda").list_functions()["Functions"] == []
    assert cli(server, "uninstall").stdout == "nothing of iam-console-mfa is deployed here\n"

    again = cli(server, "deploy")
    assert again.returncode == 0, again.stdout + again.stderr
    kept = log_groups(server)
    assert len(kept) == 3 and set(kept).isdisjoint(first_logs)
    assert cli(server, "uninstall", "--yes", "--keep-logs").returncode == 0
    assert stacks(server) == set() and log_groups(server) == kept
    assert cli(server, "deploy").returncode == 0  # named per stack creation: no AlreadyExists
    assert len(log_groups(server)) == 6


def test_what_deploy_did_not_create_is_refused_and_nothing_changes(server: dict[str, str]) -> None:
    cfn = client(server, "cloudformation")
    template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Description": "the team's own alerts"}
    cfn.create_stack(StackName="iam-console-mfa-alerts", TemplateBody=json.dumps(template))
    done = cli(server, "uninstall", "--yes")
    assert done.returncode == 2
    assert "refused: stack iam-console-mfa-alerts was not deployed by iam-console-mfa" in done.stdout
    assert "nothing was changed" in done.stderr
    assert stacks(server) == {"iam-console-mfa-alerts"}


def test_a_code_bucket_of_your_own_keeps_everything_but_our_objects(
    server: dict[str, str], tmp_path: Path
) -> None:
    s3 = client(server, "s3")
    s3.create_bucket(Bucket="team-artifacts")
    s3.put_object(Bucket="team-artifacts", Key="IAM_USER_CONSOLE_MFA-notes.txt", Body=b"ours, not deploy's")
    settings = json.loads(SETTINGS.read_text())
    settings["codeBucket"] = "team-artifacts"
    chosen = tmp_path / "rdk-config.json"
    chosen.write_text(json.dumps(settings))
    assert cli(server, "deploy", "--settings", str(chosen)).returncode == 0
    done = cli(server, "uninstall", "--yes", "--settings", str(chosen))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "keep bucket team-artifacts: codeBucket is yours" in done.stdout
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="team-artifacts")["Contents"]]
    assert keys == ["IAM_USER_CONSOLE_MFA-notes.txt"]


def test_organization_mode_removes_the_stackset_stack_and_only_our_bucket_statement(
    server: dict[str, str],
    tmp_path: Path,
) -> None:
    org = client(server, "organizations")
    org.create_organization(FeatureSet="ALL")
    org.enable_aws_service_access(ServicePrincipal=STACKSETS)
    settings = json.loads(SETTINGS.read_text())
    settings["organization"] = {
        "enabled": True,
        "organizationalUnitIds": [org.list_roots()["Roots"][0]["Id"]],
        "callAs": "SELF",
    }
    chosen = tmp_path / "rdk-config.json"
    chosen.write_text(json.dumps(settings))
    s3 = client(server, "s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="handover.txt", Body=b"someone else's")
    own: dict[str, Any] = {
        "Sid": "TheOwnersOwn",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:DeleteBucket",
        "Resource": f"arn:aws:s3:::{BUCKET}",
    }
    s3.put_bucket_policy(Bucket=BUCKET, Policy=json.dumps({"Version": "2012-10-17", "Statement": [own]}))
    assert cli(server, "deploy", "--settings", str(chosen)).returncode == 0
    done = cli(server, "uninstall", "--yes", "--settings", str(chosen))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines()[0] == "delete stack iam-console-mfa-organization"
    assert stacks(server) == set()
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["handover.txt"]
    assert json.loads(s3.get_bucket_policy(Bucket=BUCKET)["Policy"])["Statement"] == [own]


def test_deploy_over_an_earlier_version_updates_code_and_settings_in_place(
    server: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """An upgrade: new code (a new object key) and a changed setting, deployed over the last
    deployment. The stacks are updated, not replaced: the same function and rule keep running."""
    from iam_console_mfa import deploy

    for key in ("AWS_ENDPOINT_URL", *FAKE):
        monkeypatch.setenv(key, server[key])
    session = boto3.Session(region_name="us-east-1")
    # moto skips resources whose condition nests another at creation, but its UpdateStack
    # resolves their GetAtts and fails: the stacks are deployed from copies with those
    # conditions written out, so that every resource exists (tests/stacks.py).
    monkeypatch.setattr(deploy, "STACKS", without_nested_conditions(tmp_path))
    settings = json.loads(SETTINGS.read_text())
    deploy.Deployer(session, settings, lambda _: None).run()
    cfn, lam = client(server, "cloudformation"), client(server, "lambda")
    before = {s["StackName"]: s["StackId"] for s in cfn.describe_stacks()["Stacks"]}
    function = lam.get_function(FunctionName="IAM_USER_CONSOLE_MFA-evaluator")["Configuration"]

    released = deploy.package()
    monkeypatch.setattr(deploy, "package", lambda: released + b"\n")  # the next version's code
    settings["ruleParameters"]["GracePeriodDays"] = "7"
    deploy.Deployer(session, settings, lambda _: None).run()

    after = {s["StackName"]: s for s in cfn.describe_stacks()["Stacks"]}
    assert {name: s["StackId"] for name, s in after.items()} == before  # updated in place
    rule = after["iam-console-mfa-rule"]
    assert rule["StackStatus"] == "UPDATE_COMPLETE"
    given = {p["ParameterKey"]: p["ParameterValue"] for p in rule["Parameters"]}
    assert given["GracePeriodDays"] == "7"
    assert given["CodeKey"] == deploy.package_key("IAM_USER_CONSOLE_MFA", released + b"\n")
    updated = lam.get_function(FunctionName="IAM_USER_CONSOLE_MFA-evaluator")["Configuration"]
    assert updated["FunctionArn"] == function["FunctionArn"] and updated["CodeSha256"] != function["CodeSha256"]
    # The earlier package stays: a stack rolled back to it still finds its code.
    keys = {o["Key"] for o in client(server, "s3").list_objects_v2(Bucket=BUCKET)["Contents"]}
    assert keys == {deploy.package_key("IAM_USER_CONSOLE_MFA", b) for b in (released, released + b"\n")}


def test_uninstall_lifts_the_quarantine_before_deleting_its_policy(
    server: dict[str, str], tmp_path: Path
) -> None:
    """IAM deletes no managed policy still attached: the plan names the quarantined users, and
    uninstall detaches the policy from them before the rule stack goes."""
    settings = json.loads(SETTINGS.read_text())
    settings["ruleParameters"]["RemediationAction"] = "require-mfa"
    chosen = tmp_path / "rdk-config.json"
    chosen.write_text(json.dumps(settings))
    assert cli(server, "deploy", "--settings", str(chosen)).returncode == 0
    iam = client(server, "iam")
    (policy,) = iam.list_policies(Scope="Local")["Policies"]
    iam.create_user(UserName="bob")
    iam.attach_user_policy(UserName="bob", PolicyArn=policy["Arn"])  # as the remediation does
    plan = cli(server, "uninstall", "--settings", str(chosen))
    assert f"detach {policy['PolicyName']} from bob (lifts their quarantine)" in plan.stdout.splitlines()
    done = cli(server, "uninstall", "--yes", "--settings", str(chosen))
    assert done.returncode == 0, done.stdout + done.stderr
    assert iam.list_attached_user_policies(UserName="bob")["AttachedPolicies"] == []
    assert stacks(server) == set()


def test_a_statement_under_our_sid_that_deploy_did_not_write_stops_uninstall(
    server: dict[str, str], tmp_path: Path
) -> None:
    """The same rule as deploy's: a statement with our Sid but another shape is not ours."""
    s3 = client(server, "s3")
    s3.create_bucket(Bucket="team-artifacts")
    foreign = {
        "Sid": "IamConsoleMfaOrganizationReadsPackage",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:DeleteBucket",
        "Resource": "arn:aws:s3:::team-artifacts",
    }
    s3.put_bucket_policy(
        Bucket="team-artifacts", Policy=json.dumps({"Version": "2012-10-17", "Statement": foreign})
    )
    settings = json.loads(SETTINGS.read_text())
    settings["codeBucket"] = "team-artifacts"
    chosen = tmp_path / "rdk-config.json"
    chosen.write_text(json.dumps(settings))
    done = cli(server, "uninstall", "--yes", "--settings", str(chosen))
    assert done.returncode == 2
    assert "holds a statement under our Sid deploy did not write" in done.stdout
    assert json.loads(s3.get_bucket_policy(Bucket="team-artifacts")["Policy"])["Statement"] == foreign
