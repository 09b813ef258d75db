"""The periodic sweep: one assessment for every IAM user, from one data source.

This is the seam between fact collection and the decision: every path ends in ``decide``
on UserFacts, so the data source never changes a rule of the table.

- ``live``: GetLoginProfile for every user, the account's assigned virtual MFA devices, and
  ListMFADevices for every console user without one.
- ``credential-report``: one report for everyone; a user it shows with a password and no
  MFA is confirmed live before it may be NON_COMPLIANT, and a user missing from it (created
  after it, or recreated under the same name) is read live.
- ``auto``: live up to LIVE_MAX_USERS users, the report above.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import TYPE_CHECKING, NamedTuple

from .decision import decide
from .errors import OutOfTime, UserGone
from .live import ListedUser, LiveIam
from .model import Assessment, MfaKind, UserFacts, UserId, user_key
from .policy import DataSource, RuleParameters
from .pool import DEFAULT_WORKERS, ordered

if TYPE_CHECKING:  # type stubs (a development dependency), and the report path's module
    from mypy_boto3_cloudtrail import CloudTrailClient

    from .credential_report import CredentialReport, ReportRow

LOG = logging.getLogger(__name__)

# With its CloudTrail delta the report path is as fresh as the live path, so ``auto`` only
# weighs cost: live reads cost about 1.6 calls per user (GetLoginProfile for every user,
# ListMFADevices for the ~60% with a password), the report path about 11 fixed calls
# (GenerateCredentialReport with a poll, GetCredentialReport, 6 CloudTrail lookups) plus 2 per
# user shown without MFA (measured by make bench: 163 calls live at 100 users). They meet near
# 10 users; up to 20, live keeps a tiny account clear of the report's generation wait.
LIVE_MAX_USERS = 20
REPORT_BUDGET_SECONDS = 90.0


@dataclass(frozen=True)
class Deadline:
    """Fail before Lambda kills the sweep, so a partial sweep is never written.

    ``reserve_ms`` is kept for rdklib's clean-up read and PutEvaluations after the sweep.
    """

    remaining_ms: Callable[[], int] | None = None
    reserve_ms: int = 20_000

    def seconds_left(self) -> float | None:
        if self.remaining_ms is None:
            return None
        return max(0.0, (self.remaining_ms() - self.reserve_ms) / 1000)

    def check(self, progress: str) -> None:
        if self.remaining_ms is not None and self.remaining_ms() < self.reserve_ms:
            raise OutOfTime(
                f"sweep stopped with {self.remaining_ms()} ms left ({progress}); nothing was "
                "written. Raise the Lambda timeout or use DataSource=credential-report."
            )


NO_DEADLINE = Deadline()
NO_DEVICES: Mapping[UserId, tuple[MfaKind, ...]] = MappingProxyType({})


class Claims(NamedTuple):
    """Users the near-real-time store names (console_mfa.changes), read live by the sweep
    whatever the report or CloudTrail says (user keys: lower-cased names). A claim only adds
    a live read: no user is ever left out of a sweep because of the store."""

    mine: frozenset[str]  # this run claimed them
    theirs: frozenset[str]  # another run claimed them recently, or the item is suspect

    @property
    def read_live(self) -> frozenset[str]:
        return self.mine | self.theirs


NO_CLAIMS = Claims(frozenset(), frozenset())


def choose_source(policy: RuleParameters, user_count: int) -> DataSource:
    if policy.data_source is DataSource.AUTO:
        return DataSource.LIVE if user_count <= LIVE_MAX_USERS else DataSource.CREDENTIAL_REPORT
    return policy.data_source


Progress = Callable[[int, int], None]  # (users done, users in all): the CLI's progress bar


def no_progress(done: int, total: int) -> None:
    pass


def sweep(
    live: LiveIam,
    policy: RuleParameters,
    now: datetime,
    deadline: Deadline = NO_DEADLINE,
    progress: Progress = no_progress,
    *,
    trail: CloudTrailClient | None,
    users: list[ListedUser] | None = None,
    claims: Claims = NO_CLAIMS,
    workers: int = DEFAULT_WORKERS,
) -> list[Assessment]:
    """Every user's assessment. ``trail``: a CloudTrail client in IAM's event region, or None.

    The report path is only taken with its CloudTrail delta (``trail``): without it, or when
    the report or the delta cannot be had, every user is read live (within the deadline, else
    OutOfTime): a report is never trusted blind. ``users``: ListUsers' answer when the caller
    already has it. ``claims``: the near-real-time store's users (console_mfa.changes), read
    live whatever the report or CloudTrail says. ``workers``: per-user reads in flight.
    """
    users = list(live.list_users()) if users is None else users
    if choose_source(policy, len(users)) is DataSource.CREDENTIAL_REPORT:
        left = deadline.seconds_left()
        budget = REPORT_BUDGET_SECONDS if left is None else min(REPORT_BUDGET_SECONDS, left / 2)
        from . import credential_report as report  # only the report path needs csv
        from .trail import DeltaUnavailable, changed_since

        try:
            if trail is None:
                raise DeltaUnavailable("no CloudTrail client for the report's delta")
            fetched = report.fetch_report(live.iam, budget)
            changed = {user_key(n) for n in changed_since(trail, fetched.generated, now, deadline)}
        except (report.ReportUnavailable, DeltaUnavailable) as error:
            LOG.warning("falling back to live reads for %d users: %s", len(users), error)
        else:
            changed |= claims.read_live
            return list(
                sweep_with_report(live, users, fetched, changed, policy, now, deadline, progress, workers)
            )
    return list(sweep_live(live, users, policy, now, deadline, progress, workers))


def assess_live(
    live: LiveIam,
    listed: ListedUser,
    policy: RuleParameters,
    now: datetime,
    virtual_mfa: Mapping[UserId, tuple[MfaKind, ...]],
) -> Assessment:
    devices = virtual_mfa.get(listed.user.user_id, ())
    facts = live.confirm(listed.user, policy, listed.password_last_used, virtual_mfa=devices)
    return Assessment(listed.user, facts, decide(facts, policy, now), listed.arn)


def read_live(
    live: LiveIam,
    users: Sequence[ListedUser],
    policy: RuleParameters,
    now: datetime,
    deadline: Deadline,
    workers: int,
    what: str,
    virtual_mfa: Mapping[UserId, tuple[MfaKind, ...]] = NO_DEVICES,
) -> Iterator[Assessment | None]:
    """Each user's live assessment, ``workers`` at a time, in the users' order (console_mfa.pool);
    None for a user deleted meanwhile. The deadline is checked before each user's reads.
    ``virtual_mfa``: the account's assigned virtual devices, when the caller listed them."""

    def read(numbered: tuple[int, ListedUser]) -> Assessment | None:
        done, listed = numbered
        deadline.check(f"{done} of {len(users)} users {what}")
        try:
            return assess_live(live, listed, policy, now, virtual_mfa)
        except UserGone:
            LOG.info("user %s deleted during the sweep: skipped", listed.user.user_name)
            return None

    return ordered(read, list(enumerate(users)), workers)


def sweep_live(
    live: LiveIam,
    users: list[ListedUser],
    policy: RuleParameters,
    now: datetime,
    deadline: Deadline,
    progress: Progress = no_progress,
    workers: int = 1,
) -> Iterator[Assessment]:
    # One account-wide listing (a call per 1,000 devices) spares ListMFADevices for each
    # console user with a virtual device: measured by make bench (docs/cost-and-scale.md).
    # Listed after the change store's claims were taken, so a claimed change is in it.
    virtual_mfa = live.assigned_virtual_mfa() if users else NO_DEVICES
    assessments = read_live(live, users, policy, now, deadline, workers, "inspected live", virtual_mfa)
    for done, assessment in enumerate(assessments):
        if assessment is not None:
            yield assessment
        progress(done + 1, len(users))


def sweep_with_report(
    live: LiveIam,
    users: list[ListedUser],
    report: CredentialReport,
    changed: set[str],
    policy: RuleParameters,
    now: datetime,
    deadline: Deadline,
    progress: Progress = no_progress,
    workers: int = 1,
) -> Iterator[Assessment]:
    """The report's facts where they can be trusted; the other users read live, concurrently."""
    trusted: dict[int, Assessment] = {}
    to_read: list[ListedUser] = []
    for index, listed in enumerate(users):
        row = report.rows.get(listed.user.user_name)
        # A user CloudTrail or the change store shows changed after the report is read live,
        # whatever its row says (user keys: IAM user names are unique case-insensitively).
        fresh = user_key(listed.user.user_name) not in changed
        facts = report_facts(listed, row) if row is not None and fresh else None
        if facts is not None and not needs_confirmation(facts, policy):
            verdict = decide(facts, policy, now)
            trusted[index] = Assessment(
                listed.user, facts, verdict, listed.arn, DataSource.CREDENTIAL_REPORT.value
            )
        else:
            to_read.append(listed)
    confirmed = iter(
        read_live(live, to_read, policy, now, deadline, workers, "confirmed live after the report")
    )
    for index in range(len(users)):
        progress(index + 1, len(users))
        assessment = trusted[index] if index in trusted else next(confirmed)
        if assessment is not None:
            yield assessment
    LOG.info(
        "credential report of %s: %d of %d users read live (%d named by CloudTrail or the change store)",
        report.generated,
        len(to_read),
        len(users),
        len(changed & {user_key(u.user.user_name) for u in users}),
    )


def needs_confirmation(facts: UserFacts, policy: RuleParameters) -> bool:
    """The report shows a password and no MFA, and no user-name exemption already spares it."""
    return facts.has_password and not facts.mfa_kinds and policy.exempting_pattern(facts.user.user_name) is None


def report_facts(listed: ListedUser, row: ReportRow) -> UserFacts | None:
    """Facts from a report row, or None when the row is of another user of the same name."""
    if row.arn != listed.arn or not _same_second(row.user_creation_time, listed.created):
        return None
    if not row.password_enabled:
        return UserFacts(listed.user, None, password_last_used=listed.password_last_used)
    # The report has no login-profile CreateDate. password_last_changed stands in for it: the
    # decision reads it only for users without MFA, and those are confirmed live first
    # (or exempt by name, where the date is not read either).
    changed = _parse(row.password_last_changed) or listed.created
    kinds = (MfaKind.REPORTED,) if row.mfa_active else ()
    return UserFacts(listed.user, changed, kinds, listed.password_last_used)


def _parse(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _same_second(text: str, moment: datetime) -> bool:
    parsed = _parse(text)
    return parsed is not None and abs(parsed - moment) < timedelta(seconds=1)
