"""boto3 wiring shared by every AWS call the rule makes, configured once per session.

rdklib builds its clients with a bare ``boto3.client(...)``, so the retry mode and the
PutEvaluations checks are installed on boto3's default session: that reaches rdklib's
clients and ours alike.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from .errors import AwsCallFailed, InvalidEvent, RuleError
from .model import NOT_RECORDED
from .pool import MAX_WORKERS

LOG = logging.getLogger(__name__)

# IAM's rate limits are undocumented and cannot be raised: botocore's adaptive mode is the
# standard mode (exponential backoff with jitter, retry quota) plus a client-side token bucket
# that slows every thread sharing the client once IAM throttles (console_mfa.pool).
RETRY_CONFIG = Config(retries={"mode": "adaptive", "max_attempts": 8}, max_pool_connections=MAX_WORKERS)

# IAM is eventually consistent ("changes that I make are not always immediately visible", IAM
# User Guide, troubleshooting): right after a write, a read or a dependent delete may still see
# the state before it. Where the code must see its own write, it asks again after these waits
# (15 s in all) before it fails.
IAM_PROPAGATION_WAITS_SECONDS = (1.0, 2.0, 4.0, 8.0)
_MARK = "console_mfa_configured"


class FailedEvaluations(RuleError):
    """Config refused some evaluations even after one retry."""


def configured_session(core: botocore.session.Session | None = None) -> boto3.Session:
    """boto3's default session with our retry mode and PutEvaluations checks (idempotent).
    ``core``: a botocore session to build it on instead (the CLI's profile and region)."""
    session = boto3.DEFAULT_SESSION
    if core is not None or session is None or not getattr(session, _MARK, False):
        core = core or botocore.session.get_session()
        core.set_default_client_config(RETRY_CONFIG)
        # botocore handlers take keyword arguments and may return a value; the stubs' handler
        # type (kwargs only, returns None) does not describe that: hence the ignores.
        core.register("needs-retry.config-service.PutEvaluations", _retry_failed_evaluations_once)  # type: ignore[arg-type]
        core.register("after-call.config-service.PutEvaluations", _raise_on_failed_evaluations)  # type: ignore[arg-type]
        core.register("after-call.config-service.GetResourceConfigHistory", _check_config_history)  # type: ignore[arg-type]
        session = boto3.Session(botocore_session=core)
        setattr(session, _MARK, True)
        boto3.DEFAULT_SESSION = session
    return session


def _retry_failed_evaluations_once(response: Any, attempts: int, **_: Any) -> int | None:
    """Resend a PutEvaluations batch once when Config lists FailedEvaluations.

    Resending the whole batch is safe: an evaluation with the same OrderingTimestamp
    simply replaces itself.
    """
    if response is None or attempts > 1:
        return None
    _, parsed = response
    if parsed.get("FailedEvaluations"):
        LOG.warning("PutEvaluations: %d failed, retrying once", len(parsed["FailedEvaluations"]))
        return 0
    return None


def _raise_on_failed_evaluations(parsed: dict[str, Any], **_: Any) -> None:
    failed = parsed.get("FailedEvaluations") or []
    if failed:
        ids = ", ".join(str(item.get("ComplianceResourceId")) for item in failed[:10])
        raise FailedEvaluations(
            f"PutEvaluations: Config refused {len(failed)} evaluation(s) after a retry: {ids}"
        )


def _check_config_history(parsed: dict[str, Any], **_: Any) -> None:
    """rdklib's converter reads this answer without a single check.

    An item without a JSON ``configuration`` would crash inside it (a TypeError that names
    nothing): refuse it here, by name. Whose item it is: config_event.checked_history_item. ``relationships``
    is optional in the API's shape but rdklib iterates it, so an absent list is read as empty.
    """
    if "Error" in parsed:
        return
    items = parsed.get("configurationItems")
    if not isinstance(items, list) or not items or not isinstance(items[0], dict):
        return  # no item at all: config_event.checked_history_item names it
    item = items[0]
    if item.get("configurationItemStatus") in NOT_RECORDED:
        return  # no configuration to read: the rule writes nothing for it (config_event.not_recorded)
    if not isinstance(_decoded(item.get("configuration")), dict):
        raise InvalidEvent(
            "GetResourceConfigHistory: configurationItems[0].configuration is missing or not a JSON object"
        )
    supplementary = item.get("supplementaryConfiguration") or {}
    if not isinstance(supplementary, dict) or any(_decoded(v) is _NOT_JSON for v in supplementary.values()):
        raise InvalidEvent("GetResourceConfigHistory: supplementaryConfiguration values must be JSON strings")
    item.setdefault("relationships", [])


_NOT_JSON = object()


def _decoded(text: object) -> object:
    """The JSON value of a string, or _NOT_JSON."""
    if not isinstance(text, str):
        return _NOT_JSON
    try:
        return json.loads(text)
    except ValueError:
        return _NOT_JSON


@contextmanager
def translated(operation: str, user: str | None = None) -> Iterator[None]:
    """Turn a ClientError into AwsCallFailed, which rdklib cannot swallow."""
    try:
        yield
    except ClientError as error:
        info = error.response.get("Error", {})
        raise AwsCallFailed(
            operation, info.get("Code", "Unknown"), info.get("Message", str(error)), user
        ) from error


def error_code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


@contextmanager
def counted_calls(session: boto3.Session) -> Iterator[dict[str, int]]:
    """AWS calls made through ``session`` while the block runs, by operation (the sweep's log line).

    Registered for the block only: no count outlives the invocation that made it.
    """
    counts: dict[str, int] = {}

    def count(model: Any, **_: Any) -> None:
        counts[model.name] = counts.get(model.name, 0) + 1

    session.events.register("provide-client-params", count, unique_id="console-mfa-call-count")
    try:
        yield counts
    finally:
        session.events.unregister("provide-client-params", unique_id="console-mfa-call-count")
