"""The pure decision: every row of the table, its order, and its boundaries."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import botocore.session
import pytest
from botocore.model import StructureShape
from console_mfa.decision import MissingTags, decide
from console_mfa.model import (
    Compliance,
    LastUse,
    MfaKind,
    Reason,
    UserFacts,
    UserId,
    UserName,
    UserRef,
    mfa_kind,
)
from console_mfa.policy import ExemptTag, RemediationAction, RuleParameters

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SET = datetime(2026, 1, 2, 8, 30, tzinfo=UTC)
VIRTUAL = "arn:aws:iam::123456789012:mfa/alice"
FIDO = "arn:aws:iam::123456789012:u2f/user/alice/key-ABC"
HARDWARE = "GAHT12345678"
# PutEvaluations' Annotation as Config's service model declares it (botocore does not enforce max).
EVALUATION = botocore.session.get_session().get_service_model("config").shape_for("Evaluation")
assert isinstance(EVALUATION, StructureShape)
ANNOTATION = EVALUATION.members["Annotation"]


def facts(name: str = "alice", created=SET, serials=(), last_used=LastUse.UNKNOWN, tags=None) -> UserFacts:
    kinds = tuple(mfa_kind(serial) for serial in serials)
    return UserFacts(UserRef(UserId("AIDAEXAMPLE"), UserName(name)), created, kinds, last_used, tags)


def test_no_login_profile_is_not_applicable() -> None:
    verdict = decide(facts(created=None), RuleParameters(), NOW)
    assert (verdict.compliance, verdict.reason) == (Compliance.NOT_APPLICABLE, Reason.NO_PASSWORD)
    assert verdict.annotation == "alice: no console password"


@pytest.mark.parametrize(
    ("serials", "listed"),
    [
        ([VIRTUAL], "1 MFA device (1 virtual)"),
        ([HARDWARE], "1 MFA device (1 hardware TOTP)"),
        ([FIDO], "1 MFA device (1 FIDO security key/passkey)"),
        ([FIDO, VIRTUAL], "2 MFA devices (1 FIDO security key/passkey, 1 virtual)"),  # plural from 2
        (
            [FIDO, HARDWARE, VIRTUAL],
            "3 MFA devices (1 FIDO security key/passkey, 1 hardware TOTP, 1 virtual)",
        ),
    ],
)
def test_any_mfa_kind_is_compliant(serials: list[str], listed: str) -> None:
    verdict = decide(facts(serials=serials), RuleParameters(), NOW)
    assert (verdict.compliance, verdict.reason) == (Compliance.COMPLIANT, Reason.MFA)
    assert verdict.annotation == f"alice: console password with {listed}"


def test_mfa_reported_by_credential_report() -> None:
    reported = UserFacts(UserRef(UserId("AIDAEXAMPLE"), UserName("alice")), SET, (MfaKind.REPORTED,))
    verdict = decide(reported, RuleParameters(), NOW)
    assert verdict.compliance is Compliance.COMPLIANT
    assert verdict.annotation == "alice: console password with MFA (active per the IAM credential report)"


def test_mfa_wins_over_exemption_and_grace() -> None:
    policy = RuleParameters(exempt_user_names=("alice",), grace_period_days=30)
    assert decide(facts(serials=[VIRTUAL]), policy, NOW).reason is Reason.MFA


def test_no_mfa_is_non_compliant_with_dates() -> None:
    verdict = decide(facts(last_used=datetime(2026, 11, 1, tzinfo=UTC)), RuleParameters(), NOW)
    assert verdict.compliance is Compliance.NON_COMPLIANT
    assert verdict.annotation == (
        "alice: console password without MFA (password set 2026-01-02, last used 2026-11-01). "
        "Enable an MFA device, or console access will be removed."
    )


def test_never_used_and_unknown_last_use() -> None:
    assert "never used" in decide(facts(last_used=LastUse.NEVER), RuleParameters(), NOW).annotation
    assert "(password set 2026-01-02)" in decide(facts(), RuleParameters(), NOW).annotation


@pytest.mark.parametrize(
    ("patterns", "name", "matched"),
    [
        (("alice",), "alice", "'alice'"),
        (("ALICE",), "alice", "'ALICE'"),  # IAM user names are case-insensitive
        (("svc-*",), "SVC-Deploy", "'svc-*'"),
        (("bob", "a?ice"), "alice", "'a?ice'"),
        (("break-glass-[0-9]",), "break-glass-1", "'break-glass-[0-9]'"),
    ],
)
def test_exempt_by_name_or_glob(patterns: tuple[str, ...], name: str, matched: str) -> None:
    verdict = decide(facts(name=name), RuleParameters(exempt_user_names=patterns), NOW)
    assert (verdict.compliance, verdict.reason) == (Compliance.NOT_APPLICABLE, Reason.EXEMPT)
    assert verdict.annotation == f"{name}: console password without MFA, exempt by ExemptUserNames {matched}"


def test_glob_does_not_match_partially() -> None:
    assert (
        decide(facts(name="my-svc-x"), RuleParameters(exempt_user_names=("svc-*",)), NOW).reason
        is Reason.NO_MFA
    )


@pytest.mark.parametrize(
    ("tag", "tags", "exempt"),
    [
        (ExemptTag("BreakGlass", None), {"BreakGlass": "anything"}, True),
        (ExemptTag("breakglass", None), {"BreakGlass": ""}, True),
        (ExemptTag("BreakGlass", "true"), {"BreakGlass": "true"}, True),
        (ExemptTag("BreakGlass", "true"), {"BreakGlass": "TRUE"}, False),
        (ExemptTag("BreakGlass", None), {"Other": "x"}, False),
    ],
)
def test_exempt_by_tag(tag: ExemptTag, tags: dict[str, str], exempt: bool) -> None:
    verdict = decide(facts(tags=tags), RuleParameters(exempt_tag=tag), NOW)
    assert verdict.reason is (Reason.EXEMPT if exempt else Reason.NO_MFA)
    if exempt:
        assert verdict.annotation.endswith(f"exempt by ExemptTag {str(tag)!r}")


def test_exemption_comes_before_grace() -> None:
    verdict = decide(facts(created=NOW), RuleParameters(exempt_user_names=("alice",), grace_period_days=7), NOW)
    assert verdict.reason is Reason.EXEMPT


def test_tags_are_needed_only_for_users_an_exempt_tag_could_spare() -> None:
    policy = RuleParameters(exempt_tag=ExemptTag("BreakGlass", None))
    assert policy.needs_tags(facts())
    assert not policy.needs_tags(facts(created=None))
    assert not policy.needs_tags(facts(serials=[VIRTUAL]))
    assert not RuleParameters().needs_tags(facts())
    assert not RuleParameters(exempt_user_names=("alice",), exempt_tag=policy.exempt_tag).needs_tags(facts())
    with pytest.raises(MissingTags):  # never guess: missing tags cannot become a verdict
        decide(facts(), policy, NOW)


@pytest.mark.parametrize(
    ("age", "reason"),
    [
        (timedelta(days=7) - timedelta(seconds=1), Reason.GRACE),
        (timedelta(days=7), Reason.NO_MFA),  # exactly N days: the grace period is over
        (timedelta(days=7, seconds=1), Reason.NO_MFA),
        (timedelta(0), Reason.GRACE),
    ],
)
def test_grace_boundaries(age: timedelta, reason: Reason) -> None:
    verdict = decide(facts(created=NOW - age), RuleParameters(grace_period_days=7), NOW)
    assert verdict.reason is reason


def test_grace_annotation_and_zero_grace() -> None:
    verdict = decide(facts(created=NOW - timedelta(days=2)), RuleParameters(grace_period_days=7), NOW)
    assert verdict.compliance is Compliance.COMPLIANT
    assert verdict.annotation == (
        "alice: console password set 2026-11-21 without MFA; grace period ends on 2026-11-28"
    )
    assert decide(facts(created=NOW), RuleParameters(grace_period_days=0), NOW).reason is Reason.NO_MFA


def test_annotations_fit_with_longest_names_and_quotes() -> None:
    name = "n" * 64  # IAM's maximum user-name length
    long_glob = "n" * 63 + "*"
    long_tag = ExemptTag("k" * 128, "v" * 256)
    cases = [
        decide(facts(name=name, created=None), RuleParameters(), NOW),
        decide(facts(name=name, serials=[FIDO, HARDWARE, VIRTUAL, VIRTUAL]), RuleParameters(), NOW),
        decide(facts(name=name), RuleParameters(exempt_user_names=(long_glob,)), NOW),
        decide(facts(name=name, tags={"k" * 128: "v" * 256}), RuleParameters(exempt_tag=long_tag), NOW),
        decide(facts(name=name, created=NOW), RuleParameters(grace_period_days=3650), NOW),
        decide(facts(name=name, last_used=NOW), RuleParameters(), NOW),
        # the longest last sentence: what the remediation will do
        decide(
            facts(name=name, last_used=NOW),
            RuleParameters(remediation_action=RemediationAction.REQUIRE_MFA_AND_DEACTIVATE_KEYS),
            NOW,
        ),
    ]
    for verdict in cases:
        assert ANNOTATION.metadata == {"min": 1, "max": 256}  # what the quote cut was sized for
        assert ANNOTATION.metadata["min"] <= len(verdict.annotation) <= ANNOTATION.metadata["max"]
        assert verdict.annotation.startswith(name)


def test_a_quoted_pattern_is_cut_at_48_characters() -> None:
    """The cut that keeps every annotation within 256 characters: 48 characters, then '...'."""
    for length in (48, 49, 128):
        pattern = "n" + "*" * (length - 1)  # matches the user n
        shown = pattern if length <= 48 else pattern[:45] + "..."
        verdict = decide(facts(name="n"), RuleParameters(exempt_user_names=(pattern,)), NOW)
        assert verdict.annotation.endswith(f"exempt by ExemptUserNames {shown!r}"), (length, verdict.annotation)
