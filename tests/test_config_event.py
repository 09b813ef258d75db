"""console_mfa.config_event: what the rule reads from a configuration item."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

import pytest
from console_mfa.config_event import checked_history_item, user_from_configuration_item
from console_mfa.errors import InvalidEvent

from iam_console_mfa.demo.account import create_user
from iam_console_mfa.event_builders import user_configuration_item


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


SUMMARY = {
    "resourceType": "AWS::IAM::User",
    "resourceId": "AIDABOB",
    "configurationItemCaptureTime": "2026-11-30T12:00:00.000Z",
}
BOB = {
    "resourceType": "AWS::IAM::User",
    "resourceId": "AIDABOB",
    "configurationItemCaptureTime": datetime(2026, 11, 30, 12, tzinfo=UTC),
}


@pytest.mark.parametrize(
    ("item", "message"),
    [
        (
            {**BOB, "resourceId": "AIDAALICE"},
            "returned resourceId 'AIDAALICE' for the oversized change of 'AIDABOB'",
        ),
        ({**BOB, "resourceType": "AWS::IAM::Role"}, "returned resourceType 'AWS::IAM::Role'"),
        ({**BOB, "configurationItemCaptureTime": datetime(2026, 11, 30, 11, 59, tzinfo=UTC)}, "an older state"),
        ({k: v for k, v in BOB.items() if k != "configurationItemCaptureTime"}, "captured at None"),
    ],
)
def test_an_oversized_changes_history_item_must_be_the_summarys(item: dict[str, Any], message: str) -> None:
    """GetResourceConfigHistory answers with its latest item (limit 1): the summary's own, or newer."""
    with pytest.raises(InvalidEvent, match=re.escape(message)):
        checked_history_item(SUMMARY, {"configurationItems": [item]})
    with pytest.raises(InvalidEvent, match="returned no configuration item"):
        checked_history_item(SUMMARY, {"configurationItems": []})
    newer = {**BOB, "configurationItemCaptureTime": "2026-11-30T13:00:00Z"}  # a later change: fine
    assert checked_history_item(SUMMARY, {"configurationItems": [newer]}) is newer
    assert checked_history_item(SUMMARY, {"configurationItems": [BOB]}) is BOB
