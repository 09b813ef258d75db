"""The credential report's delta: which users changed after the report, from CloudTrail.

The credential report can be up to 4 hours old. Trusting a row that shows MFA (or no
password) for a user who since lost MFA (or got a password) would be a false COMPLIANT /
NOT_APPLICABLE on exactly the user who just changed. So every user named by an IAM event that
can change a verdict, since the report's GeneratedTime (minus a clock-skew margin), is read
live, whatever the report says.

CloudTrail event history (LookupEvents) exists in every account without a trail: 90 days of
management events, one lookup attribute per call, at most 50 events a page, 2 requests per
second per account and region (throttling is retried by botocore's standard mode). IAM is
global: its events are recorded in the partition's IAM home region only (us-east-1 for
``aws``; CloudTrail Lookup has shown global service events there only since November 2021),
so the client must go there whatever region the rule runs in.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from .aws import translated
from .errors import RuleError
from .model import USER_NAME, UserName

if TYPE_CHECKING:  # type stubs only (a development dependency): the Lambda has boto3
    from mypy_boto3_cloudtrail import CloudTrailClient
    from mypy_boto3_cloudtrail.type_defs import EventTypeDef

    from .budget import Deadline

LOG = logging.getLogger(__name__)

# IAM events after which a user's verdict can differ from the report's row. A virtual MFA
# device must be deactivated (DeactivateMFADevice, which names the user, or is the caller's
# own) before it can be deleted; DeleteVirtualMFADevice is still read, its device name taken
# for the user's (often the same; the device's owner chooses it).
# CreateUser: a user deleted and recreated under the same name within the second keeps the
# report row's ARN and creation second, so the row alone cannot tell them apart.
VERDICT_EVENTS = (
    "CreateUser",
    "CreateLoginProfile",
    "DeleteLoginProfile",
    "EnableMFADevice",
    "DeactivateMFADevice",
    "DeleteVirtualMFADevice",
)
# UserName is optional on these: without it IAM acts on the caller ("it defaults to the
# principal making the request", IAM API reference); a test checks the set against botocore's
# model. A user who deactivates their own MFA device names no user in requestParameters.
CALLER_DEFAULT_EVENTS = frozenset({"CreateLoginProfile", "DeleteLoginProfile", "DeactivateMFADevice"})
# Amazon MQ, WorkMail, Transfer Family and others have a CreateUser too: only IAM's count.
IAM_SOURCE = "iam.amazonaws.com"
CLOCK_SKEW = timedelta(minutes=5)
# IAM's home region per partition: where CloudTrail records IAM's events.
IAM_EVENT_REGION = {"aws": "us-east-1", "aws-us-gov": "us-gov-west-1", "aws-cn": "cn-north-1"}


class DeltaUnavailable(RuleError):
    """The delta could not be had: the sweep must not trust the report (it reads live instead)."""


def partition_of(region: str) -> str:
    """The partition a region belongs to: aws-us-gov, aws-cn, else aws."""
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    if region.startswith("cn-"):
        return "aws-cn"
    return "aws"


def iam_event_region(region: str) -> str:
    """The region CloudTrail records IAM events in, for the partition of ``region``."""
    return IAM_EVENT_REGION[partition_of(region)]


def changed_since(
    cloudtrail: CloudTrailClient, since: datetime, until: datetime, deadline: Deadline
) -> set[UserName]:
    """User names of every verdict-changing IAM event in [since - skew, until].

    Raises DeltaUnavailable when any lookup fails or time runs out: a partial delta would
    trust report rows it never checked.
    """
    names: set[UserName] = set()
    lookups = 0
    try:
        for event_name in VERDICT_EVENTS:
            deadline.check(f"CloudTrail delta before {event_name}")
            for event in _events(cloudtrail, event_name, since - CLOCK_SKEW, until):
                detail = _detail(event)
                source = event.get("EventSource") or detail.get("eventSource")
                if source != IAM_SOURCE or changed_nothing(detail):
                    continue
                lookups += 1
                name = changed_user(detail) or _resource_user(event)
                if name is None:  # who changed is unknown: no row of the report can be trusted
                    raise DeltaUnavailable(f"{event_name} event {event.get('EventId')} names no user")
                names.add(name)
    except DeltaUnavailable:
        raise
    except RuleError as error:  # AwsCallFailed (AccessDenied, throttled past retries), OutOfTime
        raise DeltaUnavailable(f"CloudTrail delta unavailable ({error})") from error
    LOG.info("CloudTrail delta since %s: %d event(s), %d user(s) to read live", since, lookups, len(names))
    return names


def _events(
    cloudtrail: CloudTrailClient, event_name: str, start: datetime, end: datetime
) -> Iterator[EventTypeDef]:
    with translated("LookupEvents"):
        pages = cloudtrail.get_paginator("lookup_events").paginate(
            LookupAttributes=[{"AttributeKey": "EventName", "AttributeValue": event_name}],
            StartTime=start,
            EndTime=end,
            PaginationConfig={"PageSize": 50},  # the API's maximum
        )
        for page in pages:
            yield from page.get("Events", [])


def _detail(event: EventTypeDef) -> dict[str, Any]:
    """The CloudTrail record of a LookupEvents event (its CloudTrailEvent JSON)."""
    try:
        detail = json.loads(event.get("CloudTrailEvent") or "{}")
    except ValueError:
        return {}
    return detail if isinstance(detail, dict) else {}


def changed_user(record: dict[str, Any]) -> UserName | None:
    """The user an IAM CloudTrail record acted on (LookupEvents' CloudTrailEvent, or the
    ``detail`` of EventBridge's "AWS API Call via CloudTrail" event: the same record).

    None when it names none, or a name IAM could not have (a forged record: the queue and
    the bus accept anything their policies let in); its reader treats that loudly.
    """
    name = _named_user(record)
    return UserName(name) if name is not None and USER_NAME.fullmatch(name) else None


def _named_user(record: dict[str, Any]) -> str | None:
    parameters = record.get("requestParameters") or {}
    if not isinstance(parameters, dict):
        return None
    if isinstance(parameters.get("userName"), str):
        return str(parameters["userName"])
    caller = _caller(record)
    if record.get("eventName") in CALLER_DEFAULT_EVENTS and caller.get("type") == "IAMUser":
        name = caller.get("userName")  # the user acted on their own password or MFA device
        return name if isinstance(name, str) else None
    serial = parameters.get("serialNumber")
    if isinstance(serial, str) and ":mfa/" in serial:  # a virtual device: arn:...:mfa/<path><name>
        return serial.rsplit("/", 1)[-1]
    return None


def changed_nothing(record: dict[str, Any]) -> bool:
    """No IAM user's verdict can have moved: the call failed (CloudTrail records failed calls
    too, with an errorCode), or, naming no user, its caller was the root user (userIdentity
    type Root), acting on its own password or MFA, which this rule does not evaluate. Any
    other record that names no user stays unknown, and is treated loudly by its reader."""
    if record.get("errorCode"):
        return True
    parameters = record.get("requestParameters")
    named = isinstance(parameters, dict) and isinstance(parameters.get("userName"), str)
    on_root = _caller(record).get("type") == "Root"
    # The event-name check is redundant today (every other verdict event requires a userName,
    # so a record naming none is one of these): kept so that an event added to VERDICT_EVENTS
    # later, with no user of its own, is never waved through for a root caller. A mutation
    # dropping it is equivalent until then.
    return not named and record.get("eventName") in CALLER_DEFAULT_EVENTS and on_root


def _caller(record: dict[str, Any]) -> dict[str, Any]:
    identity = record.get("userIdentity")
    return identity if isinstance(identity, dict) else {}


def _resource_user(event: EventTypeDef) -> UserName | None:
    """The lookup's own summary of the event, when it names a user."""
    for resource in event.get("Resources") or []:
        if resource.get("ResourceType") == "AWS::IAM::User" and resource.get("ResourceName"):
            return UserName(resource["ResourceName"])
    return None
