"""Where each rule parameter comes from: an option, else the deployed rule, else
rdk-config.json, else the rule's default; one resolution for every command that sweeps or acts.

The deployed rule comes first because it is what the Lambda and the remediation use: a
command run elsewhere than the clone must not forget its exemptions.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from console_mfa.policy import RuleParameters, parse_policy

from .arguments import RULE_OPTIONS
from .errors import CliError

if TYPE_CHECKING:
    from boto3 import Session

    from .regional_session import RegionalSession

DEFAULT_RULE_NAME = "IAM_USER_CONSOLE_MFA"


def load_settings(path: Path | None) -> dict[str, Any]:
    """--settings FILE, else the clone's rdk-config.json (``settings.SETTINGS``: the one deploy
    reads, from any directory), validated; missing or invalid, a one-line error."""
    from . import settings

    try:
        return settings.load(path or settings.SETTINGS)
    except settings.SettingsError as error:
        raise CliError(str(error)) from None


def optional_settings(path: Path | None) -> dict[str, Any] | None:
    """As load_settings, but None when no --settings is given and there is no rdk-config.json:
    a sweep can go on with the deployed rule's parameters."""
    from . import settings

    if path is None and not settings.SETTINGS.exists():
        return None
    return load_settings(path)


def rule_name_of(args: argparse.Namespace, chosen: dict[str, Any] | None) -> str:
    """--rule-name, else the settings' ruleName, else the stacks' default."""
    return str(args.rule_name or (chosen["ruleName"] if chosen else DEFAULT_RULE_NAME))


class ResolvedParameters(NamedTuple):
    policy: RuleParameters
    bare: bool  # every value is the rule's default: no deployed rule, settings file or option
    values: dict[str, str]  # by parameter name, as resolved (report --format json states them)
    deployed: bool  # the rule exists in this account and region


def deployed_parameters(aws: Session, rule_name: str) -> dict[str, str] | None:
    """The deployed rule's InputParameters (DescribeConfigRules), None when no such rule exists."""
    from console_mfa.deployed import deployed_rule, input_parameters

    rule = deployed_rule(aws.client("config"), rule_name)
    if rule is None:
        return None
    return {k: str(v) for k, v in input_parameters(rule).items()}


def rule_policy(args: argparse.Namespace, aws: RegionalSession) -> ResolvedParameters:
    """The rule parameters: option, else the deployed rule's, else rdk-config.json's, else the
    rule's default; where each came from is said on stderr before anything else happens."""
    given = {p.name: getattr(args, p.name) for _, p, _ in RULE_OPTIONS if getattr(args, p.name) is not None}
    parse_policy(given)  # a bad option is named before any AWS call
    chosen = optional_settings(args.settings)
    configured = chosen["ruleParameters"] if chosen else {}
    settings_name = args.settings.name if args.settings else "rdk-config.json"
    rule_name = rule_name_of(args, chosen)
    deployed = deployed_parameters(aws, rule_name)
    region = f"{aws.region_name} (region from {aws.region_source})"
    if deployed is None:
        sys.stderr.write(f"no Config rule {rule_name} in {region}: its parameters are not used\n")
    else:
        sys.stderr.write(f"Config rule {rule_name} in {region}\n")
    values, sources = {}, []
    for _, parameter, _ in RULE_OPTIONS:
        if parameter.name in given:
            values[parameter.name], source = given[parameter.name], "option"
        elif deployed is not None and parameter.name in deployed:
            values[parameter.name], source = deployed[parameter.name], f"deployed rule {rule_name}"
        elif parameter.name in configured:
            values[parameter.name], source = configured[parameter.name], settings_name
        else:
            values[parameter.name], source = parameter.default, "default"
        sources.append(f"{parameter.name}={values[parameter.name]!r} ({source})")
    sys.stderr.write("rule parameters: " + ", ".join(sources) + "\n")
    bare = deployed is None and not configured and not given
    return ResolvedParameters(parse_policy(values), bare, values, deployed is not None)
