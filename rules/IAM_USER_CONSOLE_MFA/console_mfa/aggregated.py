"""Every account's results for the rule, from an organization aggregator: the collector behind
``report --organization`` and the organization digest.

AWS documents the aggregate calls for COMPLIANT and NON_COMPLIANT results only; NOT_APPLICABLE
ones are counted when the aggregator returns them, never inferred.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any, NamedTuple

from .aws import translated


class Result(NamedTuple):
    account: str
    region: str
    user_id: str
    compliance: str
    annotation: str
    recorded: datetime | None


def _pages(config: Any, operation: str, **kwargs: Any) -> Iterator[dict[str, Any]]:
    """Every page (botocore's paginator follows NextToken); errors name the operation."""
    with translated("".join(w.title() for w in operation.split("_"))):
        yield from config.get_paginator(operation).paginate(**kwargs)


def results(config: Any, aggregator: str, rule_name: str) -> list[Result]:
    """Every result of the rule in every account and region the aggregator holds."""
    places = set()
    for page in _pages(
        config,
        "describe_aggregate_compliance_by_config_rules",
        ConfigurationAggregatorName=aggregator,
        Filters={"ConfigRuleName": rule_name},
    ):
        for rule in page.get("AggregateComplianceByConfigRules", []):
            places.add((rule["AccountId"], rule["AwsRegion"]))
    found = []
    for account, region in sorted(places):
        for page in _pages(
            config,
            "get_aggregate_compliance_details_by_config_rule",
            ConfigurationAggregatorName=aggregator,
            ConfigRuleName=rule_name,
            AccountId=account,
            AwsRegion=region,
            PaginationConfig={"PageSize": 100},  # the API's maximum
        ):
            for result in page.get("AggregateEvaluationResults", []):
                qualifier = result["EvaluationResultIdentifier"]["EvaluationResultQualifier"]
                found.append(
                    Result(
                        account,
                        region,
                        qualifier["ResourceId"],
                        result["ComplianceType"],
                        result.get("Annotation", ""),
                        result.get("ResultRecordedTime"),
                    )
                )
    return found
