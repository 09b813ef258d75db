"""The CLI's own error."""


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""
