"""Remediation against a changing account: identity and decide-then-act races.

Each race is injected with a botocore hook at the exact step where it can happen in real
AWS (between resolving the name and tagging, between tagging and deleting). The assertion is
always the same: no password is deleted of a user who, at the moment of the delete, has MFA,
is exempt, is inside the grace period, or is a different user than the UserId asked about.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from console_mfa import remediation
from console_mfa.aws import IAM_PROPAGATION_WAITS_SECONDS, configured_session
from console_mfa.remediation import AUDIT_TAG, resolve_user_name

from iam_console_mfa.demo.account import Mfa, backdate, create_user, enable_mfa
from tests.stacks import DOCUMENT, run_document
from tests.support import (
    CallLog,
    answer_operation,
    fail_operation,
    has_password,
    inventory_says,
    remediation_fails,
)

ROLE = {"AutomationAssumeRole": "arn:aws:iam::123456789012:role/remediation"}
pytestmark = pytest.mark.usefixtures("deployed")


def run(**parameters: Any) -> dict[str, str]:
    return run_document(DOCUMENT, **ROLE, **parameters)


def once_after(operation: str, action: Callable[[], None]) -> None:
    """Run ``action`` once, right after the first successful ``operation`` call."""
    done: list[bool] = []

    def hook(**_: Any) -> None:
        if not done:
            done.append(True)
            action()

    configured_session().events.register(f"after-call.iam.{operation}", hook)


def tag(iam: Any, name: str) -> Any:  # the audit tag's value, None when absent
    return {t["Key"]: t["Value"] for t in iam.list_user_tags(UserName=name)["Tags"]}.get(AUDIT_TAG)


def test_stale_inventory_after_a_rename_never_touches_the_new_holder_of_the_name(iam: Any) -> None:
    renamed = create_user(iam, "bob")
    iam.update_user(UserName="bob", NewUserName="robert")
    newcomer = create_user(iam, "bob", mfa=Mfa.NONE)  # the old name, another UserId
    inventory_says(renamed["UserId"], "bob")
    summary = run(IAMUserId=renamed["UserId"])
    assert summary["UserName"] == "robert" and summary["UserId"] == renamed["UserId"]
    assert not has_password(iam, "robert")
    assert has_password(iam, "bob") and tag(iam, "bob") is None
    assert newcomer["UserId"] != renamed["UserId"]


def test_stale_name_of_nobody_resolves_to_the_real_user(iam: Any) -> None:
    user = create_user(iam, "bob")
    inventory_says(user["UserId"], "ghost")  # no such user: once ended as "no console password"
    summary = run(IAMUserId=user["UserId"])
    assert (summary["UserName"], summary["VerdictBefore"]) == ("bob", "NON_COMPLIANT")
    assert not has_password(iam, "bob")


def test_inventory_entry_for_another_user_id_is_not_even_looked_up(iam: Any, call_log: CallLog) -> None:
    """resolve_user_name reads an inventory name only when its resourceId is the UserId asked about."""
    asked, other = create_user(iam, "bob"), create_user(iam, "alice")
    inventory_says(other["UserId"], "alice")  # an answer about someone else
    session = configured_session()
    assert resolve_user_name(session.client("iam"), session.client("config"), asked["UserId"]) == "bob"
    assert call_log.operations("iam") == ["ListUsers"]  # no GetUser of "alice": straight to the scan


@pytest.mark.parametrize("newcomer_mfa", [Mfa.NONE, Mfa.VIRTUAL])
def test_user_recreated_under_the_same_name_before_the_delete_keeps_the_password(
    iam: Any, call_log: CallLog, newcomer_mfa: Mfa
) -> None:
    old = create_user(iam, "bob")

    def recreate() -> None:
        iam.delete_login_profile(UserName="bob")
        iam.untag_user(UserName="bob", TagKeys=[AUDIT_TAG])
        iam.delete_user(UserName="bob")
        create_user(iam, "bob", mfa=newcomer_mfa)

    once_after("TagUser", recreate)
    if newcomer_mfa is Mfa.NONE:
        # the re-decision still says NON_COMPLIANT (for the newcomer): the identity check stops it
        with remediation_fails(f"bob now belongs to .*, not {old['UserId']}"):
            run(IAMUserId=old["UserId"])
    else:
        assert run(IAMUserId=old["UserId"])["Action"] == "none"
    assert has_password(iam, "bob")
    assert "DeleteLoginProfile" not in call_log.operations("iam")


def test_user_renamed_between_decision_and_tag_is_not_tagged_under_its_old_name(iam: Any) -> None:
    user = create_user(iam, "bob")
    once_after("ListMFADevices", lambda: iam.update_user(UserName="bob", NewUserName="robert"))
    with remediation_fails("before TagUser: user name bob no longer exists"):
        run(IAMUserId=user["UserId"])
    assert has_password(iam, "robert")


def _grant_mfa(iam: Any) -> None:
    enable_mfa(iam, iam.get_user(UserName="bob")["User"], Mfa.VIRTUAL)


def _tag_exempt(iam: Any) -> None:
    iam.tag_user(UserName="bob", Tags=[{"Key": "BreakGlass", "Value": "approved"}])


def _new_login_profile(iam: Any) -> None:
    iam.delete_login_profile(UserName="bob")
    iam.create_login_profile(UserName="bob", Password="Correct-Horse-9!")
    backdate("123456789012", "bob", days=0)  # moto dates the login profile from the user: now, in grace


@pytest.mark.parametrize(
    ("race", "reason"),
    [(_grant_mfa, "mfa-enabled"), (_tag_exempt, "exempt"), (_new_login_profile, "grace-period")],
)
def test_change_between_decision_and_delete_is_seen_by_the_re_decision(
    iam: Any, call_log: CallLog, deployed: Any, race: Callable[[Any], None], reason: str
) -> None:
    deployed(ExemptTag="BreakGlass=approved", GracePeriodDays="7")
    user = create_user(iam, "bob")
    backdate("123456789012", "bob", days=10)
    once_after("TagUser", lambda: race(iam))
    summary = run(IAMUserId=user["UserId"])
    assert summary["VerdictBefore"] == "NON_COMPLIANT" and summary["Action"] == "none"
    assert summary["Reason"].startswith("re-checked before acting: ")
    assert has_password(iam, "bob")
    assert "DeleteLoginProfile" not in call_log.operations("iam")
    assert tag(iam, "bob").endswith(f"not acted on: {reason} at the last check")


def test_audit_tag_says_pending_then_removed(iam: Any) -> None:
    user = create_user(iam, "bob")
    seen = []
    once_after("TagUser", lambda: seen.append(tag(iam, "bob")))
    run(IAMUserId=user["UserId"])
    assert seen[0].endswith("pending: console password to be removed: no MFA device")
    assert tag(iam, "bob").endswith("console password removed: no MFA device")


@pytest.mark.parametrize(("code", "status"), [("AccessDenied", 403), ("UnmodifiableEntity", 400)])
def test_failed_delete_leaves_a_tag_that_says_so(iam: Any, code: str, status: int) -> None:
    """Any refusal but NoSuchEntity (already gone: the goal is reached) fails the run."""
    user = create_user(iam, "bob")
    fail_operation(configured_session(), "iam", "DeleteLoginProfile", code, status)
    with pytest.raises(Exception, match=f"DeleteLoginProfile for user bob failed: {code}"):
        run(IAMUserId=user["UserId"])
    assert has_password(iam, "bob")
    assert tag(iam, "bob").endswith(f"removal failed: {code}")


def test_user_at_the_50_tag_limit_is_still_remediated(iam: Any) -> None:
    user = create_user(iam, "bob", tags={f"k{i}": "v" for i in range(50)})
    fail_operation(configured_session(), "iam", "TagUser", "LimitExceeded", 409)  # IAM's answer at 50 tags
    summary = run(IAMUserId=user["UserId"])
    assert summary["Action"] == "tagged the user and deleted its login profile"
    assert summary["AuditTag"] == "not written: the user holds 50 tags"
    assert not has_password(iam, "bob")


def test_delete_that_does_not_take_effect_is_a_failure(iam: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(remediation, "time", SimpleNamespace(sleep=waits.append))
    user = create_user(iam, "bob")
    # DeleteLoginProfile answers success but the profile stays (the post-delete check's reason to be)
    answer_operation(configured_session(), "iam", "DeleteLoginProfile", lambda: {})
    with remediation_fails("bob: login profile still present 15 s after DeleteLoginProfile"):
        run(IAMUserId=user["UserId"])
    assert waits == list(IAM_PROPAGATION_WAITS_SECONDS)  # IAM's propagation, bounded
    assert "console password removed" not in tag(iam, "bob")  # the tag never claims it


def stale_login_profile_reads(reads: int) -> None:
    """IAM is eventually consistent: after DeleteLoginProfile, the next ``reads`` GetLoginProfile
    answers still show the profile, shaped as IAM returns it."""
    deleted: list[bool] = []
    served: list[bool] = []
    session = configured_session()
    session.events.register("after-call.iam.DeleteLoginProfile", lambda **_: deleted.append(True))

    def stale(params: dict[str, Any], **_: Any) -> Any:
        if not deleted or len(served) >= reads:
            return None  # moto answers
        served.append(True)
        profile = {"UserName": "bob", "CreateDate": datetime.now(UTC), "PasswordResetRequired": False}
        return AWSResponse(params["url"], 200, HTTPHeaders(), None), {"LoginProfile": profile}

    session.events.register_first("before-call.iam.GetLoginProfile", stale)


def test_a_deletion_not_yet_visible_is_waited_for(iam: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []
    monkeypatch.setattr(remediation, "time", SimpleNamespace(sleep=waits.append))
    user = create_user(iam, "bob")
    stale_login_profile_reads(2)
    summary = run(IAMUserId=user["UserId"])
    assert summary["Action"] == "tagged the user and deleted its login profile"
    assert waits == [1.0, 2.0] and "console password removed" in tag(iam, "bob")
