"""Every `iam-console-mfa` command shown in README.md and docs/ runs as shown, against a local
moto server: exit 0 or 1 (a finding), never 2 or a traceback. Commands that deploy stacks are
left to tests/test_deploy.py, which runs deploy against moto and checks what it created."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

from iam_console_mfa.demo.account import Mfa, create_user
from tests.moto_server import reset

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Need AWS itself: deploy creates stacks (tests/test_deploy.py runs it against moto), selftest
# needs a deployed rule that Config evaluates (tests/test_selftest.py stands a double in for it).
# digest reads Config's stored results, which a moto server does not keep (tests/test_digest.py
# runs it against them).
NEEDS_AWS = {"deploy", "selftest", "digest"}
CLI = [sys.executable, "-m", "iam_console_mfa.cli"]


def shown_commands() -> list[tuple[str, str]]:
    """(document, command) for each iam-console-mfa command in a bash or console block, in order."""
    found = []
    for document in DOCS:
        for kind, block in re.findall(r"```(bash|console)\n(.*?)```", document.read_text(), re.DOTALL):
            lines = block.splitlines()
            if kind == "console":  # the commands are the "$ " lines; the others are their output
                lines = [line[2:] for line in lines if line.startswith("$ ")]
            for line in lines:
                for command in line.split(";"):
                    if re.match(r"\s*(\.venv/bin/)?iam-console-mfa ", command):
                        words = shlex.split(command, comments=True)
                        found.append((document.name, shlex.join(words[1:])))
    return found


COMMANDS = shown_commands()


def test_the_documents_show_commands() -> None:
    assert len(COMMANDS) >= 15 and {c.split()[0] for _, c in COMMANDS} >= {
        "report",
        "enforce",
        "doctor",
        "deploy",
    }


@pytest.fixture(scope="module")
def account(moto_server: str) -> str:
    reset(moto_server)
    iam = boto3.client("iam", endpoint_url=moto_server, aws_access_key_id="d", aws_secret_access_key="d")
    create_user(iam, "bob")
    create_user(iam, "alice", mfa=Mfa.VIRTUAL)
    create_user(iam, "svc-x")
    return moto_server


@pytest.mark.parametrize(("document", "command"), COMMANDS, ids=[f"{d}: {c}" for d, c in COMMANDS])
def test_each_shown_command_runs(account: str, tmp_path_factory: Any, document: str, command: str) -> None:
    words = shlex.split(command)
    if words[0] in NEEDS_AWS and "--dry-run" not in words:
        pytest.skip("needs AWS itself: tests/test_deploy.py and tests/test_selftest.py run it against moto")
    cwd = tmp_path_factory.getbasetemp() / "docs"  # one directory: a saved event is replayed there
    cwd.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ENDPOINT_URL=account,
        AWS_ACCESS_KEY_ID="d",
        AWS_SECRET_ACCESS_KEY="d",
        AWS_DEFAULT_REGION="us-east-1",
    )
    done = subprocess.run([*CLI, *words], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1), f"{command}: exit {done.returncode}: {done.stderr[-500:]}"


def test_the_licence_and_the_changelog_match_the_package() -> None:
    """Apache-2.0, as RDK and the AWS Config rules repository use; the changelog's newest entry
    is the package's version."""
    import tomllib

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert project["license"] == "Apache-2.0" and project["license-files"] == ["LICENSE"]
    assert "Apache License\n                           Version 2.0" in (root / "LICENSE").read_text()
    newest = next(line for line in (root / "CHANGELOG.md").read_text().splitlines() if line.startswith("## "))
    assert newest == f"## {project['version']}"


def test_the_decision_reference_lists_every_rule_parameter() -> None:
    from console_mfa.parameters import RDKLIB_PARAMETERS, RULE_PARAMETERS

    text = (ROOT / "docs" / "decisions.md").read_text()
    for parameter in (*RULE_PARAMETERS, *RDKLIB_PARAMETERS):
        assert f"`{parameter.name}`" in text, parameter.name
