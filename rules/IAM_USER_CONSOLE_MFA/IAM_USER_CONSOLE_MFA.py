"""AWS Config custom rule: every IAM user with a console password must have an MFA device.

Thin rdklib shell around the engine in ``console_mfa``: parse the event once, triage it, then
rdklib's two methods (a change: one user; periodic: the sweep), one Evaluation per user keyed
by its UserId, and Security Hub findings after Config's results.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from time import monotonic
from typing import Any

from console_mfa.aws import configured_session, counted_calls
from console_mfa.budget import NO_DEADLINE, Deadline, WriteBudget, budgeted
from console_mfa.changes import ChangeStore, run_id
from console_mfa.config_event import parse_event, user_from_configuration_item
from console_mfa.decision import decide
from console_mfa.errors import RuleError, UserGone
from console_mfa.live import LiveIam
from console_mfa.model import RESOURCE_TYPE, Assessment
from console_mfa.policy import RuleParameters, parse_policy
from console_mfa.rule_log import LOG, log_decision, log_sweep
from console_mfa.stamped import evaluation
from console_mfa.triage import recorded_here, triage
from rdklib import ConfigRule, Evaluation, Evaluator


class RuleInvocationFailed(RuleError):
    """rdklib reported an error as a return value; re-raised so the invocation fails."""


class IAM_USER_CONSOLE_MFA(ConfigRule):  # type: ignore[misc]  # noqa: N801 - rdk's class name; rdklib has no types
    # The rule reads Config's results itself and writes only what changed (console_mfa.writes),
    # vanished users included: rdklib's clean-up would re-read them for nothing.
    delete_old_evaluations_on_scheduled_notification = False

    def __init__(
        self,
        deadline: Deadline = NO_DEADLINE,
        store: ChangeStore | None = None,
        calls: dict[str, int] | None = None,
        budget: WriteBudget | None = None,
        run: str = "",
        now: datetime | None = None,  # a fixed clock (tests)
    ) -> None:
        super().__init__()
        self.now = now
        self.deadline, self.store, self.run = deadline, store, run  # run: who claims the store's changes
        self.calls = calls if calls is not None else {}  # this invocation's AWS calls, for the sweep's log
        self.started = monotonic()
        self.budget = budget or WriteBudget(deadline.remaining_ms)  # checked by lambda_handler's hook
        # What was decided, for the Security Hub findings published after Config's results.
        self.parameters, self.assessments, self.client_factory = RuleParameters(), list[Assessment](), None

    def evaluate_parameters(self, rule_parameters: dict[str, Any]) -> RuleParameters:
        self.parameters = parse_policy(rule_parameters)
        return self.parameters

    def evaluate_change(
        self, event: dict[str, Any], client_factory: Any, item: dict[str, Any], parameters: RuleParameters
    ) -> list[Evaluation]:
        self.client_factory = client_factory
        user, tags = user_from_configuration_item(item)
        live = LiveIam(client_factory.build_client("iam"))
        try:
            facts = live.confirm(user, parameters, live.identity_checked(user), tags)
        except UserGone as gone:
            # Nothing is written: Config's newer configuration item (deleted, or renamed) follows.
            LOG.warning("nothing evaluated: %s", gone)
            return []
        verdict = decide(facts, parameters, self._now())
        self.assessments = [Assessment(user, facts, verdict, str(item.get("ARN") or ""), "change")]
        log_decision(self.assessments[0])
        return [evaluation(user.user_id, verdict.compliance, verdict.annotation, self._read_at())]

    def evaluate_periodic(
        self, event: dict[str, Any], client_factory: Any, parameters: RuleParameters
    ) -> list[Evaluation]:
        # Only sweeps need these: imported here to keep the cold start of change evaluations short.
        from console_mfa.pipeline import sweep_and_plan
        from console_mfa.pool import read_workers
        from console_mfa.trail import iam_event_region

        self.client_factory = client_factory
        # IAM's events are recorded in the partition's IAM region, whatever region this runs in.
        region = iam_event_region(os.environ.get("AWS_REGION", ""))
        assessments, plan, claims = sweep_and_plan(
            LiveIam(client_factory.build_client("iam")),
            client_factory.build_client("config"),
            event["configRuleName"],
            parameters,
            self._now(),
            trail=client_factory.build_client("cloudtrail", region=region),
            deadline=self.deadline,
            store=self.store,
            run=self.run,
            workers=read_workers(),
        )
        log_sweep(
            assessments,
            plan.counts(),
            len(claims.recorded),
            len(claims.mine),
            monotonic() - self.started,
            self.calls,
        )
        self.assessments = assessments
        self.budget.expect(len(plan.writes))
        read_at = self._read_at()
        return [evaluation(w.user_id, w.compliance, w.annotation, read_at) for w in plan.writes]

    def _now(self) -> datetime:
        return self.now or datetime.now(UTC)

    def _read_at(self) -> datetime:  # every fact of this run was read before this moment
        return max(self._now(), datetime.now(UTC))


def lambda_handler(event: dict[str, Any], context: Any) -> list[dict[str, Any]]:
    """Evaluate, or raise: Config then shows a failed invocation and Lambda counts an error."""
    from console_mfa.oversized import inflated
    from console_mfa.securityhub import publish_after_evaluations

    parsed = parse_event(event)
    if not parsed.scheduled and not recorded_here(parsed.invoking):
        return []
    session = configured_session()
    store = ChangeStore.from_env(lambda: session.client("dynamodb"))
    now, run = datetime.now(UTC), run_id(parsed.result_token)
    if not parsed.scheduled and not triage(parsed.invoking, store, now, run):
        return []
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    deadline = Deadline(remaining)
    with counted_calls(session) as calls, budgeted(session, WriteBudget(remaining)) as budget:
        rule = IAM_USER_CONSOLE_MFA(deadline, store=store, calls=calls, budget=budget, run=run)
        as_change = inflated(event, rule) if parsed.oversized else event  # None: not recorded here
        if as_change is None:
            return []
        result = Evaluator(rule, [RESOURCE_TYPE]).handle(as_change, context)
    if isinstance(result, dict):
        # rdklib returns AWS errors and parameter errors instead of raising them.
        fields = ("customerErrorCode", "customerErrorMessage", "internalErrorMessage", "internalErrorDetails")
        raise RuleInvocationFailed("; ".join(str(result[f]) for f in fields if result.get(f)))
    publish_after_evaluations(rule.client_factory, parsed, rule.parameters, rule.assessments, now, deadline)
    evaluations: list[dict[str, Any]] = result
    return evaluations
