"""The demo account's users: IAM users in a given state on moto.

The tests and the benchmark seed their accounts with the same functions.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mypy_boto3_iam import IAMClient


class Mfa(enum.StrEnum):
    NONE = "none"
    VIRTUAL = "virtual"
    HARDWARE = "hardware"
    FIDO = "fido"


def create_user(
    iam: IAMClient,
    name: str,
    *,
    password: bool = True,
    mfa: Mfa = Mfa.NONE,
    tags: Mapping[str, str] | None = None,
    path: str = "/",
) -> dict[str, Any]:
    """Create one user; return its ListUsers-shaped entry (UserName, UserId, Arn, CreateDate)."""
    kwargs: dict[str, Any] = {"UserName": name, "Path": path}
    if tags:
        kwargs["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    user = iam.create_user(**kwargs)["User"]
    if password:
        iam.create_login_profile(UserName=name, Password="Correct-Horse-9!")
    if mfa is not Mfa.NONE:
        enable_mfa(iam, user, mfa)
    return dict(user)


def enable_mfa(iam: IAMClient, user: Mapping[str, Any], mfa: Mfa) -> str:
    name = user["UserName"]
    account = user["Arn"].split(":")[4]
    if mfa is Mfa.VIRTUAL:
        serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]["SerialNumber"]
    elif mfa is Mfa.FIDO:
        serial = f"arn:aws:iam::{account}:u2f/user/{name}/fido-{name}"[:256]
    else:
        serial = f"GAHT{user['UserId'][-8:].upper()}"  # unique per user, like a token's serial
    iam.enable_mfa_device(
        UserName=name, SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
    )
    return str(serial)


def backdate(
    account_id: str, user_name: str, days: float, password_last_used_days: float | None = None
) -> None:
    """Move a moto user's creation (and so its login profile's CreateDate) into the past.

    moto stamps both with "now" and has no API to change them; the demo and the tests need
    users older than a grace period, so this reaches into moto's IAM backend.
    """
    from moto.iam.models import iam_backends

    user = iam_backends[account_id]["global"].users[user_name]
    now = datetime.now(UTC).replace(tzinfo=None)  # moto keeps naive UTC datetimes
    user.create_date = now - timedelta(days=days)
    if password_last_used_days is not None:
        user.password_last_used = now - timedelta(days=password_last_used_days)  # type: ignore[assignment]
