"""Placeholder replaced by the operator CLI."""


def main() -> int:
    return 0
