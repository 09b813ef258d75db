"""``iam-console-mfa doctor``: is this account (or organization) ready, and is the rule working?

Read-only. One line per check as it completes, each with the exact command or step that fixes
it. Expected absences (no recorder, no rule, Security Hub not enabled) are findings; any other
AWS error (AccessDenied above all) is that check's failure, one line naming the call and the
permission (`iam-console-mfa policy --doctor`), and the other checks still run. Security Hub is
optional unless SecurityHubFindings is on: an optional check never makes doctor fail.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple
from urllib.parse import unquote

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from console_mfa.aws import error_code, translated
from console_mfa.deployed import deployed_rule, input_parameters
from console_mfa.errors import AwsCallFailed
from console_mfa.trail import iam_event_region, partition_of

from .errors import UNANSWERED, unanswered
from .organization_access import organization_access
from .settings import digest_settings, remediation_mode

if TYPE_CHECKING:
    from boto3 import Session
    from mypy_boto3_cloudformation import CloudFormationClient
    from mypy_boto3_config import ConfigServiceClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_iam import IAMClient
    from mypy_boto3_lambda import LambdaClient
    from mypy_boto3_organizations import OrganizationsClient
    from mypy_boto3_securityhub import SecurityHubClient

IAM_USER = "AWS::IAM::User"
# A diagnosis answers in seconds: an error is a finding, not something to wait out with the
# rule's eight adaptive attempts. Throttling still gets retried.
RETRIES = Config(retries={"mode": "standard", "max_attempts": 3})
STACK_SET = "iam-console-mfa-accounts"  # organization.yaml's StackSetName default


class Check(NamedTuple):
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True  # an optional check (Security Hub when off) never makes doctor fail


# Every call doctor makes, and the IAM action behind it: `iam-console-mfa policy --doctor`
# prints these (a test derives them from the calls made). sts:GetCallerIdentity needs none.
CALL_ACTIONS = {
    "DescribeConfigurationRecorders": "config:DescribeConfigurationRecorders",
    "DescribeConfigurationRecorderStatus": "config:DescribeConfigurationRecorderStatus",
    "DescribeDeliveryChannels": "config:DescribeDeliveryChannels",
    "DescribeConfigRules": "config:DescribeConfigRules",
    "DescribeConfigRuleEvaluationStatus": "config:DescribeConfigRuleEvaluationStatus",
    "GetPolicy": "lambda:GetPolicy",
    "GetFunction": "lambda:GetFunction",
    "GetRolePolicy": "iam:GetRolePolicy",  # the remediation's IAM guard
    "DescribeHub": "securityhub:DescribeHub",
    "ListStandardsControlAssociations": "securityhub:ListStandardsControlAssociations",
    "ListEnabledProductsForImport": "securityhub:ListEnabledProductsForImport",
    "LookupEvents": "cloudtrail:LookupEvents",
    "GenerateCredentialReport": "iam:GenerateCredentialReport",
    "ListStackInstances": "cloudformation:ListStackInstances",  # --organization
    "DescribeEventBus": "events:DescribeEventBus",  # --organization: members' alerts
    "DescribeOrganization": "organizations:DescribeOrganization",  # --organization: access
    "ListAWSServiceAccessForOrganization": "organizations:ListAWSServiceAccessForOrganization",
    "ListDelegatedAdministrators": "organizations:ListDelegatedAdministrators",
}


def _call[T](operation: str, call: Callable[[], T]) -> T:
    """The answer; an AWS error names the operation (AwsCallFailed)."""
    with translated(operation):
        return call()


def _call_or_none[T](operation: str, call: Callable[[], T], absent: tuple[str, ...]) -> T | None:
    """The answer, or None when AWS answers one of the ``absent`` codes (a finding, not an error)."""
    with translated(operation):
        try:
            return call()
        except ClientError as error:
            if error_code(error) in absent:
                return None
            raise


def isolated(name: str, check: Callable[[], Check | list[Check]], required: bool = True) -> list[Check]:
    """A check's result, or its error as that check's failure (one line): one failed call never
    hides the other checks."""
    try:
        done = check()
    except AwsCallFailed as error:
        action = CALL_ACTIONS.get(error.operation, "")
        denied = "AccessDenied" in error.code or "Unauthorized" in error.code
        fix = f"grant {action} (iam-console-mfa policy --doctor)" if denied else ""
        if error.code in UNANSWERED:
            fix = unanswered(error.operation)
        return [Check(name, False, str(error), fix, required)]  # one line (errors.AwsCallFailed)
    except BotoCoreError as error:
        return [Check(name, False, str(error).splitlines()[0][:300], "", required)]
    return [c._replace(required=required) for c in (done if isinstance(done, list) else [done])]


def account_checks(aws: Session, settings: dict[str, Any]) -> Iterator[Check]:
    """Each check as it completes (the CLI prints it at once)."""
    region, rule = aws.region_name, settings["ruleName"]
    account = aws.client("sts").get_caller_identity()["Account"]
    config = aws.client("config")
    yield from isolated("recorder", lambda: _recorder(config, region))
    yield from isolated("delivery channel", lambda: _delivery_channel(config, region))
    rule_checks = isolated("rule", lambda: _rule(config, rule, region))
    yield from rule_checks
    if rule_checks[0].ok:
        yield from isolated("last evaluation", lambda: _last_evaluation(config, rule))
    yield from isolated(
        "invoke permission", lambda: _invoke_permission(aws.client("lambda"), f"{rule}-evaluator", account)
    )
    if remediation_mode(settings) != "none":
        remediation = isolated("remediation", lambda: _remediation(aws.client("lambda"), config, rule))
        yield from remediation
        if remediation[0].ok and rule_checks[0].ok:
            yield from isolated(
                "exempt-tag guard",
                lambda: _exempt_tag_guard(aws.client("lambda"), aws.client("iam"), config, rule),
            )
    if settings["alerts"]["enabled"] and digest_settings(settings)["schedule"]:
        yield from isolated("digest", lambda: _digest(aws.client("lambda"), rule))
    # Native findings need Security Hub; without them it is where Config's findings show, optionally.
    hub_required = settings["ruleParameters"].get("SecurityHubFindings") == "true"
    yield from isolated("Security Hub", lambda: _security_hub(aws.client("securityhub"), region), hub_required)
    yield from isolated("managed rule", lambda: _managed_rule(config), required=False)
    yield from isolated("IAM.5", lambda: _iam5_control(aws.client("securityhub"), region), required=False)
    yield from isolated("CloudTrail event history", lambda: _event_history(aws, region))
    yield from isolated("credential report", lambda: _credential_report(aws.client("iam")))


MANAGED_RULE = "MFA_ENABLED_FOR_IAM_CONSOLE_ACCESS"  # AWS's managed rule (Security Hub IAM.5's)


def _managed_rule(config: ConfigServiceClient) -> Check:
    """AWS's managed rule beside this one reports every user twice (and Security Hub's IAM.5
    control runs it): say so, with the way to keep one (docs/deploy.md, Migrate)."""
    found = []
    with translated("DescribeConfigRules"):
        for page in config.get_paginator("describe_config_rules").paginate():
            found += [
                r["ConfigRuleName"]
                for r in page["ConfigRules"]
                if r.get("Source", {}).get("Owner") == "AWS"
                and r["Source"].get("SourceIdentifier") == MANAGED_RULE
            ]
    if not found:
        return Check("managed rule", True, f"no {MANAGED_RULE} rule beside this one")
    return Check(
        "managed rule",
        False,
        f"{', '.join(found)} ({MANAGED_RULE}) also evaluates every IAM user: each finding twice",
        "keep one: delete that rule if you created it; if Security Hub runs it, disable IAM.5 "
        "(the IAM.5 check prints the command); docs/deploy.md, Migrate",
    )


def _delivery_channel(config: ConfigServiceClient, region: str) -> Check:
    channels = _call("DescribeDeliveryChannels", config.describe_delivery_channels)["DeliveryChannels"]
    return Check(
        "delivery channel",
        bool(channels),
        f"{len(channels)} in {region}",
        f"aws configservice put-delivery-channel --region {region} "
        "--delivery-channel name=default,s3BucketName=<a bucket Config may write to>",
    )


def _rule(config: ConfigServiceClient, rule: str, region: str) -> Check:
    deployed = deployed_rule(config, rule) is not None
    return Check("rule", deployed, f"{rule} in {region}", "deploy it: iam-console-mfa deploy")


def _digest(lam: LambdaClient, rule: str) -> Check:
    function = _call_or_none(
        "GetFunction", lambda: lam.get_function(FunctionName=f"{rule}-digest"), ("ResourceNotFoundException",)
    )
    return Check(
        "digest",
        function is not None,
        f"{rule}-digest" + (" sends the scheduled digest" if function else " missing"),
        'deploy it: iam-console-mfa deploy (alerts.digest in rdk-config.json; schedule "" turns it off)',
    )


def _remediation(lam: LambdaClient, config: ConfigServiceClient, rule: str) -> Check:
    function = _call_or_none(
        "GetFunction",
        lambda: lam.get_function(FunctionName=f"{rule}-remediation"),
        ("ResourceNotFoundException",),
    )
    # What it does: the deployed rule's RemediationAction (the function reads the same).
    action = input_parameters(deployed_rule(config, rule) or {}).get("RemediationAction", "disable-console")
    return Check(
        "remediation",
        function is not None,
        f"{rule}-remediation ({action})",
        "deploy it: iam-console-mfa deploy (remediation.enabled in rdk-config.json)",
    )


GUARD_POLICY = "never-remove-exempt-users-password"  # rule.yaml's ExemptTagGuard


def _exempt_tag_guard(lam: LambdaClient, iam: IAMClient, config: ConfigServiceClient, rule: str) -> Check:
    """The remediation role's IAM deny guards the tag key the rule exempts, and no other.

    The remediation reads the rule's ExemptTag itself; the guard is a second line built from
    the stack's ExemptTag parameter, so a rule changed outside the stack leaves it behind.
    """
    rule_tag = (
        input_parameters(deployed_rule(config, rule) or {}).get("ExemptTag", "").partition("=")[0].strip()
    )
    role = lam.get_function(FunctionName=f"{rule}-remediation")["Configuration"]["Role"].rsplit("/", 1)[-1]
    guard = _call_or_none(
        "GetRolePolicy", lambda: iam.get_role_policy(RoleName=role, PolicyName=GUARD_POLICY), ("NoSuchEntity",)
    )
    guarded = ""
    if guard is not None:
        document: Any = guard["PolicyDocument"]  # URL-encoded JSON, as IAM answers it
        document = json.loads(unquote(document)) if isinstance(document, str) else document
        keys = [k for s in document["Statement"] for k in s.get("Condition", {}).get("Null", {})]
        guarded = next((k.split("/", 1)[1] for k in keys if k.startswith("aws:ResourceTag/")), "")
    same = guarded.lower() == rule_tag.lower()
    said = f"the rule exempts tag {rule_tag or '(none)'}; IAM guards {guarded or '(none)'}"
    return Check(
        "exempt-tag guard",
        same,
        said,
        ""
        if same
        else f"redeploy with ExemptTag set to the rule's ({rule_tag or 'empty'}): iam-console-mfa deploy",
    )


def _event_history(aws: Session, region: str) -> Check:
    where = iam_event_region(region)
    trail = aws.client("cloudtrail", region_name=where)
    _call("LookupEvents", lambda: trail.lookup_events(MaxResults=1))
    return Check("CloudTrail event history", True, f"readable in {where} (the credential report's delta)")


def _credential_report(iam: IAMClient) -> Check:
    state = _call_or_none("GenerateCredentialReport", iam.generate_credential_report, ("LimitExceeded",))
    return Check("credential report", True, f"obtainable ({state['State'] if state else 'being generated'})")


def _recorder(config: ConfigServiceClient, region: str) -> Check:
    recorders = _call("DescribeConfigurationRecorders", config.describe_configuration_recorders)
    statuses = _call("DescribeConfigurationRecorderStatus", config.describe_configuration_recorder_status)
    recording = {s["name"] for s in statuses["ConfigurationRecordersStatus"] if s.get("recording")}
    start = f"aws configservice start-configuration-recorder --region {region} --configuration-recorder-name"
    for recorder in recorders["ConfigurationRecorders"]:
        name = recorder["name"]
        if records_users(recorder.get("recordingGroup") or {}):
            if name in recording:
                return Check("recorder", True, f"{name} records {IAM_USER} in {region}")
            return Check("recorder", False, f"{name} records {IAM_USER} but is stopped", f"{start} {name}")
    if not recorders["ConfigurationRecorders"]:
        return Check(
            "recorder",
            False,
            f"no recorder in {region}",
            f"record AWS::IAM::User in {region} only (IAM is global, one region is enough): "
            f"aws configservice put-configuration-recorder --region {region} "
            "--configuration-recorder name=default,roleARN=<Config's role> --recording-group "
            "allSupported=false,includeGlobalResourceTypes=false,resourceTypes=AWS::IAM::User && "
            f"{start} default",
        )
    (recorder,) = recorders["ConfigurationRecorders"][:1]  # one recorder per region (AWS Config quota)
    widened = {**recorder, "recordingGroup": with_users(recorder.get("recordingGroup") or {})}
    then = "" if recorder["name"] in recording else f" && {start} {recorder['name']}"
    return Check(
        "recorder",
        False,
        f"{recorder['name']} does not record {IAM_USER} in {region}",
        # PutConfigurationRecorder replaces the whole recorder: the one printed is the current
        # one with AWS::IAM::User added, everything else as it is.
        f"aws configservice put-configuration-recorder --region {region} --configuration-recorder "
        f"'{json.dumps(widened, separators=(',', ':'))}'{then}",
    )


def _strategy(group: Mapping[str, Any]) -> str:
    """The recording group's strategy (recordingStrategy.useOnly, or what allSupported implies)."""
    chosen = (group.get("recordingStrategy") or {}).get("useOnly")
    if chosen:
        return str(chosen)
    return "ALL_SUPPORTED_RESOURCE_TYPES" if group.get("allSupported") else "INCLUSION_BY_RESOURCE_TYPES"


def records_users(group: Mapping[str, Any]) -> bool:
    """Whether a recording group records AWS::IAM::User (AWS Config API reference, RecordingGroup)."""
    strategy = _strategy(group)
    if strategy == "ALL_SUPPORTED_RESOURCE_TYPES":
        return bool(group.get("includeGlobalResourceTypes"))
    if strategy == "EXCLUSION_BY_RESOURCE_TYPES":
        return IAM_USER not in ((group.get("exclusionByResourceTypes") or {}).get("resourceTypes") or [])
    return IAM_USER in (group.get("resourceTypes") or [])


def with_users(group: Mapping[str, Any]) -> dict[str, Any]:
    """The recording group changed only so far as to record AWS::IAM::User: never narrowed."""
    strategy = _strategy(group)
    if strategy == "ALL_SUPPORTED_RESOURCE_TYPES":
        return {**group, "includeGlobalResourceTypes": True}
    if strategy == "EXCLUSION_BY_RESOURCE_TYPES":
        excluded = (group.get("exclusionByResourceTypes") or {}).get("resourceTypes") or []
        return {**group, "exclusionByResourceTypes": {"resourceTypes": [t for t in excluded if t != IAM_USER]}}
    return {**group, "resourceTypes": [*(group.get("resourceTypes") or []), IAM_USER]}


def _last_evaluation(config: ConfigServiceClient, rule: str) -> Check:
    answer = _call(
        "DescribeConfigRuleEvaluationStatus",
        lambda: config.describe_config_rule_evaluation_status(ConfigRuleNames=[rule]),
    )
    (status,) = answer["ConfigRulesEvaluationStatus"] or [{}]
    error = status.get("LastErrorMessage")
    last = status.get("LastSuccessfulEvaluationTime")
    if error and (not last or status.get("LastFailedEvaluationTime", last) >= last):
        return Check(
            "last evaluation",
            False,
            f"failed: {error}",
            f"aws logs tail $(aws lambda get-function --function-name {rule}-evaluator "
            "--query Configuration.LoggingConfig.LogGroup --output text) --since 1d",
        )
    return Check("last evaluation", True, f"succeeded {last:%Y-%m-%d %H:%M} UTC" if last else "none yet")


def _invoke_permission(lam: LambdaClient, function: str, account: str) -> Check:
    import json

    policy = _call_or_none(
        "GetPolicy", lambda: lam.get_policy(FunctionName=function), ("ResourceNotFoundException",)
    )
    statements = json.loads(policy["Policy"])["Statement"] if policy else []
    for statement in statements:
        principal = statement.get("Principal", {}).get("Service")
        condition = statement.get("Condition", {}).get("StringEquals", {})
        source = {k.lower(): v for k, v in condition.items()}.get("aws:sourceaccount")
        if principal == "config.amazonaws.com" and source == account:
            return Check("invoke permission", True, f"config.amazonaws.com may invoke {function} for {account}")
    return Check(
        "invoke permission",
        False,
        f"no config.amazonaws.com permission with SourceAccount {account} on {function}",
        "iam-console-mfa deploy (rule.yaml's ConfigPermission: each account's Config invokes its own Lambda)",
    )


IAM5 = "IAM.5"  # Security Hub's control that runs the managed rule


def _iam5_control(hub: SecurityHubClient, region: str) -> Check:
    """Security Hub's IAM.5 enabled in any standard runs AWS's managed rule on its own (its
    rule appears only once Security Hub has created it): the same users, a second finding.
    ListStandardsControlAssociations lists IAM.5 in every enabled standard."""
    pages = _call_or_none(
        "ListStandardsControlAssociations",
        lambda: list(hub.get_paginator("list_standards_control_associations").paginate(SecurityControlId=IAM5)),
        ("InvalidAccessException",),
    )
    if pages is None:
        return Check(IAM5, True, f"Security Hub is not enabled in {region}: no IAM.5 findings")
    enabled = [
        a["StandardsArn"]
        for page in pages
        for a in page["StandardsControlAssociationSummaries"]
        if a["AssociationStatus"] == "ENABLED"
    ]
    if not enabled:
        return Check(IAM5, True, "disabled in every enabled standard")
    updates = " ".join(
        shlex.quote(
            f"StandardsArn={arn},SecurityControlId={IAM5},AssociationStatus=DISABLED,"
            "UpdatedReason=covered by IAM_USER_CONSOLE_MFA"
        )
        for arn in enabled
    )
    names = ", ".join(arn.split("/", 1)[-1] for arn in enabled)
    return Check(
        IAM5,
        False,
        f"enabled in {len(enabled)} standard(s) ({names}): AWS's managed rule reports each user too",
        f"keep one (docs/deploy.md, Migrate): aws securityhub batch-update-standards-control-associations "
        f"--region {region} --standards-control-association-updates {updates}",
    )


def _security_hub(hub: SecurityHubClient, region: str) -> Check:
    enabled = _call_or_none(
        "DescribeHub", hub.describe_hub, ("InvalidAccessException", "ResourceNotFoundException")
    )
    if enabled is None:
        return Check(
            "Security Hub",
            False,
            f"not enabled in {region}",
            f"aws securityhub enable-security-hub --region {region}",
        )
    products = _call("ListEnabledProductsForImport", hub.list_enabled_products_for_import)
    subscribed = any(p.endswith("product-subscription/aws/config") for p in products["ProductSubscriptions"])
    return Check(
        "Security Hub",
        subscribed,
        "AWS Config integration on" if subscribed else "AWS Config integration off",
        ""
        if subscribed
        else f"aws securityhub enable-import-findings-for-product --region {region} "
        f"--product-arn arn:{partition_of(region)}:securityhub:{region}::product/aws/config",
    )


def organization_checks(aws: Session, settings: dict[str, Any], stack_set: str) -> Iterator[Check]:
    """Every member account's stack instance of the StackSet (organization.yaml), and the bus
    that brings their compliance changes and alarms to the alert topic (alerts.yaml), after what
    this account needs to run organization mode at all (the checks deploy makes first)."""
    account = aws.client("sts").get_caller_identity()["Account"]
    yield from isolated(
        "organization access", lambda: _organization_access(aws.client("organizations"), account, settings)
    )
    yield from isolated("StackSet", lambda: _stack_instances(aws.client("cloudformation"), settings, stack_set))
    if settings["alerts"]["enabled"]:
        yield from isolated("members' alerts", lambda: _central_bus(aws.client("events"), settings["ruleName"]))


def _organization_access(organizations: OrganizationsClient, account: str, settings: dict[str, Any]) -> Check:
    try:
        access = organization_access(organizations, account, settings["organization"]["callAs"])
    except ClientError as error:  # named by the call that failed, as every check's error is
        with translated(error.operation_name):
            raise
    role = "the management account" if access.management else "a delegated administrator"
    if access.ready:
        return Check("organization access", True, f"{access.organization_id}: deploys from {role}")
    return Check("organization access", False, "; ".join(access.missing), "run each command named")


def _central_bus(events: EventBridgeClient, rule: str) -> Check:
    name = f"{rule}-organization"
    bus = _call_or_none(
        "DescribeEventBus", lambda: events.describe_event_bus(Name=name), ("ResourceNotFoundException",)
    )
    admits = bus is not None and "aws:PrincipalOrgID" in str(bus.get("Policy", ""))
    return Check(
        "members' alerts",
        admits,
        f"event bus {name} "
        + ("admits the organization's accounts" if admits else "missing or not open to the organization"),
        "iam-console-mfa deploy (organization mode deploys the bus in the alerts stack, before the StackSet)",
    )


def _stack_instances(
    cloudformation: CloudFormationClient, settings: dict[str, Any], stack_set: str
) -> list[Check]:
    call_as = settings["organization"]["callAs"]
    pages = _call_or_none(
        "ListStackInstances",
        lambda: list(
            cloudformation.get_paginator("list_stack_instances").paginate(
                StackSetName=stack_set, CallAs=call_as
            )
        ),
        ("StackSetNotFoundException",),
    )
    if pages is None:
        return [
            Check(
                "StackSet", False, f"{stack_set} not found", "deploy it: iam-console-mfa deploy (organization)"
            )
        ]
    checks = []
    for page in pages:
        for instance in page["Summaries"]:
            status = instance.get("StackInstanceStatus", {}).get("DetailedStatus", instance.get("Status"))
            good = status in ("SUCCEEDED", "CURRENT")
            checks.append(
                Check(
                    f"account {instance['Account']}",
                    good,
                    f"{instance['Region']}: {status}",
                    "" if good else f"see the StackSet's operations: {instance.get('StatusReason', '')}",
                )
            )
    return checks
