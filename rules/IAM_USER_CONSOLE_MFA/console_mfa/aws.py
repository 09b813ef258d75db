"""boto3 wiring shared by every AWS call the rule makes, configured once per session.

rdklib builds its clients with a bare ``boto3.client(...)``, so the retry mode and the
PutEvaluations checks are installed on boto3's default session: that reaches rdklib's
clients and ours alike.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
import botocore.session
from botocore.config import Config
from botocore.exceptions import ClientError

from .errors import AwsCallFailed, RuleError

LOG = logging.getLogger(__name__)

# IAM's rate limits are undocumented and cannot be raised: let botocore's standard mode
# (exponential backoff with jitter, retry quota) absorb throttling.
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8})
_MARK = "console_mfa_configured"


class FailedEvaluations(RuleError):
    """Config refused some evaluations even after one retry."""


def configured_session() -> boto3.Session:
    """boto3's default session with our retry mode and PutEvaluations checks (idempotent)."""
    session = boto3.DEFAULT_SESSION
    if session is None or not getattr(session, _MARK, False):
        core = botocore.session.get_session()
        core.set_default_client_config(RETRY_CONFIG)
        core.register("needs-retry.config-service.PutEvaluations", _retry_failed_evaluations_once)
        core.register("after-call.config-service.PutEvaluations", _raise_on_failed_evaluations)
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
