"""The CLI's own error, and the one explanation of an endpoint that lacks an AWS call."""

import os


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


# What an endpoint answers for an API it does not implement (a local moto server: 500, 501 or
# 404); AWS answers every documented call otherwise.
UNANSWERED = ("404", "500", "501", "InternalFailure", "NotImplemented")


def unanswered(operation: str) -> str:
    """The one explanation, for every command, of an endpoint that lacks a call."""
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    where = f"the endpoint {endpoint}" if endpoint else "the endpoint"
    return (
        f"{where} does not implement {operation} (a local moto server lacks some AWS APIs); "
        "against AWS this call works: nothing was changed by it"
    )
