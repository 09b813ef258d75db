"""``make demo``: the rule end to end on an embedded moto account, no AWS account needed.

Seeds one user per row of the decision table, sends the change events Config would send,
runs one periodic sweep through lambda_handler, prints the results as the Config
dashboard lists them, then remediates the NON_COMPLIANT users through the remediation Lambda's
handler and re-evaluates them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from unittest.mock import patch

from rich.console import Console
from rich.table import Table

from ..event_builders import ACCOUNT_ID, change_event, scheduled_event, user_configuration_item
from .account import Mfa, backdate, create_user

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient

PARAMETERS = {
    "AssumeRoleMode": "False",
    "ExemptUserNames": "svc-*",
    "ExemptTag": "BreakGlass=approved",
    "GracePeriodDays": "7",
}
COLOURS = {"COMPLIANT": "green", "NON_COMPLIANT": "bold red", "NOT_APPLICABLE": "dim"}


@dataclass(frozen=True)
class DemoUser:
    name: str
    story: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    age_days: float = 90
    last_used_days: float | None = None


USERS = (
    DemoUser("alice", "console password + virtual MFA", {"mfa": Mfa.VIRTUAL}),
    DemoUser("hank", "console password + hardware TOTP token", {"mfa": Mfa.HARDWARE}),
    DemoUser("fiona", "console password + FIDO security key", {"mfa": Mfa.FIDO}),
    DemoUser("carol", "access keys only, no console password", {"password": False}),
    DemoUser("svc-reporting", "no MFA, exempt by name glob svc-*"),
    DemoUser("breakglass", "no MFA, exempt by tag BreakGlass=approved", {"tags": {"BreakGlass": "approved"}}),
    DemoUser("newhire", "no MFA, password set 2 days ago (7-day grace)", age_days=2),
    DemoUser("bob", "no MFA, signs in daily", last_used_days=1),
    DemoUser("dave", "no MFA, never signed in"),
)


@contextmanager
def embedded_account() -> Iterator[None]:
    """A moto account with fake credentials, whatever the caller's environment holds."""
    from unittest import mock

    from moto import mock_aws

    # Nothing of the caller's AWS environment may reach the demo: an exported endpoint would
    # receive CreateUser calls, a profile could point at a real account.
    isolated = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    isolated.update(AWS_DEFAULT_REGION="us-east-1", AWS_ACCESS_KEY_ID="demo", AWS_SECRET_ACCESS_KEY="demo")
    with mock.patch.dict(os.environ, isolated, clear=True), mock_aws():
        yield


def dashboard(title: str, results: dict[str, dict[str, Any]], names: dict[str, str]) -> Table:
    table = Table(title=title, title_justify="left", show_lines=False)
    for column in ("Resource ID (UserId)", "Resource name", "Compliance", "Annotation"):
        table.add_column(column, overflow="fold")
    for user_id, evaluation in sorted(results.items(), key=lambda kv: names.get(kv[0], kv[0])):
        compliance = evaluation["ComplianceType"]
        table.add_row(
            user_id,
            names.get(user_id, "(deleted)"),
            f"[{COLOURS[compliance]}]{compliance}[/]",
            evaluation.get("Annotation", ""),
        )
    return table


def findings_summary(iam: IAMClient) -> str:
    """The native findings a sweep would import: user and severity (the rule's risk)."""
    from datetime import UTC, datetime

    from console_mfa.findings import Context, plan_findings
    from console_mfa.live import LiveIam
    from console_mfa.policy import parse_policy
    from console_mfa.sweep import sweep

    policy = parse_policy(
        {k: v for k, v in PARAMETERS.items() if k != "AssumeRoleMode"} | {"DataSource": "live"}
    )
    now = datetime.now(UTC)
    findings = plan_findings(
        sweep(LiveIam(iam), policy, now, trail=None),
        {},
        Context("aws", "us-east-1", ACCOUNT_ID, "IAM_USER_CONSOLE_MFA"),
        now,
    )
    named = (
        (f["Resources"][0]["Details"]["AwsIamUser"]["UserName"], f["FindingProviderFields"]) for f in findings
    )
    return ", ".join(f"{name} {fields['Severity']['Label']}" for name, fields in named)


def weekly_digest() -> str:
    from datetime import UTC, datetime

    from console_mfa.aws import configured_session
    from console_mfa.digest import as_text, build
    from console_mfa.digest_function import stored_results

    now = datetime.now(UTC)
    results = stored_results(configured_session(), "IAM_USER_CONSOLE_MFA", "", ACCOUNT_ID, now)
    built = build(
        results, rule="IAM_USER_CONSOLE_MFA", region="us-east-1", now=now, period_days=7, remediation="manual"
    )
    return as_text(built)


def run(console: Console) -> int:
    import boto3
    from console_mfa.aws import configured_session
    from console_mfa.remediation import handler as remediation_handler
    from IAM_USER_CONSOLE_MFA import lambda_handler

    from ..local_config import LocalConfig

    with embedded_account():
        config = LocalConfig(configured_session())
        iam = boto3.client("iam")
        console.rule("[bold]IAM_USER_CONSOLE_MFA demo[/]: an embedded account, no AWS needed")
        console.print(f"Rule parameters: {PARAMETERS}\n")
        names: dict[str, str] = {}
        token = "demo-result-token"
        for demo_user in USERS:
            user = create_user(iam, demo_user.name, **demo_user.kwargs)
            backdate(ACCOUNT_ID, demo_user.name, demo_user.age_days, demo_user.last_used_days)
            names[user["UserId"]] = demo_user.name
            tags = demo_user.kwargs.get("tags")
            lambda_handler(change_event(user_configuration_item(user, tags=tags), PARAMETERS, token), None)
            verdict = config.results[user["UserId"]]["ComplianceType"]
            console.print(f"  change event for {demo_user.name:<14} ({demo_user.story}) -> {verdict}")

        console.print("\nPeriodic sweep (ScheduledNotification): every user, one PutEvaluations batch")
        lambda_handler(scheduled_event(PARAMETERS, token), None)
        console.print(dashboard("Config dashboard: IAM_USER_CONSOLE_MFA", config.results, names))
        flagged = [uid for uid, e in config.results.items() if e["ComplianceType"] == "NON_COMPLIANT"]
        console.print(f"{len(flagged)} NON_COMPLIANT of {len(config.results)} users.\n")
        console.print(f"Security Hub (SecurityHubFindings=true) would import: {findings_summary(iam)}\n")
        console.print("The weekly digest (iam-console-mfa digest), from Config's stored results:")
        console.print(weekly_digest(), markup=False, highlight=False)

        console.print(
            "Remediation: the remediation Lambda (what the SSM document invokes), per NON_COMPLIANT user"
        )
        # The remediation Lambda reads the deployed rule's exemptions from the rule (rule.yaml).
        config.deploy_rule(PARAMETERS)
        for user_id in flagged:
            with patch.dict(os.environ, {"CONFIG_RULE_NAME": config.rule_name}):
                summary = remediation_handler({"IAMUserId": user_id}, None)
            console.print(f"  {summary['UserName']}: {summary['Action']}")
            remediated = iam.get_user(UserName=summary["UserName"])["User"]
            lambda_handler(change_event(user_configuration_item(remediated), PARAMETERS, token), None)
        console.print(dashboard("Config dashboard after remediation and re-evaluation", config.results, names))
    return 0
