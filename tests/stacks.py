"""The hand-written stacks as data, and the remediation document run as SSM would run it.

moto has no SSM StartAutomationExecution and no Lambda Invoke without Docker, so:
- the document's parameters get their defaults and are checked against ``allowedPattern``
  (whole value), its InputPayload is resolved, and its script text is executed;
- the script's one AWS call, Lambda ``Invoke``, is answered at the botocore level by the
  remediation handler itself, in this process, shaped as Lambda answers (StatusCode,
  FunctionError "Unhandled" with errorType/errorMessage, Payload as a stream).
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse
from botocore.compat import HTTPHeaders
from botocore.response import StreamingBody
from cfnlint.decode import decode
from console_mfa.aws import configured_session
from console_mfa.remediation import handler as remediation_handler

STACKS_DIR = Path(__file__).resolve().parents[1] / "cloudformation"


def load(name: str) -> dict[str, Any]:
    template, problems = decode(str(STACKS_DIR / name))
    assert not problems, problems
    return json.loads(json.dumps(template))  # plain dicts, intrinsics in their long form


STACKS = {path.name: load(path.name) for path in sorted(STACKS_DIR.glob("*.yaml"))}
DOCUMENT = STACKS["rule.yaml"]["Resources"]["RemediationDocument"]["Properties"]["Content"]
FUNCTION_ARN = "arn:aws:lambda:us-east-1:123456789012:function:IAM_USER_CONSOLE_MFA-remediation"


def rule_input_parameters(**stack_parameters: str) -> dict[str, str]:
    """The ConfigRule's InputParameters as CloudFormation renders them from these stack
    parameters (the template's defaults for the others): what DescribeConfigRules answers."""
    template = STACKS["rule.yaml"]
    values = {name: spec.get("Default") for name, spec in template["Parameters"].items()} | stack_parameters

    def rendered(value: Any) -> str | None:
        if isinstance(value, dict) and "Fn::If" in value:  # Has<Name>: the value, or left out when empty
            condition, present, _ = value["Fn::If"]
            assert condition == f"Has{present['Ref']}", condition
            return str(values[present["Ref"]]) or None
        return str(values[value["Ref"]]) if isinstance(value, dict) else str(value)

    inputs = template["Resources"]["ConfigRule"]["Properties"]["InputParameters"]
    return {key: text for key, value in inputs.items() if (text := rendered(value)) is not None}


def resolve(template: Any, values: dict[str, Any]) -> Any:
    """SSM's parameter substitution: a value that is exactly '{{ X }}' keeps X's type."""
    if isinstance(template, dict):
        if template == {"Fn::GetAtt": ["RemediationFunction", "Arn"]}:
            return FUNCTION_ARN  # what CloudFormation puts there
        return {key: resolve(value, values) for key, value in template.items()}
    if isinstance(template, str):
        whole = re.fullmatch(r"\{\{\s*(\w+)\s*\}\}", template)
        if whole:
            return values[whole.group(1)]
        return re.sub(r"\{\{\s*(\w+)\s*\}\}", lambda m: str(values[m.group(1)]), template)
    return template


def answer_invoke_with_the_remediation_handler(session: Any) -> None:
    def invoke(params: dict[str, Any], **_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        assert params["url_path"].endswith("/invocations")
        try:
            result: Any = remediation_handler(json.loads(params["body"]), None)
            extra = {}
        except Exception as error:  # Lambda reports any exception this way
            result = {"errorType": type(error).__name__, "errorMessage": str(error)}
            extra = {"FunctionError": "Unhandled"}
        body = json.dumps(result).encode()
        parsed = {"StatusCode": 200, **extra, "Payload": StreamingBody(io.BytesIO(body), len(body))}
        return AWSResponse(params["url"], 200, HTTPHeaders(), None), parsed

    session.events.register_first("before-call.lambda.Invoke", invoke, unique_id="remediation-handler")


def run_document(document: dict[str, Any] = DOCUMENT, **parameters: Any) -> dict[str, str]:
    """Run the document's one step as SSM would (see the module docstring)."""
    values = {name: spec["default"] for name, spec in document["parameters"].items() if "default" in spec}
    values.update(parameters)
    for name, spec in document["parameters"].items():
        if name not in values:
            raise ValueError(f"parameter {name} is required")
        if "allowedPattern" in spec and not re.fullmatch(spec["allowedPattern"], str(values[name])):
            raise ValueError(f"parameter {name}={values[name]!r} does not match {spec['allowedPattern']}")
    (step,) = document["mainSteps"]
    return run_script(document, resolve(step["inputs"]["InputPayload"], values))


def run_script(document: dict[str, Any], payload: dict[str, Any]) -> dict[str, str]:
    """The step's script text executed outside any module, its handler given ``payload``."""
    (step,) = document["mainSteps"]
    answer_invoke_with_the_remediation_handler(configured_session())
    namespace: dict[str, Any] = {"__name__": "ssm_execute_script"}
    exec(compile(step["inputs"]["Script"], f"{step['name']}.py", "exec"), namespace)
    return namespace[step["inputs"]["Handler"]](dict(payload), None)


def without_nested_conditions(directory: Path) -> Path:
    """Copies of the stacks in which no condition refers to another (moto skips such
    resources): each `!Condition X` inside a condition is replaced by X's own definition."""
    for template in STACKS_DIR.glob("*.yaml"):
        text = template.read_text()
        section = text.split("\nConditions:\n", 1)[1].split("\n\n", 1)[0] if "\nConditions:\n" in text else ""
        definitions: dict[str, str] = {}
        for name, head, items in re.findall(r"^  (\w+): (!\w+)(.*(?:\n    - .*)*)", section, re.MULTILINE):
            listed = re.findall(r"^    - (.*)$", items, re.MULTILINE)
            definitions[name] = f"{head} [{', '.join(listed)}]" if listed else head + items
        for name, definition in definitions.items():
            text = re.sub(rf"!Condition {name}\b(?=[],])", definition.replace("\\", "\\\\"), text)
        assert "!Condition " not in text.split("\nResources:\n", 1)[0], template.name
        (directory / template.name).write_text(text)
    return directory
