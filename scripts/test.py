#!/usr/bin/env python3
"""Run the whole test suite: ``python3 scripts/test.py [pytest arguments...]``.

Creates or refreshes ``.venv`` (project + ``test`` dependency group) first, then runs pytest
inside it. Extra arguments go to pytest unchanged, e.g. ``python3 scripts/test.py -k hub -x``.
The exit code is pytest's, except that "no tests collected" (5) counts as a failure: a run
that tested nothing must not pass.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bootstrap

PYTEST_NO_TESTS_COLLECTED = 5


def main(argv: list[str]) -> int:
    """Bootstrap the environment and run pytest.

    Args:
        argv: Arguments passed through to pytest.

    Returns:
        The process exit code.
    """
    try:
        python = _bootstrap.ensure_venv(["test"])
    except _bootstrap.BootstrapError as exc:
        print(f"[quick-start] error: {exc}", file=sys.stderr)
        return 1
    _bootstrap.say("running pytest")
    code = subprocess.call(
        [str(python), "-m", "pytest", *argv], cwd=_bootstrap.ROOT, stdin=subprocess.DEVNULL
    )
    if code == PYTEST_NO_TESTS_COLLECTED:
        print("[quick-start] error: pytest collected no tests", file=sys.stderr)
        return 1
    return code


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except KeyboardInterrupt:
        sys.exit(130)
