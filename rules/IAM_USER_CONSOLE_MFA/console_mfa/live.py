"""Live IAM collectors: the truth at the moment of the call, one user at a time.

A change-triggered evaluation costs GetUser (the name still belongs to the configuration
item's UserId; it also gives "last used") and GetLoginProfile, plus ListMFADevices only when
a password exists, plus ListUserTags only when an ExemptTag could spare the user and the
configuration item carried no tags.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

from botocore.exceptions import ClientError

from .aws import error_code, translated
from .errors import UserGone
from .model import LastUse, MfaKind, UserFacts, UserId, UserName, UserRef, mfa_kind
from .policy import RuleParameters

if TYPE_CHECKING:  # type stubs only (a development dependency): the Lambda has boto3
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_iam.type_defs import UserTypeDef


class ListedUser(NamedTuple):
    """One ListUsers entry: what a sweep knows before asking about the password."""

    user: UserRef
    arn: str
    created: datetime
    password_last_used: datetime | LastUse


class LiveIam:
    """Per-user IAM reads with IAM's error codes turned into facts or loud errors."""

    def __init__(self, iam: IAMClient) -> None:
        self.iam = iam

    def list_users(self) -> Iterator[ListedUser]:
        with translated("ListUsers"):
            # MaxItems defaults to 100: ask for IAM's maximum page, 1,000 users.
            for page in self.iam.get_paginator("list_users").paginate(PaginationConfig={"PageSize": 1000}):
                for entry in page["Users"]:
                    yield listed_user(entry)

    def user_entry(self, user_name: str) -> UserTypeDef | None:
        """GetUser's entry (UserId, Arn, CreateDate, PasswordLastUsed, ...); None when no user has the name."""
        with translated("GetUser", user_name):
            try:
                return self.iam.get_user(UserName=user_name)["User"]
            except ClientError as error:
                if error_code(error) == "NoSuchEntity":
                    return None
                raise

    def identity_checked(self, user: UserRef) -> datetime | LastUse:
        """The user's PasswordLastUsed, once GetUser shows that its name still belongs to its UserId.

        IAM's per-user reads take a name, and GetLoginProfile answers NoSuchEntity both for "no
        password" and "no such user": without this check a deleted user would read "no console
        password", and a renamed or recreated one would be judged on another user's facts.
        Raises UserGone in both cases; Config sends a newer configuration item for each.
        """
        entry = self.user_entry(user.user_name)
        if entry is None:
            raise UserGone(f"no IAM user is named {user.user_name} ({user.user_id})")
        if entry["UserId"] != user.user_id:
            raise UserGone(
                f"{user.user_name} now belongs to {entry['UserId']}, not {user.user_id} (renamed or recreated)"
            )
        return listed_user(entry).password_last_used

    def password_created(self, user_name: UserName) -> datetime | None:
        """The login profile's CreateDate, or None when there is no console password."""
        # NoSuchEntity also answers for a user deleted meanwhile: "no console password" is
        # then true as well, and Config's deletion event follows. (A change evaluation has
        # checked that the user exists first: identity_checked.)
        with translated("GetLoginProfile", user_name):
            try:
                profile = self.iam.get_login_profile(UserName=user_name)
            except ClientError as error:
                if error_code(error) == "NoSuchEntity":
                    return None
                raise
        return profile["LoginProfile"]["CreateDate"]

    def assigned_virtual_mfa(self) -> dict[UserId, tuple[MfaKind, ...]]:
        """Each user's assigned virtual MFA devices, account-wide, by UserId.

        ListVirtualMFADevices(AssignmentStatus=Assigned) answers up to 1,000 devices a page, each
        with the User it is assigned to: a sweep then needs ListMFADevices only for console users
        without one (hardware TOTP and FIDO devices are not in this list). UserId, not the name,
        so a device follows its user through a rename; the root user's devices match no UserId.
        """
        devices: dict[UserId, tuple[MfaKind, ...]] = {}
        with translated("ListVirtualMFADevices"):
            pages = self.iam.get_paginator("list_virtual_mfa_devices").paginate(
                AssignmentStatus="Assigned", PaginationConfig={"PageSize": 1000}
            )
            for page in pages:
                for device in page["VirtualMFADevices"]:
                    if "User" in device:
                        user_id = UserId(device["User"]["UserId"])
                        devices[user_id] = (*devices.get(user_id, ()), mfa_kind(device["SerialNumber"]))
        return devices

    def mfa_kinds(self, user_name: UserName) -> tuple[MfaKind, ...]:
        """Every MFA device kind: ListVirtualMFADevices alone would miss FIDO and hardware."""
        kinds: list[MfaKind] = []
        with translated("ListMFADevices", user_name):
            try:
                for page in self.iam.get_paginator("list_mfa_devices").paginate(UserName=user_name):
                    kinds.extend(mfa_kind(device["SerialNumber"]) for device in page["MFADevices"])
            except ClientError as error:
                if error_code(error) == "NoSuchEntity":
                    raise UserGone(user_name) from error
                raise
        return tuple(kinds)

    def tags(self, user_name: UserName) -> dict[str, str]:
        tags: dict[str, str] = {}
        with translated("ListUserTags", user_name):
            try:
                for page in self.iam.get_paginator("list_user_tags").paginate(UserName=user_name):
                    tags.update((tag["Key"], tag["Value"]) for tag in page["Tags"])
            except ClientError as error:
                if error_code(error) == "NoSuchEntity":
                    raise UserGone(user_name) from error
                raise
        return tags

    def confirm(
        self,
        user: UserRef,
        policy: RuleParameters,
        password_last_used: datetime | LastUse = LastUse.UNKNOWN,
        tags: Mapping[str, str] | None = None,
        virtual_mfa: tuple[MfaKind, ...] = (),
    ) -> UserFacts:
        """Collect live facts for one user, asking only what the decision can use.

        ``virtual_mfa``: the user's assigned virtual devices when a sweep listed them
        (assigned_virtual_mfa); with one, ListMFADevices has nothing to add to the verdict.
        Raises UserGone when the user disappears while being inspected.
        """
        created = self.password_created(user.user_name)
        facts = UserFacts(user, created, password_last_used=password_last_used, tags=tags)
        if created is None:
            return facts
        facts = facts._replace(mfa_kinds=virtual_mfa or self.mfa_kinds(user.user_name))
        if facts.tags is None and policy.needs_tags(facts):
            facts = facts._replace(tags=self.tags(user.user_name))
        return facts


def listed_user(entry: Mapping[str, Any]) -> ListedUser:
    # ListUsers omits PasswordLastUsed for users who never signed in with a password
    # (and for users without one), so absence means "never" here.
    last_used = entry.get("PasswordLastUsed") or LastUse.NEVER
    return ListedUser(
        UserRef(UserId(entry["UserId"]), UserName(entry["UserName"])),
        entry["Arn"],
        entry["CreateDate"],
        last_used,
    )
