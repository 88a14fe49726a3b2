"""Shared set-up for the quick-start scripts: a project virtual environment that builds itself.

``ensure_venv(["test"])`` creates ``.venv`` with the running interpreter when it is missing,
upgrades pip inside it (``--group`` needs pip >= 25.1), and installs the project in editable
mode with the requested dependency groups. A stamp file records which groups were installed for
which ``pyproject.toml``, so a second run does no network work at all and takes well under a
second. Only the standard library is used: this module runs before anything is installed.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

if sys.version_info < (3, 10):  # noqa: UP036 - this is the check that explains the requirement
    sys.exit(
        f"tap-ai-analytics needs Python 3.10 or newer; this is {sys.version.split()[0]}. "
        "Run the script with a newer python3."
    )

import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
PYPROJECT = ROOT / "pyproject.toml"
STAMP_NAME = "tap-ai-analytics-bootstrap.json"
#: The oldest pip that understands ``pip install --group`` (PEP 735 dependency groups).
PIP_REQUIREMENT = "pip>=25.1"


class BootstrapError(RuntimeError):
    """A set-up step failed; the message says which and how to fix it."""


def say(message: str) -> None:
    """Print one progress line, flushed so it interleaves correctly with child output."""
    print(f"[quick-start] {message}", flush=True)


def venv_executable(venv: Path, name: str) -> Path:
    """Return the path of an executable inside a virtual environment (POSIX or Windows).

    Args:
        venv: The virtual environment's directory.
        name: The executable's name without suffix, e.g. ``python`` or ``meltano``.

    Returns:
        The path (which may not exist yet).
    """
    if os.name == "nt":
        return venv / "Scripts" / f"{name}.exe"
    return venv / "bin" / name


def _run(command: Sequence[str | Path], what: str, *, cwd: Path = ROOT) -> None:
    """Run a set-up command quietly; on failure show its output and raise.

    Output is captured because pip is verbose even with ``-q`` when resolving, and the quick
    start should print a handful of lines; a failure still shows everything pip said.
    """
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INPUT": "1"}
    result = subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        sys.stdout.write(result.stdout)
        msg = f"{what} failed (exit {result.returncode}); its output is above."
        raise BootstrapError(msg)


def _works(python: Path) -> bool:
    """Whether a venv's interpreter runs (its base Python may have been removed or upgraded)."""
    if not python.exists():
        return False
    try:
        return (
            subprocess.run(
                [str(python), "-c", "import sys"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                check=False,
                timeout=60,
            ).returncode
            == 0
        )
    except (OSError, subprocess.TimeoutExpired):
        return False


def create_venv(venv: Path) -> Path:
    """Create ``venv`` with the running interpreter if it is missing or broken.

    Args:
        venv: Where the environment lives.

    Returns:
        The environment's Python.

    Raises:
        BootstrapError: If the venv module is unusable (e.g. Debian without python3-venv).
    """
    python = venv_executable(venv, "python")
    if _works(python):
        return python
    if venv.exists():
        say(f"{venv.name} is broken (its Python is gone); recreating it")
        shutil.rmtree(venv)
    say(f"creating {venv.name} with Python {sys.version.split()[0]}")
    try:
        _run([sys.executable, "-m", "venv", venv], f"python -m venv {venv.name}")
    except BootstrapError as exc:
        msg = f"{exc} On Debian/Ubuntu install the venv module first: sudo apt install python3-venv"
        raise BootstrapError(msg) from None
    return python


def _read_stamp(venv: Path) -> dict[str, str]:
    try:
        data = json.loads((venv / STAMP_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


def _write_stamp(venv: Path, stamp: dict[str, str]) -> None:
    (venv / STAMP_NAME).write_text(json.dumps(stamp, indent=2, sort_keys=True), encoding="utf-8")


def _fingerprint(*parts: str) -> str:
    """A hash of what decides an install: pyproject.toml and the request."""
    digest = hashlib.sha256(PYPROJECT.read_bytes())
    for part in parts:
        digest.update(b"\0" + part.encode())
    return digest.hexdigest()


def ensure_venv(groups: Iterable[str]) -> Path:
    """Make ``.venv`` hold the project (editable) plus the given dependency groups.

    Idempotent: a group is (re)installed only when ``pyproject.toml`` changed since it was last
    installed, so a second run costs one stamp-file read.

    Args:
        groups: PEP 735 dependency groups from ``pyproject.toml``, e.g. ``["test"]``.

    Returns:
        The Python of ``.venv``.

    Raises:
        BootstrapError: If a step fails (the message says which).
    """
    wanted = sorted(set(groups))
    python = create_venv(VENV)
    stamp = _read_stamp(VENV)
    missing = [group for group in wanted if stamp.get(group) != _fingerprint(group)]
    if not missing:
        say(f"{VENV.name} is up to date ({', '.join(wanted)})")
        return python
    started = time.monotonic()
    if stamp.get("pip") != PIP_REQUIREMENT:
        say("upgrading pip inside .venv")
        _run([python, "-m", "pip", "install", "-q", "-U", PIP_REQUIREMENT], "pip upgrade")
        stamp["pip"] = PIP_REQUIREMENT
        _write_stamp(VENV, stamp)
    say(f"installing tap-ai-analytics (editable) with groups: {', '.join(missing)}")
    group_args = [arg for group in missing for arg in ("--group", group)]
    _run([python, "-m", "pip", "install", "-q", "-e", ROOT, *group_args], "pip install")
    for group in missing:
        stamp[group] = _fingerprint(group)
    _write_stamp(VENV, stamp)
    say(f"{VENV.name} ready in {time.monotonic() - started:.0f}s")
    return python


def ensure_tool_venv(venv: Path, requirement: str, executable: str) -> Path:
    """Make a separate virtual environment that holds one tool (e.g. Meltano).

    Tools with large, pinned dependency trees get their own environment so they cannot
    conflict with the project's.

    Args:
        venv: Where the environment lives.
        requirement: The pip requirement, e.g. ``meltano>=4,<5``.
        executable: The console script the tool installs.

    Returns:
        The path of the tool's executable.

    Raises:
        BootstrapError: If a step fails.
    """
    python = create_venv(venv)
    tool = venv_executable(venv, executable)
    stamp = _read_stamp(venv)
    if stamp.get("requirement") == requirement and tool.exists():
        say(f"{venv.name} is up to date ({requirement})")
        return tool
    say(f"installing {requirement} into {venv.name}")
    started = time.monotonic()
    _run(
        [python, "-m", "pip", "install", "-q", "-U", "pip", requirement],
        f"pip install {requirement}",
    )
    _write_stamp(venv, {"requirement": requirement})
    say(f"{venv.name} ready in {time.monotonic() - started:.0f}s")
    return tool
