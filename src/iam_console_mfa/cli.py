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
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, redirect_stdout
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError, ProfileNotFound
from console_mfa.errors import AwsCallFailed, InvalidEvent, RuleError
from console_mfa.policy import RuleParameters
from rich.console import Console

from . import output
from .arguments import EXIT_INTERRUPTED, build_parser
from .errors import UNANSWERED, CliError, unanswered
from .parameter_sources import (
    DEFAULT_RULE_NAME,
    deployed_parameters,
    load_settings,
    optional_settings,
    rule_name_of,
    rule_policy,
)

if TYPE_CHECKING:
    import botocore.session
    from boto3 import Session
    from botocore.config import Config as BotocoreConfig
    from console_mfa.live import LiveIam
    from console_mfa.model import Assessment
    from console_mfa.writes import WritePlan
    from mypy_boto3_cloudtrail import CloudTrailClient
    from mypy_boto3_sts.type_defs import GetCallerIdentityResponseTypeDef

    from .regional_session import RegionalSession

EXIT_OK, EXIT_NON_COMPLIANT, EXIT_ERROR = 0, 1, 2


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
            from .policies import operator

            errors.print_json(json.dumps(operator(enforce=args.command == "enforce")))
        elif "Throttl" in error.code:
            errors.print(
                "IAM kept throttling after retries: run again later or use --data-source credential-report"
            )
        elif error.code in UNANSWERED:
            errors.print(unanswered(error.operation), markup=False)
    except RuleError as error:
        errors.print(f"error: {error}", markup=False)
    except BotoCoreError as error:
        errors.print(f"error: {error}", markup=False)
    return EXIT_ERROR


def session(args: argparse.Namespace, retries: BotocoreConfig | None = None) -> RegionalSession:
    """A boto3 session for --profile and the region (``region_of``), with the rule's retry mode
    unless ``retries`` says otherwise."""
    import botocore.session
    from console_mfa.aws import RETRY_CONFIG

    from .regional_session import RegionalSession

    core = botocore.session.Session(profile=args.profile)
    core.set_default_client_config(retries or RETRY_CONFIG)
    region, source = region_of(args, core)
    return RegionalSession(core, region, source)


def region_of(args: argparse.Namespace, core: botocore.session.Session) -> tuple[str, str]:
    """One region for every command, and where it came from: --region, else the settings'
    region (the rule's, where deploy put it), else the environment's or the profile's.

    IAM is global, so a region changes only which deployed rule (and whose exemptions) a
    command reads: taking it from the environment first sent `enforce` to a region without the
    rule, where it fell back to other exemptions.
    """
    chosen = optional_settings(getattr(args, "settings", None))
    if args.region:
        region, source = args.region, "--region"
    elif chosen:
        region, source = chosen["region"], f"{getattr(args, 'settings', None) or 'rdk-config.json'}"
    else:
        region, source = core.get_config_variable("region"), "the environment"
    if not region:  # IAM is global, but Config, CloudTrail and the stacks are regional
        raise NoRegionError()
    return str(region), source


@contextmanager
def _progress() -> Iterator[Callable[[int, int], None]]:
    """A transient progress bar on stderr (none when stderr is not a terminal: a transient bar
    still leaves a blank line there)."""
    from rich.progress import Progress

    with Progress(console=Console(stderr=True), transient=True, disable=not sys.stderr.isatty()) as bar:
        task = bar.add_task("inspecting IAM users", total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _collectors(aws: Session) -> tuple[LiveIam, CloudTrailClient]:
    from console_mfa.live import LiveIam
    from console_mfa.trail import iam_event_region

    return LiveIam(aws.client("iam")), aws.client(
        "cloudtrail", region_name=iam_event_region(aws.region_name or "")
    )


def run_sweep(args: argparse.Namespace, aws: Session, policy: RuleParameters) -> list[Assessment]:
    """Every user's assessment, as a periodic sweep of the rule makes it."""
    from console_mfa.sweep import sweep

    live, trail = _collectors(aws)
    with _progress() as progress:
        return sweep(live, policy, datetime.now(UTC), progress=progress, trail=trail)


def run_rule_sweep(
    args: argparse.Namespace, aws: Session, policy: RuleParameters, rule_name: str
) -> tuple[list[Assessment], WritePlan]:
    """The whole sweep the rule's Lambda runs (console_mfa.pipeline), write plan included,
    against the rule's stored results."""
    from console_mfa.pipeline import sweep_and_plan

    live, trail = _collectors(aws)
    with _progress() as progress:
        assessments, plan, _ = sweep_and_plan(
            live, aws.client("config"), rule_name, policy, datetime.now(UTC), trail=trail, progress=progress
        )
    return assessments, plan


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


EXTENSION_FORMATS = {".json": "json", ".csv": "csv", ".asff": "asff", ".txt": "table"}


def report_format(chosen: str | None, path: Path | None) -> str:
    """--format, else the one --output's extension names, else table; a mismatch is refused
    (a box-drawn table in report.json helps nobody)."""
    implied = EXTENSION_FORMATS.get(path.suffix.lower()) if path else None
    if chosen and implied and chosen != implied:
        raise CliError(f"--format {chosen} does not match --output {path} ({implied}): pick one")
    return chosen or implied or "table"


def cmd_report(args: argparse.Namespace, console: Console) -> int:
    check_output(args.output)
    args.format = report_format(args.format, args.output)
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
        assessments, plan = run_rule_sweep(args, aws, policy, args.rule_name)
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
        if args.format == "asff":  # a finding per NON_COMPLIANT user or resolved one, not per user
            written = output.count(len(json.loads(text)), "finding")
        else:
            written = output.count(len(assessments), "user")
        write_output(args.output, text, f"{written} ({args.format})")
    flagged = any(a.verdict.compliance.value == "NON_COMPLIANT" for a in assessments)
    return EXIT_NON_COMPLIANT if flagged else EXIT_OK


def organization_report(args: argparse.Namespace, console: Console) -> int:
    from console_mfa import aggregated

    from . import organization_report as org
    from .doctor import STACK_SET

    chosen = load_settings(args.settings)
    rule_name = rule_name_of(args, chosen)
    aws = session(args)
    found = aggregated.results(aws.client("config"), f"{rule_name}-organization", rule_name)
    instances = org.stack_instances(aws.client("cloudformation"), STACK_SET, chosen["organization"]["callAs"])
    rows = org.summarize(found, instances)
    if args.format == "json":
        text = org.as_json(rows, found, rule_name, datetime.now(UTC))
    elif args.format == "csv":
        text = org.as_csv(found)
    elif args.format == "table":
        buffer = io.StringIO()
        org.print_table(Console(file=buffer, width=200) if args.output else console, rows, found, rule_name)
        text = buffer.getvalue()
    else:
        raise CliError("--organization: --format table, json or csv")
    write_output(args.output, text, output.count(len(rows), "account"))
    return EXIT_NON_COMPLIANT if any(r.non_compliant for r in rows) else EXIT_OK


def table_text(assessments: list[Assessment], now: datetime) -> str:
    buffer = io.StringIO()
    output.print_table(Console(file=buffer, width=200), assessments, now)
    return buffer.getvalue()


def account_of(aws: Session) -> str:
    return str(aws.client("sts").get_caller_identity()["Account"])  # needs no permission


def asff(aws: Session, rule_name: str, assessments: list[Assessment], now: datetime) -> str:
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
    policy, bare, values, deployed = rule_policy(args, aws)
    if args.apply and not deployed and not args.without_deployed_rule:
        raise CliError(
            f"--apply: no Config rule {rule_name_of(args, optional_settings(args.settings))} in "
            f"{aws.region_name} to take the exemptions from. IAM is global: run in the rule's region "
            "(--region), or pass --without-deployed-rule to act with the options and settings shown "
            "above, knowing that users the deployed rule spares may lose their console password"
        )
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
            what = "Quarantine" if policy.remediation_action.quarantines else "Remove the console password of"
            answer = input(f"{what} {output.count(len(targets), 'user')}? [y/N] ")
        except EOFError:
            answer = ""
        if answer.strip().lower() not in ("y", "yes"):
            raise CliError("nothing done: not confirmed")
    iam, config = aws.client("iam"), aws.client("config")
    quarantine = (
        quarantine_policy_arn(aws, args) if policy.remediation_action.quarantines and args.apply else ""
    )
    identity = aws.client("sts").get_caller_identity()  # needs no permission: who acted, for the record
    now = datetime.now(UTC)
    summaries: list[dict[str, str]] = []
    try:
        for a in targets:
            summaries.append(
                remediate(
                    iam,
                    config,
                    a.user.user_id,
                    policy,
                    now,
                    dry_run=not args.apply,
                    quarantine_policy_arn=quarantine,
                )
            )
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
    not_attempted: list[Assessment],
    identity: GetCallerIdentityResponseTypeDef,
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
    # lambda_handler builds its clients from boto3's default session, as in Lambda: that session
    # is built here on the profile and the one region (region_of), nothing else changed.
    import botocore.session

    core = botocore.session.Session(profile=args.profile)
    region, source = region_of(args, core)
    core.set_config_variable("region", region)
    if args.save is not None and args.user is None:
        raise CliError("--save writes the event --user builds: give --user NAME")
    check_output(args.save, "--save")
    session = configured_session(core)
    event = user_event(session, args.user, args.parameters, source) if args.user else read_event(args.event)
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


def user_event(session: Session, user_name: str, given: str | None, region_source: str) -> dict[str, Any]:
    """The ConfigurationItemChangeNotification Config would send for this user now, with the
    parameters every command resolves: --parameters (``given``), else the deployed rule's,
    else rdk-config.json's, else the rule's defaults.

    IAM user names are unique case-insensitively: BOB finds bob.
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
    chosen = optional_settings(None)  # rdk-config.json's values: what deploy gives the rule
    rule_name = chosen["ruleName"] if chosen else DEFAULT_RULE_NAME
    deployed = None if given is not None else deployed_parameters(session, rule_name)
    if given is not None:
        parameters, source = json.loads(given), "--parameters"
    elif deployed is not None:
        where = f"{session.region_name}, region from {region_source}"
        parameters, source = {"AssumeRoleMode": "False", **deployed}, f"deployed rule {rule_name} in {where}"
    elif chosen:
        parameters, source = {"AssumeRoleMode": "False", **chosen["ruleParameters"]}, "rdk-config.json"
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


def cmd_digest(args: argparse.Namespace, console: Console) -> int:
    """The digest the scheduled function sends (one builder), for this account or the organization."""
    from console_mfa import digest as digests
    from console_mfa.digest_function import send, stored_results

    from .settings import digest_settings, remediation_mode

    chosen = load_settings(args.settings)
    rule_name = rule_name_of(args, chosen)
    aws = session(args)
    account = aws.client("sts").get_caller_identity()["Account"]
    now = datetime.now(UTC)
    aggregator = f"{rule_name}-organization" if args.organization else ""
    settings = digest_settings(chosen)
    built = digests.build(
        stored_results(aws, rule_name, aggregator, account, now),
        rule=rule_name,
        region=aws.region_name,
        now=now,
        period_days=settings["periodDays"],
        remediation=remediation_mode(chosen),
    )
    if args.format == "json":
        text = json.dumps(digests.as_json(built), indent=2) + "\n"
    else:
        text = digests.as_markdown(built) if args.format == "markdown" else digests.as_text(built)
    console.print(text, markup=False, highlight=False, end="")
    if args.send:
        topic = alert_topic(aws, chosen)
        send(aws, built, topic, settings["webhookSecretArn"])
        console.print(f"sent to {topic}", markup=False, highlight=False)
    return EXIT_OK if built.clean else EXIT_NON_COMPLIANT


def stack_output(aws: Session, stack: str, key: str) -> str | None:
    """A deployed stack's output; None when the stack or the output is not there. Any other
    error (AccessDenied) names the call."""
    from console_mfa.aws import error_code, translated

    with translated("DescribeStacks"):
        try:
            (found,) = aws.client("cloudformation").describe_stacks(StackName=stack)["Stacks"]
        except ClientError as error:
            if error_code(error) == "ValidationError" and "does not exist" in str(error):
                return None
            raise
    return next((str(o["OutputValue"]) for o in found.get("Outputs", []) if o["OutputKey"] == key), None)


def quarantine_policy_arn(aws: Session, args: argparse.Namespace) -> str:
    """The rule stack's quarantine policy (its QuarantinePolicyArn output): require-mfa attaches
    that policy and no other."""
    stack = load_settings(args.settings)["stacks"]["rule"]
    arn = stack_output(aws, stack, "QuarantinePolicyArn")
    if arn is None:
        raise CliError(
            f"--action require-mfa: stack {stack} has no quarantine policy here: deploy with "
            "RemediationAction require-mfa first; nothing was changed"
        )
    return arn


def alert_topic(aws: Session, chosen: dict[str, Any]) -> str:
    """The alerts stack's TopicArn output (deploy creates the stack)."""
    stack = chosen["stacks"]["alerts"]
    topic = stack_output(aws, stack, "TopicArn")
    if topic is None:
        raise CliError(f"--send: the alerts stack {stack} is not deployed here (iam-console-mfa deploy)")
    return topic


def cmd_init(args: argparse.Namespace, console: Console) -> int:
    from .settings import default_settings

    if args.output.exists():
        raise CliError(f"{args.output} exists: edit it, or remove it first; nothing was written")
    try:
        args.output.write_text(default_settings())
    except OSError as error:
        raise CliError(f"cannot write {args.output}: {error.strerror}") from None
    console.print(
        f"wrote {args.output}: set region, ruleParameters and alerts.email, then deploy --dry-run",
        markup=False,
        highlight=False,
    )
    return EXIT_OK


def cmd_uninstall(args: argparse.Namespace, console: Console) -> int:
    from . import deploy, uninstall

    chosen = load_settings(args.settings)

    def say(line: str) -> None:
        console.print(line, markup=False, highlight=False)

    if args.region and args.region != chosen["region"]:
        raise CliError(f"--region {args.region} differs from rdk-config.json region {chosen['region']}")
    args.region = chosen["region"]
    aws = session(args)
    try:
        removal = uninstall.plan_removal(aws, chosen)
        uninstall.describe_removal(removal, args.keep_logs, say)
        if removal.refused:
            raise CliError("uninstall refused: it removes only what deploy created; nothing was changed")
        if removal.empty:
            return EXIT_OK
        if not args.yes:
            say("nothing changed: run again with --yes to remove it")
            return EXIT_OK
        uninstall.remove(aws, removal, args.keep_logs, say)
    except deploy.DeployError as error:
        raise CliError(str(error)) from None
    except ClientError as error:
        info = error.response.get("Error", {})
        raise AwsCallFailed(error.operation_name, info.get("Code", "?"), info.get("Message", "")) from None
    say("uninstalled")
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


def cmd_policy(args: argparse.Namespace, console: Console) -> int:
    from . import policies

    policy: dict[str, Any]
    if args.deploy:
        policy = policies.deploy(load_settings(args.settings))
        if args.output_dir:
            return write_managed_policies(policy, args.output_dir)
    elif args.selftest:
        policy = policies.selftest(args.remediate)
    elif args.doctor:
        policy = policies.doctor()
    else:
        policy = policies.operator(args.enforce)
    sys.stdout.write(json.dumps(policy, indent=2) + "\n")
    return EXIT_OK


def write_managed_policies(policies: dict[str, Any], directory: Path) -> int:
    """One file per managed policy, and the commands that create and attach them."""
    if not directory.is_dir():
        raise CliError(f"--output-dir {directory} is not a directory")
    for name, document in policies.items():
        (directory / f"{name}.json").write_text(json.dumps(document, indent=2) + "\n")
    sys.stdout.write("# create each policy, then attach them all to the principal that runs deploy:\n")
    for name in policies:
        path = directory / f"{name}.json"
        sys.stdout.write(f"aws iam create-policy --policy-name {name} --policy-document file://{path}\n")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace, console: Console) -> int:
    from . import doctor

    chosen = load_settings(args.settings)
    if args.organization and not chosen["organization"]["enabled"]:
        raise CliError(
            f"--organization: organization.enabled is false in {args.settings or 'rdk-config.json'}; "
            "set it (with organizationalUnitIds) and deploy before checking the organization"
        )
    aws = session(args, doctor.RETRIES)
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
        try:
            deleted = selftest.cleanup(aws.client("iam"))
        except selftest.CleanupIncomplete as error:
            raise CliError(str(error)) from None
        sys.stdout.write(
            f"deleted {output.count(len(deleted), 'self-test user')}: {', '.join(deleted) or '-'}\n"
        )
        return EXIT_OK
    if not args.yes:
        raise CliError(
            "selftest creates IAM users with a console password (deleted at the end): confirm with --yes"
        )
    rule_name = rule_name_of(args, optional_settings(None))
    steps = []
    try:
        # closing: an interruption while a step is printed still runs the self-test's clean-up
        with closing(selftest.run(aws, rule_name, args.timeout, args.remediate)) as run:
            for step in run:
                steps.append(step)
                sys.stdout.write(f"{'ok' if step.ok else 'FAILED':<7}{step.name}: {step.detail}\n")
                sys.stdout.flush()
    except (selftest.SelftestError, selftest.CleanupIncomplete) as error:
        raise CliError(str(error)) from None
    except BaseException:
        sys.stderr.write("the self-test's users were deleted\n")
        raise
    return EXIT_OK if all(s.ok for s in steps) else EXIT_NON_COMPLIANT


COMMANDS = {
    "report": cmd_report,
    "doctor": cmd_doctor,
    "enforce": cmd_enforce,
    "evaluate": cmd_evaluate,
    "deploy": cmd_deploy,
    "uninstall": cmd_uninstall,
    "init": cmd_init,
    "digest": cmd_digest,
    "package": cmd_package,
    "demo": cmd_demo,
    "policy": cmd_policy,
    "selftest": cmd_selftest,
}


if __name__ == "__main__":
    sys.exit(main())
