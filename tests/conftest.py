"""Shared fixtures: a moto account (in process or as a server) and Config's API captured at the
botocore level."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from console_mfa.aws import configured_session

from iam_console_mfa.local_config import LocalConfig
from iam_console_mfa.moto_server import start as start_moto
from tests.support import CallLog


@pytest.fixture
def account() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def iam(account: None) -> Any:
    return configured_session().client("iam", region_name="us-east-1")


@pytest.fixture
def config_api(account: None) -> LocalConfig:
    return LocalConfig(configured_session())


@pytest.fixture(autouse=True)
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries stay real; only their back-off sleep is skipped to keep the suite fast."""
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, ctx: 0)


@pytest.fixture
def call_log(config_api: LocalConfig) -> CallLog:
    return CallLog(configured_session())


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    # rdk deploy attaches AWS managed policies: moto must know them
    server, url = start_moto({"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"})
    yield url
    server.terminate()
    server.wait()
