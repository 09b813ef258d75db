"""Collector details that no end-to-end test would notice if they broke: each test fails when
the line it names is removed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from console_mfa import report, sweep
from console_mfa.aws import configured_session
from console_mfa.config_event import user_from_configuration_item
from console_mfa.errors import InvalidEvent, UserGone
from console_mfa.live import LiveIam
from console_mfa.policy import DataSource, Policy

from iam_console_mfa.events import user_configuration_item
from iam_console_mfa.seed import create_user
from tests.support import fail_operation


def test_list_user_tags_no_such_entity_means_the_user_is_gone(iam: Any) -> None:
    """live.tags: NoSuchEntity -> UserGone (the sweep then skips the user, writing nothing)."""
    create_user(iam, "bob")
    fail_operation(configured_session(), "iam", "ListUserTags", "NoSuchEntity", 404)
    with pytest.raises(UserGone):  # a client made after the stub sees it
        LiveIam(configured_session().client("iam")).tags("bob")


def test_report_budget_is_half_the_time_the_deadline_leaves(iam: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """sweep: the credential report may use at most half of what the Lambda has left."""
    for i in range(3):
        create_user(iam, f"u{i}")
    budgets: list[float] = []

    def no_report(iam: Any, budget_seconds: float) -> None:
        budgets.append(budget_seconds)
        raise report.ReportUnavailable("not in this test")

    monkeypatch.setattr(report, "fetch_report", no_report)
    deadline = sweep.Deadline(lambda: 30_000, reserve_ms=20_000)  # 10 s usable
    policy = Policy(data_source=DataSource.CREDENTIAL_REPORT)
    trail = configured_session().client("cloudtrail", region_name="us-east-1")
    assessments = sweep.sweep(LiveIam(iam), policy, datetime.now(UTC), deadline, trail=trail)
    assert budgets == [5.0]
    assert len(assessments) == 3  # then the live fallback
    sweep.sweep(LiveIam(iam), policy, datetime.now(UTC), trail=trail)  # no deadline: the fixed budget
    assert budgets[1] == sweep.REPORT_BUDGET_SECONDS


def test_tags_are_read_from_the_configuration_items_list_form(iam: Any) -> None:
    user = create_user(iam, "bob")
    item = user_configuration_item(user, tags={"BreakGlass": "approved"})
    item["tags"] = None  # only the configuration's [{key, value}] list holds them
    assert user_from_configuration_item(item)[1] == {"BreakGlass": "approved"}
    item["configuration"]["tags"] = [{"key": "BreakGlass"}]
    with pytest.raises(InvalidEvent, match=r"configuration\.tags must be a list of"):
        user_from_configuration_item(item)
    item["configuration"].pop("tags")
    assert user_from_configuration_item(item)[1] is None  # not recorded: fetched when needed
