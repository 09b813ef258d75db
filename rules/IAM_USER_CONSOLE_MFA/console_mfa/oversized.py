"""An oversized change notification, inflated into the change notification it stands for."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from .aws import translated
from .config_event import CHANGE, checked_history_item
from .triage import recorded_here


def inflated(event: dict[str, Any], rule: Any) -> dict[str, Any] | None:
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
    if not recorded_here({"configurationItem": checked}):
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
