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


def test_demo_dbt_step_builds_the_package_into_the_demo_database(monkeypatch):
    demo = load_script("demo")
    monkeypatch.setenv("DBT_PROFILES_DIR", "/somewhere/else")  # a user's dbt setup stays out
    env = demo._dbt_env()
    profiles = Path(env["DBT_PROFILES_DIR"])
    assert profiles == ROOT / "dbt_ai_analytics" / "profiles" / "duckdb"
    assert "env_var('DBT_DUCKDB_PATH')" in (profiles / "profiles.yml").read_text()
    assert env["DBT_DUCKDB_PATH"] == str(demo.DATABASE)
    assert Path(env["DBT_PROJECT_DIR"], "dbt_project.yml").is_file()
    # dbt's target and logs go to output/, not into the package.
    assert Path(env["DBT_TARGET_PATH"]).is_relative_to(ROOT / "output")
    assert Path(env["DBT_LOG_PATH"]).is_relative_to(ROOT / "output")


# -- demo: warehouse summary and chart -------------------------------------------------------


#: Loaded tables, shaped like target-duckdb's (dates stored as text): columns, rows.
WAREHOUSE: dict[str, tuple[str, list[tuple[t.Any, ...]]]] = {
    "augment_dau_count": (
        "date VARCHAR, user_count HUGEINT",
        [("2026-03-01", 3), ("2026-03-02", 5), ("2026-03-04", 2)],
    ),
}
#: The dbt marts the report reads (only the columns it uses), in schema "analytics".
MARTS: dict[str, tuple[str, list[tuple[t.Any, ...]]]] = {
    "ai_analytics_usage_daily": (
        "activity_date DATE, vendor VARCHAR, person_id VARCHAR, is_service_account BOOLEAN",
        [
            # Week of 2026-03-02: a@x on both vendors is one person in the combined count.
            ("2026-03-02", "augment", "a@x", False),
            ("2026-03-03", "augment", "a@x", False),
            ("2026-03-03", "sourcegraph", "a@x", False),
            ("2026-03-04", "sourcegraph", "b@x", False),
            ("2026-03-04", "augment", "augment:ci-bot", True),
            # Week of 2026-03-09.
            ("2026-03-09", "sourcegraph", "b@x", False),
        ],
    ),
    "ai_analytics_active_people": (
        "activity_date DATE, vendor VARCHAR, weekly_active_people BIGINT",
        [
            ("2026-03-02", "augment", 1),
            ("2026-03-02", "sourcegraph", 0),
            ("2026-03-02", "all", 1),
            ("2026-03-03", "augment", 1),
            ("2026-03-03", "sourcegraph", 1),
            ("2026-03-03", "all", 1),
        ],
    ),
    "ai_analytics_usage_by_client_language": (
        (
            "vendor VARCHAR, client_name VARCHAR, suggestions_shown BIGINT, "
            "suggestions_accepted BIGINT"
        ),
        [
            ("augment", "VSCode", 10, 6),
            ("augment", "VSCode", 10, 2),
            ("sourcegraph", "jetbrains.cody", 40, 10),
            ("sourcegraph", "server.web", 0, 0),
        ],
    ),
    "ai_analytics_cost_daily": (
        (
            "activity_date DATE, resource_display_name VARCHAR, billed_amount_usd DECIMAL(18, 6), "
            "estimated_customer_cost_usd DECIMAL(18, 6), credits_consumed DECIMAL(18, 6)"
        ),
        [
            ("2026-03-02", "model-a", 1.25, 1.5, 100),
            ("2026-03-08", "model-b", 0.5, 0.25, 20),
            ("2026-03-09", "model-a", 2, 2, 1),
        ],
    ),
}


def _create(con, schema: str, tables: dict[str, tuple[str, list[tuple[t.Any, ...]]]]) -> None:
    con.execute(f"CREATE SCHEMA {schema}")
    for table, (columns, rows) in tables.items():
        con.execute(f"CREATE TABLE {schema}.{table} ({columns})")
        marks = ", ".join("?" * len(rows[0]))
        con.executemany(f"INSERT INTO {schema}.{table} VALUES ({marks})", rows)  # noqa: S608


@pytest.fixture
def warehouse(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    path = tmp_path / "demo.duckdb"
    with duckdb.connect(str(path)) as con:
        _create(con, "tap_ai_analytics", WAREHOUSE)
        _create(con, "analytics", MARTS)
    return path


def test_demo_summary_reads_the_marts(warehouse):
    import duckdb

    demo = load_demo_report()

    with duckdb.connect(str(warehouse), read_only=True) as con:
        summary = demo.Warehouse(con, "tap_ai_analytics").summary()
    tables = {info.name: info for info in summary.tables}
    assert tables["augment_dau_count"].rows == 3
    assert tables["augment_dau_count"].last_date == dt.date(2026, 3, 4)
    week = dt.date(2026, 3, 2)
    # Distinct people, service accounts excluded: a@x counts once across both vendors.
    assert summary.weekly == [
        demo.ActivePeople(week, 1, 2, 2),
        demo.ActivePeople(dt.date(2026, 3, 9), 0, 1, 1),
    ]
    assert summary.rolling[-1] == demo.ActivePeople(dt.date(2026, 3, 3), 1, 1, 1)
    assert [(e.vendor, e.client, e.shown, e.accepted) for e in summary.editors] == [
        ("sourcegraph", "jetbrains.cody", 40, 10),
        ("augment", "VSCode", 20, 8),
    ]
    assert summary.editors[1].rate == pytest.approx(0.4)
    assert summary.cost == [
        demo.WeeklyCost(week, 1.75, 1.75, 120.0),
        demo.WeeklyCost(dt.date(2026, 3, 9), 2.0, 2.0, 1.0),
    ]
    assert summary.cost_by_resource == [
        demo.ResourceCost("model-a", 3.25, 3.5, 101.0),
        demo.ResourceCost("model-b", 0.5, 0.25, 20.0),
    ]


def test_demo_summary_without_marts_shows_the_loaded_tables(tmp_path):
    duckdb = pytest.importorskip("duckdb")
    demo = load_demo_report()
    path = tmp_path / "raw.duckdb"
    with duckdb.connect(str(path)) as con:
        _create(con, "tap_ai_analytics", WAREHOUSE)
        summary = demo.Warehouse(con, "tap_ai_analytics").summary()
    assert [info.name for info in summary.tables] == ["augment_dau_count"]
    assert summary.weekly == summary.rolling == summary.editors == summary.cost == []
    assert summary.cost_by_resource == []


def test_demo_main_prints_summary_and_writes_png(warehouse, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    demo = load_demo_report()

    chart = tmp_path / "chart.png"
    assert demo.main([str(warehouse), "--chart", str(chart)]) == 0
    out = capsys.readouterr().out
    for heading in (
        "Rows per loaded table",
        "Weekly active people",
        "Acceptance rate by editor",
        "Augment cost per week",
        "Augment cost per model or resource",
    ):
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
