"""Near-real-time: re-run the rule minutes after an IAM change that no configuration item shows.

CreateLoginProfile, EnableMFADevice, DeactivateMFADevice and DeleteLoginProfile change no field
of the AWS::IAM::User configuration item, so Config's change trigger never fires for them.
An EventBridge rule on those CloudTrail events feeds an SQS queue; this small function (its
own role: it may only start this rule's evaluation) drains the queue in batches and calls
StartConfigRulesEvaluation once per batch, so a burst of changes coalesces into one sweep.

A separate function rather than the rule's Lambda: the rule's Lambda is invoked by Config
with a ResultToken and must stay exactly that; starting an evaluation needs a permission and
an event source the rule must not have.
"""

from __future__ import annotations

import logging
import os
from typing import Any

import boto3
from botocore.exceptions import ClientError

from .aws import RETRY_CONFIG, error_code

LOG = logging.getLogger(__name__)
# Config refuses a new request while the rule's last one runs: not lost, retried by SQS.
BUSY = ("LimitExceededException", "ResourceInUseException")


class ReevaluationDeferred(Exception):
    """Config is busy with this rule: the batch goes back to the queue and is retried."""


def handler(event: dict[str, Any], context: Any, config: Any = None) -> dict[str, Any]:
    """SQS batch of IAM change events -> one StartConfigRulesEvaluation for the rule.

    Raising returns the whole batch to the queue (visibility timeout), and after the queue's
    maxReceiveCount to its dead-letter queue, which raises an alarm: a re-evaluation that
    cannot start is never dropped silently.
    """
    rule_name = os.environ["CONFIG_RULE_NAME"]
    records = event.get("Records") or []
    config = config or boto3.client("config", config=RETRY_CONFIG)
    try:
        config.start_config_rules_evaluation(ConfigRuleNames=[rule_name])
    except ClientError as error:
        if error_code(error) in BUSY:
            raise ReevaluationDeferred(
                f"{rule_name}: {error_code(error)}; {len(records)} event(s) retried"
            ) from error
        raise
    LOG.info("started %s for %d IAM change event(s)", rule_name, len(records))
    return {"ConfigRuleName": rule_name, "events": len(records)}
