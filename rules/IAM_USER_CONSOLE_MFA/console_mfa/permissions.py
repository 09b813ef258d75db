"""Every AWS action the code calls, per role, in one place.

The stacks grant exactly these (a test compares each role in cloudformation/ with this
registry, and this registry with the calls the code makes under test); ``iam-console-mfa
policy`` prints them. Actions are grouped by the resource they can be scoped to, per the
Service Authorization Reference (a test checks that too, against cfn-lint's copy).
"""

from __future__ import annotations

# The rule (Lambda role, and the execution role it assumes in other accounts).
RULE_USER_ACTIONS = ("iam:GetLoginProfile", "iam:GetUser", "iam:ListMFADevices", "iam:ListUserTags")  # user/*
# No resource type: only "*" can allow these.
RULE_ACCOUNT_ACTIONS = (
    "cloudtrail:LookupEvents",  # the credential report's delta (console_mfa.trail)
    "config:GetResourceConfigHistory",
    "config:PutEvaluations",
    "iam:GenerateCredentialReport",
    "iam:GetCredentialReport",
    "iam:ListUsers",
    "iam:ListVirtualMFADevices",  # a live sweep's account-wide listing (console_mfa.live)
)
# The rule's own stored results (console_mfa.recorded): a config-rule resource. A rule's ARN
# ends in a generated id, not its name, and the role exists before the rule: scoped to the
# account's and region's rules.
RULE_CONFIG_RULE_ACTIONS = ("config:GetComplianceDetailsByConfigRule",)
RULE_ACTIONS = RULE_USER_ACTIONS + RULE_ACCOUNT_ACTIONS + RULE_CONFIG_RULE_ACTIONS

# The remediation Lambda: the only role that writes to IAM. Its reads and audit tag:
REMEDIATION_USER_ACTIONS = (
    "iam:GetLoginProfile",
    "iam:GetUser",
    "iam:ListMFADevices",
    "iam:ListUserTags",
)
REMEDIATION_TAG_ACTIONS = ("iam:TagUser",)  # user/*, and only the audit tag key
# DescribeConfigRules: the rule's own parameters, read on every run (console_mfa.deployed).
REMEDIATION_ACCOUNT_ACTIONS = ("config:DescribeConfigRules", "config:ListDiscoveredResources", "iam:ListUsers")
# What each RemediationAction writes (rule.yaml grants each in its own policy of the role:
# RemovesConsoleAccess, AttachesQuarantinePolicy for the stack's policy only, DeactivatesAccessKeys).
REMEDIATION_ACTION_ACTIONS = {
    "disable-console": ("iam:DeleteLoginProfile",),
    "require-mfa": ("iam:AttachUserPolicy",),
    "require-mfa-and-deactivate-keys": ("iam:AttachUserPolicy", "iam:ListAccessKeys", "iam:UpdateAccessKey"),
}
REMEDIATION_ACTIONS = REMEDIATION_USER_ACTIONS + REMEDIATION_TAG_ACTIONS + REMEDIATION_ACCOUNT_ACTIONS

# The Automation document's role: it only invokes the remediation Lambda.
AUTOMATION_ACTIONS = ("lambda:InvokeFunction",)

# With near-real-time, the rule's role also reads and claims the change store (console_mfa.changes),
# one DynamoDB table (rule.yaml, ChangesTablePolicy).
RULE_CHANGE_STORE_ACTIONS = ("dynamodb:GetItem", "dynamodb:Scan", "dynamodb:UpdateItem")

# The near-real-time re-evaluation Lambda (console_mfa.reevaluate): the change store, its own
# queue (delayed retries), the rule's start. Lambda's SQS event source mapping also uses its
# role to read the queue (sqs:ReceiveMessage, DeleteMessage, GetQueueAttributes): granted in
# rule.yaml, called by Lambda, not by this code.
REEVALUATE_ACTIONS = (
    "config:StartConfigRulesEvaluation",
    "dynamodb:GetItem",
    "dynamodb:UpdateItem",
    "sqs:SendMessage",
)

# With SecurityHubFindings=true, the rule's role also (rule.yaml, SecurityHubFindingsPolicy):
SECURITY_HUB_ACTIONS = ("securityhub:BatchImportFindings", "securityhub:GetFindings")
