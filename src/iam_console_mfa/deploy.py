"""``iam-console-mfa deploy``: rdk-config.json -> package, upload, create or update the stacks.

Order: alerts (its topic receives the rule's failure alarms), then the account stack
(rule.yaml), or with ``organization.enabled`` the organization stack whose StackSet deploys
rule.yaml to the member accounts. Stack events are printed as they happen; ``--dry-run``
prints the plan and calls nothing.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from botocore.exceptions import ClientError

from .organization_access import organization_access
from .settings import digest_settings, remediation_mode, rule_parameters, stacks

if TYPE_CHECKING:
    from boto3 import Session
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.literals import BucketLocationConstraintType

STACKS = stacks()
TEMPLATES_PREFIX = "templates/"  # beside the package in the code bucket: rule.yaml for the StackSet
TERMINAL = ("_COMPLETE", "_FAILED")
Printer = Callable[[str], None]


class DeployError(Exception):
    """A deployment step failed; the message names the stack or the call."""


@dataclass
class StackPlan:
    key: str  # alerts, rule, organization
    name: str
    template: str
    parameters: dict[str, str] = field(default_factory=dict)


def package() -> bytes:
    """The Lambda zip: the rule's handler and engine at the root plus rdklib (boto3 comes with
    the runtime). Found through the imported modules, so a wheel install packages the same
    files as the source tree."""
    import console_mfa
    import IAM_USER_CONSOLE_MFA
    import rdklib

    handler = Path(IAM_USER_CONSOLE_MFA.__file__)
    engine, rdklib_dir = Path(console_mfa.__file__).parent, Path(rdklib.__file__).parent
    return _zip(
        [
            (handler.parent, handler, ""),
            (engine.parent, engine, ""),
            (rdklib_dir.parent, rdklib_dir, ""),
            *_licence("rdklib", "rdklib/"),  # Apache-2.0: the licence travels with the code
        ]
    )


def _licence(distribution: str, prefix: str) -> list[tuple[Path, Path, str]]:
    """The distribution's licence files (its dist-info), zipped under ``prefix``."""
    from importlib.metadata import files

    found = [
        Path(str(f.locate())) for f in files(distribution) or [] if "licenses/" in str(f) or f.name == "LICENSE"
    ]
    return [(path.parent, path, prefix) for path in found]


def package_key(rule_name: str, code: bytes) -> str:
    """The package's S3 key: named by its content, so a new package never overwrites a deployed one."""
    return f"{rule_name}-{hashlib.sha256(code).hexdigest()[:16]}.zip"


def rdklib_layer() -> bytes:
    """A Lambda layer of the pinned rdklib for the RDK route (layers put python/ on sys.path)."""
    import rdklib

    rdklib_dir = Path(rdklib.__file__).parent
    return _zip([(rdklib_dir.parent, rdklib_dir, "python/")])


def _zip(trees: list[tuple[Path, Path, str]]) -> bytes:
    """Each tree's .py files, or the one file, (no tests, no caches) named from its root under a prefix.

    Fixed timestamps and modes: the same sources give the same bytes, hence the same key.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for root, tree, prefix in trees:
            for path in [tree] if tree.is_file() else sorted(tree.rglob("*.py")):
                if path.name.endswith("_test.py") or "__pycache__" in path.parts:
                    continue
                info = zipfile.ZipInfo(prefix + str(path.relative_to(root)), date_time=(2020, 1, 1, 0, 0, 0))
                info.compress_type = zipfile.ZIP_DEFLATED  # a ZipInfo is stored uncompressed otherwise
                info.external_attr = 0o644 << 16
                archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def plan(settings: dict[str, Any], bucket: str, code_key: str) -> list[StackPlan]:
    """The stacks to deploy, in order; '<stack.Output>' values come from stacks deployed before.

    Single account: alerts, then the account stack (rule.yaml). Organization: alerts, then
    organization.yaml, whose StackSet deploys rule.yaml to every member account (this
    account included when it belongs to a targeted OU): never both, or the accounts of the
    OUs would be evaluated twice.
    """
    rule = settings["ruleName"]
    organization, alerts = settings["organization"], settings["alerts"]
    lambda_settings, remediation = settings["lambda"], settings["remediation"]
    # Every account's stack (rule.yaml) takes these, alone or through the StackSet.
    account_parameters = {
        "RuleName": rule,
        "CodeBucket": bucket,
        "CodeKey": code_key,
        "SweepFrequency": settings["sweepFrequency"],
        **rule_parameters(settings),
        "RemediationMode": remediation_mode(settings),
        "TimeoutSeconds": str(lambda_settings["timeoutSeconds"]),
        "MemorySize": str(lambda_settings["memoryMB"]),
        "LogRetentionDays": str(lambda_settings["logRetentionDays"]),
        "MaximumAutomaticAttempts": str(remediation["maximumAutomaticAttempts"]),
        "RetryAttemptSeconds": str(remediation["retryAttemptSeconds"]),
        "ReevaluateOnIamChange": str(settings["reevaluateOnIamChange"]).lower(),
    }

    def stack(key: str, parameters: dict[str, str]) -> StackPlan:
        return StackPlan(key, settings["stacks"][key], f"{key}.yaml", parameters)

    steps: list[StackPlan] = []
    if alerts["enabled"]:
        # Organization mode: members' events reach the topic through the alerts stack's bus.
        central = {"OrganizationId": "<aws.OrganizationId>"} if organization["enabled"] else {}
        digest = digest_settings(settings)
        steps.append(
            stack(
                "alerts",
                {
                    "RuleName": rule,
                    "AlertEmail": alerts["email"],
                    **central,
                    "CodeBucket": bucket,
                    "CodeKey": code_key,
                    "DigestSchedule": digest["schedule"],
                    "DigestPeriodDays": str(digest["periodDays"]),
                    "DigestSendWhenClean": str(digest["sendWhenClean"]).lower(),
                    "WebhookSecretArn": digest["webhookSecretArn"],
                    "RemediationMode": remediation_mode(settings),
                    "LogRetentionDays": str(lambda_settings["logRetentionDays"]),
                },
            )
        )
    if organization["enabled"]:
        steps.append(
            stack(
                "organization",
                {
                    **account_parameters,
                    "CentralEventBusArn": "<alerts.CentralEventBusArn>" if alerts["enabled"] else "",
                    "TemplateURL": "<template URL of rule.yaml, uploaded beside the package>",
                    "OrganizationalUnitIds": ",".join(organization["organizationalUnitIds"]),
                    "CallAs": organization["callAs"],
                },
            )
        )
        return steps
    steps.append(
        stack("rule", {**account_parameters, "AlarmTopicArn": "<alerts.TopicArn>" if alerts["enabled"] else ""})
    )
    return steps


def _resolve(value: str, outputs: dict[str, dict[str, str]]) -> str:
    """Fill '<stack.Output>' placeholders from the outputs of stacks deployed before."""
    if not (value.startswith("<") and value.endswith(">") and "." in value and " " not in value):
        return value
    stack, output = value[1:-1].split(".", 1)
    return outputs[stack][output]


# The one statement deploy owns in a bucket policy; the earlier, unprefixed Sid is read as ours
# too (replaced on upgrade) when it has our shape.
ORGANIZATION_READ_SID = "IamConsoleMfaOrganizationReadsPackage"
EARLIER_SIDS = ("OrganizationReadsRulePackage",)


OUR_SIDS = (ORGANIZATION_READ_SID, *EARLIER_SIDS)


def bucket_policy(s3: S3Client, bucket: str, account: str) -> dict[str, Any]:
    """The bucket's policy document; an empty one when it has none."""
    try:
        return dict(json.loads(s3.get_bucket_policy(Bucket=bucket, ExpectedBucketOwner=account)["Policy"]))
    except ClientError as error:
        if error.response["Error"]["Code"] != "NoSuchBucketPolicy":
            raise
        return {"Version": "2012-10-17", "Statement": []}


def split_statements(policy: dict[str, Any]) -> tuple[list[dict[str, Any]], list[Any]]:
    """(our statements, every other statement). A policy's Statement may be one object or a
    list (IAM JSON policy grammar). A statement with our Sid that deploy did not write (another
    shape) is a DeployError: deploy and uninstall never replace or remove it."""
    statements = policy.get("Statement", [])
    statements = [statements] if isinstance(statements, dict) else list(statements)
    ours = [s for s in statements if isinstance(s, dict) and s.get("Sid") in OUR_SIDS]
    for held in ours:
        shaped = (held.get("Effect"), held.get("Principal"), held.get("Action")) == (
            "Allow",
            "*",
            "s3:GetObject",
        )
        if not shaped:
            raise DeployError(
                f"the code bucket's policy has a statement {held['Sid']!r} deploy did not write: "
                "rename or remove it, or use another codeBucket; nothing was changed"
            )
    return ours, [s for s in statements if s not in ours]


def shared_bucket_policy(current: dict[str, Any], statement: dict[str, Any]) -> dict[str, Any]:
    """``current`` with ``statement`` (ours) in place of our earlier one; every other statement kept."""
    _, kept = split_statements(current)
    return {"Version": "2012-10-17", **current, "Statement": [*kept, statement]}


class Deployer:
    def __init__(self, aws: Session, settings: dict[str, Any], say: Printer) -> None:
        self.aws, self.settings, self.say = aws, settings, say
        self.cfn = aws.client("cloudformation")

    def run(self) -> dict[str, dict[str, str]]:
        identity = self.aws.client("sts").get_caller_identity()
        account, partition = identity["Account"], identity["Arn"].split(":")[1]
        region = self.aws.region_name
        bucket = self.settings["codeBucket"] or f"iam-console-mfa-{account}-{region}"
        code = package()
        code_key = package_key(self.settings["ruleName"], code)
        # Preflight: what organization mode needs, and the bucket's owner, before anything is created.
        organization_id = self._organization_id(account) if self.settings["organization"]["enabled"] else ""
        if not self._bucket_exists(bucket, account):
            self._create_bucket(bucket, region, account)
        self._put(bucket, code_key, code, account)
        template_url = ""
        if self.settings["organization"]["enabled"]:
            template_key = f"{TEMPLATES_PREFIX}{code_key.removesuffix('.zip')}-rule.yaml"
            self._put(bucket, template_key, (STACKS / "rule.yaml").read_bytes(), account)
            objects = [f"arn:{partition}:s3:::{bucket}/{key}" for key in (code_key, template_key)]
            self._share_with_organization(bucket, account, objects, organization_id)
            template_url = f"https://{bucket}.s3.{region}.amazonaws.com/{template_key}"
        outputs: dict[str, dict[str, str]] = {}
        if self.settings["organization"]["enabled"]:
            outputs["aws"] = {"OrganizationId": organization_id}  # the alerts stack's bus admits it
        for step in plan(self.settings, bucket, code_key):
            parameters = {k: _resolve(v, outputs) for k, v in step.parameters.items()}
            if "TemplateURL" in parameters:
                parameters["TemplateURL"] = template_url
            outputs[step.key] = self._deploy_stack(step, parameters)
        return outputs

    def _organization_id(self, account: str) -> str:
        """The organization's id, once every registration organization mode needs is in place
        (organization_access); otherwise a DeployError listing each gap with its fix."""
        access = organization_access(
            self.aws.client("organizations"), account, self.settings["organization"]["callAs"]
        )
        if not access.ready:
            raise DeployError("organization mode needs: " + "; ".join(access.missing) + "; nothing was created")
        return access.organization_id

    def _bucket_exists(self, bucket: str, account: str) -> bool:
        """Whether the code bucket exists in this account. The default bucket name is
        predictable: someone else may own it. ExpectedBucketOwner makes S3 refuse (403) every
        call on a bucket of another account, before anything is created."""
        try:
            self.aws.client("s3").head_bucket(Bucket=bucket, ExpectedBucketOwner=account)
        except ClientError as error:
            if error.response["Error"]["Code"] in ("404", "NoSuchBucket"):
                return False
            raise  # 403: another account's, or denied (deploy_permissions.denied says which)
        return True

    def _create_bucket(self, bucket: str, region: str, account: str) -> None:
        s3 = self.aws.client("s3")
        self.say(f"creating bucket {bucket}")
        if region == "us-east-1":  # the one region that takes no LocationConstraint
            s3.create_bucket(Bucket=bucket)
        else:
            s3.create_bucket(
                Bucket=bucket,
                CreateBucketConfiguration={"LocationConstraint": cast("BucketLocationConstraintType", region)},
            )
        s3.put_public_access_block(
            Bucket=bucket,
            ExpectedBucketOwner=account,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )

    def _put(self, bucket: str, key: str, body: bytes, account: str) -> None:
        self.aws.client("s3").put_object(
            Bucket=bucket, Key=key, Body=body, ServerSideEncryption="AES256", ExpectedBucketOwner=account
        )
        self.say(f"uploaded s3://{bucket}/{key} ({len(body) // 1024} KiB)")

    def _share_with_organization(
        self, bucket: str, account: str, objects: list[str], organization_id: str
    ) -> None:
        """Member accounts' CloudFormation fetches the package and the StackSet's template: the
        organization may read those two objects, nothing else of the bucket.

        aws:PrincipalOrgID works here: the callers are account principals of the organization
        (unlike a service principal such as config.amazonaws.com). The bucket may be the
        user's own (codeBucket): its policy is kept, only the statement with our Sid replaced.
        """
        s3 = self.aws.client("s3")
        current = bucket_policy(s3, bucket, account)
        statement = {
            "Sid": ORGANIZATION_READ_SID,
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:GetObject",
            "Resource": objects,
            "Condition": {"StringEquals": {"aws:PrincipalOrgID": organization_id}},
        }
        policy = shared_bucket_policy(current, statement)
        s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy), ExpectedBucketOwner=account)
        self.say(f"s3://{bucket}: {len(objects)} objects readable by organization {organization_id}")

    def _deploy_stack(self, step: StackPlan, parameters: dict[str, str]) -> dict[str, str]:
        body = (STACKS / step.template).read_text()
        exists = self._exists(step.name)
        started = time.time() - 1
        try:
            (self.cfn.update_stack if exists else self.cfn.create_stack)(
                StackName=step.name,
                TemplateBody=body,
                Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
                Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"],
            )
        except ClientError as error:
            if "No updates are to be performed" not in str(error):
                raise
            self.say(f"{step.name}: up to date")
            return self._outputs(step.name)
        self.say(f"{step.name}: {'updating' if exists else 'creating'} from cloudformation/{step.template}")
        status = follow(self.cfn, step.name, started, self.say)
        if not status.endswith("_COMPLETE") or "ROLLBACK" in status:
            raise DeployError(f"stack {step.name} ended in {status}: see its events above")
        return self._outputs(step.name)

    def _exists(self, name: str) -> bool:
        try:
            stacks = self.cfn.describe_stacks(StackName=name)["Stacks"]
        except ClientError as error:
            if "does not exist" in str(error):
                return False
            raise
        return bool(stacks) and stacks[0]["StackStatus"] != "DELETE_COMPLETE"

    def _outputs(self, name: str) -> dict[str, str]:
        stack = self.cfn.describe_stacks(StackName=name)["Stacks"][0]
        return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def follow(
    cfn: CloudFormationClient,
    stack: str,
    since: float,
    say: Printer,
    poll_seconds: float = 2.0,
    timeout: float = 1800,
) -> str:
    """Print the stack's events as they arrive until it reaches a terminal status. ``stack`` is
    a name, or the StackId for a deletion (a deleted stack is found by its id only)."""
    seen: set[str] = set()
    deadline = time.time() + timeout
    while time.time() < deadline:
        for event in reversed(cfn.describe_stack_events(StackName=stack)["StackEvents"]):
            if event["EventId"] in seen or event["Timestamp"].timestamp() < since:
                continue
            seen.add(event["EventId"])
            reason = f" ({event['ResourceStatusReason']})" if event.get("ResourceStatusReason") else ""
            when, resource = f"{event['Timestamp']:%H:%M:%S}", event["LogicalResourceId"]
            say(f"  {when} {resource:<28} {event['ResourceStatus']}{reason}")
        status = str(cfn.describe_stacks(StackName=stack)["Stacks"][0]["StackStatus"])
        if status.endswith(TERMINAL) and not status.endswith("_IN_PROGRESS"):
            return status
        time.sleep(poll_seconds)
    raise DeployError(f"stack {stack} did not finish within {timeout:.0f} s")


def describe_plan(settings: dict[str, Any], say: Printer) -> None:
    bucket = settings["codeBucket"] or f"iam-console-mfa-<account>-{settings['region']}"
    say(f"region {settings['region']} (IAM is global: one region only)")
    say(f"package rules/IAM_USER_CONSOLE_MFA + rdklib -> s3://{bucket}/{settings['ruleName']}-<sha256>.zip")
    for step in plan(settings, bucket, f"{settings['ruleName']}-<sha256>.zip"):
        say(f"stack {step.name} <- cloudformation/{step.template}")
        for key, value in step.parameters.items():
            say(f"    {key} = {value!r}")
