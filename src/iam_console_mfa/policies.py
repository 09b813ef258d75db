"""Every IAM policy the CLI prints (`iam-console-mfa policy`), built in one place from the
registries of the calls each command makes (console_mfa.permissions, doctor.CALL_ACTIONS,
selftest's, deploy_permissions): tests derive those from the calls made."""

from __future__ import annotations

from typing import Any


def _allow_all(actions: list[str]) -> dict[str, Any]:
    return {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}


def read_actions() -> list[str]:
    """What `report` calls: the rule's IAM reads (the rule stack grants the same)."""
    from console_mfa.permissions import RULE_ACCOUNT_ACTIONS, RULE_USER_ACTIONS

    own = [a for a in RULE_USER_ACTIONS + RULE_ACCOUNT_ACTIONS if a.startswith(("iam:", "cloudtrail:"))]
    return sorted([*own, "config:DescribeConfigRules"])  # the deployed rule's parameters


def operator(enforce: bool) -> dict[str, Any]:
    """What `report` needs, and with ``enforce`` what `enforce --apply` calls too (the default
    action's writes: require-mfa's attach is granted by its stack, for its one policy)."""
    from console_mfa.permissions import REMEDIATION_ACTION_ACTIONS, REMEDIATION_ACTIONS

    writes = set(REMEDIATION_ACTIONS) | set(REMEDIATION_ACTION_ACTIONS["disable-console"])
    return _allow_all(sorted(set(read_actions()) | (writes if enforce else set())))


def doctor() -> dict[str, Any]:
    """`doctor` (--organization too), `report --rule-name` (the rule's stored results) and
    `report --organization` (the aggregator's)."""
    from .doctor import CALL_ACTIONS
    from .organization_report import ACTIONS as ORGANIZATION_REPORT

    return _allow_all(
        sorted({*CALL_ACTIONS.values(), "config:GetComplianceDetailsByConfigRule", *ORGANIZATION_REPORT})
    )


def selftest(remediate: bool) -> dict[str, Any]:
    from .selftest import policy

    return policy(remediate)


def deploy(settings: dict[str, Any]) -> dict[str, Any]:
    """`deploy` and `uninstall`, as the managed policies that fit IAM's size quota."""
    from .deploy_permissions import deploy_policy, managed_policies

    return managed_policies(deploy_policy(settings))
