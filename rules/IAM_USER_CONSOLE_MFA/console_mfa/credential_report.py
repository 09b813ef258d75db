"""The IAM credential report: one CSV for every user, as a cheap first pass for a sweep.

The report can be up to 4 hours old (IAM regenerates it only when older), so it never
decides a NON_COMPLIANT on its own: ``sweep`` confirms every candidate live.
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, NamedTuple

from botocore.exceptions import ClientError

from .aws import error_code, translated
from .errors import RuleError

if TYPE_CHECKING:  # type stubs only (a development dependency): the Lambda has boto3
    from mypy_boto3_iam import IAMClient

LOG = logging.getLogger(__name__)

ROOT_ROW = "<root_account>"  # the account's root user: not an IAM user, never evaluated
# Codes after which asking again later can succeed.
_WAIT_CODES = {"LimitExceeded", "ReportInProgress", "Throttling"}
_REGENERATE_CODES = {"ReportNotPresent", "ReportExpired"}


class ReportUnavailable(RuleError):
    """No COMPLETE report within its time budget: the sweep falls back to live reads."""


class ReportRow(NamedTuple):
    """The columns the decision needs, kept as the report's strings until used."""

    arn: str
    user_creation_time: str
    password_enabled: bool
    password_last_changed: str  # ISO date, or 'N/A' without a password
    mfa_active: bool


@dataclass(frozen=True)
class CredentialReport:
    generated: datetime
    rows: dict[str, ReportRow]  # by user name


def parse_rows(content: bytes) -> Iterator[tuple[str, ReportRow]]:
    """Stream the CSV by header name (AWS may add columns); skip the root account."""
    reader = csv.DictReader(io.TextIOWrapper(io.BytesIO(content), encoding="utf-8", newline=""))
    for record in reader:
        if record["user"] == ROOT_ROW:
            continue
        yield (
            record["user"],
            ReportRow(
                record["arn"],
                record["user_creation_time"],
                record["password_enabled"] == "true",
                record["password_last_changed"],
                record["mfa_active"] == "true",
            ),
        )


def fetch_report(
    iam: IAMClient,
    budget_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> CredentialReport:
    """GenerateCredentialReport until COMPLETE (bounded backoff), then GetCredentialReport.

    Raises ReportUnavailable when the budget runs out; any other AWS error is loud.
    """
    give_up_at = clock() + budget_seconds
    delay = 0.5
    attempts = 0
    while True:
        attempts += 1
        if _generate(iam) == "COMPLETE":
            report = _get(iam)
            if report is not None:
                return report
        if clock() + delay > give_up_at:
            raise ReportUnavailable(
                f"credential report not COMPLETE after {attempts} request(s) within {budget_seconds:.0f} s"
            )
        sleep(delay)
        delay = min(delay * 2, 8.0)


def _generate(iam: IAMClient) -> str:
    with translated("GenerateCredentialReport"):
        try:
            return iam.generate_credential_report()["State"]
        except ClientError as error:
            if error_code(error) in _WAIT_CODES:
                LOG.info("GenerateCredentialReport: %s, waiting", error_code(error))
                return "INPROGRESS"
            raise


def _get(iam: IAMClient) -> CredentialReport | None:
    """The report, or None when IAM says to wait or to generate it again."""
    with translated("GetCredentialReport"):
        try:
            response = iam.get_credential_report()
        except ClientError as error:
            if error_code(error) in _WAIT_CODES | _REGENERATE_CODES:
                LOG.info("GetCredentialReport: %s, retrying", error_code(error))
                return None
            raise
    return CredentialReport(response["GeneratedTime"], dict(parse_rows(response["Content"])))
