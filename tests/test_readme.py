"""The README stays true: its settings table, Quick start and CI entry point."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import update_readme  # noqa: E402

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_settings_table_matches_about_markdown():
    expected = update_readme.render(README, update_readme.settings_table())
    assert expected == README, "stale settings table: run `python scripts/update_readme.py`"


def test_settings_table_lists_every_setting():
    block = update_readme.BLOCK.search(README)
    assert block is not None
    for name in ("augment_api_token", "sourcegraph_instance_urls", "lookback_days", "end_date"):
        assert f"| {name} |" in block.group(2)


def test_quick_start_is_exactly_two_commands():
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None
    commands = [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()]
    assert [c for c in commands if c] == ["python3 scripts/demo.py", "python3 scripts/test.py"]


def test_ci_runs_the_readme_test_command():
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "python3 scripts/test.py" in script.splitlines()


def test_links_work_on_pypi():
    """PyPI shows the README without the repository: links to its files must be absolute."""
    targets = re.findall(r"\]\(([^)\s]+)\)", README) + re.findall(r'href="([^"]+)"', README)
    assert targets
    relative = [t for t in targets if not t.startswith(("https://", "http://", "#", "mailto:"))]
    assert relative == []
