"""The Security Hub calls behind console_mfa.findings: read the open findings, import in batches."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .aws import translated
from .errors import RuleError
from .findings import Context

if TYPE_CHECKING:  # type stubs only (a development dependency): the Lambda has boto3
    from mypy_boto3_securityhub import SecurityHubClient
    from mypy_boto3_securityhub.type_defs import (
        AwsSecurityFindingFiltersTypeDef,
        AwsSecurityFindingOutputTypeDef,
        AwsSecurityFindingTypeDef,
    )

LOG = logging.getLogger(__name__)
BATCH = 100  # BatchImportFindings takes at most 100 findings a call


class FindingsRejected(RuleError):
    """Security Hub refused findings even after one retry."""


def open_findings(hub: SecurityHubClient, context: Context) -> dict[str, AwsSecurityFindingOutputTypeDef]:
    """ACTIVE findings of this rule's generator, by Id, every page."""
    filters: AwsSecurityFindingFiltersTypeDef = {
        "GeneratorId": [{"Value": context.generator_id, "Comparison": "EQUALS"}],
        "AwsAccountId": [{"Value": context.account, "Comparison": "EQUALS"}],
        "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
    }
    found: dict[str, AwsSecurityFindingOutputTypeDef] = {}
    with translated("GetFindings"):
        for page in hub.get_paginator("get_findings").paginate(
            Filters=filters, PaginationConfig={"PageSize": 100}
        ):
            found.update((f["Id"], f) for f in page["Findings"])
    return found


def import_findings(hub: SecurityHubClient, findings: Sequence[AwsSecurityFindingTypeDef]) -> int:
    """BatchImportFindings in batches of 100; FailedFindings sent once more, then a loud failure."""
    for start in range(0, len(findings), BATCH):
        batch = findings[start : start + BATCH]
        failed = _send(hub, batch)
        if failed:
            LOG.warning("BatchImportFindings: %d failed, retrying once", len(failed))
            retry = [f for f in batch if f["Id"] in failed]
            failed_again = _send(hub, retry)
            if failed_again:
                codes = ", ".join(f"{i}: {c}" for i, c in list(failed_again.items())[:5])
                raise FindingsRejected(
                    f"BatchImportFindings refused {len(failed_again)} finding(s) twice: {codes}"
                )
    return len(findings)


def _send(hub: SecurityHubClient, batch: Sequence[AwsSecurityFindingTypeDef]) -> dict[str, str]:
    with translated("BatchImportFindings"):
        answer = hub.batch_import_findings(Findings=batch)
    return {f["Id"]: f.get("ErrorCode", "?") for f in answer.get("FailedFindings", [])}
