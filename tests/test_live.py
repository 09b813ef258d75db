"""console_mfa.live: the per-user IAM reads, paging and what a vanished user means."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from console_mfa.aws import configured_session
from console_mfa.errors import UserGone
from console_mfa.live import LiveIam
from console_mfa.model import UserName

from iam_console_mfa.demo.account import create_user
from tests.support import fail_operation, stubbed_iam


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
