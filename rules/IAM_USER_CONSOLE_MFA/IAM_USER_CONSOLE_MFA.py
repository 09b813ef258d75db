"""AWS Config custom rule: every IAM user with a console password must have an MFA device.

Thin rdklib shell around the engine in ``console_mfa``: parse the rule parameters, collect
IAM facts, decide, and hand rdklib one Evaluation per user keyed by its UserId.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Collection
from datetime import UTC, datetime
from time import monotonic
from typing import Any

from console_mfa.aws import WriteBudget, budgeted, configured_session, counted_calls, translated
from console_mfa.changes import ChangeStore
from console_mfa.config_event import (
    CHANGE,
    OVERSIZED,
    SCHEDULED,
    checked_history_item,
    notified_user,
    user_from_configuration_item,
    validate_event,
)
from console_mfa.decision import decide
from console_mfa.errors import InvalidEvent, RuleError, UserGone
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
    ) -> None:
        super().__init__()
        self.deadline = deadline
        self.now = now
        self.store = store  # the near-real-time change store, None without it
        self.calls = calls if calls is not None else {}  # this invocation's AWS calls, for the sweep's log
        self.started = monotonic()
        self.budget = budget or WriteBudget(deadline.remaining_ms)  # checked by lambda_handler's hook

    def evaluate_parameters(self, rule_parameters: dict[str, Any]) -> RuleParameters:
        return parse_policy(rule_parameters)

    def evaluate_change(
        self,
        event: dict[str, Any],
        client_factory: Any,
        configuration_item: dict[str, Any],
        valid_rule_parameters: RuleParameters,
    ) -> list[Evaluation]:
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
        if valid_rule_parameters.security_hub_findings:
            _publish_findings(event, client_factory, [assessment], self._now())
        return [_evaluation(user.user_id, verdict.compliance, verdict.annotation)]

    def evaluate_periodic(
        self, event: dict[str, Any], client_factory: Any, valid_rule_parameters: RuleParameters
    ) -> list[Evaluation]:
        # Only sweeps need these: imported here to keep the cold start of change evaluations short.
        from console_mfa.pipeline import sweep_and_plan
        from console_mfa.pool import read_workers
        from console_mfa.trail import iam_event_region

        live = LiveIam(client_factory.build_client("iam"))
        now = self._now()
        # IAM's events are recorded in the partition's IAM region, whatever region this runs in.
        trail = client_factory.build_client(
            "cloudtrail", region=iam_event_region(os.environ.get("AWS_REGION", ""))
        )
        assessments, plan, claims, elsewhere = sweep_and_plan(
            live,
            client_factory.build_client("config"),
            event["configRuleName"],
            valid_rule_parameters,
            now,
            trail=trail,
            deadline=self.deadline,
            store=self.store,
            workers=read_workers(),
        )
        for assessment in assessments:
            log_decision(assessment)
        sources = {a.source for a in assessments}
        writes = plan.counts()
        LOG.info(
            "sweep of %d users: writes %s; %d changed user(s) claimed, %d left to another run",
            len(assessments),
            writes,
            len(claims.read_live),
            len(elsewhere),
            extra={
                "sweep": {
                    "users": len(assessments),
                    "source": "+".join(sorted(sources)) or "none",
                    "writes": writes,
                    "claimed": len(claims.read_live),
                    "left_to_another_run": len(elsewhere),
                    "seconds": round(monotonic() - self.started, 1),
                    "calls": dict(self.calls),
                }
            },
        )
        if valid_rule_parameters.security_hub_findings:
            _publish_findings(event, client_factory, assessments, now, sweep=True, keep=elsewhere)
        self.budget.expect(len(plan.writes))
        return [_evaluation(w.user_id, w.compliance, w.annotation) for w in plan.writes]

    def _now(self) -> datetime:
        return self.now or datetime.now(UTC)


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


def _publish_findings(
    event: dict[str, Any],
    client_factory: Any,
    assessments: list[Assessment],
    now: datetime,
    sweep: bool = False,
    keep: Collection[UserId] = (),
) -> None:
    """Native Security Hub findings (console_mfa.findings): open ones re-imported, fixed ones archived.

    A sweep resolves every open finding whose user is no longer flagged (deleted users too),
    except those of ``keep`` (users another run evaluates); a change evaluation only its own user's.
    """
    from console_mfa.findings import Context, finding_id, plan_findings
    from console_mfa.securityhub import import_findings, open_findings

    if "configRuleArn" not in event:
        raise InvalidEvent("Invalid Config event: event.configRuleArn is missing (needed for Security Hub)")
    _, partition, _, region, account, _ = event["configRuleArn"].split(":", 5)
    context = Context(partition, region, account, event["configRuleName"])
    hub = client_factory.build_client("securityhub")
    held = open_findings(hub, context)
    if keep:
        kept = {finding_id(context, user_id) for user_id in keep}
        held = {k: v for k, v in held.items() if k not in kept}
    if not sweep:
        wanted = {finding_id(context, a.user.user_id) for a in assessments}
        held = {k: v for k, v in held.items() if k in wanted}
    published = import_findings(hub, plan_findings(assessments, held, context, now))
    LOG.info("Security Hub: %d finding(s) imported", published)


def _evaluation(user_id: UserId, compliance: Compliance, annotation: str) -> Evaluation:
    return Evaluation(compliance.value, resourceId=user_id, resourceType=RESOURCE_TYPE, annotation=annotation)


def triage(invoking_event: dict[str, Any], store: ChangeStore | None, now: datetime) -> bool:
    """Whether a change notification is evaluated; claims the user's recorded change if any.

    A replay of an old configuration item (a re-evaluation after StartConfigRulesEvaluation:
    Config may send one per user) is evaluated only when the change store holds an unclaimed
    change of its user, and this run wins the claim: an unchanged user costs no IAM or Config
    call and no evaluation. A fresh item (created, tagged, renamed, deleted) is always evaluated.
    """
    name, replayed = notified_user(invoking_event)
    change = store.change(name) if store is not None and name is not None else None
    claimed = change is not None and change.unclaimed and store is not None and store.claim(change, now)
    if replayed and not claimed:
        LOG.info(
            "%s skipped: a re-evaluation of an old configuration item, no change recorded",
            name,
            extra={"user": name, "skipped": "re-evaluation of an old item, no change recorded"},
        )
        return False
    return True


def inflated(event: dict[str, Any], rule: IAM_USER_CONSOLE_MFA) -> dict[str, Any]:
    """An oversized notification as the change notification it stands for, its history item
    checked against its summary first (console_mfa.config_event.checked_history_item), so that
    every path after it, rdklib's deleted-item path included, sees only the summary's user."""
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
    item = convert_into_notification_config_item(checked_history_item(summary, history))
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
    session = configured_session()
    store = ChangeStore.from_env(lambda: session.client("dynamodb"))
    now = datetime.now(UTC)
    if message_type != SCHEDULED and not triage(json.loads(event["invokingEvent"]), store, now):
        return []
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    with counted_calls(session) as calls, budgeted(session, WriteBudget(remaining)) as budget:
        rule = IAM_USER_CONSOLE_MFA(Deadline(remaining), store=store, calls=calls, budget=budget)
        if message_type == OVERSIZED:
            event = inflated(event, rule)
        result = Evaluator(rule, APPLICABLE_RESOURCES).handle(event, context)
    if isinstance(result, dict):
        # rdklib returns AWS errors and parameter errors instead of raising them.
        fields = ("customerErrorCode", "customerErrorMessage", "internalErrorMessage", "internalErrorDetails")
        raise RuleInvocationFailed("; ".join(str(result[f]) for f in fields if result.get(f)))
    evaluations: list[dict[str, Any]] = result
    return evaluations
