"""``make generate``: write rules/IAM_USER_CONSOLE_MFA/parameters.json from rdk-config.json.

It is the only generated file committed; a test fails when it differs from what this writes.
The stacks in cloudformation/ are written by hand and tested against the engine's registries.
"""

from __future__ import annotations

from . import settings


def main() -> int:
    settings.PARAMETERS.write_text(settings.render_parameters(settings.load()))
    print(f"wrote {settings.PARAMETERS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
