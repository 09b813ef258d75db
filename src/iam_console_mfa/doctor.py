"""``iam-console-mfa doctor``: is this account (or organization) ready, and is the rule working?

Read-only. One line per check, each with the fix when it fails. Expected absences (no
recorder, no rule, Security Hub not enabled) are findings; any other AWS error (AccessDenied
above all) is raised as AwsCallFailed: the CLI prints the call and exits 2.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from botocore.exceptions import ClientError
from console_mfa.aws import error_code, translated
from console_mfa.trail import iam_event_region

from .settings import remediation_mode

IAM_USER = "AWS::IAM::User"
STACK_SET = "iam-console-mfa-accounts"  # organization.yaml's StackSetName default


class Check(NamedTuple):
    name: str
    ok: bool
    detail: str
    fix: str = ""


def _call(operation: str, call: Callable[[], Any], absent: tuple[str, ...] = ()) -> Any:
    """The answer, or None when AWS answers one of the ``absent`` codes (a finding, not an error)."""
    with translated(operation):
        try:
            return call()
        except ClientError as error:
            if error_code(error) in absent:
                return None
            raise


def account_checks(aws: Any, settings: dict[str, Any]) -> Iterator[Check]:
    region, rule = aws.region_name, settings["ruleName"]
    account = aws.client("sts").get_caller_identity()["Account"]
    config = aws.client("config")
    yield _recorder(config, region)
    channels = _call("DescribeDeliveryChannels", config.describe_delivery_channels)["DeliveryChannels"]
    yield Check(
        "delivery channel",
        bool(channels),
        f"{len(channels)} in {region}",
        "AWS Config needs a delivery channel (S3 bucket) to record: set up Config in this region",
    )
    found = _call(
        "DescribeConfigRules",
        lambda: config.describe_config_rules(ConfigRuleNames=[rule]),
        ("NoSuchConfigRuleException",),
    )
    deployed = bool(found and found["ConfigRules"])  # AWS answers NoSuchConfigRuleException; moto []
    yield Check("rule", deployed, f"{rule} in {region}", "deploy it: iam-console-mfa deploy")
    if deployed:
        yield _last_evaluation(config, rule)
    yield _invoke_permission(aws.client("lambda"), f"{rule}-evaluator", account)
    if remediation_mode(settings) != "none":
        function = _call(
            "GetFunction",
            lambda: aws.client("lambda").get_function(FunctionName=f"{rule}-remediation"),
            ("ResourceNotFoundException",),
        )
        yield Check(
            "remediation",
            function is not None,
            f"{rule}-remediation",
            "deploy it: iam-console-mfa deploy (remediation.enabled in rdk-config.json)",
        )
    yield _security_hub(aws.client("securityhub"), region, account)
    trail = aws.client("cloudtrail", region_name=iam_event_region(region))
    _call("LookupEvents", lambda: trail.lookup_events(MaxResults=1))
    yield Check("CloudTrail event history", True, f"readable in {iam_event_region(region)} (freshness delta)")
    state = _call(
        "GenerateCredentialReport", lambda: aws.client("iam").generate_credential_report(), ("LimitExceeded",)
    )
    yield Check("credential report", True, f"obtainable ({state['State'] if state else 'being generated'})")


def _recorder(config: Any, region: str) -> Check:
    recorders = _call("DescribeConfigurationRecorders", config.describe_configuration_recorders)
    statuses = _call("DescribeConfigurationRecorderStatus", config.describe_configuration_recorder_status)
    recording = {s["name"] for s in statuses["ConfigurationRecordersStatus"] if s.get("recording")}
    for recorder in recorders["ConfigurationRecorders"]:
        group = recorder.get("recordingGroup", {})
        records_users = (group.get("allSupported") and group.get("includeGlobalResourceTypes")) or (
            IAM_USER in group.get("resourceTypes", [])
        )
        if records_users and recorder["name"] in recording:
            return Check("recorder", True, f"{recorder['name']} records {IAM_USER} in {region}")
    return Check(
        "recorder",
        False,
        f"no recorder records {IAM_USER} in {region}",
        "record global resources (or AWS::IAM::User) in this region only: IAM is global, one region is enough",
    )


def _last_evaluation(config: Any, rule: str) -> Check:
    answer = _call(
        "DescribeConfigRuleEvaluationStatus",
        lambda: config.describe_config_rule_evaluation_status(ConfigRuleNames=[rule]),
    )
    (status,) = answer["ConfigRulesEvaluationStatus"] or [{}]
    error = status.get("LastErrorMessage")
    last = status.get("LastSuccessfulEvaluationTime")
    if error and (not last or status.get("LastFailedEvaluationTime", last) >= last):
        return Check(
            "last evaluation", False, f"failed: {error}", "see the log group /aws/lambda/<rule>-evaluator"
        )
    return Check("last evaluation", True, f"succeeded {last:%Y-%m-%d %H:%M} UTC" if last else "none yet")


def _invoke_permission(lam: Any, function: str, account: str) -> Check:
    import json

    policy = _call("GetPolicy", lambda: lam.get_policy(FunctionName=function), ("ResourceNotFoundException",))
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
        "deploy rule.yaml in this account (each account's Config invokes its own Lambda)",
    )


def _security_hub(hub: Any, region: str, account: str) -> Check:
    enabled = _call("DescribeHub", hub.describe_hub, ("InvalidAccessException", "ResourceNotFoundException"))
    if enabled is None:
        return Check(
            "Security Hub", False, f"not enabled in {region}", "enable Security Hub to see findings there"
        )
    products = _call("ListEnabledProductsForImport", hub.list_enabled_products_for_import)
    subscribed = any(p.endswith("product-subscription/aws/config") for p in products["ProductSubscriptions"])
    return Check(
        "Security Hub",
        subscribed,
        "AWS Config integration on" if subscribed else "AWS Config integration off",
        "" if subscribed else "enable the AWS Config integration in Security Hub",
    )


def organization_checks(aws: Any, settings: dict[str, Any], stack_set: str) -> Iterator[Check]:
    """Every member account's stack instance of the StackSet (organization.yaml)."""
    cloudformation = aws.client("cloudformation")
    call_as = settings["organization"]["callAs"]
    pages = _call(
        "ListStackInstances",
        lambda: list(
            cloudformation.get_paginator("list_stack_instances").paginate(
                StackSetName=stack_set, CallAs=call_as
            )
        ),
        ("StackSetNotFoundException",),
    )
    if pages is None:
        yield Check(
            "StackSet", False, f"{stack_set} not found", "deploy it: iam-console-mfa deploy (organization)"
        )
        return
    for page in pages:
        for instance in page["Summaries"]:
            status = instance.get("StackInstanceStatus", {}).get("DetailedStatus", instance.get("Status"))
            yield Check(
                f"account {instance['Account']}",
                status in ("SUCCEEDED", "CURRENT"),
                f"{instance['Region']}: {status}",
                ""
                if status in ("SUCCEEDED", "CURRENT")
                else f"see the StackSet's operations: {instance.get('StatusReason', '')}",
            )
