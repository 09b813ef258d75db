"""Rule parameters as Config passes them: every value a string, unknown keys refused."""

from __future__ import annotations

import pytest
from console_mfa.errors import InvalidRuleParameter
from console_mfa.policy import DataSource, ExemptTag, Policy, parse_policy


def test_defaults_and_rdklib_parameters_pass_through() -> None:
    params = {"AssumeRoleMode": "False", "ExecutionRoleName": "x", "ExecutionRoleRegion": "us-east-1"}
    assert parse_policy(params) == Policy()
    assert parse_policy({}) == Policy(data_source=DataSource.AUTO)


def test_all_parameters() -> None:
    policy = parse_policy(
        {
            "ExemptUserNames": " break-glass , svc-* ",
            "ExemptTag": "Exempt=mfa=later",
            "GracePeriodDays": "14",
            "DataSource": "live",
        }
    )
    assert policy == Policy(("break-glass", "svc-*"), ExemptTag("Exempt", "mfa=later"), 14, DataSource.LIVE)
    assert parse_policy({"ExemptTag": "BreakGlass"}).exempt_tag == ExemptTag("BreakGlass", None)
    assert parse_policy({"ExemptUserNames": "", "ExemptTag": " ", "GracePeriodDays": ""}) == Policy()


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
