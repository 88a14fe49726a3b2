"""The quick start, the demo's pieces, CI's entry point and the GitHub workflows.

The full demo installs Meltano and plugins from PyPI, so it is not run here (tests never touch
the network); its parts are: the sandbox child process, the environment handed to Meltano,
and the warehouse summary and chart.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import typing as t
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
WORKFLOWS = ROOT / ".github" / "workflows"


def load_script(name: str):
    """Import scripts/<name>.py as a module (scripts/ is not a package)."""
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        spec = importlib.util.spec_from_file_location(
            f"quickstart_{name}", ROOT / "scripts" / f"{name}.py"
        )
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return module


def load_demo_report() -> t.Any:
    """Import demo/report.py (the demo's summary and chart; not part of the wheel)."""
    spec = importlib.util.spec_from_file_location("demo_report", ROOT / "demo" / "report.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


# -- CI entry point and test runner ----------------------------------------------------------


def test_ci_run_is_the_readme_test_command():
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK)
    lines = [line for line in script.read_text().splitlines() if line and not line.startswith("#")]
    assert lines == ["set -euo pipefail", 'cd "$(dirname "$0")/.."', "python3 scripts/test.py"]


def test_test_script_treats_no_tests_collected_as_failure(monkeypatch, capsys):
    test_script = load_script("test")
    monkeypatch.setattr(test_script._bootstrap, "ensure_venv", lambda _groups: Path(sys.executable))
    code = test_script.main(
        [str(Path(__file__)), "-q", "-p", "no:cacheprovider", "-k", "no_such_test_xyz"]
    )
    assert code == 1
    assert "collected no tests" in capsys.readouterr().err


def test_bootstrap_stamp_changes_with_pyproject_and_group():
    bootstrap = load_script("_bootstrap")
    assert bootstrap._fingerprint("test") == bootstrap._fingerprint("test")
    assert bootstrap._fingerprint("test") != bootstrap._fingerprint("demo")


def test_bootstrap_paths_follow_the_platform():
    bootstrap = load_script("_bootstrap")
    python = bootstrap.venv_executable(Path("venv"), "python")
    expected = (
        Path("venv", "Scripts", "python.exe") if os.name == "nt" else Path("venv", "bin", "python")
    )
    assert python == expected


# -- demo: sandbox process and Meltano environment -------------------------------------------


def test_demo_sandbox_process_starts_and_always_stops(tmp_path):
    demo = load_script("demo")
    demo.SANDBOX_LOG = tmp_path / "sandbox.log"
    sandbox = demo.SandboxProcess(Path(sys.executable))

    def fail_while_running() -> None:
        with sandbox:
            assert sandbox.ready["url"].startswith("http://127.0.0.1:")
            assert len(sandbox.ready["sourcegraph_instances"]) == 2
            assert sandbox._process.poll() is None
            msg = "a later demo step failed"
            raise RuntimeError(msg)

    with pytest.raises(RuntimeError, match="later demo step"):
        fail_while_running()
    assert sandbox._process.poll() is not None  # stopped all the same


def test_demo_environment_feeds_every_variable_meltano_yml_uses(monkeypatch):
    demo = load_script("demo")
    monkeypatch.setenv("TAP_AI_ANALYTICS_AUGMENT_API_TOKEN", "real-token-from-my-shell")
    ready = {
        "url": "http://127.0.0.1:1",
        "augment_token": "a",
        "sourcegraph_token": "s",
        "sourcegraph_instances": ["one.example", "two.example"],
        "today": "2026-03-31",
    }
    env = demo._meltano_env(ready)
    assert "TAP_AI_ANALYTICS_AUGMENT_API_TOKEN" not in env  # the shell's real settings stay out
    assert env["DEMO_START_DATE"] == "2026-03-01"
    assert env["DEMO_SOURCEGRAPH_INSTANCE_URLS"] == '["one.example", "two.example"]'
    meltano_yml = (ROOT / "meltano.yml").read_text()
    (demo_env,) = [e for e in yaml.safe_load(meltano_yml)["environments"] if e["name"] == "demo"]
    used = set(re.findall(r"\$\{?(DEMO_[A-Z_]+)", yaml.safe_dump(demo_env)))
    assert used
    assert used <= env.keys()


# -- demo: warehouse summary and chart -------------------------------------------------------


#: Tables shaped like target-duckdb's (JSON-schema dates are stored as text): columns, rows.
WAREHOUSE: dict[str, tuple[str, list[tuple[t.Any, ...]]]] = {
    "augment_dau_count": (
        "date VARCHAR, user_count HUGEINT",
        [("2026-03-01", 3), ("2026-03-02", 5), ("2026-03-04", 2)],
    ),
    "augment_user_activity_by_editor_language": (
        (
            "date VARCHAR, identity VARCHAR, editor VARCHAR, language VARCHAR, "
            "completions_accepted HUGEINT"
        ),
        [
            ("2026-03-01", "a@x", "VSCode", "Python", 10),
            ("2026-03-01", "b@x", "VSCode", "Go", 4),
            ("2026-03-02", "a@x", "JetBrains", "Python", 7),
        ],
    ),
    "augment_daily_usage": (
        "date VARCHAR, completions_accepted HUGEINT",
        [("2026-03-01", 14), ("2026-03-02", 7)],
    ),
    "sourcegraph_usage_by_user_day_client_language": (
        (
            "instance_url VARCHAR, instance_user_id HUGEINT, date VARCHAR, client_name VARCHAR, "
            "language VARCHAR, combined_completion_acceptances HUGEINT"
        ),
        [
            ("one", 1, "2026-03-02", "vscode.cody", "go", 3),
            ("one", 1, "2026-03-02", "server.web", "", 0),
            ("two", 1, "2026-03-02", "vscode.cody", "go", 1),
            ("one", 2, "2026-03-05", "vscode.cody", "go", 2),
        ],
    ),
}


@pytest.fixture
def warehouse(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "demo.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA tap_ai_analytics")
        for table, (columns, rows) in WAREHOUSE.items():
            con.execute(f"CREATE TABLE tap_ai_analytics.{table} ({columns})")
            marks = ", ".join("?" * len(rows[0]))
            insert = f"INSERT INTO tap_ai_analytics.{table} VALUES ({marks})"  # noqa: S608
            con.executemany(insert, rows)
    return path


def test_demo_summary_numbers(warehouse):
    import duckdb

    demo = load_demo_report()

    with duckdb.connect(str(warehouse), read_only=True) as con:
        summary = demo.Warehouse(con, "tap_ai_analytics").summary()
    tables = {info.name: info for info in summary.tables}
    assert tables["augment_dau_count"].rows == 3
    assert tables["augment_dau_count"].last_date == dt.date(2026, 3, 4)
    assert summary.top_editors == [("VSCode", 2, 14), ("JetBrains", 1, 7)]
    assert ("Augment", "Python", 1, 17) in summary.top_languages
    # User 1 of instance "one" and user 1 of instance "two" are different people.
    assert ("Sourcegraph", "go", 3, 6) in summary.top_languages
    assert ("Sourcegraph", "(blank)", 1, 0) in summary.top_languages
    days = {day.date: day for day in summary.daily}
    assert sorted(days) == [dt.date(2026, 3, d) for d in range(1, 6)]  # no calendar gaps
    assert days[dt.date(2026, 3, 3)].augment_users == 0  # inside Augment's range: no activity
    assert days[dt.date(2026, 3, 5)].augment_users is None  # after Augment's last day: unknown
    assert days[dt.date(2026, 3, 1)].sourcegraph_users is None
    assert days[dt.date(2026, 3, 2)].sourcegraph_users == 2
    assert days[dt.date(2026, 3, 2)].sourcegraph_accepted == 4


def test_demo_main_prints_summary_and_writes_png(warehouse, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    demo = load_demo_report()

    chart = tmp_path / "chart.png"
    assert demo.main([str(warehouse), "--chart", str(chart)]) == 0
    out = capsys.readouterr().out
    for heading in ("Rows per table", "Top Augment editors", "Top languages", "Daily active users"):
        assert heading in out
    assert chart.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert chart.stat().st_size > 10_000


def test_demo_main_reports_missing_or_empty_warehouse(tmp_path, capsys):
    duckdb = pytest.importorskip("duckdb")
    demo = load_demo_report()

    assert demo.main([str(tmp_path / "missing.duckdb")]) == 1
    empty = tmp_path / "empty.duckdb"
    duckdb.connect(str(empty)).close()
    assert demo.main([str(empty)]) == 1
    err = capsys.readouterr().err
    assert "No DuckDB file" in err
    assert "has no tables" in err


# -- GitHub workflows ------------------------------------------------------------------------


def workflow_files() -> list[Path]:
    files = sorted(WORKFLOWS.glob("*.yml"))
    assert {path.name for path in files} >= {"test.yml", "release.yml"}
    return files


def test_workflow_actions_are_pinned_to_commits():
    pattern = re.compile(r"uses:\s*([^@\s]+)@(\S+)(.*)")
    for path in workflow_files():
        for line in path.read_text().splitlines():
            match = pattern.search(line)
            if match:
                action, ref, rest = match.groups()
                assert re.fullmatch(r"[0-9a-f]{40}", ref), f"{path.name}: {action} is not pinned"
                assert re.search(r"#\s*v\d", rest), f"{path.name}: {action} lacks a version comment"


def test_workflow_permissions_and_checkouts():
    for path in workflow_files():
        workflow = yaml.safe_load(path.read_text())
        assert workflow["permissions"] in ({}, {"contents": "read"}), path.name
        assert "concurrency" in workflow, path.name
        for name, job in workflow["jobs"].items():
            permissions = job.get("permissions", {})
            if permissions.get("id-token") == "write":
                assert (path.name, name) == ("release.yml", "publish")
                assert job["environment"]["name"] == "pypi"
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, (path.name, name)


def test_test_workflow_runs_the_quick_start_on_every_python():
    workflow = yaml.safe_load((WORKFLOWS / "test.yml").read_text())
    job = workflow["jobs"]["pytest"]
    assert job["strategy"]["matrix"]["python-version"] == ["3.10", "3.11", "3.12", "3.13", "3.14"]
    assert any(step.get("run") == "python scripts/test.py" for step in job["steps"])


def run_tool(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, check=False, timeout=120
    )


def find_tool(name: str) -> str | None:
    """A console script next to this interpreter (the test group's), else on PATH."""
    beside = Path(sys.executable).with_name(name + (".exe" if os.name == "nt" else ""))
    return str(beside) if beside.exists() else shutil.which(name)


def test_zizmor_finds_nothing():
    zizmor = find_tool("zizmor")
    if zizmor is None:
        pytest.skip("zizmor is not installed (it is in the test dependency group)")
    result = run_tool(zizmor, "--offline", "--no-progress", str(WORKFLOWS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_sandbox_paces_fast_by_default_and_the_demo_environment_keeps_up():
    from sandbox import __main__ as sandbox_main

    defaults = sandbox_main._parser().parse_args([])
    # Augment's real 10/min makes 30 sandbox days take minutes; the default is scaled up.
    assert defaults.rate_limit_per_minute >= 600
    demo_module = load_script("demo")
    assert defaults.rate_limit_per_minute == demo_module.SANDBOX_RATE_LIMIT_PER_MINUTE
    assert defaults.rate_limit_burst == demo_module.SANDBOX_RATE_LIMIT_BURST
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    (demo_env,) = [e for e in project["environments"] if e["name"] == "demo"]
    (tap,) = demo_env["config"]["plugins"]["extractors"]
    # The tap's pacing in the demo environment fits the sandbox's budget: no 429s, no waiting.
    assert tap["config"]["augment_rate_limit_per_minute"] == defaults.rate_limit_per_minute
    assert tap["config"]["augment_rate_limit_burst"] <= defaults.rate_limit_burst
