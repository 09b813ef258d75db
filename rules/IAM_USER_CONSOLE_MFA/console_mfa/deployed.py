"""The deployed Config rule as DescribeConfigRules describes it: the one source of its
parameters for the remediation and for every CLI command that acts with them.

The rule's InputParameters are read where they are used, each time: a rule changed with
PutConfigRule (console, CLI, a conformance tool) or redeployed with other parameters is
what the remediation and the CLI then act on, with no second copy to drift.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from .aws import error_code, translated
from .errors import InvalidRuleParameter

if TYPE_CHECKING:  # type stubs only (a development dependency): the Lambda has boto3
    from mypy_boto3_config import ConfigServiceClient


def deployed_rule(config: ConfigServiceClient, rule_name: str) -> dict[str, Any] | None:
    """The rule, None when it does not exist here (AWS answers NoSuchConfigRuleException, moto
    an empty list); any other error is AwsCallFailed, naming DescribeConfigRules."""
    with translated("DescribeConfigRules"):
        try:
            rules = config.describe_config_rules(ConfigRuleNames=[rule_name])["ConfigRules"]
        except ClientError as error:
            if error_code(error) == "NoSuchConfigRuleException":
                return None
            raise
    return dict(rules[0]) if rules else None


def input_parameters(rule: Mapping[str, Any]) -> dict[str, str]:
    """The rule's InputParameters (a JSON object of strings; absent means none)."""
    raw = rule.get("InputParameters") or "{}"
    try:
        values = json.loads(raw)
    except ValueError:
        raise InvalidRuleParameter("InputParameters", raw[:60], "is not a JSON object") from None
    if not isinstance(values, dict):
        raise InvalidRuleParameter("InputParameters", raw[:60], "is not a JSON object")
    return values
