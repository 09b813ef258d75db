"""The scheduled digest's Lambda (alerts.yaml): read Config's results, build the digest, send it.

A thin shell around ``digest``: the results of the rule in this account (or, with
AGGREGATOR_NAME, every account of the organization aggregator), one SNS publish to the alert
topic, and optionally a Slack incoming webhook whose URL is read from Secrets Manager at each
run (never an environment variable). Any error raises: the function's Errors alarm tells the
topic. No IAM call is made.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.request
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .aggregated import results as aggregated_results
from .aws import configured_session, translated
from .digest import Digest, StoredResult, as_markdown, build, sns_message, subject
from .model import Compliance
from .recorded import recorded_results

if TYPE_CHECKING:
    import boto3

LOG = logging.getLogger(__name__)
WEBHOOK_TIMEOUT_SECONDS = 10


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """EventBridge's schedule invokes it; the event carries nothing it needs."""
    now = datetime.now(UTC)
    session = configured_session()
    account = str(context.invoked_function_arn).split(":")[4]
    digest = build(
        stored_results(session, os.environ["RULE_NAME"], os.environ.get("AGGREGATOR_NAME", ""), account, now),
        rule=os.environ["RULE_NAME"],
        region=session.region_name,
        now=now,
        period_days=int(os.environ.get("PERIOD_DAYS", "7")),
        remediation=os.environ.get("REMEDIATION_MODE", "manual"),
    )
    if digest.clean and os.environ.get("SEND_WHEN_CLEAN", "false") != "true":
        LOG.info(json.dumps({"digest": "clean: not sent", "accounts": len(digest.accounts)}))
        return {"sent": False, "non_compliant": 0}
    send(session, digest, os.environ["TOPIC_ARN"], os.environ.get("WEBHOOK_SECRET_ARN", ""))
    LOG.info(json.dumps({"digest": "sent", "non_compliant": len(digest.flagged)}))
    return {"sent": True, "non_compliant": len(digest.flagged)}


def stored_results(
    session: boto3.Session, rule: str, aggregator: str, account: str, now: datetime
) -> list[StoredResult]:
    """Every result Config holds for the rule: this account's, or the aggregator's."""
    if aggregator:
        return [
            StoredResult(r.account, r.user_id, Compliance(r.compliance), r.annotation, r.recorded or now)
            for r in aggregated_results(session.client("config"), aggregator, rule)
        ]
    return [
        StoredResult(account, user_id, r.compliance, r.annotation, r.recorded)
        for user_id, r in recorded_results(session.client("config"), rule).items()
    ]


def send(session: boto3.Session, digest: Digest, topic_arn: str, webhook_secret_arn: str) -> None:
    with translated("Publish"):
        session.client("sns").publish(
            TopicArn=topic_arn, Subject=subject(digest), Message=sns_message(digest), MessageStructure="json"
        )
    if webhook_secret_arn:
        with translated("GetSecretValue"):
            url = session.client("secretsmanager").get_secret_value(SecretId=webhook_secret_arn)["SecretString"]
        post_webhook(url.strip(), as_markdown(digest))


def post_webhook(url: str, text: str) -> None:
    """Slack's incoming-webhook body ({"text": ...}); HTTPS only, an answer other than 2xx raises."""
    if not url.startswith("https://"):
        raise ValueError("the webhook secret must hold an https:// URL")
    request = urllib.request.Request(
        url,
        data=json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=WEBHOOK_TIMEOUT_SECONDS) as answer:
        if not 200 <= answer.status < 300:
            raise RuntimeError(f"the webhook answered HTTP {answer.status}")
