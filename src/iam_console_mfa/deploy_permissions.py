"""What `deploy` may call (`iam-console-mfa policy --deploy`), and the IAM action behind each
call, so that a denied call names the permission it lacks.

Two parts: the calls deploy makes itself (scoped to its bucket and stacks), and what
CloudFormation calls with the same credentials to create, update and delete each stack's
resources (``stack_permissions``, generated from CloudFormation's resource schemas).
sts:GetCallerIdentity needs no permission (AWS STS API reference), so it is not listed.
"""

from __future__ import annotations

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
        "DescribeOrganization": "organizations:DescribeOrganization",  # organization mode
        "DescribeStacks": "cloudformation:DescribeStacks",
        "DescribeStackEvents": "cloudformation:DescribeStackEvents",
        "CreateStack": "cloudformation:CreateStack",
        "UpdateStack": "cloudformation:UpdateStack",
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
    bucket_actions = [a for a in CALLED if a.startswith("s3:") and a != "s3:PutObject"]
    if not organization:
        bucket_actions = [a for a in bucket_actions if a not in ("s3:GetBucketPolicy", "s3:PutBucketPolicy")]

    def statement(sid: str, actions: list[str], resource: str | list[str]) -> dict[str, Any]:
        return {"Sid": sid, "Effect": "Allow", "Action": sorted(actions), "Resource": resource}

    statements = [
        statement("CodeBucket", bucket_actions, f"arn:*:s3:::{bucket}"),
        statement("CodePackage", ["s3:PutObject", *package_reads], f"arn:*:s3:::{bucket}/*"),
        statement(
            "Stacks",
            [a for a in CALLED if a.startswith("cloudformation:")],
            [f"arn:*:cloudformation:{region}:*:stack/{step.name}/*" for step in stacks],
        ),
        # What CloudFormation calls for the stacks' resources, whose names are mostly generated.
        statement("StackResources", sorted(for_resources - set(package_reads) - {"iam:PassRole"}), "*"),
        # A role without RoleName is named "<stack name>-<logical id>-<suffix>".
        statement("PassStackRoles", ["iam:PassRole"], [f"arn:*:iam::*:role/{step.name}-*" for step in stacks]),
    ]
    if organization:
        statements.append(statement("Organization", ["organizations:DescribeOrganization"], "*"))
    return {"Version": "2012-10-17", "Statement": statements}


def managed_policies(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The policy as managed policies that each fit IAM's quota: the stacks' resource actions
    (CloudFormation's handler permissions; a DynamoDB table alone brings 31) in their own.

    Named iam-console-mfa-deploy and iam-console-mfa-deploy-resources: attach both.
    """
    resources = [s for s in policy["Statement"] if s["Sid"] == "StackResources"]
    calls = [s for s in policy["Statement"] if s["Sid"] != "StackResources"]
    return {
        "iam-console-mfa-deploy": {**policy, "Statement": calls},
        "iam-console-mfa-deploy-resources": {**policy, "Statement": resources},
    }


def denied(operation: str) -> str:
    """The sentence for a call IAM refused."""
    action = CALL_ACTIONS.get(operation)
    lacks = f"the credentials lack {action}" if action else "a permission is missing"
    hint = " (or the bucket belongs to another account)" if operation == "HeadBucket" else ""
    return f"{operation} was denied: {lacks}{hint}; `iam-console-mfa policy --deploy` prints what deploy needs"
