"""console_mfa.sweep: the time budget, the choice of data source, and the two data sources
giving the same verdicts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from console_mfa import budget, sweep
from console_mfa import credential_report as report
from console_mfa.aws import configured_session
from console_mfa.errors import OutOfTime
from console_mfa.live import LiveIam
from console_mfa.policy import DataSource, ExemptTag, RuleParameters
from console_mfa.sweep import choose_source
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from IAM_USER_CONSOLE_MFA import lambda_handler

from iam_console_mfa.demo.account import Mfa, backdate, create_user, enable_mfa
from iam_console_mfa.event_builders import ACCOUNT_ID, scheduled_event
from iam_console_mfa.local_config import LocalConfig
from tests.support import REAL_TOKEN

NOW = datetime.now(UTC)


class LambdaContext:
    def __init__(self, remaining_ms: list[int], per_call_ms: int) -> None:
        self.remaining, self.per_call = remaining_ms, per_call_ms

    def get_remaining_time_in_millis(self) -> int:
        self.remaining[0] -= self.per_call
        return self.remaining[0]


def test_sweep_fails_before_lambda_timeout_and_writes_nothing(iam: Any, config_api: LocalConfig) -> None:
    for i in range(20):
        create_user(iam, f"u{i}")
    context = LambdaContext([30_000], per_call_ms=1_000)
    with pytest.raises(OutOfTime, match=r"sweep stopped with \d+ ms left \(\d+ of 20 users inspected live\)"):
        lambda_handler(scheduled_event({"DataSource": "live"}, REAL_TOKEN), context)
    assert "PutEvaluations" not in config_api.requests


def test_auto_picks_live_up_to_20_users() -> None:
    assert choose_source(RuleParameters(), 1) is DataSource.LIVE
    assert choose_source(RuleParameters(), 20) is DataSource.LIVE
    assert choose_source(RuleParameters(), 21) is DataSource.CREDENTIAL_REPORT
    assert choose_source(RuleParameters(data_source=DataSource.LIVE), 5000) is DataSource.LIVE


def test_report_budget_is_half_the_time_the_deadline_leaves(iam: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """sweep: the credential report may use at most half of what the Lambda has left."""
    for i in range(3):
        create_user(iam, f"u{i}")
    budgets: list[float] = []

    def no_report(iam: Any, budget_seconds: float) -> None:
        budgets.append(budget_seconds)
        raise report.ReportUnavailable("not in this test")

    monkeypatch.setattr(report, "fetch_report", no_report)
    deadline = budget.Deadline(lambda: 31_000, reserve_ms=20_000)  # 11 s usable
    policy = RuleParameters(data_source=DataSource.CREDENTIAL_REPORT)
    trail = configured_session().client("cloudtrail", region_name="us-east-1")
    assessments = sweep.sweep(LiveIam(iam), policy, datetime.now(UTC), deadline, trail=trail)
    assert budgets == [5.5]
    assert len(assessments) == 3  # then the live fallback
    sweep.sweep(LiveIam(iam), policy, datetime.now(UTC), trail=trail)  # no deadline: the fixed budget
    assert budgets[1] == 90.0  # docs/decisions.md: polled up to 90 s


STATES = st.sampled_from(["none", "no-mfa", "virtual", "hardware", "fido", "svc", "tagged", "new"])


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(states=st.lists(STATES, min_size=200, max_size=220))
def test_live_and_report_sweeps_agree(states: list[str], account: None) -> None:
    from moto.core.models import DEFAULT_ACCOUNT_ID
    from moto.iam.models import iam_backends

    iam_backends[DEFAULT_ACCOUNT_ID]["global"].reset()
    iam = boto3.client("iam")
    for i, state in enumerate(states):
        name = f"svc-{i}" if state == "svc" else f"user-{i}"
        mfa = {"virtual": Mfa.VIRTUAL, "hardware": Mfa.HARDWARE, "fido": Mfa.FIDO}.get(state, Mfa.NONE)
        create_user(
            iam, name, password=state != "none", tags={"BreakGlass": "yes"} if state == "tagged" else None
        )
        if state != "new":
            backdate(ACCOUNT_ID, name, 30)
        if mfa is not Mfa.NONE:
            enable_mfa(iam, iam.get_user(UserName=name)["User"], mfa)
    base = RuleParameters(
        exempt_user_names=("svc-*",), exempt_tag=ExemptTag("BreakGlass", "yes"), grace_period_days=7
    )
    trail = configured_session().client("cloudtrail", region_name="us-east-1")
    live = {a.user.user_id: a.verdict for a in sweep.sweep(LiveIam(iam), base, NOW, trail=trail)}
    report_policy = RuleParameters(base.exempt_user_names, base.exempt_tag, 7, DataSource.CREDENTIAL_REPORT)
    from_report = {
        a.user.user_id: a.verdict for a in sweep.sweep(LiveIam(iam), report_policy, NOW, trail=trail)
    }
    assert {k: v.compliance for k, v in from_report.items()} == {k: v.compliance for k, v in live.items()}
    assert {k: v.reason for k, v in from_report.items()} == {k: v.reason for k, v in live.items()}
    assert len(live) == len(states)


@pytest.mark.parametrize("source", [DataSource.LIVE, DataSource.CREDENTIAL_REPORT])
def test_progress_counts_each_user_once_up_to_all_of_them(iam: Any, source: DataSource) -> None:
    """The CLI's progress bar: (users done, users in all) after each user, on either path."""
    create_user(iam, "alice", mfa=Mfa.VIRTUAL)
    create_user(iam, "bob")
    create_user(iam, "carol", password=False)
    seen: list[tuple[int, int]] = []
    trail = configured_session().client("cloudtrail", region_name="us-east-1")  # no IAM event since
    assessed = sweep.sweep(
        LiveIam(iam),
        RuleParameters(data_source=source),
        datetime.now(UTC),
        progress=lambda done, total: seen.append((done, total)),
        trail=trail,
    )
    assert source.value in {a.source for a in assessed}  # the report path confirms bob live
    assert seen == [(1, 3), (2, 3), (3, 3)]
