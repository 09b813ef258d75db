"""Shared fixtures: a moto account (in process or as a server) and Config's API captured at the
botocore level."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from moto import mock_aws

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from console_mfa.aws import configured_session

from iam_console_mfa.local_config import LocalConfig
from tests.moto_server import start as start_moto
from tests.stacks import rule_input_parameters
from tests.support import CallLog, TrailEvents, within_documented_maximums


@pytest.fixture
def account() -> Iterator[None]:
    with mock_aws():  # a fresh default session: the hooks below are registered on it
        configured_session().events.register_first("before-call.cloudtrail.LookupEvents", _answer_lookup_events)
        configured_session().events.register("before-parameter-build", within_documented_maximums)
        yield


@pytest.fixture
def iam(account: None) -> Any:
    return configured_session().client("iam", region_name="us-east-1")


@pytest.fixture
def config_api(account: None) -> LocalConfig:
    return LocalConfig(configured_session())


@pytest.fixture
def deployed(config_api: LocalConfig, monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """The rule as rule.yaml deploys it (its InputParameters from the stack's parameters, read
    with DescribeConfigRules) and the remediation Lambda's environment, which names the rule;
    call it to deploy other stack parameters."""
    monkeypatch.setenv("CONFIG_RULE_NAME", config_api.rule_name)

    def deploy(**stack_parameters: str) -> None:
        config_api.deploy_rule(rule_input_parameters(**stack_parameters))

    deploy()
    return deploy


@pytest.fixture(autouse=True)
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries stay real; only their back-off waits are skipped to keep the suite fast."""
    monkeypatch.setattr("botocore.retries.standard.ExponentialBackoff.delay_amount", lambda self, ctx: 0)
    # The adaptive mode's client-side token bucket would wait in real time after a throttle;
    # it still counts and reacts, it just never waits (rates are measured by make bench).
    monkeypatch.setattr("botocore.retries.bucket.TokenBucket._sleep_amount", lambda self, amount: 0)


@pytest.fixture
def call_log(config_api: LocalConfig) -> CallLog:
    return CallLog(configured_session())


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    server, url = start_moto()
    yield url
    server.terminate()
    server.wait()


@pytest.fixture(scope="session")
def moto_server_with_managed_policies() -> Iterator[str]:
    """rdk deploy attaches AWS managed policies: this server knows them. Apart, because loading
    them makes every reset of the account cost about half a second."""
    server, url = start_moto({"MOTO_IAM_LOAD_MANAGED_POLICIES": "true"})
    yield url
    server.terminate()
    server.wait()


FAKE = {"AWS_ACCESS_KEY_ID": "deploy", "AWS_SECRET_ACCESS_KEY": "deploy", "AWS_DEFAULT_REGION": "us-east-1"}


def _emptied(url: str) -> dict[str, str]:
    from tests.moto_server import reset

    reset(url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return {**env, **FAKE, "AWS_ENDPOINT_URL": url}


@pytest.fixture
def server(moto_server: str) -> dict[str, str]:
    """A subprocess environment aimed at the moto server, emptied first (deploy and uninstall)."""
    return _emptied(moto_server)


@pytest.fixture
def rdk_server(moto_server_with_managed_policies: str) -> dict[str, str]:
    return _emptied(moto_server_with_managed_policies)


_TRAIL: list[TrailEvents] = []


def _answer_lookup_events(**kwargs: Any) -> Any:
    return (_TRAIL[-1] if _TRAIL else TrailEvents()).answer(**kwargs)


@pytest.fixture(autouse=True)
def trail() -> Iterator[TrailEvents]:
    """CloudTrail LookupEvents for every test (moto lacks it): no events unless a test records some."""
    events = TrailEvents()
    _TRAIL.append(events)
    yield events
    _TRAIL.remove(events)
