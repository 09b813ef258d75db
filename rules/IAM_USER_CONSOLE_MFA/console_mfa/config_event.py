"""Checks on the Config event before rdklib reads it, and the user a CI describes.

rdklib indexes the event blindly (a missing key is a bare KeyError); here every problem
is named by its path in the event.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from .errors import InvalidEvent
from .model import NOT_RECORDED, RESOURCE_TYPE, USER_NAME, UserId, UserName, UserRef
from .policy import parse_policy

CHANGE = "ConfigurationItemChangeNotification"
OVERSIZED = "OversizedConfigurationItemChangeNotification"
SCHEDULED = "ScheduledNotification"

_REQUIRED = {
    CHANGE: ("configurationItem", "notificationCreationTime"),
    OVERSIZED: ("configurationItemSummary", "notificationCreationTime", "recordVersion"),
    SCHEDULED: ("notificationCreationTime",),
}
_CI_FIELDS = ("resourceType", "resourceId", "configurationItemStatus", "configurationItemCaptureTime")


_STATUSES = ("OK", "ResourceDiscovered", "ResourceNotRecorded", "ResourceDeleted", "ResourceDeletedNotRecorded")
_RULE_ARN = re.compile(r"arn:[a-z-]+:config:[a-z0-9-]+:[0-9]{12}:config-rule/.+")
# rdklib assumes it unless AssumeRoleMode is false: STS takes a role ARN of 20 characters or more.
_ROLE_ARN = re.compile(r"arn:[a-z-]+:iam::[0-9]{12}:role/[\w+=,.@/-]{1,512}")


def _bad(problem: str) -> InvalidEvent:
    return InvalidEvent(f"Invalid Config event: {problem}")


def _json_object(event: Mapping[str, Any], key: str) -> dict[str, Any]:
    raw = event.get(key)
    if not isinstance(raw, str):
        raise _bad(f"{key} must be a JSON string, got {type(raw).__name__}")
    try:
        value = json.loads(raw)
    except (json.JSONDecodeError, RecursionError) as error:
        raise _bad(f"{key} is not valid JSON ({error})") from None
    if not isinstance(value, dict):
        raise _bad(f"{key} must be a JSON object")
    return value


def _require(mapping: Mapping[str, Any], keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        if key not in mapping:
            raise _bad(f"{where}.{key} is missing")


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _bad(f"{where} must be an object, got {type(value).__name__}")
    return value


def _text(mapping: Mapping[str, Any], key: str, where: str) -> str:
    """A required, non-empty string field."""
    value = mapping.get(key)
    if not isinstance(value, str) or not value:
        raise _bad(f"{where}.{key} must be a non-empty string, got {value!r:.60}")
    return value


def _timestamp(mapping: Mapping[str, Any], key: str, where: str) -> None:
    """Config's ISO 8601 times: they become PutEvaluations' OrderingTimestamp."""
    text = _text(mapping, key, where)
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise _bad(f"{where}.{key} is not an ISO 8601 time: {text!r:.60}") from None


def _left_scope(event: Mapping[str, Any]) -> None:
    # rdklib reads it with `not`: the string "false" would mean "left scope" -> NOT_APPLICABLE.
    if not isinstance(event.get("eventLeftScope"), bool):
        raise _bad(f"event.eventLeftScope must be true or false, got {event.get('eventLeftScope')!r:.60}")


def _resource_type(mapping: Mapping[str, Any], where: str) -> None:
    if mapping.get("resourceType") != RESOURCE_TYPE:
        raise _bad(f"{where}.resourceType is {mapping.get('resourceType')!r:.60}, not {RESOURCE_TYPE}")


@dataclass(frozen=True)
class ConfigEvent:
    """One Config invocation, validated and parsed once: what the rule shell dispatches on."""

    raw: dict[str, Any]
    message_type: str  # CHANGE, OVERSIZED or SCHEDULED
    invoking: dict[str, Any]  # invokingEvent, parsed

    @property
    def scheduled(self) -> bool:
        return self.message_type == SCHEDULED

    @property
    def oversized(self) -> bool:
        return self.message_type == OVERSIZED

    @property
    def rule_name(self) -> str:
        return str(self.raw["configRuleName"])

    @property
    def rule_arn(self) -> str | None:
        arn = self.raw.get("configRuleArn")
        return str(arn) if arn else None

    @property
    def result_token(self) -> str:
        return str(self.raw["resultToken"])


def parse_event(event: Any) -> ConfigEvent:
    """The event as a ConfigEvent, or InvalidEvent / InvalidRuleParameter naming the problem."""
    message_type = validate_event(event)
    return ConfigEvent(dict(event), message_type, json.loads(event["invokingEvent"]))


def validate_event(event: Any) -> str:
    """Return the message type of a well-formed event, else raise InvalidEvent (or InvalidRuleParameter)."""
    if not isinstance(event, Mapping):
        raise _bad(f"expected an object, got {type(event).__name__}")
    _require(event, ("invokingEvent", "resultToken", "executionRoleArn", "configRuleName"), "event")
    for key in ("resultToken", "executionRoleArn", "configRuleName"):
        _text(event, key, "event")
    if not _ROLE_ARN.fullmatch(event["executionRoleArn"]):
        raise _bad(f"event.executionRoleArn {event['executionRoleArn']!r:.80} is not an IAM role ARN")
    if "configRuleArn" in event and not _RULE_ARN.fullmatch(_text(event, "configRuleArn", "event")):
        raise _bad(f"event.configRuleArn {event['configRuleArn']!r:.80} is not a Config rule ARN")
    invoking = _json_object(event, "invokingEvent")
    if "ruleParameters" in event:
        parse_policy(_json_object(event, "ruleParameters"))  # rdklib reads some of them first
    message_type = invoking.get("messageType")
    if not isinstance(message_type, str) or message_type not in _REQUIRED:
        raise _bad(f"invokingEvent.messageType {message_type!r:.60} is not one of {', '.join(_REQUIRED)}")
    _require(invoking, _REQUIRED[message_type], "invokingEvent")
    _timestamp(invoking, "notificationCreationTime", "invokingEvent")
    if message_type == CHANGE:
        _require(event, ("eventLeftScope",), "event")
        _left_scope(event)
        where = "invokingEvent.configurationItem"
        item = _object(invoking["configurationItem"], where)
        _require(item, _CI_FIELDS, where)
        _resource_type(item, where)
        _text(item, "resourceId", where)
        _timestamp(item, "configurationItemCaptureTime", where)
        if item["configurationItemStatus"] not in _STATUSES:
            raise _bad(
                f"{where}.configurationItemStatus "
                f"{item['configurationItemStatus']!r:.60} is not one of {', '.join(_STATUSES)}"
            )
    elif message_type == OVERSIZED:
        _require(event, ("eventLeftScope",), "event")
        _left_scope(event)
        where = "invokingEvent.configurationItemSummary"
        summary = _object(invoking["configurationItemSummary"], where)
        _require(summary, ("resourceType", "resourceId"), where)
        _resource_type(summary, where)
        _text(summary, "resourceId", where)
        _text(invoking, "recordVersion", "invokingEvent")
    return message_type


def user_from_configuration_item(item: Mapping[str, Any]) -> tuple[UserRef, dict[str, str] | None]:
    """The user (UserId = the CI's resourceId) and its tags, None when the CI has none recorded.

    The CI's own fields must agree: a user name or UserId that contradicts resourceId would
    evaluate one user and write the verdict on another.
    """
    where = "configurationItem"
    _resource_type(item, where)
    user_id = _text(item, "resourceId", where)
    configuration = item.get("configuration")
    if configuration is None:
        configuration = {}
    configuration = _object(configuration, f"{where}.configuration")
    given = [n for n in (item.get("resourceName"), configuration.get("userName")) if n is not None]
    if not all(isinstance(n, str) for n in given):
        raise _bad(f"{where} user name must be a string, got {given!r:.80}")
    names = set(given)
    if not names:
        raise _bad(f"{where} has neither resourceName nor configuration.userName")
    if len(names) > 1:
        raise _bad(f"{where}.resourceName and configuration.userName disagree: {sorted(map(str, names))}")
    (user_name,) = names
    if not USER_NAME.fullmatch(user_name):
        raise _bad(f"{where} user name {user_name!r:.80} is not an IAM user name")
    if configuration.get("userId") not in (None, user_id):
        raise _bad(
            f"{where}.configuration.userId {configuration.get('userId')!r:.60} "
            f"is not the resourceId {user_id!r}"
        )
    return UserRef(UserId(user_id), UserName(user_name)), _tags(item, configuration)


def _tags(item: Mapping[str, Any], configuration: Mapping[str, Any]) -> dict[str, str] | None:
    """Tags as the CI records them: a map at the top, or the configuration's list of {key, value}."""
    if item.get("tags") is not None:
        tags = _object(item["tags"], "configurationItem.tags")
        if all(isinstance(k, str) and isinstance(v, str) for k, v in tags.items()):
            return dict(tags)
        raise _bad("configurationItem.tags must map strings to strings")
    listed = configuration.get("tags")
    if listed is None:
        return None
    if isinstance(listed, list) and all(
        isinstance(t, Mapping) and isinstance(t.get("key"), str) and isinstance(t.get("value"), str)
        for t in listed
    ):
        return {t["key"]: t["value"] for t in listed}
    raise _bad("configurationItem.configuration.tags must be a list of {key, value}")


# A change notification whose item was recorded longer ago than this is a re-evaluation
# replaying the last recorded item (StartConfigRulesEvaluation, docs/triggers.md), not a
# change: Config delivers a genuine change within minutes of recording it.
REPLAY_AGE = timedelta(hours=1)


def not_recorded(invoking_event: Mapping[str, Any]) -> str | None:
    """The item's status when this region's recorder does not record it, else None.

    Config invokes the rule for such items (an IAM user outside the region that records
    global types, as under Control Tower); they describe no verdict here.
    """
    item = invoking_event.get("configurationItem")
    status = item.get("configurationItemStatus") if isinstance(item, Mapping) else None
    return status if status in NOT_RECORDED else None


def notified_user(invoking_event: Mapping[str, Any]) -> tuple[UserName | None, bool]:
    """The user a change notification names, and whether it replays an old configuration item.

    Old means: recorded (``configurationItemCaptureTime``, or ``configurationItemDeliveryTime``
    under daily recording, whichever is later) more than REPLAY_AGE before the notification.
    A notification that lacks a time or a name is not called a replay: it is evaluated.
    """
    item = invoking_event.get("configurationItem") or invoking_event.get("configurationItemSummary")
    if not isinstance(item, Mapping):
        return None, False
    configuration = item.get("configuration")
    name = item.get("resourceName") or (
        configuration.get("userName") if isinstance(configuration, Mapping) else None
    )
    user = UserName(name) if isinstance(name, str) else None
    times = [_time(item.get(k)) for k in ("configurationItemCaptureTime", "configurationItemDeliveryTime")]
    recorded = max((t for t in times if t is not None), default=None)
    notified = _time(invoking_event.get("notificationCreationTime"))
    old = recorded is not None and notified is not None and notified - recorded > REPLAY_AGE
    return user, user is not None and old


def _time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def checked_history_item(summary: Mapping[str, Any], history: Mapping[str, Any]) -> Mapping[str, Any]:
    """The item GetResourceConfigHistory returned for an oversized notification, once it is
    shown to describe the summary's resource, at the summary's time or later.

    rdklib inflates blindly: an item of another user (or type) would be evaluated, or written
    NOT_APPLICABLE by rdklib's deleted-item path, under the summary's notification.
    """
    where = "GetResourceConfigHistory"
    items = history.get("configurationItems")
    if not isinstance(items, list) or not items or not isinstance(items[0], Mapping):
        raise InvalidEvent(f"{where} returned no configuration item for the oversized change")
    item = items[0]
    for key in ("resourceId", "resourceType"):
        if item.get(key) != summary.get(key):
            raise InvalidEvent(
                f"{where} returned {key} {item.get(key)!r:.80} for the oversized change of "
                f"{summary.get(key)!r:.80}: nothing evaluated"
            )
    summarized = _time(summary.get("configurationItemCaptureTime"))
    captured = item.get("configurationItemCaptureTime")
    captured = captured if isinstance(captured, datetime) else _time(captured)
    if summarized is not None and (captured is None or captured < summarized):
        raise InvalidEvent(
            f"{where} returned an item captured at {captured} for the oversized change captured at "
            f"{summarized}: an older state, nothing evaluated"
        )
    return item
