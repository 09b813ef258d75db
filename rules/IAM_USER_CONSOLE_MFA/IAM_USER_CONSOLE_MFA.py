"""AWS Config custom rule: every IAM user with a console password must have an MFA device.

Thin rdklib shell around the engine in ``console_mfa``: parse the rule parameters, collect
IAM facts, decide, and hand rdklib one Evaluation per user keyed by its UserId.
"""

from __future__ import annotations

import json
import logging
import os
from datetime import UTC, datetime
from time import monotonic
from typing import Any

from console_mfa.aws import WriteBudget, budgeted, configured_session, counted_calls, translated
from console_mfa.changes import ChangeStore, run_id
from console_mfa.config_event import (
    CHANGE,
    OVERSIZED,
    SCHEDULED,
    checked_history_item,
    not_recorded,
    notified_user,
    user_from_configuration_item,
    validate_event,
)
from console_mfa.decision import decide
from console_mfa.errors import RuleError, UserGone
from console_mfa.live import LiveIam
from console_mfa.model import RESOURCE_TYPE, Assessment, Compliance, UserId
from console_mfa.policy import RuleParameters, parse_policy
from console_mfa.sweep import NO_DEADLINE, Deadline
from rdklib import ConfigRule, Evaluation, Evaluator

APPLICABLE_RESOURCES = [RESOURCE_TYPE]
LOG = logging.getLogger()
LOG.setLevel(logging.INFO)


class RuleInvocationFailed(RuleError):
    """rdklib reported an error as a return value; re-raised so the invocation fails."""


class IAM_USER_CONSOLE_MFA(ConfigRule):  # type: ignore[misc]  # noqa: N801 - rdk's class name; rdklib has no types
    # The rule reads Config's results itself and writes only what changed (console_mfa.writes),
    # vanished users included: rdklib's clean-up would re-read them for nothing.
    delete_old_evaluations_on_scheduled_notification = False

    def __init__(
        self,
        deadline: Deadline = NO_DEADLINE,
        now: datetime | None = None,
        store: ChangeStore | None = None,
        calls: dict[str, int] | None = None,
        budget: WriteBudget | None = None,
        run: str = "",
    ) -> None:
        super().__init__()
        self.deadline = deadline
        self.now = now
        self.store = store  # the near-real-time change store, None without it
        self.calls = calls if calls is not None else {}  # this invocation's AWS calls, for the sweep's log
        self.started = monotonic()
        self.budget = budget or WriteBudget(deadline.remaining_ms)  # checked by lambda_handler's hook
        self.run = run  # who claims the store's changes (console_mfa.changes.run_id)
        # What was decided, for the Security Hub findings published after Config's results.
        self.parameters = RuleParameters()
        self.assessments: list[Assessment] = []
        self.client_factory: Any = None

    def evaluate_parameters(self, rule_parameters: dict[str, Any]) -> RuleParameters:
        self.parameters = parse_policy(rule_parameters)
        return self.parameters

    def evaluate_change(
        self,
        event: dict[str, Any],
        client_factory: Any,
        configuration_item: dict[str, Any],
        valid_rule_parameters: RuleParameters,
    ) -> list[Evaluation]:
        self.client_factory = client_factory
        user, tags = user_from_configuration_item(configuration_item)
        live = LiveIam(client_factory.build_client("iam"))
        try:
            last_used = live.identity_checked(user)
            facts = live.confirm(user, valid_rule_parameters, last_used, tags)
        except UserGone as gone:
            # Nothing is written: Config's newer configuration item (deleted, or renamed) follows.
            LOG.warning("nothing evaluated: %s", gone)
            return []
        verdict = decide(facts, valid_rule_parameters, self._now())
        assessment = Assessment(user, facts, verdict, str(configuration_item.get("ARN") or ""), "change")
        log_decision(assessment)
        self.assessments = [assessment]
        return [_evaluation(user.user_id, verdict.compliance, verdict.annotation, self._read_at())]

    def evaluate_periodic(
        self, event: dict[str, Any], client_factory: Any, valid_rule_parameters: RuleParameters
    ) -> list[Evaluation]:
        # Only sweeps need these: imported here to keep the cold start of change evaluations short.
        from console_mfa.pipeline import sweep_and_plan
        from console_mfa.pool import read_workers
        from console_mfa.trail import iam_event_region

        self.client_factory = client_factory
        live = LiveIam(client_factory.build_client("iam"))
        now = self._now()
        # IAM's events are recorded in the partition's IAM region, whatever region this runs in.
        trail = client_factory.build_client(
            "cloudtrail", region=iam_event_region(os.environ.get("AWS_REGION", ""))
        )
        assessments, plan, claims = sweep_and_plan(
            live,
            client_factory.build_client("config"),
            event["configRuleName"],
            valid_rule_parameters,
            now,
            trail=trail,
            deadline=self.deadline,
            store=self.store,
            run=self.run,
            workers=read_workers(),
        )
        for assessment in assessments:
            log_decision(assessment)
        sources = {a.source for a in assessments}
        writes = plan.counts()
        LOG.info(
            "sweep of %d users: writes %s; %d recorded change(s), %d claimed by this run",
            len(assessments),
            writes,
            len(claims.recorded),
            len(claims.mine),
            extra={
                "sweep": {
                    "users": len(assessments),
                    "source": "+".join(sorted(sources)) or "none",
                    "writes": writes,
                    "recorded_changes": len(claims.recorded),
                    "claimed": len(claims.mine),
                    "seconds": round(monotonic() - self.started, 1),
                    "calls": dict(self.calls),
                }
            },
        )
        self.assessments = assessments
        self.budget.expect(len(plan.writes))
        read_at = self._read_at()
        return [_evaluation(w.user_id, w.compliance, w.annotation, read_at) for w in plan.writes]

    def _now(self) -> datetime:
        return self.now or datetime.now(UTC)

    def _read_at(self) -> datetime:
        """When the facts were read: every fact of this run was read before this moment."""
        return max(self._now(), datetime.now(UTC))


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


class StampedEvaluation(Evaluation):  # type: ignore[misc]  # rdklib has no types
    """An evaluation whose OrderingTimestamp is when its facts were read.

    rdklib stamps a change evaluation with its configuration item's capture time (possibly
    days old: a re-evaluation replays the last recorded item) and a sweep's with the
    notification's time. AWS does not document whether Config keeps the evaluation with the
    newest OrderingTimestamp or the last one written; stamped with the time its facts were
    read, a newer verdict is both the newest and the last, so both policies keep it.
    """

    def __init__(self, *args: Any, read_at: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_at = read_at.isoformat()

    def import_fields_from_periodic_event(self, event: dict[str, Any]) -> None:
        self.orderingTimestamp = self.read_at

    def import_fields_from_configuration_item(self, configuration_item: dict[str, Any]) -> None:
        super().import_fields_from_configuration_item(configuration_item)
        self.orderingTimestamp = self.read_at


def _evaluation(user_id: UserId, compliance: Compliance, annotation: str, read_at: datetime) -> Evaluation:
    return StampedEvaluation(
        compliance.value, resourceId=user_id, resourceType=RESOURCE_TYPE, annotation=annotation, read_at=read_at
    )


def triage(invoking_event: dict[str, Any], store: ChangeStore | None, now: datetime, run: str) -> bool:
    """Whether a change notification is evaluated; claims the user's recorded change if any.

    A replay of an old configuration item (a re-evaluation after StartConfigRulesEvaluation:
    Config may send one per user) is evaluated only when the change store holds a change of
    its user that this run holds (it wins the claim, or claimed it before a retry) or that is
    suspect: an unchanged user costs no IAM or Config call and no evaluation. A fresh item
    (created, tagged, renamed, deleted) is always evaluated. Whatever the store holds, the
    next sweep reads every user.
    """
    name, replayed = notified_user(invoking_event)
    change = store.change(name, now) if store is not None and name is not None else None
    claimed = change is not None and (
        change.suspect
        or change.held_by(run)
        or (change.unclaimed and store is not None and store.claim(change, now, run))
    )
    if replayed and not claimed:
        LOG.info(
            "%s skipped: a re-evaluation of an old configuration item, no change recorded",
            name,
            extra={"user": name, "skipped": "re-evaluation of an old item, no change recorded"},
        )
        return False
    return True


def inflated(event: dict[str, Any], rule: IAM_USER_CONSOLE_MFA) -> dict[str, Any] | None:
    """An oversized notification as the change notification it stands for, its history item
    checked against its summary first (console_mfa.config_event.checked_history_item), so that
    every path after it, rdklib's deleted-item path included, sees only the summary's user.
    None when the item is not recorded here (nothing is written)."""
    from rdklib import ClientFactory
    from rdklib.util.service import convert_into_notification_config_item

    invoking = json.loads(event["invokingEvent"])
    summary = invoking["configurationItemSummary"]
    factory = ClientFactory(
        role_arn=rule.get_execution_role_arn(event),
        region=rule.get_assume_role_region(event),
        assume_role_mode=rule.get_assume_role_mode(event),
    )
    with translated("GetResourceConfigHistory", summary.get("resourceName")):
        history = factory.build_client("config").get_resource_config_history(
            resourceType=summary["resourceType"], resourceId=summary["resourceId"], limit=1
        )
    checked = checked_history_item(summary, history)
    if _not_recorded({"configurationItem": checked}):
        return None
    item = convert_into_notification_config_item(checked)
    change = {
        "configurationItem": item,
        "notificationCreationTime": invoking["notificationCreationTime"],
        "messageType": CHANGE,
        "recordVersion": invoking["recordVersion"],
    }
    return {**event, "invokingEvent": json.dumps(change, default=_iso)}


def _iso(value: object) -> str:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON")


def lambda_handler(event: dict[str, Any], context: Any) -> list[dict[str, Any]]:
    """Evaluate, or raise: Config then shows a failed invocation and Lambda counts an error."""
    message_type = validate_event(event)
    invoking = json.loads(event["invokingEvent"])  # validated: a JSON object
    if message_type != SCHEDULED and _not_recorded(invoking):
        return []
    session = configured_session()
    store = ChangeStore.from_env(lambda: session.client("dynamodb"))
    now = datetime.now(UTC)
    run = run_id(event["resultToken"])
    if message_type != SCHEDULED and not triage(invoking, store, now, run):
        return []
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    deadline = Deadline(remaining)
    with counted_calls(session) as calls, budgeted(session, WriteBudget(remaining)) as budget:
        rule = IAM_USER_CONSOLE_MFA(deadline, store=store, calls=calls, budget=budget, run=run)
        if message_type == OVERSIZED:
            inflated_event = inflated(event, rule)
            if inflated_event is None:
                return []
            event = inflated_event
        result = Evaluator(rule, APPLICABLE_RESOURCES).handle(event, context)
    if isinstance(result, dict):
        # rdklib returns AWS errors and parameter errors instead of raising them.
        fields = ("customerErrorCode", "customerErrorMessage", "internalErrorMessage", "internalErrorDetails")
        raise RuleInvocationFailed("; ".join(str(result[f]) for f in fields if result.get(f)))
    # Config's results are written: findings follow, and their failure is logged, not raised.
    if rule.assessments and rule.parameters.security_hub_findings:
        from console_mfa.securityhub import publish_findings

        hub = rule.client_factory.build_client("securityhub")
        rule_arn = event.get("configRuleArn")
        sweep = message_type == SCHEDULED
        publish_findings(hub, rule_arn, event["configRuleName"], rule.assessments, now, deadline, sweep)
    evaluations: list[dict[str, Any]] = result
    return evaluations


def _not_recorded(invoking_event: dict[str, Any]) -> bool:
    """Config invokes the rule for items a recorder does not record (IAM users outside the
    region that records global types): rdklib would write NOT_APPLICABLE over the verdict of
    the region that does. Nothing is written."""
    status = not_recorded(invoking_event)
    if status:
        LOG.info("nothing evaluated: the configuration item is %s", status, extra={"skipped": status})
    return status is not None
