"""``iam-console-mfa``: the operator CLI (same engine as the Lambda)."""

from __future__ import annotations

import argparse
import sys

from rich.console import Console


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="iam-console-mfa", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("demo", help="run the rule end to end on an embedded moto account")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    # Wide enough for the annotations when output is piped (rich falls back to 80 columns).
    console = Console(width=None if sys.stdout.isatty() else 160)
    if args.command == "demo":
        from . import demo

        return demo.run(console)
    return 2


if __name__ == "__main__":
    sys.exit(main())
