"""iam-console-mfa: see, enforce and replay the IAM_USER_CONSOLE_MFA rule from a laptop.

Every verdict comes from the rule's own engine (``console_mfa``): this module only
collects options, calls it, and presents the result.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import os
import sys
from contextlib import redirect_stdout, suppress
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import Any, NamedTuple

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError, ProfileNotFound
from console_mfa.errors import AwsCallFailed, InvalidEvent, RuleError
from console_mfa.policy import RuleParameters, parse_policy
from rich.console import Console

from . import output

EXIT_OK, EXIT_NON_COMPLIANT, EXIT_ERROR = 0, 1, 2


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT
# Each command's exit codes, in its --help (and docs/cli.md).
EXIT_CODES = {
    "report": "0 no NON_COMPLIANT user, 1 NON_COMPLIANT users found (CI gating), 2 error",
    "doctor": "0 every required check passed, 1 one did not, 2 error before any check",
    "enforce": "0 nothing to remove (or --apply done), 1 dry run: users it would act on (CI gating), 2 error",
    "evaluate": "0 the user is not NON_COMPLIANT, 1 NON_COMPLIANT, 2 error",
    "deploy": "0 deployed (or planned), 2 error",
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
    ]


RULE_OPTIONS = _rule_options()


def build_parser() -> argparse.ArgumentParser:
    from importlib.metadata import PackageNotFoundError, version

    parser = argparse.ArgumentParser(
        prog="iam-console-mfa",
        description=__doc__.splitlines()[0],
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
    rule.add_argument("--settings", type=Path, default=None, metavar="FILE", help="default: ./rdk-config.json")
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
        default="table",
        help="default: table, after the summary; json: the summary and every user; csv: a row per user; "
        "asff: the Security Hub findings the rule would import (SecurityHubFindings=true)",
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
    for action in commands._choices_actions:  # each subcommand's --help: what it does, an example, exit codes
        command = commands.choices[action.dest]
        command.formatter_class = argparse.RawDescriptionHelpFormatter  # keep the example on its line
        command.description = action.help
        command.epilog = (
            f"example:\n  {EXAMPLES[action.dest]}\n\nexit codes: {EXIT_CODES[action.dest]}; "
            f"{EXIT_INTERRUPTED} interrupted"
        )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Wide enough for the annotations when output is piped (rich falls back to 80 columns).
    console = Console(width=None if sys.stdout.isatty() else 160)
    errors = Console(stderr=True, soft_wrap=True)  # one line per error, whatever the width
    try:
        return COMMANDS[args.command](args, console)
    except KeyboardInterrupt:
        errors.print("interrupted: nothing more was done")
        return EXIT_INTERRUPTED
    except (CliError, InvalidEvent) as error:
        errors.print(f"error: {error}", markup=False)
    except NoCredentialsError:
        errors.print("error: no AWS credentials found: set AWS_PROFILE or pass --profile")
    except NoRegionError:
        errors.print("error: no AWS region: pass --region or set AWS_DEFAULT_REGION")
    except ProfileNotFound as error:
        errors.print(f"error: {error}; check --profile or AWS_PROFILE", markup=False)
    except AwsCallFailed as error:
        errors.print(f"error: {error}", markup=False)
        if "AccessDenied" in error.code:
            errors.print(
                "the credentials lack this permission; attach the policy below (`iam-console-mfa policy`):"
            )
            errors.print_json(json.dumps(iam_policy(enforce=args.command == "enforce")))
        elif "Throttl" in error.code:
            errors.print(
                "IAM kept throttling after retries: run again later or use --data-source credential-report"
            )
    except RuleError as error:
        errors.print(f"error: {error}", markup=False)
    except BotoCoreError as error:
        errors.print(f"error: {error}", markup=False)
    return EXIT_ERROR


def session(args: argparse.Namespace) -> Any:
    """A boto3 session for --profile/--region with the rule's retry mode."""
    import boto3
    import botocore.session
    from console_mfa.aws import RETRY_CONFIG

    core = botocore.session.Session(profile=args.profile)
    core.set_default_client_config(RETRY_CONFIG)
    region = args.region or core.get_config_variable("region")
    if not region:  # IAM is global, but Config, CloudTrail and the stacks are regional
        raise NoRegionError()
    return boto3.Session(botocore_session=core, region_name=region)


def load_settings(path: Path | None) -> dict[str, Any]:
    """rdk-config.json (or --settings FILE), validated; an invalid one is a one-line error."""
    from . import settings

    try:
        return settings.load(path or settings.SETTINGS)
    except settings.SettingsError as error:
        raise CliError(str(error)) from None


LOCAL_SETTINGS = Path("rdk-config.json")  # the settings beside the command, when there are some
DEFAULT_RULE_NAME = "IAM_USER_CONSOLE_MFA"


def local_settings(path: Path | None) -> dict[str, Any] | None:
    """--settings FILE (it must exist), else ./rdk-config.json when present, else None."""
    if path is None and not LOCAL_SETTINGS.exists():
        return None
    return load_settings(path or LOCAL_SETTINGS)


def rule_name_of(args: argparse.Namespace, chosen: dict[str, Any] | None) -> str:
    """--rule-name, else the settings' ruleName, else the stacks' default."""
    return str(args.rule_name or (chosen["ruleName"] if chosen else DEFAULT_RULE_NAME))


class ResolvedParameters(NamedTuple):
    policy: RuleParameters
    bare: bool  # every value is the rule's default: no deployed rule, settings file or option
    values: dict[str, str]  # by parameter name, as resolved (report --format json states them)
    deployed: bool  # the rule exists in this account and region


def deployed_parameters(aws: Any, rule_name: str) -> dict[str, str] | None:
    """The deployed rule's InputParameters (DescribeConfigRules), None when no such rule exists."""
    from .deployed import deployed_rule

    rule = deployed_rule(aws.client("config"), rule_name)
    if rule is None:
        return None
    try:
        parameters = json.loads(rule.get("InputParameters") or "{}")
    except ValueError:
        raise CliError(f"Config rule {rule_name}: InputParameters is not JSON") from None
    return {k: str(v) for k, v in parameters.items()} if isinstance(parameters, dict) else {}


def rule_policy(args: argparse.Namespace, aws: Any) -> ResolvedParameters:
    """The rule parameters: option, else the deployed rule's, else rdk-config.json's, else the
    rule's default; where each came from is said on stderr before anything else happens."""
    given = {p.name: getattr(args, p.name) for _, p, _ in RULE_OPTIONS if getattr(args, p.name) is not None}
    parse_policy(given)  # a bad option is named before any AWS call
    chosen = local_settings(args.settings)
    configured = chosen["ruleParameters"] if chosen else {}
    rule_name = rule_name_of(args, chosen)
    deployed = deployed_parameters(aws, rule_name)
    if deployed is None:
        sys.stderr.write(f"no Config rule {rule_name} in {aws.region_name}: its parameters are not used\n")
    values, sources = {}, []
    for _, parameter, _ in RULE_OPTIONS:
        if parameter.name in given:
            values[parameter.name], source = given[parameter.name], "option"
        elif deployed is not None and parameter.name in deployed:
            values[parameter.name], source = deployed[parameter.name], f"deployed rule {rule_name}"
        elif parameter.name in configured:
            values[parameter.name], source = configured[parameter.name], (args.settings or LOCAL_SETTINGS).name
        else:
            values[parameter.name], source = parameter.default, "default"
        sources.append(f"{parameter.name}={values[parameter.name]!r} ({source})")
    sys.stderr.write("rule parameters: " + ", ".join(sources) + "\n")
    bare = deployed is None and not configured and not given
    return ResolvedParameters(parse_policy(values), bare, values, deployed is not None)


def run_sweep(args: argparse.Namespace, aws: Any, policy: RuleParameters, rule_name: str | None = None) -> Any:
    """Every user's assessment; with ``rule_name``, the whole sweep the rule's Lambda runs
    (console_mfa.pipeline), write plan included, against the rule's stored results."""
    from console_mfa.live import LiveIam
    from console_mfa.pipeline import sweep_and_plan
    from console_mfa.sweep import sweep
    from console_mfa.trail import iam_event_region
    from rich.progress import Progress

    live = LiveIam(aws.client("iam"))
    trail = aws.client("cloudtrail", region_name=iam_event_region(aws.region_name or ""))
    now = datetime.now(UTC)
    # No bar when stderr is not a terminal: a transient bar still leaves a blank line there.
    with Progress(console=Console(stderr=True), transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("inspecting IAM users", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        if rule_name:
            return sweep_and_plan(
                live, aws.client("config"), rule_name, policy, now, trail=trail, progress=progress
            )
        return sweep(live, policy, now, progress=progress, trail=trail)


def check_output(path: Path | None, option: str = "--output") -> None:
    """Refuse an output file that cannot be written, before the sweep runs."""
    if path is None:
        return
    if path.is_dir():
        raise CliError(f"{option} {path} is a directory")
    if not path.parent.is_dir():
        raise CliError(f"{option} {path}: directory {path.parent} does not exist")
    if not os.access(path if path.exists() else path.parent, os.W_OK):
        raise CliError(f"{option} {path}: not writable")


def write_output(path: Path | None, text: str, what: str) -> None:
    """``text`` to --output (saying where it went), else to stdout."""
    if path is None:
        sys.stdout.write(text)
        return
    try:
        path.write_text(text)
    except OSError as error:
        raise CliError(f"--output {path}: {error.strerror or error}") from None
    sys.stderr.write(f"wrote {what} to {path}\n")


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    check_output(args.output)
    if args.organization:
        return organization_report(args, console)
    aws = session(args)
    policy, _, values, deployed = rule_policy(args, aws)
    now = datetime.now(UTC)
    if args.rule_name and not deployed:
        raise CliError(
            f"--rule-name {args.rule_name}: no such Config rule in {aws.region_name}, nothing to compare with"
        )
    if args.rule_name:
        assessments, plan, _, _ = run_sweep(args, aws, policy, args.rule_name)
        counts = plan.counts()
        sys.stderr.write(
            f"a sweep of {args.rule_name} would write {len(plan.writes)} evaluation(s) "
            f"({', '.join(f'{k} {v}' for k, v in counts.items() if k != 'unchanged')}) "
            f"and skip {counts['unchanged']} unchanged\n"
        )
    else:
        assessments = run_sweep(args, aws, policy)
    if args.format == "table" and not args.output:
        output.print_table(console, assessments, now)
    else:
        text = {
            "table": lambda: table_text(assessments, now),
            "json": lambda: output.as_json(assessments, now, account_of(aws), values),
            "csv": lambda: output.as_csv(assessments, now),
            "asff": lambda: asff(aws, args.rule_name or DEFAULT_RULE_NAME, assessments, now),
        }[args.format]()
        write_output(args.output, text, f"{output.count(len(assessments), 'user')} ({args.format})")
    flagged = any(a.verdict.compliance.value == "NON_COMPLIANT" for a in assessments)
    return EXIT_NON_COMPLIANT if flagged else EXIT_OK


def organization_report(args: argparse.Namespace, console: Console) -> int:
    from rich.table import Table

    from . import organization_report as org
    from .doctor import STACK_SET

    chosen = load_settings(args.settings)
    rule_name = rule_name_of(args, chosen)
    args.region = args.region or chosen["region"]
    aws = session(args)
    found = org.results(aws.client("config"), f"{rule_name}-organization", rule_name)
    instances = org.stack_instances(aws.client("cloudformation"), STACK_SET, chosen["organization"]["callAs"])
    rows = org.summarize(found, instances)
    if args.format == "json":
        text = org.as_json(rows, found, rule_name, datetime.now(UTC))
    elif args.format == "csv":
        text = org.as_csv(found)
    elif args.format == "table":
        buffer = io.StringIO()
        target = Console(file=buffer, width=200) if args.output else console
        table = Table(title=f"{rule_name} across the organization")
        for column in (
            "Account",
            "Region",
            "NON_COMPLIANT",
            "COMPLIANT",
            "NOT_APPLICABLE*",
            "Last result",
            "Stack",
        ):
            table.add_column(column)
        for r in rows:
            last = f"{r.last_evaluated:%Y-%m-%d %H:%M}" if r.last_evaluated else "no result"
            counts = (str(r.non_compliant), str(r.compliant), str(r.not_applicable))
            table.add_row(r.account, r.region or "-", *counts, last, r.stack_instance)
        target.print(table)
        target.print(f"* {org.NOT_APPLICABLE_NOTE}", markup=False, highlight=False)
        for result in found:
            if result.compliance == "NON_COMPLIANT":
                target.print(
                    f"{result.account} {result.user_id}: {result.annotation}", markup=False, highlight=False
                )
        text = buffer.getvalue()
    else:
        raise CliError("--organization: --format table, json or csv")
    write_output(args.output, text, output.count(len(rows), "account"))
    return EXIT_NON_COMPLIANT if any(r.non_compliant for r in rows) else EXIT_OK


def table_text(assessments: list[Any], now: datetime) -> str:
    buffer = io.StringIO()
    output.print_table(Console(file=buffer, width=200), assessments, now)
    return buffer.getvalue()


def account_of(aws: Any) -> str:
    return str(aws.client("sts").get_caller_identity()["Account"])  # needs no permission


def asff(aws: Any, rule_name: str, assessments: list[Any], now: datetime) -> str:
    """The findings a sweep would import into Security Hub, as a JSON list."""
    from console_mfa.findings import Context, plan_findings

    identity = aws.client("sts").get_caller_identity()
    context = Context(identity["Arn"].split(":")[1], aws.region_name, identity["Account"], rule_name)
    return json.dumps(plan_findings(assessments, {}, context, now), indent=2) + "\n"


def cmd_enforce(args: argparse.Namespace, console: Console) -> int:
    from console_mfa.remediation import remediate

    if args.yes and not args.apply:
        raise CliError("--yes confirms --apply: without --apply nothing is changed, nothing to confirm")
    check_output(args.output)
    aws = session(args)
    policy, bare, values, _ = rule_policy(args, aws)
    if args.apply and bare and not args.allow_defaults:
        raise CliError(
            "--apply with the rule's bare defaults (no deployed rule, no rdk-config.json, no option) "
            "exempts nobody: pass --rule-name, --settings or the options, or --allow-defaults"
        )
    assessments = run_sweep(args, aws, policy)
    if args.user:
        targets = [a for a in assessments if a.user.user_name.lower() == args.user.lower()]
        if not targets:
            raise CliError(f"no IAM user named {args.user!r}")
    else:
        targets = [a for a in assessments if a.verdict.compliance.value == "NON_COMPLIANT"]
    if args.apply and targets and not args.yes:
        if not sys.stdin.isatty():
            raise CliError("--apply removes console passwords: confirm with --yes when not on a terminal")
        output.print_targets(console if args.format == "table" else Console(stderr=True), targets)
        try:
            answer = input(f"Remove the console password of {output.count(len(targets), 'user')}? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            raise CliError("nothing done: not confirmed")
    iam, config = aws.client("iam"), aws.client("config")
    identity = aws.client("sts").get_caller_identity()  # needs no permission: who acted, for the record
    now = datetime.now(UTC)
    summaries: list[dict[str, str]] = []
    try:
        for a in targets:
            summaries.append(remediate(iam, config, a.user.user_id, policy, now, dry_run=not args.apply))
    except (RuleError, BotoCoreError, KeyboardInterrupt) as error:
        # What was done before the failure is recorded, then the error ends the run (exit 2 or 130).
        failed = targets[len(summaries)].user
        problem = str(error) or "interrupted"
        summaries.append(
            {"UserId": failed.user_id, "UserName": failed.user_name, "Action": "failed", "Reason": problem}
        )
        show_actions(args, console, summaries, targets[len(summaries) :], identity, values, now)
        raise
    show_actions(args, console, summaries, [], identity, values, now)
    planned = any(s["Action"] != "none" for s in summaries)
    return EXIT_NON_COMPLIANT if planned and not args.apply else EXIT_OK


def show_actions(
    args: argparse.Namespace,
    console: Console,
    summaries: list[dict[str, str]],
    not_attempted: list[Any],
    identity: dict[str, str],
    parameters: dict[str, str],
    now: datetime,
) -> None:
    """enforce's outcome: the table, or the JSON audit record (to --output when given)."""
    if args.format == "table" and not args.output:
        output.print_actions(console, summaries, applied=args.apply)
        return
    record = output.enforce_record(
        summaries,
        [a.user for a in not_attempted],
        identity,
        parameters,
        now,
        applied=args.apply,
    )
    write_output(args.output, record, f"the audit record of {output.count(len(summaries), 'user')}")


def cmd_evaluate(args: argparse.Namespace, console: Console) -> int:
    from console_mfa.aws import configured_session
    from IAM_USER_CONSOLE_MFA import lambda_handler

    from .local_config import LocalConfig

    if args.event is not None and args.user is not None:
        raise CliError("give a saved event (EVENT.json) or --user NAME, not both")
    if args.event is None and args.user is None:
        raise CliError("give a saved event (EVENT.json) or --user NAME")
    if args.parameters is not None:
        try:
            json.loads(args.parameters)
        except json.JSONDecodeError as error:
            raise CliError(f"--parameters is not JSON: {error}") from None
    # lambda_handler builds its clients from boto3's default session, as in Lambda.
    if args.profile:
        os.environ["AWS_PROFILE"] = args.profile
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
    if args.save is not None and args.user is None:
        raise CliError("--save writes the event --user builds: give --user NAME")
    check_output(args.save, "--save")
    session = configured_session()
    event = user_event(session, args.user, args.parameters) if args.user else read_event(args.event)
    if args.parameters is not None:
        event["ruleParameters"] = args.parameters
    if args.save is not None:
        try:
            args.save.write_text(json.dumps(event, indent=2) + "\n")
        except OSError as error:
            raise CliError(f"--save {args.save}: {error.strerror or error}") from None
        sys.stderr.write(f"saved the event to {args.save}: iam-console-mfa evaluate {args.save} replays it\n")
    event["resultToken"] = "TESTMODE"
    config = LocalConfig(session)  # Config is answered here: nothing is written
    notes = RuleWarnings()
    with notes, redirect_stdout(sys.stderr):  # rdklib prints its own notes: keep stdout for the result
        lambda_handler(event, None)
    message_type = json.loads(event["invokingEvent"]).get("messageType")
    if not config.evaluations and message_type != "ScheduledNotification":
        # The rule skips a user that no longer holds the event's name and UserId (its log says why).
        raise CliError(notes.messages[-1] if notes.messages else "the rule wrote no evaluation")
    notes.print()
    output.print_evaluations(console, config.evaluations)
    if message_type == "ScheduledNotification":
        # The sweep read Config's results from the local stand-in, which holds none.
        console.print(
            f"A sweep writes only what changed since Config's last results: here Config holds none, so all "
            f"{len(config.evaluations)} are new. `report --rule-name` compares with a deployed rule.",
            markup=False,
            highlight=False,
        )
    flagged = any(e["ComplianceType"] == "NON_COMPLIANT" for e in config.evaluations)
    return EXIT_NON_COMPLIANT if flagged else EXIT_OK


def read_event(path: Path) -> dict[str, Any]:
    try:
        event = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise CliError(f"cannot read {path}: {error}") from None
    except UnicodeDecodeError as error:
        raise CliError(f"{path} is not UTF-8 text (byte {error.start}): a Config event is JSON") from None
    if not isinstance(event, dict):
        raise CliError(f"{path}: a Config event is a JSON object, got {type(event).__name__}")
    return event


def user_event(session: Any, user_name: str, given: str | None = None) -> dict[str, Any]:
    """The ConfigurationItemChangeNotification Config would send for this user now.

    IAM user names are unique case-insensitively: BOB finds bob. ``given``: --parameters.
    """
    from console_mfa.errors import UserGone
    from console_mfa.live import LiveIam
    from console_mfa.model import UserName

    from .event_builders import change_event, user_configuration_item

    live = LiveIam(session.client("iam"))
    missing = CliError(f"no IAM user named {user_name!r}")
    user = live.user_entry(user_name)
    if user is None:  # IAM may answer only the exact spelling: look the name up in every page
        spelled = next(
            (u.user.user_name for u in live.list_users() if u.user.user_name.lower() == user_name.lower()), None
        )
        user = live.user_entry(spelled) if spelled else None
    if user is None:
        raise missing
    try:
        tags = live.tags(UserName(user["UserName"]))
    except UserGone:  # deleted between the two reads
        raise missing from None
    chosen = local_settings(None)  # the deployed rule's values, as for report and enforce
    if given is not None:
        parameters, source = json.loads(given), "--parameters"
    elif chosen:
        parameters, source = {"AssumeRoleMode": "False", **chosen["ruleParameters"]}, str(LOCAL_SETTINGS)
    else:
        parameters, source = {"AssumeRoleMode": "False"}, "the rule's defaults"
    sys.stderr.write(f"rule parameters ({source}): {parameters}\n")
    account_id = user["Arn"].split(":")[4]
    return change_event(user_configuration_item(user, tags, account_id=account_id), parameters)


class RuleWarnings(logging.Handler):
    """The rule's warnings while the CLI runs it: kept, then printed one line each on stderr."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())

    def __enter__(self) -> RuleWarnings:
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *_: object) -> None:
        logging.getLogger().removeHandler(self)

    def print(self) -> None:
        for message in self.messages:
            sys.stderr.write(f"warning: {message}\n")


def cmd_deploy(args: argparse.Namespace, console: Console) -> int:
    from . import deploy, deploy_permissions

    chosen = load_settings(args.settings)

    def say(line: str) -> None:
        console.print(line, markup=False, highlight=False)

    if args.region and args.region != chosen["region"]:  # the plan too: it would not be what deploy does
        raise CliError(f"--region {args.region} differs from rdk-config.json region {chosen['region']}")
    if args.dry_run:
        deploy.describe_plan(chosen, say)
        return EXIT_OK
    args.region = chosen["region"]
    try:
        outputs = deploy.Deployer(session(args), chosen, say).run()
    except deploy.DeployError as error:
        raise CliError(str(error)) from None
    except ClientError as error:
        info = error.response.get("Error", {})
        code = info.get("Code", "?")
        if code in ("403", "AccessDenied", "AccessDeniedException", "Forbidden"):
            raise CliError(deploy_permissions.denied(error.operation_name)) from None
        raise AwsCallFailed(error.operation_name, code, info.get("Message", "")) from None
    for stack, values in outputs.items():
        for key, value in values.items():
            say(f"{stack}.{key} = {value}")
    return EXIT_OK


def cmd_package(args: argparse.Namespace, console: Console) -> int:
    import hashlib

    from . import deploy

    body = deploy.rdklib_layer() if args.layer else deploy.package()
    digest = hashlib.sha256(body).hexdigest()
    default = "rdklib-layer.zip" if args.layer else deploy.package_key("IAM_USER_CONSOLE_MFA", body)
    target = args.output or Path(default)
    try:
        target.write_bytes(body)
    except OSError as error:
        raise CliError(f"cannot write {target}: {error.strerror}") from None
    console.print(f"wrote {target} ({len(body) // 1024} KiB, sha256 {digest})", markup=False, highlight=False)
    return EXIT_OK


def cmd_demo(args: argparse.Namespace, console: Console) -> int:
    from . import demo

    try:
        import moto  # noqa: F401
    except ImportError:
        raise CliError("the demo needs moto: in a clone, pip install '.[demo]'") from None

    return demo.run(console)


def read_actions() -> list[str]:
    """What `report` calls: the rule's IAM reads (the rule stack grants the same)."""
    from console_mfa.permissions import RULE_ACCOUNT_ACTIONS, RULE_USER_ACTIONS

    own = [a for a in RULE_USER_ACTIONS + RULE_ACCOUNT_ACTIONS if a.startswith(("iam:", "cloudtrail:"))]
    return sorted([*own, "config:DescribeConfigRules"])  # the deployed rule's parameters


def iam_policy(enforce: bool) -> dict[str, Any]:
    """What `report` needs, and with ``enforce`` what `enforce --apply` calls too."""
    from console_mfa.permissions import REMEDIATION_ACTIONS

    actions = sorted(set(read_actions()) | (set(REMEDIATION_ACTIONS) if enforce else set()))
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}


def cmd_policy(args: argparse.Namespace, console: Console) -> int:
    policy: dict[str, Any]
    if args.deploy:
        from .deploy_permissions import deploy_policy, managed_policies

        policy = managed_policies(deploy_policy(load_settings(args.settings)))
    elif args.selftest:
        from .selftest import policy as selftest_policy

        policy = selftest_policy()
    elif args.doctor:
        from .doctor import CALL_ACTIONS
        from .organization_report import ACTIONS as ORGANIZATION_REPORT

        # report --rule-name also reads the rule's stored results; report --organization the aggregator's.
        actions = sorted(
            {*CALL_ACTIONS.values(), "config:GetComplianceDetailsByConfigRule", *ORGANIZATION_REPORT}
        )
        policy = {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        }
    else:
        policy = iam_policy(args.enforce)
    sys.stdout.write(json.dumps(policy, indent=2) + "\n")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace, console: Console) -> int:
    from . import doctor

    chosen = load_settings(args.settings)
    args.region = args.region or chosen["region"]
    aws = session(args)
    checks = doctor.account_checks(aws, chosen)
    if args.organization:
        checks = chain(checks, doctor.organization_checks(aws, chosen, doctor.STACK_SET))
    seen = []
    for check in checks:  # each line as soon as its check completes
        seen.append(check)
        if args.format != "json":
            status = "ok" if check.ok else "MISSING" if check.required else "optional"
            fix = f" -> {check.fix}" if not check.ok and check.fix else ""
            sys.stdout.write(f"{status:<9}{check.name}: {check.detail}{fix}\n")
            sys.stdout.flush()
    if args.format == "json":
        sys.stdout.write(json.dumps([c._asdict() for c in seen], indent=2) + "\n")
    return EXIT_OK if all(c.ok or not c.required for c in seen) else EXIT_NON_COMPLIANT


def cmd_selftest(args: argparse.Namespace, console: Console) -> int:
    from . import selftest

    aws = session(args)
    if args.cleanup:
        deleted = selftest.cleanup(aws.client("iam"))
        sys.stdout.write(
            f"deleted {output.count(len(deleted), 'self-test user')}: {', '.join(deleted) or '-'}\n"
        )
        return EXIT_OK
    if not args.yes:
        raise CliError(
            "selftest creates IAM users with a console password (deleted at the end): confirm with --yes"
        )
    rule_name = rule_name_of(args, local_settings(None))
    steps = []
    try:
        for step in selftest.run(aws, rule_name, args.timeout, args.remediate):
            steps.append(step)
            sys.stdout.write(f"{'ok' if step.ok else 'FAILED':<7}{step.name}: {step.detail}\n")
            sys.stdout.flush()
    except selftest.SelftestError as error:
        raise CliError(str(error)) from None
    return EXIT_OK if all(s.ok for s in steps) else EXIT_NON_COMPLIANT


COMMANDS = {
    "report": cmd_report,
    "doctor": cmd_doctor,
    "enforce": cmd_enforce,
    "evaluate": cmd_evaluate,
    "deploy": cmd_deploy,
    "package": cmd_package,
    "demo": cmd_demo,
    "policy": cmd_policy,
    "selftest": cmd_selftest,
}


if __name__ == "__main__":
    sys.exit(main())
