"""The Lambda ships rdklib and boto3 only: no module of the rule may need the type stubs (the
mypy_boto3_* packages, development dependencies) when it runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

RULE = Path(__file__).parent.parent / "rules" / "IAM_USER_CONSOLE_MFA"

# Every engine module and the rule, imported with the stubs made unimportable.
WITHOUT_STUBS = """
import importlib, pkgutil, sys

class NoStubs:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0].startswith(("mypy_boto3", "boto3_stubs", "botocore_stubs")):
            raise ImportError(f"{name}: a type stub, absent from the Lambda")
        return None

sys.meta_path.insert(0, NoStubs())
import console_mfa
for module in pkgutil.iter_modules(console_mfa.__path__):
    importlib.import_module(f"console_mfa.{module.name}")
import IAM_USER_CONSOLE_MFA
print("imported", len(sys.modules))
"""


def test_the_rule_and_its_engine_import_without_the_type_stubs() -> None:
    done = subprocess.run(
        [sys.executable, "-c", WITHOUT_STUBS], cwd=RULE, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("imported")
