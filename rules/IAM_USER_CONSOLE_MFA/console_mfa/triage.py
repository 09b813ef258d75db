"""Which Config notifications are evaluated at all: before any IAM call or write."""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from .changes import ChangeStore
from .config_event import not_recorded, notified_user

LOG = logging.getLogger(__name__)
LOG.setLevel(logging.INFO)


def triage(invoking_event: dict[str, Any], store: ChangeStore | None, now: datetime, run: str) -> bool:
    """Whether a change notification is evaluated; claims the user's recorded change if any.

    A replay of an old configuration item (a re-evaluation after StartConfigRulesEvaluation:
    Config may send one per user) is evaluated only when the change store holds a change of
    its user that this run holds (it wins the claim, or claimed it before a retry) or that is
    suspect: an unchanged user costs no IAM or Config call and no evaluation. A fresh item
    (created, tagged, renamed, deleted) is always evaluated. Whatever the store holds, the
    next sweep reads every user.
    """
    name, replayed = notified_user(invoking_event)
    change = store.change(name, now) if store is not None and name is not None else None
    claimed = change is not None and (
        change.suspect
        or change.held_by(run)
        or (change.unclaimed and store is not None and store.claim(change, now, run))
    )
    if replayed and not claimed:
        LOG.info(
            "%s skipped: a re-evaluation of an old configuration item, no change recorded",
            name,
            extra={"user": name, "skipped": "re-evaluation of an old item, no change recorded"},
        )
        return False
    return True


def recorded_here(invoking_event: dict[str, Any]) -> bool:
    """Config invokes the rule for items a recorder does not record (IAM users outside the
    region that records global types): rdklib would write NOT_APPLICABLE over the verdict of
    the region that does. Nothing is written: False."""
    status = not_recorded(invoking_event)
    if status:
        LOG.info("nothing evaluated: the configuration item is %s", status, extra={"skipped": status})
    return status is None
