"""rdk-config.json: the one deployment settings file, validated against its JSON Schema.

``parameters.json`` (what ``rdk deploy`` reads) is generated from it, so the two cannot
drift: ``make generate`` rewrites it and a test compares the committed file.
"""

from __future__ import annotations

import json
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any, Literal

import jsonschema  # type: ignore[import-untyped]  # no stubs installed: its few calls are checked by tests
from console_mfa.errors import InvalidRuleParameter
from console_mfa.policy import parse_policy


def _project_root() -> Path:
    """The repository clone, whose stacks deploy reads (the wheel holds only code): the source
    tree of an editable install, else the current directory."""
    for candidate in (Path(__file__).resolve().parents[2], Path.cwd()):
        if (candidate / "cloudformation" / "rule.yaml").is_file():
            return candidate
    return Path.cwd()


ROOT = _project_root()
SETTINGS = ROOT / "rdk-config.json"


def _installed(package: str, clone: Path) -> Traversable:
    """A repository directory as installed with a wheel (pyproject maps it in as ``package``),
    else the clone's own (an editable install maps no sub-package)."""
    try:
        return files(package)
    except ModuleNotFoundError:
        return clone


def stacks() -> Traversable:
    """cloudformation/: the clone's, else the copy installed with the package (deploy works
    from an install outside any clone)."""
    clone = ROOT / "cloudformation"
    return clone if (clone / "rule.yaml").is_file() else _installed("iam_console_mfa.stacks", clone)


def default_settings() -> str:
    """The repository's rdk-config.json, as installed (``iam-console-mfa init``)."""
    return _installed("iam_console_mfa.defaults", ROOT).joinpath("rdk-config.json").read_text()


SCHEMA = Path(__file__).with_name("rdk-config.schema.json")  # package data: readable from anywhere
PARAMETERS = ROOT / "rules" / "IAM_USER_CONSOLE_MFA" / "parameters.json"


class SettingsError(Exception):
    """rdk-config.json is invalid; the message names the key and what is allowed."""


def load(path: Path = SETTINGS) -> dict[str, Any]:
    try:
        settings = json.loads(path.read_text())
    except FileNotFoundError:
        raise SettingsError(
            f"{path} not found: run this in a clone of the repository or where your rdk-config.json is "
            "(`iam-console-mfa init` writes the default one), or pass --settings FILE"
        ) from None
    except (OSError, json.JSONDecodeError) as error:
        raise SettingsError(f"{path.name}: cannot read: {error}") from None
    validate(settings, path.name)
    return dict(settings)


def _schema() -> dict[str, Any]:
    return dict(json.loads(SCHEMA.read_text()))


def validate(settings: Any, name: str = "rdk-config.json") -> None:
    schema = _schema()
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(settings), key=lambda e: list(e.path))
    if errors:
        error = errors[0]
        if error.validator == "pattern" and list(error.path)[:1] == ["ruleParameters"]:
            _check_rule_parameters(settings, name)  # the rule's message names what is wrong
        where = ".".join(str(p) for p in error.path) or "(top level)"
        if error.validator == "enum":
            allowed = ", ".join(map(str, error.validator_value))
            raise SettingsError(f"{name}: {where}: {error.instance!r} is not allowed; allowed: {allowed}")
        raise SettingsError(f"{name}: {where}: {error.message}")
    _check_rule_parameters(settings, name)


def _check_rule_parameters(settings: dict[str, Any], name: str) -> None:
    try:
        parse_policy(settings["ruleParameters"])
    except InvalidRuleParameter as error:
        raise SettingsError(f"{name}: ruleParameters: {error}") from None


def non_empty(parameters: dict[str, str]) -> dict[str, str]:
    """Config rejects empty parameter values; an absent one means the same default."""
    return {k: v for k, v in parameters.items() if v != ""}


# The RDK route's remediation stack (cloudformation/remediation.json) exports these, named
# after the rule; parameters.json's Remediation block imports them.
DOCUMENT_EXPORT = "{rule}-RemediationDocument"
AUTOMATION_ROLE_EXPORT = "{rule}-AutomationRoleArn"


def remediation_block(settings: dict[str, Any]) -> dict[str, Any]:
    """rdk's ``Remediation`` block: rule.yaml's RemediationConfiguration, with the document and
    the automation role imported from the remediation stack the RDK route deploys first (rdk
    deploys one Lambda per rule; the remediation Lambda behind the document is a second one)."""
    rule_name = settings["ruleName"]
    remediation = settings["remediation"]
    role = {"Fn::ImportValue": AUTOMATION_ROLE_EXPORT.format(rule=rule_name)}
    return {
        "ConfigRuleName": rule_name,
        "TargetType": "SSM_DOCUMENT",
        "TargetId": {"Fn::ImportValue": DOCUMENT_EXPORT.format(rule=rule_name)},
        "Automatic": remediation["automatic"],
        "MaximumAutomaticAttempts": remediation["maximumAutomaticAttempts"],
        "RetryAttemptSeconds": remediation["retryAttemptSeconds"],
        "Parameters": {
            "IAMUserId": {"ResourceValue": {"Value": "RESOURCE_ID"}},
            "AutomationAssumeRole": {"StaticValue": {"Values": [role]}},
        },
    }


def parameters_json(settings: dict[str, Any]) -> dict[str, Any]:
    """The RDK rule definition for these settings, with its remediation when enabled."""
    rule_name = settings["ruleName"]
    deployed = non_empty(rule_parameters(settings))
    parameters: dict[str, Any] = {
        "RuleName": rule_name,
        "Description": "Flags IAM users that have a console password and no MFA device of any kind "
        "(IAM.5 equivalent).",
        "SourceRuntime": "python3.12-lib",
        "EvaluationMode": "DETECTIVE",
        "CodeKey": f"{rule_name}{settings['region']}.zip",
        "InputParameters": json.dumps({"AssumeRoleMode": "False", **deployed}),
        "OptionalParameters": json.dumps(rule_parameters(settings)),
        "SourceEvents": "AWS::IAM::User",
        "SourcePeriodic": settings["sweepFrequency"],
    }
    if settings["remediation"]["enabled"]:
        parameters["Remediation"] = remediation_block(settings)
    return {"Version": "1.0", "Parameters": parameters, "Tags": "[]"}


def render_parameters(settings: dict[str, Any]) -> str:
    return json.dumps(parameters_json(settings), indent=2) + "\n"


def rule_parameters(settings: dict[str, Any]) -> dict[str, str]:
    """ruleParameters as deployed: RemediationAction is none when no remediation is deployed
    (the annotation then promises nothing), whatever ruleParameters says."""
    parameters = dict(settings["ruleParameters"])
    if remediation_mode(settings) == "none":
        parameters["RemediationAction"] = "none"
    return parameters


def remediation_mode(settings: dict[str, Any]) -> Literal["none", "manual", "automatic"]:
    """rule.yaml's RemediationMode for the settings' remediation block."""
    remediation = settings["remediation"]
    if not remediation["enabled"]:
        return "none"
    return "automatic" if remediation["automatic"] else "manual"


DIGEST_DEFAULTS: dict[str, Any] = {
    "schedule": "cron(0 8 ? * MON *)",
    "periodDays": 7,
    "sendWhenClean": False,
    "webhookSecretArn": "",
}


def digest_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """alerts.digest with its defaults (a file written before the digest existed has none)."""
    return {**DIGEST_DEFAULTS, **settings["alerts"].get("digest", {})}
