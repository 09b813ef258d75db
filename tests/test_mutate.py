"""make mutate's list of equivalent mutants stays true to the engine it describes."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).parent.parent
ENGINE = ROOT / "rules" / "IAM_USER_CONSOLE_MFA" / "console_mfa"


def test_every_equivalent_mutant_names_a_line_of_the_engine_and_a_reason() -> None:
    listed = tomllib.loads((ROOT / "mutate-equivalent.toml").read_text())["equivalent"]
    modules = set(
        (ROOT / "scripts" / "mutate").read_text().split("modules=${MODULES:-")[1].split("}")[0].split()
    )
    assert listed
    for entry in listed:
        assert entry["module"] in modules
        lines = {line.strip() for line in (ENGINE / f"{entry['module']}.py").read_text().splitlines()}
        assert entry["source"] in lines, entry
        assert entry["operator"].startswith("core/") and len(entry["reason"]) > 20, entry
