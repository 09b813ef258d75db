"""``make generate``: write every generated artifact from its single source.

- cloudformation/IAM_USER_CONSOLE_MFA-remediation.json: the SSM document, from the engine
- cloudformation/*.json: the stacks
- rules/IAM_USER_CONSOLE_MFA/parameters.json: the RDK rule definition, from rdk-config.json
Tests fail when a committed file differs from what this writes.
"""

from __future__ import annotations

from . import document, settings, templates


def main() -> int:
    document.DOCUMENT.write_text(document.render())
    print(f"wrote {document.DOCUMENT}")
    for path in templates.write_all():
        print(f"wrote {path}")
    settings.PARAMETERS.write_text(settings.render_parameters(settings.load()))
    print(f"wrote {settings.PARAMETERS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
