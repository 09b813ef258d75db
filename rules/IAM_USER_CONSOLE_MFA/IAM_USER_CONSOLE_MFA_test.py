"""RDK-convention tests (``rdk test-local IAM_USER_CONSOLE_MFA``): the rule class against moto.

Change events go through lambda_handler with the TESTMODE token, so rdklib calls
PutEvaluations(TestMode=True), which moto accepts, and returns the evaluations. The full
contract (exact requests, sweeps, errors) is tested with pytest under tests/. This file needs
only the rule folder and moto: its fixtures are the small helpers below.
"""

import json
import os
import unittest
from datetime import UTC, datetime, timedelta

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3
from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from console_mfa.errors import InvalidRuleParameter
from moto import mock_aws
from rdklib import ComplianceType

MODULE = __import__("IAM_USER_CONSOLE_MFA")


def create_user(iam, name, password=True, mfa=None):
    """A user with a console password unless told otherwise, and a "virtual" or "hardware" MFA device."""
    user = iam.create_user(UserName=name)["User"]
    if password:
        iam.create_login_profile(UserName=name, Password="Correct-Horse-9!")
    if mfa == "virtual":
        serial = iam.create_virtual_mfa_device(VirtualMFADeviceName=name)["VirtualMFADevice"]["SerialNumber"]
    elif mfa == "hardware":
        serial = f"GAHT{user['UserId'][-8:]}"
    if mfa:
        iam.enable_mfa_device(
            UserName=name, SerialNumber=serial, AuthenticationCode1="123456", AuthenticationCode2="654321"
        )
    return user


def change_event(user, parameters):
    """A ConfigurationItemChangeNotification for the user, as Config sends it (JSON strings inside)."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
    account = user["Arn"].split(":")[4]
    item = {
        "configurationItemStatus": "OK",
        "configurationItemCaptureTime": now,
        "resourceType": "AWS::IAM::User",
        "resourceId": user["UserId"],
        "resourceName": user["UserName"],
        "ARN": user["Arn"],
        "awsAccountId": account,
        "awsRegion": "global",
        "configuration": {
            "userName": user["UserName"],
            "userId": user["UserId"],
            "arn": user["Arn"],
            "tags": [],
        },
        "tags": {},
    }
    invoking = {
        "configurationItem": item,
        "notificationCreationTime": now,
        "messageType": "ConfigurationItemChangeNotification",
        "recordVersion": "1.3",
    }
    return {
        "version": "1.0",
        "invokingEvent": json.dumps(invoking),
        "ruleParameters": json.dumps(parameters),
        "resultToken": "TESTMODE",
        "eventLeftScope": False,
        "executionRoleArn": f"arn:aws:iam::{account}:role/config-role",
        "configRuleArn": f"arn:aws:config:us-east-1:{account}:config-rule/config-rule-0123ab",
        "configRuleName": "IAM_USER_CONSOLE_MFA",
        "configRuleId": "config-rule-0123ab",
        "accountId": account,
    }


class StubClientFactory:
    """rdklib's ClientFactory against moto; Config's results read (moto lacks it) holds nothing yet."""

    def build_client(self, service, region=None, assume_role_mode=True):
        client = boto3.client(service, region_name="us-east-1")
        if service == "config":
            client.meta.events.register(
                "before-call.config-service.GetComplianceDetailsByConfigRule",
                lambda params, **_: (
                    AWSResponse(params["url"], 200, HTTPHeaders(), None),
                    {"EvaluationResults": []},
                ),
            )
        return client


class ChangeTriggeredTest(unittest.TestCase):
    def setUp(self):
        self.mock = mock_aws()
        self.mock.start()
        self.iam = boto3.client("iam", region_name="us-east-1")

    def tearDown(self):
        self.mock.stop()

    def evaluate(self, user, **parameters):
        event = change_event(user, {"AssumeRoleMode": "False", **parameters})
        (evaluation,) = MODULE.lambda_handler(event, None)
        self.assertEqual(evaluation["ComplianceResourceId"], user["UserId"])
        self.assertEqual(evaluation["ComplianceResourceType"], "AWS::IAM::User")
        return evaluation

    def test_password_without_mfa_is_non_compliant(self):
        evaluation = self.evaluate(create_user(self.iam, "bob"))
        self.assertEqual(evaluation["ComplianceType"], ComplianceType.NON_COMPLIANT)
        self.assertIn("Enable an MFA device, or console access will be removed", evaluation["Annotation"])

    def test_password_with_virtual_mfa_is_compliant(self):
        evaluation = self.evaluate(create_user(self.iam, "alice", mfa="virtual"))
        self.assertEqual(evaluation["ComplianceType"], ComplianceType.COMPLIANT)

    def test_no_password_is_not_applicable(self):
        evaluation = self.evaluate(create_user(self.iam, "carol", password=False))
        self.assertEqual(evaluation["ComplianceType"], ComplianceType.NOT_APPLICABLE)

    def test_exempt_glob(self):
        evaluation = self.evaluate(create_user(self.iam, "svc-ci"), ExemptUserNames="svc-*")
        self.assertEqual(evaluation["ComplianceType"], ComplianceType.NOT_APPLICABLE)

    def test_invalid_parameter_raises(self):
        with self.assertRaises(InvalidRuleParameter):
            self.evaluate(create_user(self.iam, "bob"), GracePeriodDays="soon")


class PeriodicTest(unittest.TestCase):
    @mock_aws
    def test_sweep_returns_one_evaluation_per_user(self):
        iam = boto3.client("iam", region_name="us-east-1")
        users = [
            create_user(iam, "a", mfa="hardware"),
            create_user(iam, "b"),
            create_user(iam, "c", password=False),
        ]
        rule = MODULE.IAM_USER_CONSOLE_MFA(now=datetime.now(UTC) + timedelta(days=1))
        policy = rule.evaluate_parameters({"GracePeriodDays": "3"})
        event = {"configRuleName": "IAM_USER_CONSOLE_MFA"}
        evaluations = rule.evaluate_periodic(event, StubClientFactory(), policy)
        verdicts = {e.complianceResourceId: e.complianceType for e in evaluations}
        self.assertEqual(
            verdicts,
            {
                users[0]["UserId"]: ComplianceType.COMPLIANT,
                users[1]["UserId"]: ComplianceType.COMPLIANT,  # in its 3-day grace period
                users[2]["UserId"]: ComplianceType.NOT_APPLICABLE,
            },
        )


if __name__ == "__main__":
    unittest.main()
