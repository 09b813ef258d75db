"""console_mfa.live: the per-user IAM reads, paging and what a vanished user means."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from console_mfa.aws import configured_session
from console_mfa.errors import RuleError, UserGone
from console_mfa.live import LiveIam
from console_mfa.model import MfaKind, UserId, UserName
from console_mfa.policy import DataSource, RuleParameters
from console_mfa.sweep import sweep

from iam_console_mfa.demo.account import Mfa, create_user
from tests.support import CallLog, fail_operation, stubbed_iam


def test_list_user_tags_no_such_entity_means_the_user_is_gone(iam: Any) -> None:
    """live.tags: NoSuchEntity -> UserGone (the sweep then skips the user, writing nothing)."""
    create_user(iam, "bob")
    fail_operation(configured_session(), "iam", "ListUserTags", "NoSuchEntity", 404)
    with pytest.raises(UserGone):  # a client made after the stub sees it
        LiveIam(configured_session().client("iam")).tags(UserName("bob"))


def test_list_users_follows_every_page_at_iam_maximum_page_size() -> None:
    client, stub = stubbed_iam()
    created = datetime(2026, 1, 1, tzinfo=UTC)
    pages = [[f"u{p}-{i}" for i in range(3)] for p in range(3)]
    for number, names in enumerate(pages):
        response: dict[str, Any] = {
            "Users": [
                {
                    "UserName": n,
                    "UserId": f"AIDA{n.upper():0<17}",
                    "Arn": f"arn:aws:iam::1:user/{n}",
                    "Path": "/",
                    "CreateDate": created,
                }
                for n in names
            ],
            "IsTruncated": number < 2,
        }
        if number < 2:
            response["Marker"] = f"m{number}"
        expected = {"MaxItems": 1000, **({"Marker": f"m{number - 1}"} if number else {})}
        stub.add_response("list_users", response, expected)
    with stub:
        listed = list(LiveIam(client).list_users())
    assert [u.user.user_name for u in listed] == [n for page in pages for n in page]


def test_a_live_sweep_asks_listmfadevices_only_of_console_users_without_a_virtual_device(iam: Any) -> None:
    """One ListVirtualMFADevices listing stands in for ListMFADevices where it already shows a
    device; hardware TOTP and FIDO devices are not in it, so those users are still asked."""
    mfa_by_name = {"virt": Mfa.VIRTUAL, "hard": Mfa.HARDWARE, "fido": Mfa.FIDO, "none": Mfa.NONE}
    for name, mfa in mfa_by_name.items():
        create_user(iam, name, mfa=mfa)
    create_user(iam, "nopass", password=False, mfa=Mfa.VIRTUAL)
    asked: list[str] = []
    session = configured_session()
    session.events.register(
        "provide-client-params.iam.ListMFADevices", lambda params, **_: asked.append(params["UserName"])
    )
    calls = CallLog(session)
    live = LiveIam(session.client("iam"))
    assessments = sweep(live, RuleParameters(data_source=DataSource.LIVE), datetime.now(UTC), trail=None)
    verdicts = {a.user.user_name: a.verdict.compliance for a in assessments}
    assert verdicts == {
        "fido": "COMPLIANT",
        "hard": "COMPLIANT",
        "none": "NON_COMPLIANT",
        "nopass": "NOT_APPLICABLE",
        "virt": "COMPLIANT",
    }
    assert sorted(asked) == ["fido", "hard", "none"]
    assert calls.operations("iam").count("ListVirtualMFADevices") == 1


def test_assigned_virtual_devices_are_paged_and_matched_by_user_id() -> None:
    """ListVirtualMFADevices stubbed with two pages shaped as IAM documents them (IsTruncated,
    Marker; Stubber checks the shapes): every page is read at IAM's maximum page size, and a
    device is keyed by its user's UserId, which survives a rename."""
    client, stub = stubbed_iam()
    enabled = datetime(2026, 1, 1, tzinfo=UTC)

    def device(name: str, user_id: str, arn: str) -> dict[str, Any]:
        user = {"UserName": name, "UserId": user_id, "Arn": arn, "Path": "/", "CreateDate": enabled}
        return {"SerialNumber": f"arn:aws:iam::111122223333:mfa/{name}", "User": user, "EnableDate": enabled}

    first = {
        "VirtualMFADevices": [device("alice", "AIDAALICEEXAMPLE01", "arn:aws:iam::111122223333:user/alice")],
        "IsTruncated": True,
        "Marker": "page-2",
    }
    second = {
        "VirtualMFADevices": [
            device("bob", "AIDABOBEXAMPLE0001", "arn:aws:iam::111122223333:user/bob"),
            device("bob-2", "AIDABOBEXAMPLE0001", "arn:aws:iam::111122223333:user/bob"),
        ],
        "IsTruncated": False,
    }
    stub.add_response("list_virtual_mfa_devices", first, {"AssignmentStatus": "Assigned", "MaxItems": 1000})
    expected = {"AssignmentStatus": "Assigned", "MaxItems": 1000, "Marker": "page-2"}
    stub.add_response("list_virtual_mfa_devices", second, expected)
    with stub:
        devices = LiveIam(client).assigned_virtual_mfa()
    stub.assert_no_pending_responses()
    assert devices == {
        UserId("AIDAALICEEXAMPLE01"): (MfaKind.VIRTUAL,),
        UserId("AIDABOBEXAMPLE0001"): (MfaKind.VIRTUAL, MfaKind.VIRTUAL),  # two devices, one user
    }


def test_a_failed_virtual_device_listing_fails_the_live_sweep_loudly(iam: Any) -> None:
    create_user(iam, "bob")
    fail_operation(configured_session(), "iam", "ListVirtualMFADevices", "AccessDenied", 403)
    with pytest.raises(RuleError, match="ListVirtualMFADevices failed: AccessDenied"):
        sweep(
            LiveIam(configured_session().client("iam")),
            RuleParameters(data_source=DataSource.LIVE),
            datetime.now(UTC),
            trail=None,
        )
