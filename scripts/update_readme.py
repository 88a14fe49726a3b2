#!/usr/bin/env python3
"""Regenerate the README's settings table from ``tap-ai-analytics --about --format=markdown``.

Run it after changing a setting: ``python3 scripts/update_readme.py`` (inside the project's
environment, e.g. ``.venv/bin/python scripts/update_readme.py``). ``tests/test_readme.py``
fails while the table is stale.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
BLOCK = re.compile(r"(<!-- settings:start[^\n]*-->\n)(.*?)(<!-- settings:end -->)", re.DOTALL)


def settings_table() -> str:
    """The settings table of the tap's ``--about --format=markdown`` output."""
    about = subprocess.run(
        [sys.executable, "-m", "tap_ai_analytics", "--about", "--format=markdown"],
        check=True,
        capture_output=True,
        text=True,
        cwd=ROOT,
    ).stdout
    section = about.split("## Settings", 1)[1]
    return "".join(line + "\n" for line in section.splitlines() if line.startswith("|"))


def render(readme: str, table: str) -> str:
    """The README with its settings block replaced by ``table``."""
    if not BLOCK.search(readme):
        msg = "README.md has no <!-- settings:start --> ... <!-- settings:end --> block"
        raise SystemExit(msg)
    return BLOCK.sub(lambda m: m.group(1) + table + m.group(3), readme, count=1)


if __name__ == "__main__":
    text = render(README.read_text(encoding="utf-8"), settings_table())
    README.write_text(text, encoding="utf-8")
    print("README.md settings table updated")
