"""Shared plumbing of the benchmarks: interpreter, sandbox subprocess, measured tap runs.

Everything runs on 127.0.0.1: the sandbox API is started as its own process (so its CPU
is never charged to the tap), and every measured program runs as a child process whose
CPU time and peak RSS come from ``os.wait4`` (the kernel's accounting of that one child).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

ROOT = Path(__file__).resolve().parent.parent
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"


def use_repo_venv() -> None:
    """Re-run the calling script with the repository's ``.venv`` interpreter, if there is one.

    Nothing is installed: without ``.venv`` the current interpreter is used as it is, and it
    must be able to import the tap's dependencies (``pip install -e .``).
    """
    if VENV_PYTHON.exists() and Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])  # noqa: S606


def child_env() -> dict[str, str]:
    """Environment of every child: the working tree first on the import path, no tap env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TAP_AI_ANALYTICS_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env.pop("PYTHONUNBUFFERED", None)  # measure the tap's own buffering, not a forced one
    return env


@dataclasses.dataclass
class SandboxProcess:
    """A running sandbox: its announcement line and a way to talk to it."""

    proc: subprocess.Popen[str]
    info: dict[str, t.Any]

    @property
    def url(self) -> str:
        """Base URL of both fake APIs."""
        return str(self.info["url"])

    def command(self, line: str) -> t.Any:
        """Send one command to a logging sandbox (``_logging_sandbox.py``); return its answer."""
        stdin, stdout = self.proc.stdin, self.proc.stdout
        if stdin is None or stdout is None:
            msg = "this sandbox was not started with logging=True"
            raise RuntimeError(msg)
        stdin.write(line + "\n")
        stdin.flush()
        return json.loads(stdout.readline())


@contextlib.contextmanager
def sandbox(args: Sequence[str], *, logging: bool = False) -> Iterator[SandboxProcess]:
    """Start the sandbox API as a subprocess and stop it (by its pid) on exit.

    Args:
        args: Command-line options of ``python -m sandbox``.
        logging: Start ``_logging_sandbox.py`` (the same server, plus a request log
            readable over stdin/stdout) instead of the plain CLI.
    """
    if logging:
        command = [sys.executable, str(Path(__file__).with_name("_logging_sandbox.py")), *args]
    else:
        command = [sys.executable, "-m", "sandbox", *args]
    proc = subprocess.Popen(
        command,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=child_env(),
        text=True,
        cwd=ROOT,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            msg = f"the sandbox did not start: {' '.join(command)}"
            raise RuntimeError(msg)
        yield SandboxProcess(proc, json.loads(line))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclasses.dataclass
class Measured:
    """One child process run to completion."""

    returncode: int
    wall_seconds: float
    cpu_seconds: float  # user + system of the child alone
    peak_rss_mb: float  # ru_maxrss of the child (MiB)
    stdout_bytes: int
    records: int
    states: list[bytes]  # every STATE line, in order
    last_record_offset: int  # byte offset of the last RECORD line (-1: none)
    last_state_offset: int  # byte offset of the last STATE line (-1: none)
    stderr: str

    @property
    def final_state(self) -> dict[str, t.Any] | None:
        """The value of the last STATE message."""
        return json.loads(self.states[-1])["value"] if self.states else None

    def check(self, what: str) -> None:
        """Fail loudly when the child failed."""
        if self.returncode != 0:
            sys.stderr.write(self.stderr[-4000:])
            msg = f"{what} exited with {self.returncode}"
            raise SystemExit(msg)


_RECORD = b'{"type":"RECORD"'
_STATE = b'{"type":"STATE"'


class _Drain:
    """Reads a child's stdout as fast as it comes, counting Singer messages.

    Only complete lines are inspected. A RECORD line starts with ``{"type":"RECORD"``
    (both the SDK's writers put ``type`` first); STATE lines are kept whole.
    """

    def __init__(self) -> None:
        self.total = 0
        self.records = 0
        self.states: list[bytes] = []
        self.last_record = -1
        self.last_state = -1
        self._carry = b""
        self._offset = 0  # stream offset of self._carry[0]

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        data = self._carry + chunk
        end = data.rfind(b"\n") + 1
        complete, self._carry = data[:end], data[end:]
        if complete:
            self._scan(complete)
            self._offset += end

    def _scan(self, block: bytes) -> None:
        count = block.count(b"\n" + _RECORD) + block.startswith(_RECORD)
        if count:
            self.records += count
            where = block.rfind(_RECORD)
            self.last_record = self._offset + where
        start = 0
        while (where := block.find(_STATE, start)) != -1:
            if where == 0 or block[where - 1 : where] == b"\n":
                stop = block.index(b"\n", where)
                self.states.append(block[where:stop])
                self.last_state = self._offset + where
            start = where + 1


def run_measured(
    command: Sequence[str], *, stdin_path: Path | None = None, timeout: float = 1800
) -> Measured:
    """Run a child to completion, draining its stdout; measure its own CPU and peak RSS.

    Args:
        command: The program and its arguments.
        stdin_path: File to connect to the child's stdin (default: /dev/null).
        timeout: Seconds before the child is killed.
    """
    drain = _Drain()
    with contextlib.ExitStack() as stack:
        stderr = stack.enter_context(tempfile.TemporaryFile("w+b"))
        stdin = stack.enter_context(open(stdin_path or os.devnull, "rb"))  # noqa: PTH123
        started = time.perf_counter()
        proc = subprocess.Popen(
            list(command), stdin=stdin, stdout=subprocess.PIPE, stderr=stderr, env=child_env()
        )
        killer = threading.Timer(timeout, proc.kill)
        killer.start()
        stdout = proc.stdout
        if stdout is None:  # never: stdout=PIPE
            raise RuntimeError(command)
        try:
            fd = stdout.fileno()
            while chunk := os.read(fd, 1 << 20):
                drain.feed(chunk)
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            killer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4, not Popen
        stdout.close()
        stderr.seek(0)
        errors = stderr.read().decode(errors="replace")
    return Measured(
        returncode=proc.returncode,
        wall_seconds=wall,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 2**10),
        stdout_bytes=drain.total,
        records=drain.records,
        states=drain.states,
        last_record_offset=drain.last_record,
        last_state_offset=drain.last_state,
        stderr=errors,
    )


def tap_command(config: dict[str, t.Any], workdir: Path, *, state: dict | None = None) -> list[str]:
    """The command line of one tap run (config and state written to ``workdir``)."""
    config_path = workdir / "config.json"
    config_path.write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_ai_analytics", "--config", str(config_path)]
    if state is not None:
        state_path = workdir / "state.json"
        state_path.write_text(json.dumps(state))
        command += ["--state", str(state_path)]
    return command


def verdict(ok: bool) -> str:  # noqa: FBT001
    """PASS or FAIL, for the report lines."""
    return "PASS" if ok else "FAIL"
