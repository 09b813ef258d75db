"""The Security Hub calls behind console_mfa.findings: read the open findings, import in batches.

Findings are optional output: ``publish_findings`` runs after Config's evaluations are written,
and a Security Hub failure (no hub in this account or region: InvalidAccessException; a
refused finding; no time left) is logged as an error with ``security_hub: failed``, which the
stack's metric filter counts and alarms on. It never takes Config's results with it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from .aws import translated
from .config_event import ConfigEvent
from .errors import RuleError
from .findings import Context, finding_id, plan_findings
from .model import Assessment
from .policy import RuleParameters

if TYPE_CHECKING:
    from .budget import Deadline

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


def open_findings(
    hub: SecurityHubClient, context: Context, deadline: Deadline, ids: Sequence[str] = ()
) -> dict[str, AwsSecurityFindingOutputTypeDef]:
    """ACTIVE findings of this rule's generator, by Id, every page (the deadline checked before
    each); ``ids``: only these findings (a change evaluation asks for its user's alone)."""
    filters: AwsSecurityFindingFiltersTypeDef = {
        "GeneratorId": [{"Value": context.generator_id, "Comparison": "EQUALS"}],
        "AwsAccountId": [{"Value": context.account, "Comparison": "EQUALS"}],
        "RecordState": [{"Value": "ACTIVE", "Comparison": "EQUALS"}],
    }
    if ids:
        filters["Id"] = [{"Value": i, "Comparison": "EQUALS"} for i in ids]
    found: dict[str, AwsSecurityFindingOutputTypeDef] = {}
    with translated("GetFindings"):
        pages = hub.get_paginator("get_findings").paginate(Filters=filters, PaginationConfig={"PageSize": 100})
        for page in pages:
            found.update((f["Id"], f) for f in page["Findings"] if not ids or f["Id"] in ids)
            deadline.check(f"{len(found)} open Security Hub findings read")
    return found


def publish_findings(
    hub: SecurityHubClient,
    rule_arn: str | None,
    rule_name: str,
    assessments: list[Assessment],
    now: datetime,
    deadline: Deadline,
    sweep: bool,
) -> bool:
    """Native findings (console_mfa.findings): open ones re-imported, fixed ones archived.

    A sweep resolves every open finding whose user is no longer flagged (deleted users too);
    a change evaluation reads and updates only its own user's finding. Returns False, after
    logging the error, when Security Hub failed: Config's results are already written.
    """
    try:
        context = Context.of_rule(rule_arn, rule_name)
        wanted = () if sweep else [finding_id(context, a.user.user_id) for a in assessments]
        held = open_findings(hub, context, deadline, wanted)
        published = import_findings(hub, plan_findings(assessments, held, context, now))
    except RuleError as error:
        LOG.error(
            "Security Hub findings not published (Config's results are written): %s",
            error,
            extra={"security_hub": "failed", "security_hub_error": str(error)},
        )
        return False
    LOG.info("Security Hub: %d finding(s) imported", published)
    return True


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


def publish_after_evaluations(
    factory: Any,
    event: ConfigEvent,
    parameters: RuleParameters,
    assessments: list[Assessment],
    now: datetime,
    deadline: Deadline,
) -> None:
    """With SecurityHubFindings, the invocation's findings, once Config's results are written:
    a Security Hub failure is logged (and alarmed), never the invocation's failure."""
    if assessments and parameters.security_hub_findings:
        hub = factory.build_client("securityhub")
        publish_findings(hub, event.rule_arn, event.rule_name, assessments, now, deadline, event.scheduled)
