"""Config's current results for this rule: the collector behind the write plan (``writes``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .aws import translated
from .model import RESOURCE_TYPE, Compliance, UserId
from .writes import Recorded

if TYPE_CHECKING:  # type stubs only (a development dependency): the Lambda has boto3
    from mypy_boto3_config import ConfigServiceClient


def recorded_results(config: ConfigServiceClient, rule_name: str) -> dict[UserId, Recorded]:
    """Every result Config holds for the rule, all compliance types, every page.

    Any error fails loudly (AwsCallFailed): a plan made from a partial read would skip users
    whose results it never saw, so nothing is written without the whole read.
    """
    results: dict[UserId, Recorded] = {}
    with translated("GetComplianceDetailsByConfigRule"):
        pages = config.get_paginator("get_compliance_details_by_config_rule").paginate(
            ConfigRuleName=rule_name,
            ComplianceTypes=[c.value for c in Compliance],
            PaginationConfig={"PageSize": 100},  # the API's maximum
        )
        for page in pages:
            for result in page["EvaluationResults"]:
                qualifier = result["EvaluationResultIdentifier"]["EvaluationResultQualifier"]
                if qualifier.get("ResourceType") != RESOURCE_TYPE:
                    continue
                results[UserId(qualifier["ResourceId"])] = Recorded(
                    Compliance(result["ComplianceType"]),
                    result.get("Annotation", ""),
                    result["ResultRecordedTime"],
                )
    return results
