"""A periodic sweep from start to write plan: the one sequence the rule's Lambda runs and
`iam-console-mfa report --rule-name` reproduces.

List the users, claim the near-real-time store's changes, assess every user, read Config's
results for the rule, and plan the writes. Users a run in progress claimed (a per-user
notification of the same re-evaluation) are neither read, written nor called deleted here.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from .changes import ChangeStore, claim_all
from .live import LiveIam
from .model import Assessment, UserId, user_key
from .policy import RuleParameters
from .pool import DEFAULT_WORKERS
from .recorded import recorded_results
from .sweep import NO_DEADLINE, Claims, Deadline, Progress, no_progress, sweep
from .writes import WritePlan, plan_writes

if TYPE_CHECKING:  # type stubs only (a development dependency): the Lambda has boto3
    from mypy_boto3_cloudtrail import CloudTrailClient
    from mypy_boto3_config import ConfigServiceClient


class SweepOutcome(NamedTuple):
    assessments: list[Assessment]
    plan: WritePlan
    claims: Claims
    elsewhere: frozenset[UserId]  # claimed by a run in progress: left to it


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
    workers: int = DEFAULT_WORKERS,
    progress: Progress = no_progress,
) -> SweepOutcome:
    users = list(live.list_users())
    claims = claim_all(store, now)
    elsewhere = frozenset(u.user.user_id for u in users if user_key(u.user.user_name) in claims.elsewhere)
    assessments = sweep(
        live, parameters, now, deadline, progress, trail=trail, users=users, claims=claims, workers=workers
    )
    plan = plan_writes(
        ((a.user.user_id, a.verdict) for a in assessments),
        recorded_results(config, rule_name),
        now,
        parameters.refresh_days,
        keep=elsewhere,
    )
    return SweepOutcome(assessments, plan, claims, elsewhere)
