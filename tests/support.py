"""Test support: AWS call logs and errors injected at the botocore level.

Config's API is answered by ``iam_console_mfa.local_config.LocalConfig`` (moto lacks it); the
Config events come from ``iam_console_mfa.event_builders`` (what `evaluate --user` and the demo send).

botocore takes the return value of a before-call (before-send) handler as the response; its
type stubs declare handlers as returning None, so the handlers here are typed ``-> Any``.
"""

from __future__ import annotations

import json
import os
import shutil
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.exceptions import ParamValidationError
from botocore.model import ListShape, OperationModel, Shape, StructureShape
from botocore.stub import Stubber
from console_mfa.aws import configured_session
from console_mfa.live import LiveIam
from console_mfa.policy import RuleParameters
from console_mfa.sweep import sweep
from moto.core.botocore_stubber import MockRawResponse

from iam_console_mfa.event_builders import (
    ACCOUNT_ID,
    DEFAULT_PARAMETERS,
    TEST_MODE_TOKEN,
    config_event,
    timestamp,
)
from iam_console_mfa.regional_session import RegionalSession

REAL_TOKEN = "eyJyZXN1bHRUb2tlbiI6ICJvcGFxdWUifQ=="  # an opaque token: TestMode stays False


class CallLog:
    """Every AWS API call made through the default session, by service and operation."""

    def __init__(self, session: boto3.Session) -> None:
        self.calls: list[tuple[str, str]] = []
        # provide-client-params reaches every handler, even when a before-call stub answers.
        session.events.register("provide-client-params", self._record)

    def _record(self, model: Any, **_: Any) -> None:
        self.calls.append((model.service_model.service_id.hyphenize(), model.name))

    def operations(self, service: str) -> list[str]:
        return [op for svc, op in self.calls if svc == service]


def within_documented_maximums(params: dict[str, Any], model: OperationModel, **_: Any) -> None:
    """AWS refuses a parameter beyond the maximum its service model documents (a string's or a
    list's length, a number's value: the shape's "max"); botocore checks only minimums and moto
    nothing, so the tests refuse it as AWS would."""
    beyond = list(_beyond_maximum(model.input_shape, params, model.name))
    if beyond:
        raise ParamValidationError(report="; ".join(beyond))


def _beyond_maximum(shape: Shape | None, value: Any, where: str) -> Iterator[str]:
    if shape is None:
        return
    limit = shape.metadata.get("max")
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for name, member in shape.members.items():
            if name in value:
                yield from _beyond_maximum(member, value[name], f"{where}.{name}")
    elif isinstance(shape, ListShape) and isinstance(value, list | tuple):
        if limit is not None and len(value) > limit:
            yield f"{where}: {len(value)} items, at most {limit}"
        for index, item in enumerate(value):
            yield from _beyond_maximum(shape.member, item, f"{where}[{index}]")
    elif limit is None:
        return
    elif shape.type_name in ("integer", "long") and isinstance(value, int) and value > limit:
        yield f"{where}: {value}, at most {limit}"
    elif shape.type_name == "string" and isinstance(value, str) and len(value) > limit:
        yield f"{where}: {len(value)} characters, at most {limit}"


def cli_session(aws: boto3.Session) -> RegionalSession:
    """What ``cli.session`` returns, over a test's session: the same botocore session, so the
    test's hooks and stubs hold."""
    return RegionalSession(aws._session, aws.region_name or "us-east-1", "the test")


def error_answer(url: str, code: str, message: str, status: int = 400) -> tuple[AWSResponse, dict[str, Any]]:
    """A before-call answer carrying an AWS error, parsed as botocore parses one."""
    # A new string, as botocore parses one from each response: a literal of the test would be the
    # very object the code compares with, and an identity test (``is``) would pass where AWS's fails.
    parsed = code[:1] + code[1:]
    return AWSResponse(url, status, HTTPHeaders(), None), {
        "Error": {"Code": parsed, "Message": message},
        "ResponseMetadata": {},
    }


def fail_operation(session: boto3.Session, service: str, operation: str, code: str, status: int = 400) -> None:
    """Make one operation answer with an AWS error, as the service would (no HTTP involved)."""

    def answer(params: dict[str, Any], **_: Any) -> Any:
        return error_answer(params["url"], code, f"stubbed {code} for {operation}", status)

    _answer_with(session, service, operation, answer)


def answer_operation(
    session: boto3.Session, service: str, operation: str, respond: Callable[[], dict[str, Any]]
) -> None:
    """Answer one operation with a parsed response (moto lacks it, or the test needs a state)."""

    def answer(params: dict[str, Any], **_: Any) -> Any:
        return AWSResponse(params["url"], 200, HTTPHeaders(), None), respond()

    _answer_with(session, service, operation, answer)


def _answer_with(session: boto3.Session, service: str, operation: str, answer: Callable[..., Any]) -> None:
    """One answer per operation: a later one replaces an earlier one (a test's over a fixture's)."""
    event, unique = f"before-call.{service}.{operation}", f"answer-{service}-{operation}"
    session.events.unregister(event, unique_id=unique)
    session.events.register_first(event, answer, unique_id=unique)


class Throttler:
    """Answer 3 of every 10 HTTP attempts to a service with Throttling, deterministically.

    Injected at ``before-send``, below botocore's retry handler, so the standard retry mode
    really retries. Never more than one throttle in a row: the outcome cannot depend on luck.
    """

    BODY = (
        '<ErrorResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><Error><Type>Sender</Type>'
        "<Code>Throttling</Code><Message>Rate exceeded</Message></Error>"
        "<RequestId>t</RequestId></ErrorResponse>"
    )

    def __init__(self, session: boto3.Session, service: str = "iam") -> None:
        self.attempts = 0
        self.throttled = 0
        session.events.register_first(f"before-send.{service}", self._maybe_throttle)

    def _maybe_throttle(self, request: Any, **_: Any) -> Any:  # AWSResponse | None
        self.attempts += 1
        if self.attempts % 10 in (1, 4, 7):
            self.throttled += 1
            return AWSResponse(request.url, 400, HTTPHeaders(), MockRawResponse(self.BODY))
        return None


def has_password(iam: Any, name: str) -> bool:
    try:
        iam.get_login_profile(UserName=name)
    except iam.exceptions.NoSuchEntityException:
        return False
    return True


@contextmanager
def remediation_fails(match: str) -> Iterator[None]:
    """The Lambda raised RemediationFailed; the document's step reports it as its failure."""
    with pytest.raises(RuntimeError, match=f"^RemediationFailed: .*{match}"):
        yield


def inventory_says(user_id: str, name: str) -> None:
    """Config's inventory (ListDiscoveredResources, which moto lacks) knows this name, maybe stale."""
    answer_operation(
        configured_session(),
        "config-service",
        "ListDiscoveredResources",
        lambda: {
            "resourceIdentifiers": [
                {"resourceType": "AWS::IAM::User", "resourceId": user_id, "resourceName": name}
            ]
        },
    )


class TrailEvents:
    """CloudTrail LookupEvents, which moto lacks, answered from events a test records.

    Shaped as CloudTrail answers: Events (at most 50 a page, NextToken), each with EventId,
    EventName, EventTime, EventSource, Resources and CloudTrailEvent, a JSON string holding
    eventName, eventTime, eventSource, requestParameters and, when given, userIdentity and
    errorCode. One lookup attribute per request, StartTime/EndTime honoured, MaxResults 1 to 50
    (InvalidMaxResultsException otherwise). ``fail_with`` makes every lookup answer that error code.
    """

    PAGE = 50

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.requests: list[dict[str, Any]] = []
        self.fail_with: str | None = None

    def record(
        self,
        event_name: str,
        user_name: str,
        when: datetime,
        source: str = "iam.amazonaws.com",
        caller: dict[str, str] | None = None,
        error_code: str | None = None,
        **parameters: str,
    ) -> None:
        """``caller``: the record's userIdentity; ``error_code``: a failed call's errorCode."""
        request = {"userName": user_name, **parameters} if user_name else parameters
        record: dict[str, Any] = {
            "eventName": event_name,
            "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eventSource": source,
            "requestParameters": request,
        }
        if caller is not None:
            record["userIdentity"] = caller
        if error_code is not None:
            record["errorCode"] = error_code
        self.events.append(
            {
                "EventId": f"event-{len(self.events)}",
                "EventName": event_name,
                "EventTime": when,
                "EventSource": source,
                "Resources": [{"ResourceType": "AWS::IAM::User", "ResourceName": user_name}]
                if user_name
                else [],
                "CloudTrailEvent": json.dumps(record),
            }
        )

    def answer(self, params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        request = json.loads(params["body"])
        self.requests.append(request)
        if self.fail_with:
            return error_answer(params["url"], self.fail_with, f"stubbed {self.fail_with}")
        attributes = request.get("LookupAttributes") or []  # at most one, as CloudTrail allows
        assert len(attributes) <= 1 and all(a["AttributeKey"] == "EventName" for a in attributes)
        start = datetime.fromtimestamp(request.get("StartTime", 0), UTC)
        end = datetime.fromtimestamp(request["EndTime"], UTC) if "EndTime" in request else datetime.now(UTC)
        matching = [
            e
            for e in reversed(self.events)  # newest first, as CloudTrail lists them
            if all(e["EventName"] == a["AttributeValue"] for a in attributes) and start <= e["EventTime"] <= end
        ]
        size = request.get("MaxResults", self.PAGE)
        if not 1 <= size <= self.PAGE:  # CloudTrail's MaxResults: 1 to 50
            return error_answer(params["url"], "InvalidMaxResultsException", "MaxResults must be 1 to 50")
        first = int(request.get("NextToken") or 0)
        answer: dict[str, Any] = {"Events": matching[first : first + size]}
        if first + size < len(matching):
            answer["NextToken"] = str(first + size)
        return AWSResponse(params["url"], 200, HTTPHeaders(), None), answer


class JsonEndpoint(BaseHTTPRequestHandler):
    """A local endpoint for an AWS JSON-protocol service: requests cross botocore's whole stack,
    retries included (a before-call stub would skip them). Subclasses implement ``answer``."""

    def answer(self, operation: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        raise NotImplementedError

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])) or b"{}")
        status, answer = self.answer(self.headers["X-Amz-Target"].split(".")[-1], body)
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def serving(
    handler: type[JsonEndpoint], endpoint_variable: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Serve ``handler`` on loopback and point the service's endpoint variable at it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv(endpoint_variable, f"http://127.0.0.1:{server.server_port}")
    try:
        yield
    finally:
        server.shutdown()


def new_function(session: Any, name: str) -> Any:
    """A Lambda function in the session's account, its code irrelevant; returns the Lambda client."""
    import io
    import zipfile

    iam = session.client("iam")
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("f.py", "def handler(event, context): pass\n")
    lam = session.client("lambda")
    lam.create_function(
        FunctionName=name,
        Runtime="python3.12",
        Role=role,
        Handler="f.handler",
        Code={"ZipFile": code.getvalue()},
    )
    return lam


def oversized_event(
    user_id: str,
    parameters: Mapping[str, str] = DEFAULT_PARAMETERS,
    token: str = TEST_MODE_TOKEN,
) -> dict[str, Any]:
    """What Config sends when the configuration item is too large for the event: a summary only."""
    invoking = {
        "configurationItemSummary": {
            "changeType": "UPDATE",
            "configurationItemVersion": "1.3",
            "configurationItemCaptureTime": timestamp(),
            "configurationStateId": 1700000000000,
            "awsAccountId": ACCOUNT_ID,
            "configurationItemStatus": "OK",
            "resourceType": "AWS::IAM::User",
            "resourceId": user_id,
            "ARN": "",
            "awsRegion": "global",
            "availabilityZone": "Not Applicable",
            "configurationStateMd5Hash": "",
            "resourceCreationTime": timestamp(),
        },
        "s3DeliverySummary": {"s3BucketLocation": "config-bucket/AWSLogs/oversized.json.gz"},
        "notificationCreationTime": timestamp(),
        "messageType": "OversizedConfigurationItemChangeNotification",
        "recordVersion": "1.0",
    }
    return config_event(invoking, parameters, token, eventLeftScope=False)


# -- credential report as IAM serves it -------------------------------------------------------

HEADER = (
    "user,arn,user_creation_time,password_enabled,password_last_used,password_last_changed,"
    "password_next_rotation,mfa_active,access_key_1_active"
)


def report_row(user: dict[str, Any], password: bool, mfa: bool) -> str:
    created = user["CreateDate"].strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return ",".join(
        [
            user["UserName"],
            user["Arn"],
            created,
            str(password).lower(),
            "no_information" if password else "N/A",
            created if password else "N/A",
            "N/A",
            str(mfa).lower(),
            "false",
        ]
    )


def report_content(rows: list[str]) -> bytes:
    """A credential report's CSV as GetCredentialReport returns it, the root account's row first."""
    return "\n".join(
        [
            HEADER,
            "<root_account>,arn:aws:iam::123456789012:root,N/A,not_supported,"
            "no_information,not_supported,not_supported,true,false",
            *rows,
        ]
    ).encode()


def stub_report(session: boto3.Session, rows: list[str]) -> None:
    """The report IAM would serve, possibly hours old (moto's always reflects the present)."""
    content = report_content(rows)
    answer_operation(session, "iam", "GenerateCredentialReport", lambda: {"State": "COMPLETE"})
    answer_operation(
        session,
        "iam",
        "GetCredentialReport",
        lambda: {"Content": content, "ReportFormat": "text/csv", "GeneratedTime": datetime(2026, 11, 23, 6, 0)},
    )


def verdicts_by_name(policy: RuleParameters) -> dict[str, str]:
    """Sweep with a new client, so that hooks registered by the test apply to it."""
    iam = configured_session().client("iam")
    now = datetime.now(UTC)
    trail = configured_session().client("cloudtrail", region_name="us-east-1")
    return {a.user.user_name: a.verdict.compliance.value for a in sweep(LiveIam(iam), policy, now, trail=trail)}


def stubbed_iam() -> tuple[Any, Stubber]:
    client = boto3.client("iam", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    return client, Stubber(client)


def installed_outside_a_clone(site: Path) -> dict[str, str]:
    """An environment whose ``python -m iam_console_mfa.cli`` runs the modules as a wheel puts
    them (copied into ``site`` once, first on PYTHONPATH), far from the clone's rules/ and stacks."""
    if not site.exists():
        root = Path(__file__).resolve().parents[1]
        site.mkdir()
        shutil.copy(root / "rules/IAM_USER_CONSOLE_MFA/IAM_USER_CONSOLE_MFA.py", site)
        shutil.copytree(root / "rules/IAM_USER_CONSOLE_MFA/console_mfa", site / "console_mfa")
        shutil.copytree(root / "src/iam_console_mfa", site / "iam_console_mfa")
    return {**os.environ, "PYTHONPATH": str(site)}


def allows(policy: dict[str, Any], principal: str, action: str, context: dict[str, str]) -> bool:
    """Does any Allow statement match this service principal's request (no Deny is used here)?"""
    for statement in policy["Statement"]:
        services = statement["Principal"].get("Service", [])
        if statement["Effect"] != "Allow" or principal not in (
            [services] if isinstance(services, str) else services
        ):
            continue
        if statement["Action"] != action:
            continue
        if all(
            _condition(operator, key.lower(), value, context)
            for operator, keys in statement.get("Condition", {}).items()
            for key, value in keys.items()
        ):
            return True
    return False


def _condition(operator: str, key: str, expected: Any, context: dict[str, str]) -> bool:
    actual = {k.lower(): v for k, v in context.items()}.get(key)
    if actual is None:  # the key is not in the request context: the condition does not match
        return False
    values = expected if isinstance(expected, list) else [expected]
    if operator == "StringEquals":
        return actual in values
    if operator in ("ArnLike", "ArnEquals"):  # IAM treats the two alike: both take wildcards
        return any(fnmatchcase(actual, v) for v in values)
    raise AssertionError(f"operator {operator} not modelled")


def account_session(sts: Any, account: str) -> boto3.Session:
    """A session in another account of the moto world (moto keys its backends by the account
    of the credentials AssumeRole hands out)."""
    credentials = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/deployer", RoleSessionName="deploy")[
        "Credentials"
    ]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="us-east-1",
    )
