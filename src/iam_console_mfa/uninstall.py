"""``iam-console-mfa uninstall``: remove what `deploy` created, in dependency order.

A plan first (read-only); ``--yes`` carries it out. What is ours is recognised, never assumed
from a name alone: a stack is ours when its description is one of our templates' and its
RuleName is the configured rule; an object when its key is one deploy writes for this rule
(``<RuleName>-<sha256>.zip``, ``templates/<RuleName>-<sha256>-rule.yaml``); a bucket policy
statement by our Sid. Anything else under our names stops the whole uninstall before it
changes anything.

Order: the organization stack (its StackSet removes every member account's stack, and with it
their rule, Lambda and remediation) or the account stack, then the alerts stack (topic, central
bus), then the log groups the stacks retained (``--keep-logs`` keeps them), the uploaded
objects, our statement in the bucket policy, and the bucket when it is deploy's default one and
nothing else is left in it. The change table has no DeletionPolicy: it holds only pending
changes with a time to live, and goes with its stack.
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from .deploy import (
    ORGANIZATION_READ_SID,
    TEMPLATES_PREFIX,
    DeployError,
    Printer,
    bucket_policy,
    follow,
    split_statements,
)

if TYPE_CHECKING:
    from boto3 import Session
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_s3 import S3Client

OURS = "IAM_USER_CONSOLE_MFA"  # how each of our templates' Description begins
ORDER = ("organization", "rule", "alerts")  # dependants first: the rule alerts through the topic


@dataclass
class DeployedStack:
    key: str
    name: str
    stack_id: str
    log_groups: list[str]
    # users holding the stack's quarantine policy (require-mfa): detached first, which lifts their
    # quarantine, since IAM deletes no policy that is still attached
    quarantined: dict[str, list[str]] = field(default_factory=dict)  # policy ARN -> user names


@dataclass
class Removal:
    bucket: str
    stacks: list[DeployedStack] = field(default_factory=list)
    objects: list[str] = field(default_factory=list)
    bucket_exists: bool = False
    policy_statement: bool = False  # the bucket policy holds our statement
    delete_bucket: bool = False  # deploy's default bucket, empty once our objects are gone
    kept_because: str = ""  # why an existing bucket stays
    refused: list[str] = field(default_factory=list)  # what stops the uninstall

    @property
    def empty(self) -> bool:
        return not (self.stacks or self.objects or self.policy_statement or self.delete_bucket)


def plan_removal(aws: Session, settings: dict[str, Any]) -> Removal:
    """What uninstall would remove; reads only."""
    account = aws.client("sts").get_caller_identity()["Account"]
    rule = settings["ruleName"]
    default_bucket = f"iam-console-mfa-{account}-{aws.region_name}"
    removal = Removal(bucket=settings["codeBucket"] or default_bucket)
    cfn = aws.client("cloudformation")
    for key in ORDER:
        name = settings["stacks"][key]
        try:
            (stack,) = cfn.describe_stacks(StackName=name)["Stacks"]
        except ClientError as error:
            if "does not exist" in str(error):
                continue
            raise
        status = stack["StackStatus"]
        given = {p["ParameterKey"]: p.get("ParameterValue") for p in stack.get("Parameters", [])}
        if status == "DELETE_COMPLETE":
            continue
        if not str(stack.get("Description", "")).startswith(OURS) or given.get("RuleName") != rule:
            removal.refused.append(f"stack {name} was not deployed by iam-console-mfa for rule {rule}")
        elif status.endswith("_IN_PROGRESS"):
            removal.refused.append(f"stack {name} is {status}: run uninstall again when it has finished")
        else:
            pages = cfn.get_paginator("list_stack_resources").paginate(StackName=stack["StackId"])
            resources = [
                r for page in pages for r in page["StackResourceSummaries"] if r.get("PhysicalResourceId")
            ]
            logs = [r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::Logs::LogGroup"]
            policies = [
                r["PhysicalResourceId"] for r in resources if r["ResourceType"] == "AWS::IAM::ManagedPolicy"
            ]
            holders = {arn: _users_holding(aws.client("iam"), arn) for arn in policies}
            removal.stacks.append(
                DeployedStack(key, name, stack["StackId"], logs, {a: u for a, u in holders.items() if u})
            )
    _plan_bucket(aws.client("s3"), removal, rule, account, removal.bucket == default_bucket)
    return removal


def _users_holding(iam: IAMClient, policy_arn: str) -> list[str]:
    pages = iam.get_paginator("list_entities_for_policy").paginate(PolicyArn=policy_arn, EntityFilter="User")
    return [u["UserName"] for page in pages for u in page["PolicyUsers"]]


def _plan_bucket(s3: S3Client, removal: Removal, rule: str, account: str, default: bool) -> None:
    try:
        s3.head_bucket(Bucket=removal.bucket, ExpectedBucketOwner=account)
    except ClientError as error:
        if error.response["Error"]["Code"] in ("404", "NoSuchBucket"):
            return
        raise  # 403: another account's bucket, or no permission: touch nothing
    removal.bucket_exists = True
    ours = re.compile(
        rf"({re.escape(rule)}-[0-9a-f]{{16}}\.zip|{TEMPLATES_PREFIX}{re.escape(rule)}-[0-9a-f]{{16}}-rule\.yaml)"
    )
    others = False
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=removal.bucket, ExpectedBucketOwner=account
    ):
        for item in page.get("Contents", []):
            if ours.fullmatch(item["Key"]):
                removal.objects.append(item["Key"])
            else:
                others = True
    try:
        statements, _ = split_statements(bucket_policy(s3, removal.bucket, account))
    except DeployError:  # a statement under our Sid that deploy did not write
        removal.refused.append(
            f"the policy of bucket {removal.bucket} holds a statement under our Sid deploy did not write"
        )
        statements = []
    removal.policy_statement = bool(statements)
    removal.delete_bucket = default and not others
    if not removal.delete_bucket:
        removal.kept_because = "it holds objects deploy did not upload" if default else "codeBucket is yours"


def describe_removal(removal: Removal, keep_logs: bool, say: Printer) -> None:
    for reason in removal.refused:
        say(f"refused: {reason}")
    for stack in removal.stacks:
        for arn, users in stack.quarantined.items():
            say(f"detach {arn.rsplit('/', 1)[-1]} from {', '.join(users)} (lifts their quarantine)")
        say(f"delete stack {stack.name}")
        for group in stack.log_groups:
            say(f"    {'keep' if keep_logs else 'delete'} log group {group}")
    for key in removal.objects:
        say(f"delete s3://{removal.bucket}/{key}")
    if removal.policy_statement and not removal.delete_bucket:
        say(f"remove statement {ORGANIZATION_READ_SID} from the policy of bucket {removal.bucket}")
    if removal.delete_bucket:
        say(f"delete bucket {removal.bucket}")
    elif removal.bucket_exists:
        say(f"keep bucket {removal.bucket}: {removal.kept_because}")
    if removal.empty and not removal.refused:
        say("nothing of iam-console-mfa is deployed here")


def remove(aws: Session, removal: Removal, keep_logs: bool, say: Printer) -> None:
    """Carry out the plan; a stack that does not finish deleting stops it there (what follows
    depends on it)."""
    if removal.refused:
        raise DeployError("uninstall refused: " + "; ".join(removal.refused) + "; nothing was changed")
    account = aws.client("sts").get_caller_identity()["Account"]
    cfn, logs, s3 = aws.client("cloudformation"), aws.client("logs"), aws.client("s3")
    for stack in removal.stacks:
        for arn, users in stack.quarantined.items():
            for user in users:
                aws.client("iam").detach_user_policy(UserName=user, PolicyArn=arn)
                say(f"detached the quarantine policy from {user}")
        since = time.time() - 1
        cfn.delete_stack(StackName=stack.stack_id)
        say(f"{stack.name}: deleting")
        status = follow(cfn, stack.stack_id, since, say)
        if status != "DELETE_COMPLETE":
            raise DeployError(
                f"stack {stack.name} ended in {status}: see its events above; nothing after it was removed"
            )
        for group in [] if keep_logs else stack.log_groups:
            try:
                logs.delete_log_group(logGroupName=group)
                say(f"deleted log group {group}")
            except ClientError as error:
                if error.response["Error"]["Code"] != "ResourceNotFoundException":
                    raise
    for start in range(0, len(removal.objects), 1000):  # DeleteObjects takes up to 1,000 keys
        keys = removal.objects[start : start + 1000]
        s3.delete_objects(
            Bucket=removal.bucket, Delete={"Objects": [{"Key": k} for k in keys]}, ExpectedBucketOwner=account
        )
        say(f"deleted {len(keys)} objects from s3://{removal.bucket}")
    if removal.delete_bucket:
        s3.delete_bucket(Bucket=removal.bucket, ExpectedBucketOwner=account)
        say(f"deleted bucket {removal.bucket}")
    elif removal.policy_statement:
        policy = bucket_policy(s3, removal.bucket, account)
        _, kept = split_statements(policy)
        if kept:
            s3.put_bucket_policy(
                Bucket=removal.bucket,
                Policy=json.dumps({**policy, "Statement": kept}),
                ExpectedBucketOwner=account,
            )
        else:
            s3.delete_bucket_policy(Bucket=removal.bucket, ExpectedBucketOwner=account)
        say(f"removed statement {ORGANIZATION_READ_SID} from the policy of bucket {removal.bucket}")
