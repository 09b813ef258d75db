"""Test support: AWS call logs and errors injected at the botocore level.

Config's API is answered by ``iam_console_mfa.local_config.LocalConfig`` (moto lacks it).
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.awsrequest import AWSResponse

REAL_TOKEN = "eyJyZXN1bHRUb2tlbiI6ICJvcGFxdWUifQ=="  # an opaque token: TestMode stays False


class CallLog:
    """Every AWS API call made through the default session, by service and operation."""

    def __init__(self, session: boto3.Session) -> None:
        self.calls: list[tuple[str, str]] = []
        session.events.register("before-call", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.calls.append((model.service_model.service_id.hyphenize(), model.name))

    def operations(self, service: str) -> list[str]:
        return [op for svc, op in self.calls if svc == service]


def fail_operation(session: boto3.Session, service: str, operation: str, code: str, status: int = 400) -> None:
    """Make one operation answer with an AWS error, as the service would (no HTTP involved)."""

    def answer(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict]:
        error = {"Error": {"Code": code, "Message": f"stubbed {code} for {operation}"}}
        return AWSResponse(params["url"], status, {}, None), {**error, "ResponseMetadata": {}}

    session.events.register_first(f"before-call.{service}.{operation}", answer)
