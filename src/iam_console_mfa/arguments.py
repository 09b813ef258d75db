"""The command line's shape: every subcommand, its options, its example and exit codes.

Kept apart from the commands (cli.py) so that a reader finds each option in one place and
the commands stay about what they do.
"""

from __future__ import annotations

import argparse
from contextlib import suppress
from pathlib import Path
from typing import Any

EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
# Each command's exit codes, in its --help (and docs/cli.md).
EXIT_CODES = {
    "report": "0 no NON_COMPLIANT user, 1 NON_COMPLIANT users found (CI gating), 2 error",
    "doctor": "0 every required check passed, 1 one did not, 2 error before any check",
    "enforce": "0 nothing to remove (or --apply done), 1 dry run: users it would act on (CI gating), 2 error",
    "evaluate": "0 the user is not NON_COMPLIANT, 1 NON_COMPLIANT, 2 error",
    "deploy": "0 deployed (or planned), 2 error",
    "digest": "0 nobody NON_COMPLIANT, 1 NON_COMPLIANT users listed (and sent with --send), 2 error",
    "init": "0 written, 2 error (an rdk-config.json is already there)",
    "uninstall": "0 removed (or planned, or nothing deployed), 2 error or refused (nothing changed)",
    "package": "0 written, 2 error",
    "demo": "0 done, 2 error",
    "selftest": "0 every check passed, 1 a check failed, 2 error (what it created is deleted in every case)",
    "policy": "0 printed, 2 error",
}


EXAMPLES = {
    "report": "iam-console-mfa report --exempt 'svc-*' --format json --output report.json",
    "doctor": "iam-console-mfa doctor --format json",
    "enforce": "iam-console-mfa enforce --user bob   # a dry run; --apply acts",
    "evaluate": "iam-console-mfa evaluate --user bob",
    "deploy": "iam-console-mfa deploy --dry-run",
    "digest": "iam-console-mfa digest --format markdown",
    "init": "iam-console-mfa init   # writes ./rdk-config.json to edit",
    "uninstall": "iam-console-mfa uninstall   # the plan; --yes removes",
    "package": "iam-console-mfa package --layer",
    "demo": "iam-console-mfa demo",
    "selftest": "iam-console-mfa selftest --yes --remediate",
    "policy": "iam-console-mfa policy --enforce > read-and-enforce.json",
}


def _rule_options() -> list[tuple[str, Any, str]]:
    from console_mfa import parameters as p

    return [
        ("--exempt", p.EXEMPT_USER_NAMES, "GLOBS"),
        ("--exempt-tag", p.EXEMPT_TAG, "KEY[=VALUE]"),
        ("--grace-days", p.GRACE_PERIOD_DAYS, "N"),
        ("--data-source", p.DATA_SOURCE, "auto|live|credential-report"),
        ("--refresh-days", p.REFRESH_DAYS, "N"),
        ("--action", p.REMEDIATION_ACTION, "disable-console|require-mfa|require-mfa-and-deactivate-keys"),
    ]


RULE_OPTIONS = _rule_options()


def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import PackageNotFoundError, version

    parser = argparse.ArgumentParser(
        prog="iam-console-mfa",
        description="iam-console-mfa: see, enforce and replay the IAM_USER_CONSOLE_MFA rule from a laptop.",
        epilog=f"exit codes: each command's --help; {EXIT_INTERRUPTED} interrupted",
    )
    with suppress(PackageNotFoundError):  # running from a source tree without installing
        parser.add_argument("--version", action="version", version=version("iam-console-mfa"))
    aws = argparse.ArgumentParser(add_help=False)
    aws.add_argument("--profile", help="AWS profile (default: the environment's credentials)")
    aws.add_argument("--region", help="AWS region for the API endpoints (IAM is global)")
    # Each rule option defaults to the deployed rule's value (DescribeConfigRules), then to
    # rdk-config.json's ruleParameters, then to the rule's own default; the command says where
    # each value came from.
    rule = argparse.ArgumentParser(add_help=False)
    rule.add_argument(
        "--settings",
        type=Path,
        default=None,
        metavar="FILE",
        help="default: rdk-config.json, the one deploy reads",
    )
    rule.add_argument(
        "--rule-name",
        metavar="NAME",
        help="the deployed Config rule whose parameters apply (DescribeConfigRules); default: "
        "rdk-config.json's ruleName, else IAM_USER_CONSOLE_MFA. With report: also read its results "
        "and say what a sweep would write and skip (config:GetComplianceDetailsByConfigRule)",
    )
    for flag, parameter, metavar in RULE_OPTIONS:
        rule.add_argument(
            flag,
            dest=parameter.name,
            metavar=metavar,
            help=f"{parameter.name}: {parameter.description} Default: the deployed rule's, else "
            f"rdk-config.json's, else {parameter.default!r}.",
        )
    commands = parser.add_subparsers(dest="command", required=True)

    report = commands.add_parser("report", parents=[aws, rule], help="read-only: every console user's verdict")
    report.add_argument(
        "--format",
        choices=("table", "json", "csv", "asff"),
        default=None,
        help="default: --output's extension (.json, .csv, .asff), else table, after the summary; json: the "
        "summary and every user; csv: a row per user; asff: the Security Hub findings the rule would "
        "import (SecurityHubFindings=true)",
    )
    report.add_argument("--output", type=Path, metavar="FILE", help="write there instead of the terminal")
    report.add_argument(
        "--organization",
        action="store_true",
        help="every member account's results from the organization aggregator (<RuleName>-organization), "
        "and accounts whose stack instance is missing or failed; run in the management account",
    )

    enforce = commands.add_parser("enforce", parents=[aws, rule], help="remove console passwords without MFA")
    enforce.add_argument("--apply", action="store_true", help="act (default: dry run, nothing changes)")
    enforce.add_argument("--yes", action="store_true", help="with --apply: do not ask for confirmation")
    enforce.add_argument("--user", metavar="NAME", help="only this user (default: every NON_COMPLIANT user)")
    enforce.add_argument(
        "--without-deployed-rule",
        action="store_true",
        help="with --apply: act although the deployed rule cannot be found here (its exemptions unknown)",
    )
    enforce.add_argument(
        "--allow-defaults",
        action="store_true",
        help="with --apply: act even when no deployed rule, settings file or option gives the exemptions",
    )
    enforce.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="json: an audit record (who ran it, when, the parameters, each user's action), written "
        "also when a call fails or the run is interrupted",
    )
    enforce.add_argument(
        "--output", type=Path, metavar="FILE", help="write the audit record (json) there, not to the terminal"
    )

    evaluate = commands.add_parser(
        "evaluate", parents=[aws], help="run the rule's Lambda on one Config event, TestMode (nothing written)"
    )
    evaluate.add_argument(
        "event",
        nargs="?",
        type=Path,
        metavar="EVENT.json",
        help="a saved Config event as the rule's Lambda receives it (or --user)",
    )
    evaluate.add_argument(
        "--user",
        metavar="NAME",
        help="build the change event Config would send for this IAM user (GetUser, ListUserTags)",
    )
    evaluate.add_argument(
        "--parameters",
        metavar="JSON",
        help="ruleParameters; default: the event's, or with --user rdk-config.json's (if present)",
    )
    evaluate.add_argument(
        "--save",
        type=Path,
        metavar="FILE",
        help="with --user: also write the event it builds there (replay it later)",
    )

    deploy = commands.add_parser(
        "deploy", parents=[aws], help="create or update the stacks from rdk-config.json"
    )
    deploy.add_argument("--settings", type=Path, default=None, metavar="FILE", help="default: rdk-config.json")
    deploy.add_argument("--dry-run", action="store_true", help="print the plan; call nothing")

    digest = commands.add_parser(
        "digest",
        parents=[aws],
        help="the scheduled digest, from Config's stored results: every user still without MFA, by risk",
    )
    digest.add_argument("--settings", type=Path, default=None, metavar="FILE", help="default: rdk-config.json")
    digest.add_argument("--rule-name", metavar="NAME", help="default: rdk-config.json's ruleName")
    digest.add_argument(
        "--format",
        choices=("text", "json", "markdown"),
        default="text",
        help="text (email), markdown (chat), json",
    )
    digest.add_argument(
        "--organization", action="store_true", help="every account, from the aggregator <RuleName>-organization"
    )
    digest.add_argument(
        "--send", action="store_true", help="also publish it to the alert topic (and the webhook, if set)"
    )

    init = commands.add_parser("init", help="write the default rdk-config.json here, to edit before deploy")
    init.add_argument(
        "--output",
        type=Path,
        default=Path("rdk-config.json"),
        metavar="FILE",
        help="default: ./rdk-config.json",
    )

    uninstall = commands.add_parser(
        "uninstall", parents=[aws], help="remove what deploy created here (a plan; --yes removes it)"
    )
    uninstall.add_argument(
        "--settings", type=Path, default=None, metavar="FILE", help="default: rdk-config.json"
    )
    uninstall.add_argument("--yes", action="store_true", help="remove what the plan lists")
    uninstall.add_argument(
        "--keep-logs", action="store_true", help="keep the rule's log groups (its decisions, as evidence)"
    )

    doctor = commands.add_parser(
        "doctor",
        parents=[aws],
        help="read-only: is the account (or organization) ready? exit 0 ready, 1 not, 2 error",
    )
    doctor.add_argument("--settings", type=Path, default=None, metavar="FILE", help="default: rdk-config.json")
    doctor.add_argument(
        "--organization", action="store_true", help="also every member account's stack instance (StackSet)"
    )
    doctor.add_argument(
        "--format", choices=("text", "json"), default="text", help="default: text, one line per check; json"
    )

    package = commands.add_parser(
        "package", help="write the Lambda zip the stacks expect (CodeKey), or the rdklib layer for the RDK"
    )
    package.add_argument(
        "--output",
        type=Path,
        default=None,
        metavar="FILE",
        help="default: IAM_USER_CONSOLE_MFA-<sha256>.zip (--layer: rdklib-layer.zip) here",
    )
    package.add_argument(
        "--layer",
        action="store_true",
        help="the pinned rdklib as a python3.12 layer (rdk deploy --rdklib-layer-arn)",
    )
    selftest = commands.add_parser(
        "selftest",
        parents=[aws],
        help="prove the deployed rule here: a throwaway console user without MFA, time to NON_COMPLIANT",
    )
    selftest.add_argument("--yes", action="store_true", help="required: it creates (then deletes) IAM users")
    selftest.add_argument("--remediate", action="store_true", help="also run the rule's remediation on it")
    selftest.add_argument("--timeout", type=float, default=1800, metavar="SECONDS", help="default: 1800")
    selftest.add_argument("--rule-name", metavar="NAME", help="default: rdk-config.json's ruleName")
    selftest.add_argument("--cleanup", action="store_true", help="only delete the users an earlier run left")
    commands.add_parser("demo", help="the rule end to end on an embedded moto account (no AWS needed)")
    policy = commands.add_parser("policy", help="print the IAM policy this CLI needs")
    needs = policy.add_mutually_exclusive_group()
    needs.add_argument("--enforce", action="store_true", help="include what `enforce --apply` needs")
    needs.add_argument(
        "--deploy",
        action="store_true",
        help="what `deploy` needs instead: its own calls and CloudFormation's for the stacks' resources",
    )
    needs.add_argument("--selftest", action="store_true", help="what `selftest` needs instead")
    needs.add_argument(
        "--doctor",
        action="store_true",
        help="what `doctor` (--organization too) and `report --rule-name` or `--organization` need instead",
    )
    policy.add_argument(
        "--settings", type=Path, default=None, metavar="FILE", help="with --deploy; default: rdk-config.json"
    )
    policy.add_argument(
        "--output-dir",
        type=Path,
        metavar="DIR",
        help="with --deploy: write one file per managed policy there and print the commands that create them",
    )
    policy.add_argument(
        "--remediate",
        action="store_true",
        help="with --selftest: add config:StartRemediationExecution for `selftest --remediate`; IAM "
        "cannot limit it to one rule (no resource type), so grant it only while the self-test runs",
    )
    for action in commands._choices_actions:  # each subcommand's --help: what it does, an example, exit codes
        command = commands.choices[action.dest]
        command.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the example on its line
        command.description = action.help
        command.epilog = (
            f"example:\n  {EXAMPLES[action.dest]}\n\nexit codes: {EXIT_CODES[action.dest]}; "
            f"{EXIT_INTERRUPTED} interrupted"
        )
    return parser
