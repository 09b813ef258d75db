"""A periodic sweep from start to write plan: the one sequence the rule's Lambda runs and
`iam-console-mfa report --rule-name` reproduces.

List the users, claim the near-real-time store's changes, assess every user, read Config's
results for the rule, and plan the writes. Every listed user is assessed and written here,
whatever the change store holds (it can only make a user be read live).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from .budget import NO_DEADLINE, Deadline
from .changes import ChangeStore, claim_all
from .live import LiveIam
from .model import Assessment
from .policy import RuleParameters
from .pool import DEFAULT_WORKERS
from .recorded import recorded_results
from .sweep import Claims, Progress, no_progress, sweep
from .writes import WritePlan, plan_writes

if TYPE_CHECKING:  # type stubs only (a development dependency): the Lambda has boto3
    from mypy_boto3_cloudtrail import CloudTrailClient
    from mypy_boto3_config import ConfigServiceClient


class SweepOutcome(NamedTuple):
    assessments: list[Assessment]
    plan: WritePlan
    claims: Claims


def sweep_and_plan(
    live: LiveIam,
    config: ConfigServiceClient,
    rule_name: str,
    parameters: RuleParameters,
    now: datetime,
    *,
    trail: CloudTrailClient | None,
    deadline: Deadline = NO_DEADLINE,
    store: ChangeStore | None = None,
    run: str = "",  # who claims the store's changes (changes.run_id)
    workers: int = DEFAULT_WORKERS,
    progress: Progress = no_progress,
) -> SweepOutcome:
    users = list(live.list_users())  # listed at ``now``: results newer than it are not "deleted"
    claims = claim_all(store, now, run)
    assessments = sweep(
        live, parameters, now, deadline, progress, trail=trail, users=users, claims=claims, workers=workers
    )
    plan = plan_writes(
        ((a.user.user_id, a.verdict) for a in assessments),
        recorded_results(config, rule_name),
        now,
        parameters.refresh_days,
        listed_at=now,
    )
    return SweepOutcome(assessments, plan, claims)
