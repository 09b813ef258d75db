"""Errors that must fail the invocation loudly.

None of them derives from ``ValueError`` or botocore's ``ClientError``: rdklib swallows
those into a dict and reports a successful invocation with no evaluations.
"""

from __future__ import annotations

import re


class RuleError(Exception):
    """The rule could not decide; nothing may be written for this invocation."""


class InvalidRuleParameter(RuleError):
    def __init__(self, name: str, value: object, problem: str) -> None:
        super().__init__(f"Invalid rule parameter {name}={value!r}: {problem}")
        self.name = name


class InvalidEvent(RuleError):
    """The Config event is malformed; the message names the field."""


class AwsCallFailed(RuleError):
    def __init__(self, operation: str, code: str, message: str, user: str | None = None) -> None:
        where = f" for user {user}" if user else ""
        super().__init__(f"{operation}{where} failed: {code}: {_one_line(message)}")
        self.operation = operation
        self.code = code
        self.user = user


class UserGone(RuleError):
    """The user was deleted between listing and inspection; callers skip it."""


class OutOfTime(RuleError):
    """The Lambda would be killed before the sweep could be written."""


def _one_line(message: str) -> str:
    """The first line of an error message; an HTML page (a local moto server's 500) gives its title."""
    title = re.search(r"<title>(.*?)</title>", message, re.IGNORECASE | re.DOTALL)
    text = title.group(1) if title else re.sub(r"<[^>]+>", " ", message)
    return next((line.strip() for line in text.splitlines() if line.strip()), "no message")[:300]
