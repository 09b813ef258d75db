"""A sweep writes only the evaluations that changed (console_mfa.writes, console_mfa.recorded).

Config's GetComplianceDetailsByConfigRule is not in moto: LocalConfig answers it from what
the rule wrote before, paged by NextToken at most 100 a page and with ResultRecordedTime, as
Config does; a test moves those times into the past to cross RefreshDays.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from console_mfa.aws import configured_session
from console_mfa.decision import decide
from console_mfa.errors import AwsCallFailed, InvalidRuleParameter
from console_mfa.model import (
    Compliance,
    LastUse,
    MfaKind,
    Reason,
    UserFacts,
    UserId,
    UserName,
    UserRef,
    Verdict,
)
from console_mfa.policy import RuleParameters, parse_policy
from console_mfa.writes import DELETED, Recorded, plan_writes
from IAM_USER_CONSOLE_MFA import lambda_handler

from iam_console_mfa.demo.account import Mfa, create_user, enable_mfa
from iam_console_mfa.event_builders import scheduled_event
from iam_console_mfa.local_config import LocalConfig
from tests.support import REAL_TOKEN, fail_operation

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
PARAMETERS = {"AssumeRoleMode": "False", "ExemptTag": "BreakGlass", "DataSource": "live"}
NO_MFA = Verdict(
    Compliance.NON_COMPLIANT,
    Reason.NO_MFA,
    "bob: console password without MFA (password set 2026-01-01",
    "bob: console password without MFA (password set 2026-01-01",
)


def verdict(annotation_tail: str = ", last used 2026-11-20). Enable...") -> Verdict:
    return NO_MFA._replace(annotation=NO_MFA.annotation + annotation_tail)


def held(v: Verdict, days_ago: float) -> Recorded:
    return Recorded(v.compliance, v.annotation, NOW - timedelta(days=days_ago))


def test_plan_writes_new_changed_refreshed_and_deleted_only() -> None:
    same, drifted, changed, stale, new = (UserId(u) for u in ("same", "drifted", "changed", "stale", "new"))
    compliant = Verdict(
        Compliance.COMPLIANT,
        Reason.MFA,
        "bob: console password with 1 MFA device (1 virtual)",
        "bob: console password with ",
    )
    recorded = {
        same: held(verdict(), 1),
        drifted: held(verdict(", never used). Enable..."), 1),  # only the last-use part differs
        changed: held(compliant, 1),
        stale: held(verdict(), 7),  # exactly RefreshDays old: rewritten
        UserId("gone"): held(verdict(), 1),
        UserId("gone-already"): Recorded(Compliance.NOT_APPLICABLE, DELETED, NOW - timedelta(days=30)),
    }
    plan = plan_writes(
        [(same, verdict()), (drifted, verdict()), (changed, verdict()), (stale, verdict()), (new, verdict())],
        recorded,
        NOW,
        refresh_days=7,
        listed_at=NOW,
    )
    assert {(w.user_id, w.why) for w in plan.writes} == {
        (changed, "changed"),
        (stale, "refresh"),
        (new, "new"),
        (UserId("gone"), "deleted"),
    }
    (deleted,) = [w for w in plan.writes if w.why == "deleted"]
    assert (deleted.compliance, deleted.annotation) == (Compliance.NOT_APPLICABLE, DELETED)
    assert plan.counts() == {"new": 1, "changed": 1, "refresh": 1, "deleted": 1, "unchanged": 2}


def test_the_data_sources_way_of_describing_mfa_is_not_a_change() -> None:
    """A sweep on the report path after one on the live path (or back) rewrites no MFA user."""
    user = UserId("u")
    bob = UserRef(user, UserName("bob"))
    two = (MfaKind.VIRTUAL, MfaKind.FIDO)
    live = decide(UserFacts(bob, NOW, two), RuleParameters(), NOW)
    report = decide(UserFacts(bob, NOW, (MfaKind.REPORTED,)), RuleParameters(), NOW)
    assert live.annotation != report.annotation
    assert plan([(user, report)], {user: held(live, 1)}).writes == []
    renamed = decide(UserFacts(UserRef(user, UserName("robert")), NOW, two), RuleParameters(), NOW)
    assert plan([(user, renamed)], {user: held(live, 1)}).writes != []


BOB = UserRef(UserId("AIDABOB"), UserName("bob"))


FACTS = {  # every row of the decision table, with what may vary while the verdict does not
    Reason.NO_PASSWORD: lambda last_used, kinds: UserFacts(BOB, None, (), last_used),
    Reason.MFA: lambda last_used, kinds: UserFacts(BOB, NOW - timedelta(days=90), kinds, last_used),
    Reason.EXEMPT: lambda last_used, kinds: UserFacts(
        BOB, NOW - timedelta(days=90), (), last_used, {"BreakGlass": "y"}
    ),
    Reason.GRACE: lambda last_used, kinds: UserFacts(BOB, NOW - timedelta(days=1), (), last_used, {}),
    Reason.NO_MFA: lambda last_used, kinds: UserFacts(BOB, NOW - timedelta(days=90), (), last_used, {}),
}


@pytest.mark.parametrize("reason", list(Reason))
def test_every_verdict_is_compared_by_the_key_its_annotation_begins_with(reason: Reason) -> None:
    """The annotation is rendered from the key; what follows it (last use, how MFA is described)
    is never a change, and anything in the key (name, reason, dates, exemption) always is."""
    policy = RuleParameters(
        exempt_tag=parse_policy({"ExemptTag": "BreakGlass"}).exempt_tag, grace_period_days=7
    )
    build = FACTS[reason]
    first = decide(build(NOW - timedelta(days=3), (MfaKind.VIRTUAL,)), policy, NOW)
    drifted = decide(build(LastUse.NEVER, (MfaKind.REPORTED,)), policy, NOW)
    assert first.reason is drifted.reason is reason
    assert first.annotation.startswith(first.key) and drifted.annotation.startswith(drifted.key)
    user = UserId("AIDABOB")
    assert plan([(user, drifted)], {user: held(first, 1)}).writes == []
    other = decide(
        build(LastUse.NEVER, (MfaKind.VIRTUAL,))._replace(user=UserRef(user, UserName("bobby"))), policy, NOW
    )
    assert [w.why for w in plan([(user, other)], {user: held(first, 1)}).writes] == ["changed"]


def test_the_same_annotation_under_another_compliance_type_is_rewritten() -> None:
    """Config holds what an earlier version of the rule (or a hand-made evaluation) wrote: the
    text alone does not make a result current, its compliance type must agree too."""
    bob = UserId("bob")
    plan = plan_writes(
        [(bob, verdict())], {bob: held(verdict()._replace(compliance=Compliance.COMPLIANT), 1)}, NOW, 7, NOW
    )
    assert [(w.user_id, w.compliance, w.why) for w in plan.writes] == [
        (bob, Compliance.NON_COMPLIANT, "changed")
    ]


def plan(verdicts, recorded):
    """A plan at NOW with RefreshDays 7, for users listed at NOW."""
    return plan_writes(verdicts, recorded, NOW, refresh_days=7, listed_at=NOW)


def test_an_unlisted_user_is_deleted_only_when_its_result_predates_the_listing() -> None:
    """A user created while the sweep ran (after ListUsers) is not in the listing, but its
    change-triggered result is newer than the listing: it is left alone, not called deleted.
    Config's clock and ours may differ: a result within 5 minutes of the listing is newer."""
    created, gone = UserId("created-meanwhile"), UserId("gone")
    listed_at = NOW - timedelta(minutes=1)
    recorded = {
        created: Recorded(Compliance.NON_COMPLIANT, "created: no MFA", listed_at + timedelta(seconds=30)),
        gone: Recorded(Compliance.NON_COMPLIANT, "gone: no MFA", listed_at - timedelta(minutes=5, seconds=1)),
        UserId("edge"): Recorded(Compliance.COMPLIANT, "edge", listed_at - timedelta(minutes=5)),
    }
    plan = plan_writes([], recorded, NOW, 7, listed_at=listed_at)
    assert [(w.user_id, w.annotation, w.why) for w in plan.writes] == [(gone, DELETED, "deleted")]


def test_a_result_just_younger_than_refresh_days_is_not_rewritten() -> None:
    user = UserId("u")
    younger = plan_writes(
        [(user, verdict())], {user: held(verdict(), 7 - 1 / 86400)}, NOW, refresh_days=7, listed_at=NOW
    )
    assert younger.writes == [] and younger.unchanged == 1


def sweep(config: LocalConfig) -> set[str]:
    """One scheduled invocation; the UserIds it wrote."""
    before = len(config.evaluations)
    lambda_handler(scheduled_event(PARAMETERS, REAL_TOKEN), None)
    return {e["ComplianceResourceId"] for e in config.evaluations[before:]}


@pytest.fixture
def account_with_results(iam: Any, config_api: LocalConfig) -> dict[str, dict[str, Any]]:
    users = {
        "enrols": create_user(iam, "enrols"),
        "loses-mfa": create_user(iam, "loses-mfa", mfa=Mfa.VIRTUAL),
        "loses-password": create_user(iam, "loses-password"),
        "exempted": create_user(iam, "exempted"),
        "deleted": create_user(iam, "deleted", mfa=Mfa.VIRTUAL),
        "steady": create_user(iam, "steady", mfa=Mfa.HARDWARE),
    }
    assert sweep(config_api) == {u["UserId"] for u in users.values()}  # the first sweep writes everyone
    return users


def test_second_sweep_on_an_unchanged_account_writes_nothing(
    account_with_results: dict, config_api: Any
) -> None:
    assert sweep(config_api) == set()
    # rdklib's own clean-up did not run: every read is ours, asking for all three types
    reads = config_api.requests["GetComplianceDetailsByConfigRule"]
    assert len(reads) == 2
    assert all(set(r["ComplianceTypes"]) == {"COMPLIANT", "NON_COMPLIANT", "NOT_APPLICABLE"} for r in reads)


def test_only_the_users_that_changed_are_written(iam: Any, account_with_results: dict, config_api: Any) -> None:
    users = account_with_results
    enable_mfa(iam, users["enrols"], Mfa.VIRTUAL)
    (device,) = iam.list_mfa_devices(UserName="loses-mfa")["MFADevices"]
    iam.deactivate_mfa_device(UserName="loses-mfa", SerialNumber=device["SerialNumber"])
    iam.delete_login_profile(UserName="loses-password")
    iam.tag_user(UserName="exempted", Tags=[{"Key": "BreakGlass", "Value": "yes"}])
    iam.deactivate_mfa_device(
        UserName="deleted",
        SerialNumber=iam.list_mfa_devices(UserName="deleted")["MFADevices"][0]["SerialNumber"],
    )
    iam.delete_login_profile(UserName="deleted")
    iam.delete_user(UserName="deleted")
    newcomer = create_user(iam, "newcomer")
    changed = {"enrols", "loses-mfa", "loses-password", "exempted", "deleted"}
    config_api.age(1)  # the next day's sweep: "deleted"'s result predates its listing
    assert sweep(config_api) == {users[n]["UserId"] for n in changed} | {newcomer["UserId"]}
    results = config_api.results
    assert results[users["deleted"]["UserId"]]["ComplianceType"] == "NOT_APPLICABLE"
    assert results[users["enrols"]["UserId"]]["ComplianceType"] == "COMPLIANT"
    assert results[users["loses-mfa"]["UserId"]]["ComplianceType"] == "NON_COMPLIANT"


@pytest.mark.parametrize(("days", "rewritten"), [(7, True), (6.99, False)])
def test_results_older_than_refresh_days_are_written_again(
    account_with_results: dict, config_api: LocalConfig, days: float, rewritten: bool
) -> None:
    config_api.age(days)
    written = sweep(config_api)
    assert written == ({u["UserId"] for u in account_with_results.values()} if rewritten else set())


def test_the_read_pages_through_every_result(iam: Any, config_api: LocalConfig) -> None:
    for i in range(150):
        create_user(iam, f"user{i:03}", password=False)
    assert len(sweep(config_api)) == 150
    assert sweep(config_api) == set()
    reads = config_api.requests["GetComplianceDetailsByConfigRule"][-2:]  # the second sweep: 2 pages
    assert [r.get("NextToken") for r in reads] == [None, "100"]
    assert all(r["Limit"] == 100 for r in reads)


def test_a_failed_read_fails_loudly_and_writes_nothing(iam: Any, config_api: LocalConfig) -> None:
    create_user(iam, "bob")
    fail_operation(
        configured_session(), "config-service", "GetComplianceDetailsByConfigRule", "ThrottlingException"
    )
    with pytest.raises(AwsCallFailed, match="GetComplianceDetailsByConfigRule failed: ThrottlingException"):
        lambda_handler(scheduled_event(PARAMETERS, REAL_TOKEN), None)
    assert "PutEvaluations" not in config_api.requests


@pytest.mark.parametrize("value", ["0", "91", "7.5", "-1", "07", "seven"])
def test_refresh_days_are_whole_days_from_1_to_90(value: str) -> None:
    with pytest.raises(InvalidRuleParameter, match=f"Invalid rule parameter RefreshDays='{value}'.*1 to 90"):
        parse_policy({"RefreshDays": value})
    assert parse_policy({"RefreshDays": "90"}).refresh_days == 90
    assert parse_policy({}).refresh_days == 7


@pytest.mark.parametrize(("refresh_days", "rewritten"), [("1", 3), ("7", 0)])
def test_the_lambda_uses_the_rules_refresh_days(
    iam: Any, config_api: LocalConfig, refresh_days: str, rewritten: int
) -> None:
    """Results recorded 2 days ago: due with RefreshDays=1, not with 7 (not only the parser's value)."""
    for name in ("a", "b", "c"):
        create_user(iam, name, mfa=Mfa.VIRTUAL)
    lambda_handler(scheduled_event({**PARAMETERS, "RefreshDays": refresh_days}, REAL_TOKEN), None)
    config_api.age(days=2)
    before = len(config_api.evaluations)
    lambda_handler(scheduled_event({**PARAMETERS, "RefreshDays": refresh_days}, REAL_TOKEN), None)
    assert len(config_api.evaluations) - before == rewritten


def test_results_of_other_resource_types_are_not_this_rules(config_api: LocalConfig) -> None:
    from console_mfa.recorded import recorded_results

    config_api.results["AIDAUSER"] = {
        "ComplianceResourceType": "AWS::IAM::User",
        "ComplianceResourceId": "AIDAUSER",
        "ComplianceType": "COMPLIANT",
    }
    config_api.results["AROAROLE"] = {
        "ComplianceResourceType": "AWS::IAM::Role",
        "ComplianceResourceId": "AROAROLE",
        "ComplianceType": "COMPLIANT",
    }
    config_api.recorded_at.update({"AIDAUSER": NOW, "AROAROLE": NOW})
    config = configured_session().client("config")
    assert set(recorded_results(config, "IAM_USER_CONSOLE_MFA")) == {"AIDAUSER"}


@pytest.mark.parametrize("source", ["live", "credential-report"])
def test_a_user_created_while_a_sweep_runs_keeps_its_change_triggered_verdict(
    iam: Any, config_api: LocalConfig, source: str
) -> None:
    """newcomer is created right after ListUsers answered, and Config's change-triggered
    NON_COMPLIANT lands before the sweep reads Config's results: the sweep does not know the
    user, and must not write "the user no longer exists" over that verdict."""
    from iam_console_mfa.event_builders import change_event, user_configuration_item

    create_user(iam, "steady", mfa=Mfa.VIRTUAL)
    created: list[dict[str, Any]] = []

    def create_newcomer(**_: Any) -> None:
        if not created:  # once: the change-triggered evaluation below lists no users
            created.append(create_user(iam, "newcomer"))
            item = user_configuration_item(created[0])
            lambda_handler(change_event(item, {**PARAMETERS, "DataSource": source}, REAL_TOKEN), None)

    configured_session().events.register("after-call.iam.ListUsers", create_newcomer)
    lambda_handler(scheduled_event({**PARAMETERS, "DataSource": source}, REAL_TOKEN), None)
    (newcomer,) = created
    assert config_api.results[newcomer["UserId"]]["ComplianceType"] == "NON_COMPLIANT"
    assert DELETED not in {e.get("Annotation") for e in config_api.evaluations}


def test_a_reset_password_is_rewritten_at_once_not_at_the_next_refresh() -> None:
    """The password's date is part of the key: a user whose console password was deleted and
    set again (a new grace period, a new date to act on) is written in the next sweep, not
    RefreshDays later; only the last-use date may lag."""
    before = decide(
        UserFacts(BOB, NOW - timedelta(days=90), (), NOW - timedelta(days=2), {}), RuleParameters(), NOW
    )
    reset = decide(
        UserFacts(BOB, NOW - timedelta(days=40), (), NOW - timedelta(days=2), {}), RuleParameters(), NOW
    )
    used = decide(
        UserFacts(BOB, NOW - timedelta(days=90), (), NOW - timedelta(hours=1), {}), RuleParameters(), NOW
    )
    assert before.compliance is reset.compliance is Compliance.NON_COMPLIANT
    assert [w.why for w in plan([(BOB.user_id, reset)], {BOB.user_id: held(before, 1)}).writes] == ["changed"]
    assert plan([(BOB.user_id, used)], {BOB.user_id: held(before, 1)}).writes == []
