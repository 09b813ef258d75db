"""The deployed Config rule as DescribeConfigRules describes it: doctor, selftest and every
command that takes the rule's parameters ask the same question."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError
from console_mfa.aws import error_code, translated


def deployed_rule(config: Any, rule_name: str) -> dict[str, Any] | None:
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
