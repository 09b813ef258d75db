"""Checks on the Config event before rdklib reads it, and the user a CI describes.

rdklib indexes the event blindly (a missing key is a bare KeyError); here every problem
is named by its path in the event.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .errors import InvalidEvent
from .model import RESOURCE_TYPE, UserId, UserName, UserRef

CHANGE = "ConfigurationItemChangeNotification"
OVERSIZED = "OversizedConfigurationItemChangeNotification"
SCHEDULED = "ScheduledNotification"

_REQUIRED = {
    CHANGE: ("configurationItem", "notificationCreationTime"),
    OVERSIZED: ("configurationItemSummary", "notificationCreationTime", "recordVersion"),
    SCHEDULED: ("notificationCreationTime",),
}
_CI_FIELDS = ("resourceType", "resourceId", "configurationItemStatus", "configurationItemCaptureTime")


def _json_object(event: Mapping[str, Any], key: str) -> dict[str, Any]:
    raw = event.get(key)
    if not isinstance(raw, str):
        raise InvalidEvent(f"Invalid Config event: {key} must be a JSON string, got {type(raw).__name__}")
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as error:
        raise InvalidEvent(f"Invalid Config event: {key} is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise InvalidEvent(f"Invalid Config event: {key} must be a JSON object")
    return value


def _require(mapping: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        if key not in mapping:
            raise InvalidEvent(f"Invalid Config event: {where}.{key} is missing")


def validate_event(event: Any) -> str:
    """Return the message type of a well-formed event, else raise InvalidEvent."""
    if not isinstance(event, Mapping):
        raise InvalidEvent(f"Invalid Config event: expected an object, got {type(event).__name__}")
    _require(event, ("invokingEvent", "resultToken", "executionRoleArn", "configRuleName"), "event")
    invoking = _json_object(event, "invokingEvent")
    if "ruleParameters" in event:
        _json_object(event, "ruleParameters")
    message_type = invoking.get("messageType")
    if message_type not in _REQUIRED:
        raise InvalidEvent(
            f"Invalid Config event: invokingEvent.messageType {message_type!r} is not one of "
            f"{', '.join(_REQUIRED)}"
        )
    _require(invoking, _REQUIRED[message_type], "invokingEvent")
    if message_type == CHANGE:
        _require(event, ("eventLeftScope",), "event")
        item = invoking["configurationItem"]
        if not isinstance(item, Mapping):
            raise InvalidEvent("Invalid Config event: invokingEvent.configurationItem must be an object")
        _require(item, _CI_FIELDS, "invokingEvent.configurationItem")
    elif message_type == OVERSIZED:
        _require(event, ("eventLeftScope",), "event")
        _require(
            invoking["configurationItemSummary"],
            ("resourceType", "resourceId"),
            "invokingEvent.configurationItemSummary",
        )
    return message_type


def user_from_configuration_item(item: Mapping[str, Any]) -> tuple[UserRef, dict[str, str] | None]:
    """The user (UserId = the CI's resourceId) and its tags, None when the CI has none recorded."""
    if item.get("resourceType") != RESOURCE_TYPE:
        raise InvalidEvent(
            f"configurationItem.resourceType is {item.get('resourceType')!r}, not {RESOURCE_TYPE}"
        )
    configuration = item.get("configuration") or {}
    user_name = item.get("resourceName") or configuration.get("userName")
    if not user_name:
        raise InvalidEvent("configurationItem has neither resourceName nor configuration.userName")
    return UserRef(UserId(item["resourceId"]), UserName(user_name)), _tags(item, configuration)


def _tags(item: Mapping[str, Any], configuration: Mapping[str, Any]) -> dict[str, str] | None:
    if isinstance(item.get("tags"), Mapping):
        return {str(k): str(v) for k, v in item["tags"].items()}
    if isinstance(configuration.get("tags"), list):
        return {str(t.get("key")): str(t.get("value")) for t in configuration["tags"]}
    return None
