"""rdklib's Evaluation, stamped with when its facts were read (the rule shell's only output)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rdklib import Evaluation

from .model import RESOURCE_TYPE, Compliance, UserId


class StampedEvaluation(Evaluation):  # type: ignore[misc]  # rdklib has no types
    """An evaluation whose OrderingTimestamp is when its facts were read.

    rdklib stamps a change evaluation with its configuration item's capture time (possibly
    days old: a re-evaluation replays the last recorded item) and a sweep's with the
    notification's time. AWS does not document whether Config keeps the evaluation with the
    newest OrderingTimestamp or the last one written; stamped with the time its facts were
    read, a newer verdict is both the newest and the last, so both policies keep it.
    """

    def __init__(self, *args: Any, read_at: datetime, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.read_at = read_at.isoformat()

    def import_fields_from_periodic_event(self, event: dict[str, Any]) -> None:
        self.orderingTimestamp = self.read_at

    def import_fields_from_configuration_item(self, configuration_item: dict[str, Any]) -> None:
        super().import_fields_from_configuration_item(configuration_item)
        self.orderingTimestamp = self.read_at


def evaluation(user_id: UserId, compliance: Compliance, annotation: str, read_at: datetime) -> Evaluation:
    return StampedEvaluation(
        compliance.value, resourceId=user_id, resourceType=RESOURCE_TYPE, annotation=annotation, read_at=read_at
    )
