#!/usr/bin/env python3
"""Offline demo: sandbox APIs → Meltano → DuckDB → dbt marts → summary and chart.

``python3 scripts/demo.py``.

1. Creates or refreshes ``.venv`` (project + ``demo`` group) and ``.venv-meltano`` (Meltano).
2. Starts the bundled sandbox (fake Augment and Sourcegraph Analytics APIs) on a free local port.
3. Runs ``meltano install`` for the tap and target-duckdb, then
   ``meltano --environment=demo run --full-refresh tap-ai-analytics target-duckdb``, which
   syncs the last 30 days of both vendors (two Sourcegraph instances) into
   ``output/demo.duckdb``.
4. Runs ``dbt build`` on the dbt package (``dbt_ai_analytics/``, dbt from ``.venv``) into
   schema ``analytics`` of the same file: the models and every package test.
5. Prints a summary read from the marts and writes ``output/demo.png``.

Nothing leaves the machine except package downloads on the first run. The sandbox is always
stopped, also on failure or Ctrl-C; the exit code is non-zero if any step failed.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import queue
import subprocess
import sys
import threading
import time
import typing as t
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _bootstrap

if t.TYPE_CHECKING:
    from collections.abc import Sequence

ROOT = _bootstrap.ROOT
OUTPUT = ROOT / "output"
DATABASE = OUTPUT / "demo.duckdb"
CHART = OUTPUT / "demo.png"
MELTANO_LOG = OUTPUT / "demo-meltano.log"
SANDBOX_LOG = OUTPUT / "demo-sandbox.log"
MELTANO_VENV = ROOT / ".venv-meltano"
MELTANO_REQUIREMENT = "meltano>=4.0,<5"
DBT_PROJECT = ROOT / "dbt_ai_analytics"
DBT_WORK = OUTPUT / "dbt"
DEMO_DAYS = 30
#: The sandbox's per-token budget, scaled up from Augment's real 10 requests per minute.
SANDBOX_RATE_LIMIT_PER_MINUTE = 6000
SANDBOX_RATE_LIMIT_BURST = 50
SANDBOX_START_TIMEOUT_SECONDS = 60
LOG_TAIL_LINES = 40


class DemoError(RuntimeError):
    """A demo step failed; the message says which."""


class SandboxProcess:
    """The sandbox as a child process, stopped on exit whatever happened."""

    def __init__(self, python: Path) -> None:
        """Prepare (not start) the sandbox.

        Args:
            python: The project environment's Python.
        """
        self._python = python
        self._process: subprocess.Popen[str] | None = None
        self.ready: dict[str, t.Any] = {}

    def __enter__(self) -> SandboxProcess:  # noqa: PYI034 - typing.Self needs Python 3.11
        """Start the sandbox and wait for its ready line.

        Raises:
            DemoError: If it exits or says nothing within the timeout.
        """
        command = [
            str(self._python),
            "-m",
            "sandbox",
            "--port",
            "0",
            "--rate-limit-per-minute",
            str(SANDBOX_RATE_LIMIT_PER_MINUTE),
            "--rate-limit-burst",
            str(SANDBOX_RATE_LIMIT_BURST),
        ]
        with SANDBOX_LOG.open("w", encoding="utf-8") as log:
            self._process = subprocess.Popen(
                command,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
        line = self._read_ready_line()
        try:
            self.ready = json.loads(line)
            for key in (
                "url",
                "augment_token",
                "sourcegraph_token",
                "sourcegraph_instances",
                "today",
            ):
                self.ready[key]
        except (ValueError, KeyError, TypeError):
            msg = f"the sandbox's ready line is not the expected JSON: {line[:200]!r}"
            raise DemoError(msg) from None
        return self

    def _read_ready_line(self) -> str:
        # A thread, not select(): select() does not work on pipes on Windows.
        assert self._process is not None  # noqa: S101 - set by __enter__
        assert self._process.stdout is not None  # noqa: S101
        lines: queue.Queue[str] = queue.Queue()
        stdout = self._process.stdout
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            line = lines.get(timeout=SANDBOX_START_TIMEOUT_SECONDS)
        except queue.Empty:
            msg = f"the sandbox did not start within {SANDBOX_START_TIMEOUT_SECONDS}s"
            raise DemoError(msg) from None
        if not line:
            msg = f"the sandbox exited with code {self._process.wait()}; see {_rel(SANDBOX_LOG)}"
            raise DemoError(msg)
        return line

    def __exit__(self, *exc_info: object) -> None:
        """Stop the sandbox: SIGTERM, then kill if it does not exit promptly."""
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def _run_logged(command: Sequence[str | Path], env: dict[str, str], what: str) -> None:
    """Run a command with its output appended to the Meltano log; on failure show the tail."""
    with MELTANO_LOG.open("a", encoding="utf-8") as log:
        log.write(f"\n$ {' '.join(str(part) for part in command)}\n")
        log.flush()
        code = subprocess.call(
            [str(part) for part in command],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    if code != 0:
        lines = MELTANO_LOG.read_text(encoding="utf-8", errors="replace").splitlines()
        print("\n".join(lines[-LOG_TAIL_LINES:]), file=sys.stderr)
        msg = f"{what} failed (exit {code}); the last lines of {_rel(MELTANO_LOG)} are above"
        raise DemoError(msg)


def _meltano_env(sandbox: dict[str, t.Any] | None = None) -> dict[str, str]:
    """The environment for Meltano: no telemetry, plus the sandbox's URL and credentials.

    Args:
        sandbox: The sandbox's ready line (None before it runs).
    """
    env = {
        key: value
        for key, value in os.environ.items()
        # A real deployment's settings in the caller's shell must not leak into the demo.
        if not key.startswith(("TAP_AI_ANALYTICS_", "TARGET_DUCKDB_", "MELTANO_"))
    }
    env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
    if sandbox is not None:
        today = dt.date.fromisoformat(sandbox["today"])
        env.update(
            {
                "DEMO_SANDBOX_URL": sandbox["url"],
                "DEMO_AUGMENT_API_TOKEN": sandbox["augment_token"],
                "DEMO_SOURCEGRAPH_ACCESS_TOKEN": sandbox["sourcegraph_token"],
                "DEMO_SOURCEGRAPH_INSTANCE_URLS": json.dumps(sandbox["sourcegraph_instances"]),
                "DEMO_START_DATE": (today - dt.timedelta(days=DEMO_DAYS)).isoformat(),
            }
        )
    return env


def _dbt_env() -> dict[str, str]:
    """The environment of the demo's ``dbt build``: the package's DuckDB profile, no telemetry."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DBT_")}
    env |= {
        "DBT_PROJECT_DIR": str(DBT_PROJECT),
        "DBT_PROFILES_DIR": str(DBT_PROJECT / "profiles" / "duckdb"),
        "DBT_DUCKDB_PATH": str(DATABASE),
        "DBT_TARGET_PATH": str(DBT_WORK / "target"),
        "DBT_LOG_PATH": str(DBT_WORK / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    return env


def build_marts(python: Path) -> None:
    """Run ``dbt build`` (models and tests) on the demo database with the ``.venv``'s dbt.

    Raises:
        DemoError: If dbt is not installed (Python 3.14) or a model or test failed.
    """
    dbt = python.with_name("dbt.exe" if os.name == "nt" else "dbt")
    if not dbt.exists():
        msg = (
            "dbt is not installed in .venv (dbt-core supports Python 3.10-3.13): run the demo "
            "with one of those, e.g. python3.13 scripts/demo.py"
        )
        raise DemoError(msg)
    _bootstrap.say(f"dbt build: the analytics models in {_rel(DATABASE)} (schema analytics)")
    step = time.monotonic()
    _run_logged([dbt, "build"], _dbt_env(), "dbt build")
    _bootstrap.say(f"models built and tested in {time.monotonic() - step:.0f}s")


def run_demo() -> None:
    """Run every step; raise DemoError (or BootstrapError) naming the one that failed."""
    started = time.monotonic()
    python = _bootstrap.ensure_venv(["demo"])
    meltano = _bootstrap.ensure_tool_venv(MELTANO_VENV, MELTANO_REQUIREMENT, "meltano")
    OUTPUT.mkdir(exist_ok=True)
    for stale in (DATABASE, DATABASE.with_suffix(".duckdb.wal"), CHART, MELTANO_LOG):
        stale.unlink(missing_ok=True)

    _bootstrap.say("meltano install tap-ai-analytics target-duckdb")
    step = time.monotonic()
    _run_logged(
        [meltano, "install", "tap-ai-analytics", "target-duckdb"], _meltano_env(), "meltano install"
    )
    _bootstrap.say(f"plugins installed in {time.monotonic() - step:.0f}s")

    with SandboxProcess(python) as sandbox:
        instances = ", ".join(sandbox.ready["sourcegraph_instances"])
        _bootstrap.say(f"sandbox serving {sandbox.ready['url']} (Sourcegraph: {instances})")
        _bootstrap.say(f"meltano run: last {DEMO_DAYS} days of both vendors -> {_rel(DATABASE)}")
        step = time.monotonic()
        _run_logged(
            [
                meltano,
                "--environment=demo",
                "run",
                "--full-refresh",
                "tap-ai-analytics",
                "target-duckdb",
            ],
            _meltano_env(sandbox.ready),
            "meltano run",
        )
        _bootstrap.say(
            f"sync finished in {time.monotonic() - step:.0f}s (log: {_rel(MELTANO_LOG)})"
        )
    _bootstrap.say("sandbox stopped")
    build_marts(python)

    code = subprocess.call(
        [str(python), _rel(ROOT / "demo" / "report.py"), _rel(DATABASE), "--chart", _rel(CHART)],
        cwd=ROOT,
        stdin=subprocess.DEVNULL,
    )
    if code != 0:
        msg = f"the summary failed (exit {code})"
        raise DemoError(msg)
    _bootstrap.say(f"demo finished in {time.monotonic() - started:.0f}s; chart: {_rel(CHART)}")


def main() -> int:
    """Run the demo.

    Returns:
        0 on success, 1 if a step failed, 130 on Ctrl-C.
    """
    try:
        run_demo()
    except (DemoError, _bootstrap.BootstrapError) as exc:
        print(f"[quick-start] error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("[quick-start] interrupted; the sandbox was stopped", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
