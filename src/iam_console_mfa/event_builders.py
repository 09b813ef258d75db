"""Config events shaped exactly as AWS Config sends them to a custom-rule Lambda.

`evaluate --user` and the demo send them to lambda_handler (the tests use them too):
invokingEvent and ruleParameters are JSON strings, the configuration item carries the
AWS::IAM::User fields.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

ACCOUNT_ID = "123456789012"
RULE_NAME = "IAM_USER_CONSOLE_MFA"
EXECUTION_ROLE_ARN = (
    f"arn:aws:iam::{ACCOUNT_ID}:role/aws-service-role/config.amazonaws.com/AWSServiceRoleForConfig"
)
# The single-account default: rdklib uses the Lambda's own role instead of assuming one.
DEFAULT_PARAMETERS: Mapping[str, str] = MappingProxyType({"AssumeRoleMode": "False"})
TEST_MODE_TOKEN = "TESTMODE"  # rdklib turns it into PutEvaluations(TestMode=True)


def timestamp(moment: datetime | None = None) -> str:
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def user_configuration_item(
    user: Mapping[str, Any],
    tags: Mapping[str, str] | None = None,
    status: str = "OK",
    account_id: str = ACCOUNT_ID,
) -> dict[str, Any]:
    """A configuration item for an IAM ListUsers/GetUser entry (UserName, UserId, Arn, ...)."""
    tags = dict(tags or {})
    created = user["CreateDate"]
    created_text = created if isinstance(created, str) else timestamp(created)
    deleted = status.startswith("ResourceDeleted")
    return {
        "relatedEvents": [],
        "relationships": [],
        "configuration": None
        if deleted
        else {
            "path": user.get("Path", "/"),
            "userName": user["UserName"],
            "userId": user["UserId"],
            "arn": user["Arn"],
            "createDate": created_text,
            "userPolicyList": [],
            "groupList": [],
            "attachedManagedPolicies": [],
            "permissionsBoundary": None,
            "tags": [{"key": k, "value": v} for k, v in tags.items()],
        },
        "supplementaryConfiguration": {},
        "tags": tags,
        "configurationItemVersion": "1.3",
        "configurationItemCaptureTime": timestamp(),
        "configurationStateId": 1700000000000,
        "awsAccountId": account_id,
        "configurationItemStatus": status,
        "resourceType": "AWS::IAM::User",
        "resourceId": user["UserId"],
        "resourceName": user["UserName"],
        "ARN": user["Arn"],
        "awsRegion": "global",
        "availabilityZone": "Not Applicable",
        "configurationStateMd5Hash": "",
        "resourceCreationTime": created_text,
    }


def config_event(
    invoking: dict[str, Any],
    parameters: Mapping[str, str],
    token: str,
    account_id: str = ACCOUNT_ID,
    **extra: Any,
) -> dict[str, Any]:
    return {
        "version": "1.0",
        "invokingEvent": json.dumps(invoking),
        "ruleParameters": json.dumps(dict(parameters)),
        "resultToken": token,
        "executionRoleArn": EXECUTION_ROLE_ARN,
        "configRuleArn": f"arn:aws:config:us-east-1:{account_id}:config-rule/config-rule-0123ab",
        "configRuleName": RULE_NAME,
        "configRuleId": "config-rule-0123ab",
        "accountId": account_id,
        "evaluationMode": "DETECTIVE",
        **extra,
    }


def change_event(
    item: dict[str, Any],
    parameters: Mapping[str, str] = DEFAULT_PARAMETERS,
    token: str = TEST_MODE_TOKEN,
    left_scope: bool = False,
) -> dict[str, Any]:
    invoking = {
        "configurationItemDiff": None,
        "configurationItem": item,
        "notificationCreationTime": timestamp(),
        "messageType": "ConfigurationItemChangeNotification",
        "recordVersion": "1.3",
    }
    return config_event(invoking, parameters, token, item["awsAccountId"], eventLeftScope=left_scope)


def scheduled_event(
    parameters: Mapping[str, str] = DEFAULT_PARAMETERS,
    token: str = TEST_MODE_TOKEN,
) -> dict[str, Any]:
    invoking = {
        "awsAccountId": ACCOUNT_ID,
        "notificationCreationTime": timestamp(),
        "messageType": "ScheduledNotification",
        "recordVersion": "1.0",
    }
    return config_event(invoking, parameters, token, eventLeftScope=False)
