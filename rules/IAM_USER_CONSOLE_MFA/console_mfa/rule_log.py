"""The rule's log lines: one per decision, one per sweep. With the function's JSON log format
(rule.yaml) each extra field is a key CloudWatch Logs Insights can filter on (docs/operations.md)."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from .model import Assessment

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)


def log_decision(assessment: Assessment) -> None:
    """One line per decision. With the function's JSON log format (rule.yaml) each field is a
    key of the log event: CloudWatch Logs Insights finds why bob is NON_COMPLIANT by field."""
    LOG.info(
        "%s %s: %s",
        assessment.user.user_name,
        assessment.verdict.compliance.value,
        assessment.verdict.reason.value,
        extra={
            "user": assessment.user.user_name,
            "user_id": assessment.user.user_id,
            "verdict": assessment.verdict.compliance.value,
            "reason": assessment.verdict.reason.value,
            "source": assessment.source,
            "annotation": assessment.verdict.annotation,
        },
    )


def log_sweep(
    assessments: list[Assessment],
    writes: Mapping[str, int],
    recorded: int,
    claimed: int,
    seconds: float,
    calls: Mapping[str, int],
) -> None:
    """The sweep's summary: users, data sources, writes by kind, changes claimed, time, calls."""
    for assessment in assessments:
        log_decision(assessment)
    sources = {a.source for a in assessments}
    LOG.info(
        "sweep of %d users: writes %s; %d recorded change(s), %d claimed by this run",
        len(assessments),
        dict(writes),
        recorded,
        claimed,
        extra={
            "sweep": {
                "users": len(assessments),
                "source": "+".join(sorted(sources)) or "none",
                "writes": dict(writes),
                "recorded_changes": recorded,
                "claimed": claimed,
                "seconds": round(seconds, 1),
                "calls": dict(calls),
            }
        },
    )
