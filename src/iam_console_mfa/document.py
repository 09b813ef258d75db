"""Generate the SSM Automation document from the engine (one source of truth).

``aws:executeScript`` runs a single script text with boto3 at hand but none of our
packages, so the engine modules the remediation needs are inlined in dependency order,
their relative imports removed. ``make generate`` writes the result; a test fails when the
committed document differs from what this module produces.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
from pathlib import Path
from typing import Any

import console_mfa.remediation
from console_mfa.parameters import REMEDIATION_PARAMETERS

ENGINE = Path(console_mfa.__file__).resolve().parent
# Dependency order: each module only uses names defined above it.
BUNDLE = ("errors", "model", "parameters", "policy", "decision", "aws", "live", "remediation")
SHARED_NAMES = {"LOG"}  # defined alike in several modules
DOCUMENT = Path(__file__).resolve().parents[2] / "cloudformation" / "IAM_USER_CONSOLE_MFA-remediation.json"
RUNTIME = "python3.11"  # the newest Python that aws:executeScript accepts
STEP = "DisableConsoleAccess"


def bundle_script() -> str:
    """The engine modules as one script, ending with the SSM handler ``handler``."""
    parts = [
        '"""Generated from the console_mfa engine by iam_console_mfa.document: do not edit."""',
        "from __future__ import annotations",
    ]
    defined: dict[str, str] = {}
    for module in BUNDLE:
        source = (ENGINE / f"{module}.py").read_text()
        tree = ast.parse(source)
        drop: set[int] = set()
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and (node.level > 0 or node.module == "__future__"):
                drop.update(range(node.lineno, node.end_lineno + 1))
            for name in _top_level_names(node):
                if name in defined and name not in SHARED_NAMES:
                    raise ValueError(f"{module}.{name} clashes with {defined[name]}.{name} in the bundle")
                defined[name] = module
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level > 0 and node not in tree.body:
                raise ValueError(f"{module}.py line {node.lineno}: a nested relative import cannot be bundled")
        kept = [line for number, line in enumerate(source.splitlines(), 1) if number not in drop]
        parts.append(f"# ---- console_mfa/{module}.py ----\n" + "\n".join(kept).strip())
    return "\n\n\n".join(parts) + "\n"


def _top_level_names(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [t.id for t in node.targets if isinstance(t, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def build_document() -> dict[str, Any]:
    text = "Same defaults as the rule's parameter of the same name."
    return {
        "schemaVersion": "0.3",
        "description": (
            "Disables console access (deletes the login profile) of an IAM user who has a console password "
            "and no MFA device, after re-checking live with the IAM_USER_CONSOLE_MFA rule's own decision: "
            "users with MFA, exempt users and users inside the grace period are left untouched. The user is "
            f"tagged {console_mfa.remediation.AUDIT_TAG} first, as an audit record."
        ),
        "assumeRole": "{{ AutomationAssumeRole }}",
        "parameters": {
            "IAMUserId": {
                "type": "String",
                "description": "UserId of the IAM user (AWS Config's RESOURCE_ID for AWS::IAM::User).",
                "allowedPattern": "^[A-Za-z0-9]{16,128}$",
            },
            "AutomationAssumeRole": {
                "type": "String",
                "description": "ARN of the role that runs this automation.",
                "allowedPattern": "^arn:aws[a-z0-9-]*:iam::\\d{12}:role/[\\w+=,.@/-]+$",
            },
            # The rule's own parameters: same defaults and patterns (console_mfa.parameters).
            **{
                p.name: {
                    "type": "String",
                    "default": p.default,
                    "allowedPattern": p.pattern,
                    "description": text,
                }
                for p in REMEDIATION_PARAMETERS
            },
            "DryRun": {"type": "Boolean", "default": False, "description": "Report the planned action only."},
        },
        "mainSteps": [
            {
                "name": STEP,
                "action": "aws:executeScript",
                "timeoutSeconds": 600,
                "isEnd": True,
                "inputs": {
                    "Runtime": RUNTIME,
                    "Handler": "handler",
                    "InputPayload": {
                        name: f"{{{{ {name} }}}}"
                        for name in ("IAMUserId", *(p.name for p in REMEDIATION_PARAMETERS), "DryRun")
                    },
                    "Script": bundle_script(),
                },
                "outputs": [{"Name": "Summary", "Selector": "$.Payload", "Type": "StringMap"}],
            }
        ],
        "outputs": [f"{STEP}.Summary"],
    }


def resolve(template: Any, values: dict[str, Any]) -> Any:
    """SSM's parameter substitution: a value that is exactly '{{ X }}' keeps X's type."""
    if isinstance(template, dict):
        return {key: resolve(value, values) for key, value in template.items()}
    if isinstance(template, str):
        whole = re.fullmatch(r"\{\{\s*(\w+)\s*\}\}", template)
        if whole:
            return values[whole.group(1)]
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: str(values[m.group(1)]), template)
    return template


def run_document(document: dict[str, Any], **parameters: Any) -> dict[str, str]:
    """Run the document's executeScript step as SSM would, in this process and its AWS session.

    SSM's StartAutomationExecution is not available offline (moto lacks it): parameters get
    their defaults and are checked against allowedPattern, the step's script text is executed
    outside any module, and its handler receives the resolved InputPayload.
    """
    values = {name: spec["default"] for name, spec in document["parameters"].items() if "default" in spec}
    values.update(parameters)
    for name, spec in document["parameters"].items():
        if name not in values:
            raise ValueError(f"parameter {name} is required")
        # SSM matches the whole value; re.search with "$" would let a trailing newline through.
        if "allowedPattern" in spec and not re.fullmatch(spec["allowedPattern"], str(values[name])):
            raise ValueError(f"parameter {name}={values[name]!r} does not match {spec['allowedPattern']}")
    (step,) = document["mainSteps"]
    return run_script(document, resolve(step["inputs"]["InputPayload"], values))


def run_script(document: dict[str, Any], payload: dict[str, Any]) -> dict[str, str]:
    """The step's script text executed outside any module, its handler given ``payload``."""
    (step,) = document["mainSteps"]
    namespace: dict[str, Any] = {"__name__": "ssm_execute_script"}
    exec(compile(step["inputs"]["Script"], f"{step['name']}.py", "exec"), namespace)
    return namespace[step["inputs"]["Handler"]](payload, None)


def committed_document() -> dict[str, Any]:
    return json.loads(DOCUMENT.read_text())


def render() -> str:
    return json.dumps(build_document(), indent=2) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description="Write the SSM Automation document generated from the engine.")
    parser.add_argument("--output", type=Path, default=DOCUMENT)
    args = parser.parse_args()
    args.output.write_text(render())
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
