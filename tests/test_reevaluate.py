"""The near-real-time trigger: IAM change events -> the change store -> one
StartConfigRulesEvaluation per burst, retried by a delayed message when Config refuses.

moto has no StartConfigRulesEvaluation: tests/config_double.py answers it as Config documents
(LimitExceededException while an evaluation is in progress or within a minute of the last
start). DynamoDB and SQS are moto's; the queue's delivery (batching window, delayed messages)
is simulated here on a test clock from the SendMessage requests the trigger makes.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from console_mfa.aws import configured_session
from console_mfa.changes import epoch_ms
from console_mfa.errors import AwsCallFailed
from console_mfa.model import UserName
from console_mfa.permissions import REEVALUATE_ACTIONS
from console_mfa.reevaluate import RETRY_BODY, START_INTERVAL_MS, TriggerStore, handler
from console_mfa.trail import VERDICT_EVENTS

from tests.config_double import Behaviour, ConfigDouble, create_changes_table, iam_event, sqs_batch
from tests.stacks import STACKS

RULE = STACKS["rule.yaml"]["Resources"]
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class Queue:
    """Lambda's view of the SQS queue on a test clock: the trigger's delayed retry messages
    arrive when their DelaySeconds have passed."""

    def __init__(self, session: Any) -> None:
        self.now = T0
        self.sent: list[tuple[datetime, dict[str, Any]]] = []
        session.events.register("provide-client-params.sqs.SendMessage", self._sent)

    def _sent(self, params: dict[str, Any], **_: Any) -> None:
        self.sent.append((self.now + timedelta(seconds=params.get("DelaySeconds", 0)), params))

    def due(self) -> list[dict[str, Any]]:
        ready = [p for at, p in self.sent if at <= self.now]
        self.sent = [(at, p) for at, p in self.sent if at > self.now]
        return [json.loads(p["MessageBody"]) for p in ready]


@pytest.fixture
def env(account: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    session = configured_session()
    monkeypatch.setenv("CONFIG_RULE_NAME", "IAM_USER_CONSOLE_MFA")
    monkeypatch.setenv("CHANGES_TABLE", create_changes_table(session))
    sqs = session.client("sqs", region_name="us-east-1")
    monkeypatch.setenv("QUEUE_URL", sqs.create_queue(QueueName="reevaluation")["QueueUrl"])
    queue = Queue(session)  # hooks first: a client copies the session's hooks when it is made
    double = ConfigDouble(session, Behaviour.S1, {}, clock=lambda: queue.now, run_seconds=90)
    clients: dict[str, Any] = {
        "config": session.client("config", region_name="us-east-1"),
        "dynamodb": session.client("dynamodb", region_name="us-east-1"),
        "sqs": session.client("sqs", region_name="us-east-1"),
    }
    store = TriggerStore(clients["dynamodb"], "changes")
    return {"session": session, "clients": clients, "queue": queue, "double": double, "store": store}


def run(env: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    queue = env["queue"]
    return handler(sqs_batch(events), None, env["clients"], lambda: queue.now)


@pytest.mark.parametrize("events", [1, 50])
def test_a_batch_records_its_users_and_starts_one_evaluation(env: dict[str, Any], events: int) -> None:
    batch = [iam_event("CreateLoginProfile", userName=f"new-hire-{i}") for i in range(events)]
    assert run(env, batch) == {"batchItemFailures": []}
    assert env["double"].accepted == [T0]
    assert {c.user_name for c in env["store"].changes(T0)} == {f"new-hire-{i}" for i in range(events)}


def test_each_batch_logs_one_structured_summary(env: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    """rule.yaml's LoggingConfig JSON turns the record's extra field into a key (here it is the
    record's attribute): which users a batch named and what became of the start."""
    events = [iam_event("CreateLoginProfile", userName=n) for n in ("bob", "carol")]
    with caplog.at_level(logging.INFO):
        run(env, [*events, {"not": "an EventBridge event"}])
    (batch,) = [vars(r)["batch"] for r in caplog.records if hasattr(r, "batch")]
    assert (batch["events"], batch["users"], batch["start"], len(batch["failed"])) == (
        2,
        ["bob", "carol"],
        "started",
        1,
    )
    function = STACKS["rule.yaml"]["Resources"]["ReevaluateFunction"]["Properties"]
    assert function["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": {"Ref": "ReevaluateLogGroup"}}


def test_a_virtual_device_names_its_user_and_names_are_keyed_case_insensitively(env: dict[str, Any]) -> None:
    serial = "arn:aws:iam::123456789012:mfa/Bob"
    run(
        env,
        [
            iam_event("DeleteVirtualMFADevice", serialNumber=serial),
            iam_event("DeleteLoginProfile", userName="bob"),
        ],
    )
    (change,) = env["store"].changes(T0)
    assert change.user_name.lower() == "bob"


def test_a_busy_rule_gets_one_delayed_retry_and_no_failed_record(env: dict[str, Any]) -> None:
    queue, double = env["queue"], env["double"]
    double.accepted.append(T0 - timedelta(seconds=30))  # an evaluation in progress
    assert run(env, [iam_event("CreateLoginProfile", userName="bob")]) == {"batchItemFailures": []}
    assert double.refused == 1 and len(queue.sent) == 1
    assert queue.sent[0][1]["DelaySeconds"] == 120 and json.loads(queue.sent[0][1]["MessageBody"]) == RETRY_BODY
    run(env, [iam_event("CreateLoginProfile", userName="carol")])  # within the 3-minute interval
    assert len(queue.sent) == 1  # one retry pending is enough
    queue.now += timedelta(seconds=120)
    assert queue.due() == [RETRY_BODY]
    run(env, [RETRY_BODY])
    assert double.accepted[-1] == queue.now  # the retry started it


def test_a_retry_after_an_accepted_start_does_nothing(env: dict[str, Any]) -> None:
    queue, double = env["queue"], env["double"]
    run(env, [iam_event("CreateLoginProfile", userName="bob")])
    queue.now += timedelta(minutes=5)
    run(env, [RETRY_BODY])  # every change was recorded before the last accepted start
    assert len(double.accepted) == 1 and double.refused == 0 and queue.sent == []


def test_records_that_name_no_user_are_reported_and_the_rest_proceed(env: dict[str, Any]) -> None:
    mq = iam_event("CreateUser", username="broker-user")
    mq["detail"]["eventSource"] = "mq.amazonaws.com"  # not IAM's: ignored, not failed
    answer = handler(
        {
            "Records": [
                {"messageId": "bad-json", "body": "{not json"},
                {"messageId": "no-user", "body": json.dumps(iam_event("CreateLoginProfile"))},
                {"messageId": "mq", "body": json.dumps(mq)},
                {"messageId": "ok", "body": json.dumps(iam_event("CreateLoginProfile", userName="bob"))},
            ]
        },
        None,
        env["clients"],
        lambda: env["queue"].now,
    )
    assert answer == {"batchItemFailures": [{"itemIdentifier": "bad-json"}, {"itemIdentifier": "no-user"}]}
    assert [c.user_name for c in env["store"].changes(T0)] == ["bob"]


@pytest.mark.parametrize("name", ["", "a" * 65, "bob/../x", "bob smith", "#trigger", 7])
def test_a_forged_record_with_a_name_iam_cannot_have_fails_alone(env: dict[str, Any], name: Any) -> None:
    """Anyone allowed to send to the queue can forge a record: an empty, over-long or
    ill-formed user name fails that record only (to the dead letters); its batch-mates are
    recorded and the evaluation is started."""
    forged = iam_event("CreateLoginProfile")
    forged["detail"]["requestParameters"] = {"userName": name}
    answer = handler(
        {
            "Records": [
                {"messageId": "forged", "body": json.dumps(forged)},
                {"messageId": "ok", "body": json.dumps(iam_event("CreateLoginProfile", userName="bob"))},
            ]
        },
        None,
        env["clients"],
        lambda: env["queue"].now,
    )
    assert answer == {"batchItemFailures": [{"itemIdentifier": "forged"}]}
    assert [c.user_name for c in env["store"].changes(T0)] == ["bob"]
    assert env["store"].trigger_state().started > 0


def test_a_self_service_change_names_its_caller_and_failed_or_root_calls_are_ignored(
    env: dict[str, Any],
) -> None:
    """bob deactivates his own device (named "phone"): the store records bob. A failed call and
    the root user's own change name no IAM user to read, and no record goes to the dead letters."""
    bob = {"type": "IAMUser", "userName": "bob"}
    role = {"type": "AssumedRole", "arn": "arn:aws:sts::123456789012:assumed-role/admin/s"}
    events = [
        iam_event("DeactivateMFADevice", caller=bob, serialNumber="arn:aws:iam::123456789012:mfa/phone"),
        iam_event("DeleteLoginProfile", caller=role, error_code="NoSuchEntity"),
        iam_event("DeleteLoginProfile", caller={"type": "Root", "arn": "arn:aws:iam::123456789012:root"}),
    ]
    assert run(env, events) == {"batchItemFailures": []}
    assert [c.user_name for c in env["store"].changes(T0)] == ["bob"]


def test_any_other_start_error_fails_the_batch_loudly(env: dict[str, Any]) -> None:
    env["double"].fail_with = "AccessDeniedException"
    with pytest.raises(AwsCallFailed, match="StartConfigRulesEvaluation failed: AccessDeniedException"):
        run(env, [iam_event("CreateLoginProfile", userName="bob")])


def test_a_start_is_due_again_exactly_one_interval_after_the_last(env: dict[str, Any]) -> None:
    queue, double = env["queue"], env["double"]
    run(env, [iam_event("CreateLoginProfile", userName="bob")])
    queue.now += timedelta(milliseconds=START_INTERVAL_MS)
    run(env, [iam_event("CreateLoginProfile", userName="carol")])
    assert double.accepted == [T0, queue.now] and queue.sent == []


def test_a_retry_that_finds_config_still_busy_schedules_the_next_one(env: dict[str, Any]) -> None:
    """The retry message that is due now is not "pending": if Config is still busy when it
    arrives, it must leave a successor, or the change waits for the next IAM event."""
    queue, double = env["queue"], env["double"]
    double.run_seconds = 300  # a long evaluation, in progress since 30 s ago
    double.accepted.append(T0 - timedelta(seconds=30))
    run(env, [iam_event("CreateLoginProfile", userName="bob")])
    while not double.accepted[-1] > T0:
        queue.now = min(at for at, _ in queue.sent)  # the next retry, exactly when it is due
        run(env, queue.due())
    assert double.accepted[-1] == T0 + timedelta(seconds=360) and double.refused == 3
    assert queue.sent == []


def test_a_deferred_start_is_retried_once_on_a_whole_second_past_the_interval(env: dict[str, Any]) -> None:
    """SQS delays are whole seconds: rounding up brings the retry after the interval, so it
    starts the evaluation instead of being deferred once more."""
    queue, double = env["queue"], env["double"]
    run(env, [iam_event("CreateLoginProfile", userName="bob")])
    queue.now += timedelta(seconds=10.5)
    run(env, [iam_event("CreateLoginProfile", userName="carol")])
    ((due, message),) = queue.sent
    assert message["DelaySeconds"] == 170  # 169.5 s to the end of the interval, rounded up
    queue.now = due
    run(env, queue.due())
    assert double.accepted == [T0, due] and queue.sent == []


def test_a_change_recorded_while_a_start_is_requested_is_not_covered_by_it(env: dict[str, Any]) -> None:
    """Another invocation records carol while this one's StartConfigRulesEvaluation is on its
    way: that evaluation may already be reading the table, so carol needs a start of her own."""
    queue, store = env["queue"], env["store"]

    def meanwhile(**_: Any) -> None:
        queue.now += timedelta(seconds=1)
        store.record([UserName("carol")], lambda: queue.now)

    env["session"].events.register("provide-client-params.config-service.StartConfigRulesEvaluation", meanwhile)
    env["clients"]["config"] = env["session"].client("config", region_name="us-east-1")
    run(env, [iam_event("CreateLoginProfile", userName="bob")])
    state = store.trigger_state()
    assert state.started == epoch_ms(T0) and state.recorded > state.started


def test_a_start_requested_while_users_are_being_recorded_leaves_them_uncovered(env: dict[str, Any]) -> None:
    """The batch's recorded time is taken after its writes: a start another invocation got
    accepted in the middle of them (it may have read the table before the last write) does not
    count as covering them."""
    queue, store = env["queue"], env["store"]
    writes = 0

    def slow_write(**_: Any) -> None:
        nonlocal writes
        writes += 1
        queue.now += timedelta(seconds=1)
        if writes == 2:  # the other invocation's accepted start
            store.mark_started(epoch_ms(queue.now))

    env["session"].events.register("provide-client-params.dynamodb.UpdateItem", slow_write)
    env["clients"]["dynamodb"] = env["session"].client("dynamodb", region_name="us-east-1")
    run(env, [iam_event("CreateLoginProfile", userName=n) for n in ("ann", "ben", "cat")])
    state = store.trigger_state()
    assert state.recorded > state.started  # not covered: a retry is on its way
    assert [json.loads(m["MessageBody"]) for _, m in queue.sent] == [RETRY_BODY]


def test_a_rule_in_use_is_busy_too(env: dict[str, Any]) -> None:
    """StartConfigRulesEvaluation's documented ResourceInUseException (the rule is being
    deleted, or is deleting its results): try again later, like LimitExceededException."""
    queue, double = env["queue"], env["double"]
    double.fail_with = "ResourceInUseException"
    assert run(env, [iam_event("CreateLoginProfile", userName="bob")]) == {"batchItemFailures": []}
    assert double.accepted == [] and [json.loads(m["MessageBody"]) for _, m in queue.sent] == [RETRY_BODY]


def test_a_burst_of_1000_events_over_10_minutes_costs_a_handful_of_starts(env: dict[str, Any]) -> None:
    """One batch a minute (the 60 s batching window), 100 events each; Config busy 90 s per run."""
    queue, double, store = env["queue"], env["double"], env["store"]
    failures = 0
    for second in range(0, 20 * 60, 10):
        queue.now = T0 + timedelta(seconds=second)
        events: list[dict[str, Any]] = list(queue.due())
        if second % 60 == 0 and second < 600:
            events += [iam_event("CreateLoginProfile", userName=f"u{second}-{i}") for i in range(100)]
        if events:
            failures += len(run(env, events)["batchItemFailures"])
    assert failures == 0  # nothing towards the dead-letter queue
    assert 2 <= len(double.accepted) <= 5, double.accepted
    assert double.refused <= 3 and queue.sent == []  # no retry loop left running
    state = store.trigger_state()
    assert state.started >= state.recorded  # the last change is covered by an accepted start
    assert len(store.changes(queue.now)) == 1000


def test_the_stack_wires_the_events_the_delta_reads_and_coalesces_bursts() -> None:
    pattern = RULE["IamChangeEvents"]["Properties"]["EventPattern"]
    assert pattern["detail-type"] == ["AWS API Call via CloudTrail"]
    assert set(pattern["detail"]["eventName"]) == set(VERDICT_EVENTS)  # one list of events, two uses
    mapping = RULE["ReevaluateBatches"]["Properties"]
    assert mapping["MaximumBatchingWindowInSeconds"] == 60 and mapping["BatchSize"] >= 50
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": 2}  # not a reserved concurrency
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    function = RULE["ReevaluateFunction"]["Properties"]
    assert "ReservedConcurrentExecutions" not in function
    assert function["Handler"] == "console_mfa.reevaluate.handler"
    assert function["Environment"]["Variables"] == {
        "CONFIG_RULE_NAME": {"Ref": "RuleName"},
        "CHANGES_TABLE": {"Ref": "ChangesTable"},
        "QUEUE_URL": {"Ref": "ReevaluationQueue"},
    }
    assert RULE["ReevaluationQueue"]["Properties"]["VisibilityTimeout"] >= 6 * function["Timeout"]
    redrive = RULE["ReevaluationQueue"]["Properties"]["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["ReevaluationDeadLetters", "Arn"]}
    alarm = RULE["ReevaluationDeadLettersAlarm"]["Properties"]
    assert alarm["Dimensions"][0]["Value"] == {"Fn::GetAtt": ["ReevaluationDeadLetters", "QueueName"]}
    (send,) = RULE["ReevaluationQueuePolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert send["Principal"] == {"Service": "events.amazonaws.com"}
    assert send["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": ["IamChangeEvents", "Arn"]}
    assert send["Condition"]["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}
    for name in (
        "IamChangeEvents",
        "ReevaluationQueue",
        "ReevaluateFunction",
        "ReevaluateBatches",
        "ChangesTable",
    ):
        assert RULE[name]["Condition"] == "WithReevaluation"


def test_the_reevaluate_role_grants_exactly_what_the_trigger_calls(env: dict[str, Any]) -> None:
    called: set[str] = set()
    for client in env["clients"].values():
        client.meta.events.register(
            "provide-client-params",
            lambda model, **_: called.add(f"{model.service_model.signing_name}:{model.name}"),
        )
    env["double"].accepted.append(T0 - timedelta(seconds=30))  # busy: the retry message too
    run(env, [iam_event("CreateLoginProfile", userName="bob")])
    env["queue"].now += timedelta(minutes=3)
    run(env, [RETRY_BODY])
    statements = [
        *RULE["ReevaluateRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"],
        *RULE["TriggerPolicy"]["Properties"]["PolicyDocument"]["Statement"],
    ]
    assert RULE["TriggerPolicy"]["Properties"]["RoleName"] == {"Ref": "ReevaluateRole"}
    start = [s for s in statements if s["Action"] == ["config:StartConfigRulesEvaluation"]]
    assert [s["Resource"] for s in start] == [{"Fn::GetAtt": ["ConfigRule", "Arn"]}]  # this rule only
    granted = {a for s in statements for a in s["Action"] if not a.startswith("logs:")}
    granted -= {"sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage"}  # Lambda's poller
    assert called == granted == set(REEVALUATE_ACTIONS)
    table = [s for s in statements if s["Action"][0].startswith("dynamodb:")]
    assert [s["Resource"] for s in table] == [{"Fn::GetAtt": ["ChangesTable", "Arn"]}]
    queue = [s for s in statements if s["Action"][0].startswith("sqs:")]
    assert {json.dumps(s["Resource"]) for s in queue} == {
        json.dumps({"Fn::GetAtt": ["ReevaluationQueue", "Arn"]})
    }
