"""CloudFormation stacks, built here and written to cloudformation/ by ``make generate``.

Templates are data built in Python so that the pieces they share (the rule's read actions,
the remediation resources, the SSM document generated from the engine) have one source; a
test fails when a committed template differs from what this module builds.

- rule: the Lambda, its role, log group, permission, the Config rule, an Errors alarm
- remediation: the SSM document, its automation role, the RemediationConfiguration
- alerts: an encrypted SNS topic and EventBridge rules on "Config Rules Compliance Change"
- organization: an OrganizationConfigRule for a delegated administrator
- member: what each member account needs (StackSets): the execution role + remediation
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from console_mfa import parameters
from console_mfa.policy import MAX_VALUE_LENGTH
from console_mfa.remediation import AUDIT_TAG

from .document import build_document
from .settings import REMEDIATION_ACTIONS

OUT = Path(__file__).resolve().parents[2] / "cloudformation"
RULE = "IAM_USER_CONSOLE_MFA"
USERS_ARN = {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*"}
MESSAGE_TYPES = (
    "ConfigurationItemChangeNotification",
    "OversizedConfigurationItemChangeNotification",
    "ScheduledNotification",
)
FREQUENCIES = ["One_Hour", "Three_Hours", "Six_Hours", "Twelve_Hours", "TwentyFour_Hours"]

CONFIG_RULES_ARN = {"Fn::Sub": "arn:${AWS::Partition}:config:${AWS::Region}:${AWS::AccountId}:config-rule/*"}
# What the rule's code calls (a test derives the same set from its calls under moto).
RULE_IAM_USER_ACTIONS = ["iam:GetLoginProfile", "iam:ListMFADevices", "iam:ListUserTags"]
# Actions with no resource type in the Service Authorization Reference: only "*" can allow
# them (a test checks every statement against cfn-lint's copy of that reference).
RULE_IAM_ACCOUNT_ACTIONS = ["iam:GenerateCredentialReport", "iam:GetCredentialReport", "iam:ListUsers"]
RULE_CONFIG_ACCOUNT_ACTIONS = ["config:GetResourceConfigHistory", "config:PutEvaluations"]
# rdklib's clean-up read: a config-rule resource. The rule's ARN ends in a generated id
# (config-rule/config-rule-abc123), not its name, and the role must exist before the rule:
# scoped to this account's and region's rules.
RULE_CONFIG_RULE_ACTIONS = ["config:GetComplianceDetailsByConfigRule"]
ACCOUNT_LEVEL_ACTIONS = frozenset(
    RULE_IAM_ACCOUNT_ACTIONS + RULE_CONFIG_ACCOUNT_ACTIONS + ["config:ListDiscoveredResources"]
)


def _string(description: str, default: str = "", **extra: Any) -> dict[str, Any]:
    return {"Type": "String", "Default": default, "Description": description, **extra}


# <RuleName>-evaluator names the Lambda, whose names stop at 64 characters.
RULE_NAME = _string(
    "Name of the Config rule (at most 54 characters).", RULE, AllowedPattern="^[A-Za-z0-9_-]{1,54}$"
)
# The rule's parameters, straight from the engine's registry: same defaults, same patterns.
RULE_PARAMETERS: dict[str, dict[str, Any]] = {
    p.name: _string(p.description, p.default, AllowedPattern=p.pattern, MaxLength=MAX_VALUE_LENGTH)
    for p in parameters.RULE_PARAMETERS
}


def _if_set(name: str) -> dict[str, Any]:
    """A parameter's value, or nothing when empty (Config refuses empty values)."""
    return {"Fn::If": [f"Has{name}", {"Ref": name}, {"Ref": "AWS::NoValue"}]}


def _set_conditions(names: list[str]) -> dict[str, Any]:
    return {f"Has{n}": {"Fn::Not": [{"Fn::Equals": [{"Ref": n}, ""]}]} for n in names}


def _statement(actions: list[str], resource: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": sorted(actions), "Resource": resource}


def _rule_read_statements() -> list[dict[str, Any]]:
    return [
        _statement(RULE_IAM_USER_ACTIONS, USERS_ARN),
        _statement(RULE_IAM_ACCOUNT_ACTIONS + RULE_CONFIG_ACCOUNT_ACTIONS, "*"),
        _statement(RULE_CONFIG_RULE_ACTIONS, CONFIG_RULES_ARN),
    ]


def _input_parameters(extra: dict[str, Any]) -> dict[str, Any]:
    return {
        **extra,
        **{name: _if_set(name) for name in ("ExemptUserNames", "ExemptTag")},
        "GracePeriodDays": {"Ref": "GracePeriodDays"},
        "DataSource": {"Ref": "DataSource"},
    }


# The alerts stack lets CloudWatch publish for alarms named like this, and only those.
ALARM_PREFIX = "${RuleName}-evaluator-"


# CloudWatch acting for this account's alarms of this rule (names from ALARM_PREFIX).
ALARM_SOURCE = {
    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
    "ArnLike": {
        "aws:SourceArn": {
            "Fn::Sub": "arn:${AWS::Partition}:cloudwatch:${AWS::Region}:${AWS::AccountId}:alarm:"
            + ALARM_PREFIX
            + "*"
        }
    },
}


def _alarm(
    suffix: str, description: str, namespace: str, metric: str, dimensions: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "Type": "AWS::CloudWatch::Alarm",
        "Properties": {
            "AlarmName": {"Fn::Sub": ALARM_PREFIX + suffix},
            "AlarmDescription": {"Fn::Sub": description},
            "Namespace": namespace,
            "MetricName": metric,
            "Dimensions": dimensions,
            "Statistic": "Maximum" if namespace == "AWS/SQS" else "Sum",
            "Period": 3600 if namespace == "AWS/Lambda" else 300,
            "EvaluationPeriods": 1,
            "Threshold": 1,
            "ComparisonOperator": "GreaterThanOrEqualToThreshold",
            "TreatMissingData": "notBreaching",
            "AlarmActions": {"Fn::If": ["HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]},
        },
    }


def rule_template() -> dict[str, Any]:
    function_name = {"Fn::Sub": "${RuleName}-evaluator"}
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "IAM_USER_CONSOLE_MFA: AWS Config custom rule (Lambda) flagging IAM users with a "
        "console password and no MFA. Deploy in one region only: IAM is global.",
        "Parameters": {
            "RuleName": RULE_NAME,
            "CodeBucket": {"Type": "String", "Description": "S3 bucket holding the rule package."},
            "CodeKey": {"Type": "String", "Description": "S3 key of the rule package (zip)."},
            "SweepFrequency": _string(
                "How often every user is evaluated.", "TwentyFour_Hours", AllowedValues=FREQUENCIES
            ),
            **RULE_PARAMETERS,
            "TimeoutSeconds": {
                "Type": "Number",
                "Default": 300,
                "MinValue": 30,
                "MaxValue": 900,
                "Description": "Lambda timeout.",
            },
            "MemorySize": {
                "Type": "Number",
                "Default": 256,
                "MinValue": 128,
                "MaxValue": 10240,
                "Description": "Lambda memory (MB).",
            },
            "LogRetentionDays": {
                "Type": "Number",
                "Default": 90,
                "Description": "Days to keep the Lambda's logs.",
                "AllowedValues": [
                    1,
                    3,
                    5,
                    7,
                    14,
                    30,
                    60,
                    90,
                    120,
                    150,
                    180,
                    365,
                    400,
                    545,
                    731,
                    1096,
                    1827,
                    2192,
                    2557,
                    2922,
                    3288,
                    3653,
                ],
            },
            "AlarmTopicArn": _string("SNS topic notified when the rule fails; empty: no notification."),
        },
        "Conditions": {
            **_set_conditions(["ExemptUserNames", "ExemptTag"]),
            "HasAlarmTopic": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]},
        },
        "Resources": {
            "LogGroup": {
                "Type": "AWS::Logs::LogGroup",
                "DeletionPolicy": "Retain",
                "UpdateReplacePolicy": "Retain",
                "Properties": {
                    "LogGroupName": {"Fn::Sub": "/aws/lambda/${RuleName}-evaluator"},
                    "RetentionInDays": {"Ref": "LogRetentionDays"},
                },
            },
            "FunctionRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "Description": "Runs the IAM_USER_CONSOLE_MFA rule: IAM reads and Config evaluations only.",
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "lambda.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    },
                    "Policies": [
                        {
                            "PolicyName": "evaluate-iam-users",
                            "PolicyDocument": {
                                "Version": "2012-10-17",
                                "Statement": [
                                    _statement(
                                        ["logs:CreateLogStream", "logs:PutLogEvents"],
                                        {"Fn::GetAtt": ["LogGroup", "Arn"]},
                                    ),
                                    *_rule_read_statements(),
                                    # Lambda sends failed asynchronous events with this role.
                                    _statement(["sqs:SendMessage"], {"Fn::GetAtt": ["FailedEvents", "Arn"]}),
                                ],
                            },
                        }
                    ],
                },
            },
            "Function": {
                "Type": "AWS::Lambda::Function",
                "DependsOn": ["LogGroup"],
                "Properties": {
                    "FunctionName": function_name,
                    "Description": "AWS Config rule IAM_USER_CONSOLE_MFA",
                    "Runtime": "python3.12",
                    "Handler": f"{RULE}.lambda_handler",
                    "Code": {"S3Bucket": {"Ref": "CodeBucket"}, "S3Key": {"Ref": "CodeKey"}},
                    "Role": {"Fn::GetAtt": ["FunctionRole", "Arn"]},
                    "Timeout": {"Ref": "TimeoutSeconds"},
                    "MemorySize": {"Ref": "MemorySize"},
                },
            },
            "ConfigPermission": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "FunctionName": {"Fn::GetAtt": ["Function", "Arn"]},
                    "Action": "lambda:InvokeFunction",
                    "Principal": "config.amazonaws.com",
                    "SourceAccount": {"Ref": "AWS::AccountId"},
                },
            },
            "ConfigRule": {
                "Type": "AWS::Config::ConfigRule",
                "DependsOn": ["ConfigPermission"],
                "Properties": {
                    "ConfigRuleName": {"Ref": "RuleName"},
                    "Description": "IAM users with a console password must have an MFA device (IAM.5).",
                    "Scope": {"ComplianceResourceTypes": ["AWS::IAM::User"]},
                    "MaximumExecutionFrequency": {"Ref": "SweepFrequency"},
                    "InputParameters": _input_parameters({"AssumeRoleMode": "False"}),
                    "Source": {
                        "Owner": "CUSTOM_LAMBDA",
                        "SourceIdentifier": {"Fn::GetAtt": ["Function", "Arn"]},
                        "SourceDetails": [
                            {
                                "EventSource": "aws.config",
                                "MessageType": m,
                                **(
                                    {"MaximumExecutionFrequency": {"Ref": "SweepFrequency"}}
                                    if m == "ScheduledNotification"
                                    else {}
                                ),
                            }
                            for m in MESSAGE_TYPES
                        ],
                    },
                },
            },
            # Config invokes the Lambda asynchronously. One retry absorbs a transient fault; a
            # deterministic one (a bad parameter) fails twice, not three times, writing nothing
            # either time. What still fails is kept for 14 days and raises an alarm.
            "FailedEvents": {
                "Type": "AWS::SQS::Queue",
                "Properties": {"SqsManagedSseEnabled": True, "MessageRetentionPeriod": 1209600},
            },
            "AsyncInvokeConfig": {
                "Type": "AWS::Lambda::EventInvokeConfig",
                "Properties": {
                    "FunctionName": {"Ref": "Function"},
                    "Qualifier": "$LATEST",
                    "MaximumRetryAttempts": 1,
                    "MaximumEventAgeInSeconds": 3600,
                    "DestinationConfig": {
                        "OnFailure": {"Destination": {"Fn::GetAtt": ["FailedEvents", "Arn"]}}
                    },
                },
            },
            "ErrorsAlarm": _alarm(
                "errors",
                "${RuleName} could not evaluate: see the log group /aws/lambda/${RuleName}-evaluator",
                "AWS/Lambda",
                "Errors",
                [{"Name": "FunctionName", "Value": {"Ref": "Function"}}],
            ),
            "FailedEventsAlarm": _alarm(
                "failed-events",
                "${RuleName}: a Config invocation failed after its retry; see the failed-events queue",
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                [{"Name": "QueueName", "Value": {"Fn::GetAtt": ["FailedEvents", "QueueName"]}}],
            ),
        },
        "Outputs": {
            "ConfigRuleName": {"Value": {"Ref": "RuleName"}},
            "FunctionArn": {"Value": {"Fn::GetAtt": ["Function", "Arn"]}},
            "FunctionRoleArn": {"Value": {"Fn::GetAtt": ["FunctionRole", "Arn"]}},
            "ErrorsAlarmName": {"Value": {"Ref": "ErrorsAlarm"}},
            "FailedEventsQueueUrl": {"Value": {"Ref": "FailedEvents"}},
        },
    }


def _remediation_statements() -> list[dict[str, Any]]:
    scoped = [a for a in REMEDIATION_ACTIONS if a not in ACCOUNT_LEVEL_ACTIONS and a != "iam:TagUser"]
    return [
        _statement(scoped, USERS_ARN),
        _statement([a for a in REMEDIATION_ACTIONS if a in ACCOUNT_LEVEL_ACTIONS], "*"),
        # The only tag it may write is its own audit record.
        {
            **_statement(["iam:TagUser"], USERS_ARN),
            "Condition": {"ForAllValues:StringEquals": {"aws:TagKeys": [AUDIT_TAG]}},
        },
    ]


# Defence in depth behind the script's own re-decision: IAM itself refuses to delete the
# password of a user carrying the ExemptTag key, whatever the script concluded. A condition
# key cannot be built by an intrinsic function, so this document is a JSON string; the
# registry's ExemptTag pattern admits no character that needs escaping in JSON.
EXEMPT_TAG_GUARD = {
    "Fn::Sub": [
        '{"Version": "2012-10-17", "Statement": [{"Sid": "NeverRemoveExemptUsersPassword", '
        '"Effect": "Deny", "Action": "iam:DeleteLoginProfile", '
        '"Resource": "arn:${AWS::Partition}:iam::${AWS::AccountId}:user/*", '
        '"Condition": {"Null": {"aws:ResourceTag/${ExemptTagKey}": "false"}}}]}',
        {"ExemptTagKey": {"Fn::Select": [0, {"Fn::Split": ["=", {"Ref": "ExemptTag"}]}]}},
    ]
}


def _remediation_resources(rule_name: Any) -> dict[str, Any]:
    return {
        "Document": {
            "Type": "AWS::SSM::Document",
            "Properties": {"DocumentType": "Automation", "DocumentFormat": "JSON", "Content": build_document()},
        },
        "AutomationRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "Description": "Runs the DisableConsoleAccess remediation: the only role that may delete a "
                "login profile.",
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "ssm.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                            # Only Automation executions of this account and region.
                            "Condition": {
                                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                                "ArnLike": {
                                    "aws:SourceArn": {
                                        "Fn::Sub": "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}"
                                        ":automation-execution/*"
                                    }
                                },
                            },
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "disable-console-access",
                        "PolicyDocument": {"Version": "2012-10-17", "Statement": _remediation_statements()},
                    }
                ],
            },
        },
        "ExemptTagGuard": {
            "Type": "AWS::IAM::RolePolicy",
            "Condition": "HasExemptTag",
            "Properties": {
                "RoleName": {"Ref": "AutomationRole"},
                "PolicyName": "never-remove-exempt-users-password",
                "PolicyDocument": EXEMPT_TAG_GUARD,
            },
        },
        "Remediation": {
            "Type": "AWS::Config::RemediationConfiguration",
            "Properties": {
                "ConfigRuleName": rule_name,
                "TargetType": "SSM_DOCUMENT",
                "TargetId": {"Ref": "Document"},
                "Automatic": {"Ref": "Automatic"},
                "MaximumAutomaticAttempts": {"Ref": "MaximumAutomaticAttempts"},
                "RetryAttemptSeconds": {"Ref": "RetryAttemptSeconds"},
                "Parameters": {
                    "IAMUserId": {"ResourceValue": {"Value": "RESOURCE_ID"}},
                    "AutomationAssumeRole": {
                        "StaticValue": {"Values": [{"Fn::GetAtt": ["AutomationRole", "Arn"]}]}
                    },
                    "GracePeriodDays": {"StaticValue": {"Values": [{"Ref": "GracePeriodDays"}]}},
                    **{
                        name: {
                            "Fn::If": [
                                f"Has{name}",
                                {"StaticValue": {"Values": [{"Ref": name}]}},
                                {"Ref": "AWS::NoValue"},
                            ]
                        }
                        for name in ("ExemptUserNames", "ExemptTag")
                    },
                },
            },
        },
    }


REMEDIATION_PARAMETERS: dict[str, dict[str, Any]] = {
    "Automatic": _string(
        "true: Config remediates NON_COMPLIANT users by itself.", "false", AllowedValues=["true", "false"]
    ),
    "MaximumAutomaticAttempts": {
        "Type": "Number",
        "Default": 3,
        "MinValue": 1,
        "MaxValue": 25,
        "Description": "Automatic attempts per user.",
    },
    "RetryAttemptSeconds": {
        "Type": "Number",
        "Default": 60,
        "MinValue": 1,
        "Description": "Seconds between automatic attempts.",
    },
    **{p.name: RULE_PARAMETERS[p.name] for p in parameters.REMEDIATION_PARAMETERS},
}


def remediation_template() -> dict[str, Any]:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "IAM_USER_CONSOLE_MFA remediation: SSM Automation document that disables console "
        "access of users still NON_COMPLIANT, its role, and the Config remediation.",
        "Parameters": {
            "RuleName": RULE_NAME,
            **REMEDIATION_PARAMETERS,
        },
        "Conditions": _set_conditions(["ExemptUserNames", "ExemptTag"]),
        "Resources": _remediation_resources({"Ref": "RuleName"}),
        "Outputs": {
            "DocumentName": {"Value": {"Ref": "Document"}},
            "AutomationRoleArn": {"Value": {"Fn::GetAtt": ["AutomationRole", "Arn"]}},
        },
    }


# The account administers the topic's key through IAM, with exact actions (no kms:*).
KMS_ADMIN_ACTIONS = [
    "kms:CancelKeyDeletion",
    "kms:DescribeKey",
    "kms:DisableKey",
    "kms:EnableKey",
    "kms:EnableKeyRotation",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListResourceTags",
    "kms:PutKeyPolicy",
    "kms:ScheduleKeyDeletion",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateKeyDescription",
]


def _alert_rule(name: str, compliance: str, sentence: str) -> dict[str, Any]:
    return {
        "Type": "AWS::Events::Rule",
        "Properties": {
            "Description": f"{compliance} results of the IAM_USER_CONSOLE_MFA rule",
            "EventPattern": {
                "source": ["aws.config"],
                "detail-type": ["Config Rules Compliance Change"],
                "detail": {
                    "messageType": ["ComplianceChangeNotification"],
                    "configRuleName": [{"Ref": "RuleName"}],
                    "resourceType": ["AWS::IAM::User"],
                    "newEvaluationResult": {"complianceType": [compliance]},
                },
            },
            "State": "ENABLED",
            "Targets": [
                {
                    "Id": name,
                    "Arn": {"Ref": "Topic"},
                    "InputTransformer": {
                        "InputPathsMap": {
                            "user": "$.detail.resourceId",
                            "account": "$.account",
                            "region": "$.region",
                            "rule": "$.detail.configRuleName",
                            "annotation": "$.detail.newEvaluationResult.annotation",
                        },
                        "InputTemplate": json.dumps(sentence),
                    },
                }
            ],
        },
    }


def alerts_template() -> dict[str, Any]:
    console = (
        "https://<region>.console.aws.amazon.com/config/home?region=<region>"
        "#/rules/details?configRuleName=<rule>"
    )
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "IAM_USER_CONSOLE_MFA alerts: an encrypted SNS topic told when a user becomes "
        "NON_COMPLIANT (and when one is fixed). Deploy in the rule's region.",
        "Parameters": {
            "RuleName": RULE_NAME,
            "AlertEmail": _string(
                "Email address subscribed to the topic; empty: none.",
                AllowedPattern="^$|^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$",
            ),
        },
        "Conditions": {"HasAlertEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlertEmail"}, ""]}]}},
        "Resources": {
            "TopicKey": {
                "Type": "AWS::KMS::Key",
                "Properties": {
                    "Description": "Encrypts the IAM_USER_CONSOLE_MFA alert topic",
                    "EnableKeyRotation": True,
                    "KeyPolicy": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "AccountAdministers",
                                "Effect": "Allow",
                                "Principal": {
                                    "AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}
                                },
                                "Action": KMS_ADMIN_ACTIONS,
                                "Resource": "*",
                            },
                            # The AWS-managed SNS key cannot be used by EventBridge: a key of our own can.
                            # No source condition here: AWS documents that EventBridge's KMS request
                            # carries no aws:SourceAccount/aws:SourceArn, so any would drop every alert
                            # (SNS "Enable compatibility between event sources ... and encrypted topics").
                            # The topic policy below scopes EventBridge to this stack's two rules.
                            {
                                "Sid": "EventBridgePublishes",
                                "Effect": "Allow",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                                "Resource": "*",
                            },
                            # The rule stack's alarms (Errors, failed events) publish here too.
                            {
                                "Sid": "RuleAlarmsPublish",
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                                "Resource": "*",
                                "Condition": ALARM_SOURCE,
                            },
                        ],
                    },
                },
            },
            "Topic": {
                "Type": "AWS::SNS::Topic",
                "Properties": {
                    "DisplayName": "IAM console MFA",
                    "KmsMasterKeyId": {"Ref": "TopicKey"},
                },
            },
            "TopicPolicy": {
                "Type": "AWS::SNS::TopicPolicy",
                "Properties": {
                    "Topics": [{"Ref": "Topic"}],
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "EventBridgePublishes",
                                "Effect": "Allow",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Action": "sns:Publish",
                                "Resource": {"Ref": "Topic"},
                                "Condition": {
                                    "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                                    "ArnEquals": {
                                        "aws:SourceArn": [
                                            {"Fn::GetAtt": ["NonCompliantRule", "Arn"]},
                                            {"Fn::GetAtt": ["FixedRule", "Arn"]},
                                        ]
                                    },
                                },
                            },
                            {
                                "Sid": "RuleAlarmsPublish",
                                "Effect": "Allow",
                                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                                "Action": "sns:Publish",
                                "Resource": {"Ref": "Topic"},
                                "Condition": ALARM_SOURCE,
                            },
                        ],
                    },
                },
            },
            "NonCompliantRule": _alert_rule(
                "non-compliant",
                "NON_COMPLIANT",
                "IAM user <user> in account <account> can sign in to the AWS console without MFA: <annotation> "
                f"Rule <rule>: {console}",
            ),
            "FixedRule": _alert_rule(
                "fixed",
                "COMPLIANT",
                f"IAM user <user> in account <account> is COMPLIANT again: <annotation> Rule <rule>: {console}",
            ),
            "EmailSubscription": {
                "Type": "AWS::SNS::Subscription",
                "Condition": "HasAlertEmail",
                "Properties": {
                    "TopicArn": {"Ref": "Topic"},
                    "Protocol": "email",
                    "Endpoint": {"Ref": "AlertEmail"},
                },
            },
        },
        "Outputs": {"TopicArn": {"Value": {"Ref": "Topic"}}},
    }


def _organization_input_parameters() -> dict[str, Any]:
    """The JSON string of rule parameters, leaving out empty exemptions (Config refuses empty values)."""
    base = (
        '"AssumeRoleMode": "True", "ExecutionRoleName": "${ExecutionRoleName}", '
        '"GracePeriodDays": "${GracePeriodDays}", "DataSource": "${DataSource}"'
    )
    names = '"ExemptUserNames": "${ExemptUserNames}"'
    tag = '"ExemptTag": "${ExemptTag}"'

    def variant(*extra: str) -> dict[str, Any]:
        return {"Fn::Sub": "{" + ", ".join((base, *extra)) + "}"}

    return {
        "Fn::If": [
            "HasExemptUserNames",
            {"Fn::If": ["HasExemptTag", variant(names, tag), variant(names)]},
            {"Fn::If": ["HasExemptTag", variant(tag), variant()]},
        ]
    }


def organization_template() -> dict[str, Any]:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "IAM_USER_CONSOLE_MFA for an AWS Organization, in the delegated administrator account "
        "next to the rule stack's Lambda: the organization rule with change and periodic triggers, and the "
        "rights the Lambda needs to evaluate member accounts through their execution role.",
        "Parameters": {
            "RuleName": RULE_NAME,
            "FunctionArn": {"Type": "String", "Description": "ARN of the rule stack's Lambda."},
            "FunctionRoleName": {"Type": "String", "Description": "Name of the rule stack's Lambda role."},
            "OrganizationId": {
                "Type": "String",
                "AllowedPattern": "^o-[a-z0-9]{10,32}$",
                "Description": "Only accounts of this organization may invoke the Lambda.",
            },
            "ExecutionRoleName": _string(
                "Role the Lambda assumes in each member account (member template).", f"{RULE}-execution"
            ),
            "ExcludedAccounts": {
                "Type": "CommaDelimitedList",
                "Default": "",
                "Description": "Accounts not evaluated.",
            },
            "SweepFrequency": _string(
                "How often every user is evaluated.", "TwentyFour_Hours", AllowedValues=FREQUENCIES
            ),
            **RULE_PARAMETERS,
        },
        "Conditions": {
            **_set_conditions(["ExemptUserNames", "ExemptTag"]),
            "HasExcludedAccounts": {
                "Fn::Not": [{"Fn::Equals": [{"Fn::Join": ["", {"Ref": "ExcludedAccounts"}]}, ""]}]
            },
        },
        "Resources": {
            "OrganizationInvokePermission": {
                "Type": "AWS::Lambda::Permission",
                "Properties": {
                    "FunctionName": {"Ref": "FunctionArn"},
                    "Action": "lambda:InvokeFunction",
                    "Principal": "config.amazonaws.com",
                    "PrincipalOrgID": {"Ref": "OrganizationId"},
                },
            },
            "AssumeExecutionRole": {
                "Type": "AWS::IAM::RolePolicy",
                "Properties": {
                    "RoleName": {"Ref": "FunctionRoleName"},
                    "PolicyName": "assume-member-execution-role",
                    "PolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            _statement(
                                ["sts:AssumeRole"],
                                {"Fn::Sub": "arn:${AWS::Partition}:iam::*:role/${ExecutionRoleName}"},
                            )
                        ],
                    },
                },
            },
            "OrganizationRule": {
                "Type": "AWS::Config::OrganizationConfigRule",
                "DependsOn": ["OrganizationInvokePermission", "AssumeExecutionRole"],
                "Properties": {
                    "OrganizationConfigRuleName": {"Ref": "RuleName"},
                    "ExcludedAccounts": {
                        "Fn::If": ["HasExcludedAccounts", {"Ref": "ExcludedAccounts"}, {"Ref": "AWS::NoValue"}]
                    },
                    # rdk deploy-organization drops the change triggers: both kinds are declared here.
                    "OrganizationCustomRuleMetadata": {
                        "Description": "IAM users with a console password must have an MFA device.",
                        "LambdaFunctionArn": {"Ref": "FunctionArn"},
                        "OrganizationConfigRuleTriggerTypes": [
                            "ConfigurationItemChangeNotification",
                            "OversizedConfigurationItemChangeNotification",
                            "ScheduledNotification",
                        ],
                        "MaximumExecutionFrequency": {"Ref": "SweepFrequency"},
                        "ResourceTypesScope": ["AWS::IAM::User"],
                        "InputParameters": _organization_input_parameters(),
                    },
                },
            },
        },
        "Outputs": {"OrganizationRuleName": {"Value": {"Ref": "OrganizationRule"}}},
    }


def member_template() -> dict[str, Any]:
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "IAM_USER_CONSOLE_MFA in a member account (deploy with StackSets): the execution role "
        "the central rule Lambda assumes, and the remediation (organization rules carry none).",
        "Parameters": {
            "ExecutionRoleName": _string(
                "Name the central Lambda assumes (rdklib ExecutionRoleName).", f"{RULE}-execution"
            ),
            "FunctionRoleArn": {"Type": "String", "Description": "ARN of the central Lambda's role."},
            "MemberRuleName": {
                "Type": "String",
                "Description": "Name of the organization rule as it appears in "
                "this account (OrgConfigRule-IAM_USER_CONSOLE_MFA-...), for the remediation.",
            },
            "DeployRemediation": _string(
                "true: add the remediation to this account.", "true", AllowedValues=["true", "false"]
            ),
            **REMEDIATION_PARAMETERS,
        },
        "Conditions": {
            **_set_conditions(["ExemptUserNames", "ExemptTag"]),
            "WithRemediation": {"Fn::Equals": [{"Ref": "DeployRemediation"}, "true"]},
            "WithRemediationAndExemptTag": {
                "Fn::And": [{"Condition": "WithRemediation"}, {"Condition": "HasExemptTag"}]
            },
        },
        "Resources": {
            "ExecutionRole": {
                "Type": "AWS::IAM::Role",
                "Properties": {
                    "RoleName": {"Ref": "ExecutionRoleName"},
                    "Description": "Assumed by the central IAM_USER_CONSOLE_MFA Lambda: IAM reads only.",
                    "AssumeRolePolicyDocument": {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"AWS": {"Ref": "FunctionRoleArn"}},
                                "Action": "sts:AssumeRole",
                            }
                        ],
                    },
                    "Policies": [
                        {
                            "PolicyName": "evaluate-iam-users",
                            "PolicyDocument": {"Version": "2012-10-17", "Statement": _rule_read_statements()},
                        }
                    ],
                },
            },
            # Remediation resources only with DeployRemediation; the exempt-tag guard (which has
            # its own HasExemptTag condition) only when both hold.
            **{
                name: {
                    **resource,
                    "Condition": "WithRemediationAndExemptTag"
                    if "Condition" in resource
                    else "WithRemediation",
                }
                for name, resource in _remediation_resources({"Ref": "MemberRuleName"}).items()
            },
        },
        "Outputs": {"ExecutionRoleArn": {"Value": {"Fn::GetAtt": ["ExecutionRole", "Arn"]}}},
    }


TEMPLATES = {
    "rule.json": rule_template,
    "remediation.json": remediation_template,
    "alerts.json": alerts_template,
    "organization.json": organization_template,
    "member.json": member_template,
}


def render(build: Any) -> str:
    return json.dumps(build(), indent=2) + "\n"


def write_all(out: Path = OUT) -> list[Path]:
    written = []
    for name, build in TEMPLATES.items():
        path = out / name
        path.write_text(render(build))
        written.append(path)
    return written
