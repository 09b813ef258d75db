"""Rule parameters as Config passes them: every value a string, unknown keys refused."""

from __future__ import annotations

import json

import pytest
from console_mfa import parameters
from console_mfa.errors import InvalidRuleParameter
from console_mfa.policy import DataSource, ExemptTag, RuleParameters, parse_policy
from hypothesis import given, settings
from hypothesis import strategies as st

from iam_console_mfa.settings import SCHEMA


def test_defaults_and_rdklib_parameters_pass_through() -> None:
    params = {"AssumeRoleMode": "False", "ExecutionRoleName": "x", "ExecutionRoleRegion": "us-east-1"}
    assert parse_policy(params) == RuleParameters()
    assert parse_policy({}) == RuleParameters(data_source=DataSource.AUTO)


def test_all_parameters() -> None:
    policy = parse_policy(
        {
            "ExemptUserNames": " break-glass , svc-* ",
            "ExemptTag": "Exempt=mfa=later",
            "GracePeriodDays": "14",
            "DataSource": "live",
        }
    )
    assert policy == RuleParameters(
        ("break-glass", "svc-*"), ExemptTag("Exempt", "mfa=later"), 14, DataSource.LIVE
    )
    assert parse_policy({"ExemptTag": "BreakGlass"}).exempt_tag == ExemptTag("BreakGlass", None)
    assert parse_policy({"ExemptUserNames": "", "ExemptTag": " ", "GracePeriodDays": ""}) == RuleParameters()


@pytest.mark.parametrize(
    ("params", "name", "fragment"),
    [
        ({"ExemptUserName": "bob"}, "ExemptUserName", "did you mean ExemptUserNames?"),
        ({"Foo": "1"}, "Foo", "unknown parameter"),
        ({"GracePeriodDays": "-3"}, "GracePeriodDays", "whole number"),
        ({"GracePeriodDays": "7.5"}, "GracePeriodDays", "whole number"),
        ({"GracePeriodDays": "seven"}, "GracePeriodDays", "whole number"),
        ({"GracePeriodDays": "99999"}, "GracePeriodDays", "0 to 3650"),
        ({"ExemptUserNames": "alice,,bob"}, "ExemptUserNames", "pattern 2 is empty"),
        ({"ExemptUserNames": "alice,"}, "ExemptUserNames", "pattern 2 is empty"),
        ({"ExemptUserNames": "al ice"}, "ExemptUserNames", "user-name characters"),
        ({"ExemptTag": "=value"}, "ExemptTag", "'key' or 'key=value'"),
        ({"DataSource": "report"}, "DataSource", "live, credential-report, auto"),
        ({"GracePeriodDays": None}, "GracePeriodDays", "must be a string"),
    ],
)
def test_invalid_parameters_name_the_parameter_and_value(params: dict, name: str, fragment: str) -> None:
    with pytest.raises(InvalidRuleParameter) as caught:
        parse_policy(params)
    message = str(caught.value)
    assert message.startswith(f"Invalid rule parameter {name}={next(iter(params.values()))!r}")
    assert fragment in message


def test_settings_schema_takes_its_patterns_from_the_registry() -> None:
    schema = json.loads(SCHEMA.read_text())["properties"]["ruleParameters"]["properties"]
    for parameter in (
        parameters.EXEMPT_USER_NAMES,
        parameters.EXEMPT_TAG,
        parameters.GRACE_PERIOD_DAYS,
        parameters.REFRESH_DAYS,
        parameters.SECURITY_HUB_FINDINGS,
    ):
        assert schema[parameter.name]["pattern"] == parameter.pattern, parameter.name
    assert {""} | set(schema["DataSource"]["enum"]) == {
        v for v in ("", *DataSource, "both") if parameters.DATA_SOURCE.accepts(v)
    }


@settings(max_examples=400, deadline=None)
@given(st.sampled_from(parameters.RULE_PARAMETERS), st.text(max_size=40) | st.from_regex(r"[ -~]{0,12}"))
def test_the_rule_accepts_exactly_what_the_registry_pattern_accepts(parameter, value: str) -> None:
    """The stacks and the schema validate with the pattern, the rule with its parser: same answer."""
    try:
        parse_policy({parameter.name: value})
    except InvalidRuleParameter:
        accepted = False
    else:
        accepted = True
    assert accepted == parameter.accepts(value), (parameter.name, value)


@pytest.mark.parametrize(
    ("value", "accepted"),
    [("²", False), ("3650", True), ("3651", False), ("0" * 3000, False), ("07", False), ("7\n", False)],
)
def test_grace_days_are_ascii_whole_numbers_up_to_3650(value: str, accepted: bool) -> None:
    assert parameters.GRACE_PERIOD_DAYS.accepts(value) is accepted
    if not accepted:
        with pytest.raises(InvalidRuleParameter, match="GracePeriodDays"):
            parse_policy({"GracePeriodDays": value})


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"AssumeRoleMode": None}, "AssumeRoleMode"),
        ({"AssumeRoleMode": "maybe"}, "AssumeRoleMode"),
        ({"ExecutionRoleRegion": ""}, "ExecutionRoleRegion"),
        ({"ExecutionRoleRegion": "https://evil"}, "ExecutionRoleRegion"),
        ({"ExecutionRoleName": "a/b"}, "ExecutionRoleName"),
    ],
)
def test_rdklib_parameters_are_validated_before_rdklib_reads_them(params: dict, name: str) -> None:
    with pytest.raises(InvalidRuleParameter, match=f"Invalid rule parameter {name}="):
        parse_policy(params)
