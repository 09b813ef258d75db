"""console_mfa.config_event: what the rule reads from a configuration item."""

from __future__ import annotations

from typing import Any

import pytest
from console_mfa.config_event import user_from_configuration_item
from console_mfa.errors import InvalidEvent

from iam_console_mfa.config_events import user_configuration_item
from iam_console_mfa.demo.account import create_user


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
