"""Shared fixtures: a moto account (in process or as a server) and Config's API captured at the
botocore level."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from moto import mock_aws

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from console_mfa.aws import configured_session

from iam_console_mfa.local_config import LocalConfig
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
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "MOTO_IAM_LOAD_MANAGED_POLICIES": "true"},  # rdk deploy attaches managed policies
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            urllib.request.urlopen(f"{url}/moto-api/", timeout=1)
            break
        except OSError:
            time.sleep(0.1)
    yield url
    server.terminate()
    server.wait()
