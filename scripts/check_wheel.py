"""Check a built wheel: only the tap's package, typed, and no sandbox or test tokens.

Usage: ``python scripts/check_wheel.py DIST_DIR`` (the directory ``pip wheel . --no-deps
-w DIST_DIR`` wrote to). Exits 1 naming every problem.
"""

from __future__ import annotations

import re
import sys
import zipfile
from pathlib import Path

PACKAGE = "tap_ai_analytics/"
#: What only the sandbox (the fake APIs) and the tests contain: their fixed tokens.
TEST_ONLY = re.compile(
    rb"aug-test-token|aug-noperm-token|sams_at_test-token|from sandbox|import sandbox"
)


def problems(wheel: Path) -> list[str]:
    """Everything wrong with one wheel."""
    found: list[str] = []
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        for name in names:
            if not (name.startswith(PACKAGE) or ".dist-info/" in name):
                found.append(f"{name}: not part of the tap's package")
            elif TEST_ONLY.search(archive.read(name)):
                found.append(f"{name}: refers to the sandbox or its test tokens")
    if f"{PACKAGE}py.typed" not in names:
        found.append(f"{PACKAGE}py.typed is missing (the package declares Typing :: Typed)")
    return found


def main() -> None:
    """Check every wheel in the directory given."""
    wheels = sorted(Path(sys.argv[1]).glob("*.whl"))
    if not wheels:
        sys.exit(f"no wheel in {sys.argv[1]}")
    found = [f"{wheel.name}: {problem}" for wheel in wheels for problem in problems(wheel)]
    for line in found:
        print(line, file=sys.stderr)
    if found:
        sys.exit(1)
    print(f"ok: {', '.join(wheel.name for wheel in wheels)}")


if __name__ == "__main__":
    main()
