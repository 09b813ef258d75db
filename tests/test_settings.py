"""rdk-config.json (deployment settings) and the rule's parameters.json must agree."""

from __future__ import annotations

import json
from pathlib import Path

from console_mfa.policy import parse_policy

ROOT = Path(__file__).resolve().parents[1]
RULE_DIR = ROOT / "rules" / "IAM_USER_CONSOLE_MFA"


def load(path: Path) -> dict:
    return json.loads(path.read_text())


def test_parameters_json_is_what_rdk_expects() -> None:
    parameters = load(RULE_DIR / "parameters.json")["Parameters"]
    assert parameters["RuleName"] == "IAM_USER_CONSOLE_MFA"
    assert parameters["SourceRuntime"] == "python3.12-lib"
    assert parameters["SourceEvents"] == "AWS::IAM::User"
    assert json.loads(parameters["InputParameters"])["AssumeRoleMode"] == "False"


def test_settings_agree_with_parameters_json() -> None:
    settings = load(ROOT / "rdk-config.json")
    parameters = load(RULE_DIR / "parameters.json")["Parameters"]
    assert parameters["RuleName"] == settings["ruleName"]
    assert parameters["SourcePeriodic"] == settings["sweepFrequency"]
    assert json.loads(parameters["OptionalParameters"]) == settings["ruleParameters"]
    parse_policy(settings["ruleParameters"])  # the shipped defaults are valid parameters
