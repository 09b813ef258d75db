"""What `deploy` and `uninstall` may call (`iam-console-mfa policy --deploy`), and the IAM action
behind each call, so that a denied call names the permission it lacks.

Two parts: the calls deploy makes itself (scoped to its bucket and stacks), and what
CloudFormation calls with the same credentials to create, update and delete each stack's
resources (``stack_permissions``, generated from CloudFormation's resource schemas).
sts:GetCallerIdentity needs no permission (AWS STS API reference), so it is not listed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .stack_permissions import STACK_ACTIONS

# Operation name (botocore's, as in a ClientError) -> the IAM action that authorizes it.
CALL_ACTIONS: Mapping[str, str] = MappingProxyType(
    {
        "HeadBucket": "s3:ListBucket",  # S3 authorizes HeadBucket as s3:ListBucket
        "CreateBucket": "s3:CreateBucket",
        "PutPublicAccessBlock": "s3:PutBucketPublicAccessBlock",
        "GetBucketPolicy": "s3:GetBucketPolicy",  # organization mode: kept, our statement replaced
        "PutBucketPolicy": "s3:PutBucketPolicy",  # organization mode: members read the package
        "PutObject": "s3:PutObject",
        # organization mode's preflight (organization_access)
        "DescribeOrganization": "organizations:DescribeOrganization",
        "ListAWSServiceAccessForOrganization": "organizations:ListAWSServiceAccessForOrganization",
        "ListDelegatedAdministrators": "organizations:ListDelegatedAdministrators",
        "DescribeStacks": "cloudformation:DescribeStacks",
        "DescribeStackEvents": "cloudformation:DescribeStackEvents",
        "CreateStack": "cloudformation:CreateStack",
        "UpdateStack": "cloudformation:UpdateStack",
        # uninstall: the same stacks, bucket and objects, and the log groups the stacks retained
        "ListStackResources": "cloudformation:ListStackResources",
        "DeleteStack": "cloudformation:DeleteStack",
        "ListObjectsV2": "s3:ListBucket",
        "DeleteObjects": "s3:DeleteObject",  # authorized per key
        "DeleteBucket": "s3:DeleteBucket",
        "DeleteBucketPolicy": "s3:DeleteBucketPolicy",
        "DeleteLogGroup": "logs:DeleteLogGroup",
        # the quarantine policy (require-mfa), detached from its users before its stack goes
        "ListEntitiesForPolicy": "iam:ListEntitiesForPolicy",
        "DetachUserPolicy": "iam:DetachUserPolicy",
    }
)
CALLED = frozenset(CALL_ACTIONS.values())


def deploy_policy(settings: Mapping[str, Any]) -> dict[str, Any]:
    """The identity policy for the principal that runs `deploy` with these settings."""
    from .deploy import plan

    organization = settings["organization"]["enabled"]
    bucket = settings["codeBucket"] or "iam-console-mfa-*"  # default: iam-console-mfa-<account>-<region>
    stacks = plan(dict(settings), bucket, "package.zip")
    templates = {step.template for step in stacks} | ({"rule.yaml"} if organization else set())
    for_resources = {a for t in templates for a in STACK_ACTIONS[t]}
    # Lambda reads its code from the bucket: scoped to it, like the upload.
    package_reads = sorted(a for a in for_resources if a.startswith("s3:"))
    region = settings["region"]
    # The calls deploy makes, by the resource each acts on (PutBucketPolicy: organization only).
    object_actions = ("s3:PutObject", "s3:DeleteObject")
    bucket_actions = [a for a in CALLED if a.startswith("s3:") and a not in object_actions]
    if not organization:
        policy_actions = ("s3:PutBucketPolicy", "s3:DeleteBucketPolicy")  # uninstall reads it in any mode
        bucket_actions = [a for a in bucket_actions if a not in policy_actions]

    def statement(sid: str, actions: list[str], resource: str | list[str]) -> dict[str, Any]:
        return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resource}

    statements = [
        statement("CodeBucket", bucket_actions, f"arn:*:s3:::{bucket}"),
        statement("CodePackage", [*object_actions, *package_reads], f"arn:*:s3:::{bucket}/*"),
        statement(
            "Stacks",
            [a for a in CALLED if a.startswith("cloudformation:")],
            [f"arn:*:cloudformation:{region}:*:stack/{step.name}/*" for step in stacks],
        ),
        # What CloudFormation calls for the stacks' resources, whose names are mostly generated.
        statement("StackResources", sorted(for_resources - set(package_reads) - {"iam:PassRole"}), "*"),
        # The log groups the rule stack retains: /aws/lambda/<RuleName>-<function>/<stack UUID>.
        statement(
            "RetainedLogGroups",
            [a for a in CALLED if a.startswith("logs:")],
            f"arn:*:logs:{region}:*:log-group:/aws/lambda/{settings['ruleName']}-*",
        ),
        # A role without RoleName is named "<stack name>-<logical id>-<suffix>".
        statement("PassStackRoles", ["iam:PassRole"], [f"arn:*:iam::*:role/{step.name}-*" for step in stacks]),
    ]
    if organization:
        # These Organizations actions have no resource type (Service Authorization Reference).
        statements.append(statement("Organization", [a for a in CALLED if a.startswith("organizations:")], "*"))
    return {"Version": "2012-10-17", "Statement": statements}


MANAGED_POLICY_CHARACTERS = 6144  # IAM quota, white space not counted


def managed_policies(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The policy as managed policies that each fit IAM's quota: the calls deploy makes in
    iam-console-mfa-deploy, the stacks' resource actions (CloudFormation's handler
    permissions; a DynamoDB table alone brings 31) in iam-console-mfa-deploy-resources, split
    by service into -resources-2 and on when they do not fit one. Attach them all.
    """
    (resources,) = [s for s in policy["Statement"] if s["Sid"] == "StackResources"]
    calls = [s for s in policy["Statement"] if s["Sid"] != "StackResources"]
    parts: list[list[str]] = [[]]
    by_service: dict[str, list[str]] = {}
    for action in resources["Action"]:
        by_service.setdefault(action.split(":")[0], []).append(action)
    for actions in by_service.values():
        if (
            _size({**policy, "Statement": [{**resources, "Action": parts[-1] + actions}]})
            > MANAGED_POLICY_CHARACTERS
        ):
            parts.append([])
        parts[-1].extend(actions)
    named = {"iam-console-mfa-deploy": {**policy, "Statement": calls}}
    for number, actions in enumerate(parts, start=1):
        suffix = "" if number == 1 else f"-{number}"
        statement = {**resources, "Sid": f"StackResources{suffix.replace('-', '')}", "Action": actions}
        named[f"iam-console-mfa-deploy-resources{suffix}"] = {**policy, "Statement": [statement]}
    return named


def _size(document: dict[str, Any]) -> int:
    return len("".join(json.dumps(document).split()))


def denied(operation: str) -> str:
    """The sentence for a call IAM refused."""
    action = CALL_ACTIONS.get(operation)
    lacks = f"the credentials lack {action}" if action else "a permission is missing"
    hint = " (or the bucket belongs to another account)" if operation == "HeadBucket" else ""
    return f"{operation} was denied: {lacks}{hint}; `iam-console-mfa policy --deploy` prints what deploy needs"
