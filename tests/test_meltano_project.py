"""What a Meltano user runs works as written, on the Meltano the project requires (4.x).

One fresh Meltano project per test run (``meltano init`` in a temporary folder), against the
in-process sandbox:

* the README's "With Meltano" command block runs line by line as written: ``meltano add
  --from-ref``, ``meltano config set`` (plain values and ``"$VARIABLE"``s), the one command
  that restores the default selection, ``meltano run``. Only the values that must point at
  the sandbox are replaced: the plugin.yaml URL (by this checkout's plugin.yaml, installing the
  tap from this checkout), the instance list and the start date. Adding a loader by name
  needs MeltanoHub, so the loader is added ``--from-ref`` from this repository's meltano.yml.
* every ``meltano …`` command in the README, meltano.yml and hub/README.md has a shape that
  this file runs (or a known-good one such as ``--interactive``), so Meltano 3 syntax cannot
  come back unnoticed.
* the recommended loaders (DuckDB, PostgreSQL) load every stream with no extra
  configuration, exactly the rows the tap sent, typed; the README's SQL runs on both.

Meltano comes from ``.venv-meltano``, bootstrapped like ``scripts/demo.py`` does; the plugins'
virtual environments are cached in ``.venv-meltano/test-plugins`` between runs. PostgreSQL is
a throwaway cluster on a loopback port (skipped where no ``initdb``/``postgres`` exists).
"""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import typing as t
import urllib.parse
from pathlib import Path

import pytest
import yaml

from sandbox import Sandbox

if t.TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import _bootstrap  # noqa: E402

from tests.test_quickstart import load_script  # noqa: E402

demo = load_script("demo")  # the demo's Meltano requirement and virtual environment

README = (ROOT / "README.md").read_text(encoding="utf-8")
MELTANO_YML = yaml.safe_load((ROOT / "meltano.yml").read_text(encoding="utf-8"))
PLUGIN_YAML = yaml.safe_load((ROOT / "plugin.yaml").read_text(encoding="utf-8"))
PLUGIN_CACHE = demo.MELTANO_VENV / "test-plugins"
PLUGIN_YAML_URL = (
    "https://raw.githubusercontent.com/tap-ai-analytics/tap-ai-analytics/main/plugin.yaml"
)
ALL_STREAMS = {
    "augment_dau_count",
    "augment_daily_active_users",
    "augment_daily_usage",
    "augment_user_activity",
    "augment_user_activity_by_editor_language",
    "augment_credit_usage",
    "augment_cost",
    "sourcegraph_usage_by_user_day_client_language",
    "sourcegraph_usage_by_user_day",
    "sourcegraph_usage_by_user_month",
    "sourcegraph_usage_by_user",
    "sourcegraph_user_registry",
}
SCHEMA = "tap_ai_analytics"  # $MELTANO_EXTRACT__LOAD_SCHEMA: the extractor's namespace
DAYS = 12
COMMAND_TIMEOUT_SECONDS = 300

pytestmark = pytest.mark.timeout(900)


# -- documented commands ---------------------------------------------------------------------


def shell_lines(text: str) -> list[str]:
    """The command lines of a ``sh`` block, continuation lines joined, comments kept."""
    return [line for line in text.replace("\\\n", " ").splitlines() if line.strip()]


def readme_section(heading: str) -> str:
    return re.split(r"\n#{2,3} ", README.split(heading, 1)[1], maxsplit=1)[0]


def sh_blocks(text: str) -> list[str]:
    return re.findall(r"```sh\n(.*?)```", text, re.DOTALL)


def documented_meltano_commands() -> list[tuple[str, str]]:
    """Every ``meltano …`` command a user may copy: (where, command).

    Inline code spans, lines of ``sh`` blocks and commented lines of YAML files.
    """
    found = []
    for where in ("README.md", "hub/README.md", "meltano.yml", "loaders/target-duckdb/plugin.yaml"):
        text = (ROOT / where).read_text(encoding="utf-8").replace("\\\n", " ")
        found += [(where, span) for span in re.findall(r"`(meltano [^`]+)`", text)]
        for line in text.splitlines():
            # "# meltano …" in YAML comments; "VAR=value meltano …" in shell examples.
            candidate = re.sub(r"^(?:[A-Z_]+=\S+\s+)+", "", line.strip().lstrip("#").strip())
            if candidate.startswith("meltano "):
                found.append((where, candidate))
    return found


#: Command shapes (subcommand and options, values elided) and where each is proved to work.
KNOWN_SHAPES = {
    "add --from-ref": "run below",
    "add": "run below (--from-ref stands in for MeltanoHub)",
    "config set": "run below",
    "config set --interactive": "prompts: the same setter as config set",
    "select": "run below",
    "select --list": "run below",
    "run": "run below",
    "run --full-refresh": "run below",
    "run --full-refresh --no-state-update": "Meltano 4 options of run (checked with --help)",
    "--environment run --full-refresh": "scripts/demo.py",
    "install": "run below",
    "state clear": "a Meltano 4 command (checked with --help)",
}


def shape(command: str) -> str:
    """``meltano config set --interactive tap x`` → ``config set --interactive``."""
    words = shlex.split(command.replace("…", "x"), comments=True)[1:]
    subcommands = {"add", "config", "set", "run", "select", "install", "state", "clear"}
    return " ".join(
        word.split("=", 1)[0]
        for word in words
        if word.startswith("-") or (word in subcommands and not words.index(word) > 2)
    )


def test_every_documented_meltano_command_has_a_tested_shape():
    commands = documented_meltano_commands()
    assert len(commands) >= 15
    for where, command in commands:
        # Meltano 3's `meltano config <plugin> set` fails on Meltano 4.
        assert not re.match(r"meltano config [\w-]+ (set|list|unset)", command), (where, command)
        # Meltano 4 reads `add extractor tap-x` as two plugins, "extractor" and "tap-x".
        assert not re.match(r"meltano add (extractor|loader|utility|mapper)s? ", command), command
        assert shape(command) in KNOWN_SHAPES, (where, command, shape(command))


def test_the_default_selection_command_sets_plugin_yaml_select():
    (line,) = [
        line
        for line in shell_lines(sh_blocks(readme_section("### With Meltano"))[0])
        if " _select " in line
    ]
    value = shlex.split(line, comments=True)[-1]
    assert json.loads(value) == PLUGIN_YAML["select"]


# -- a Meltano project -----------------------------------------------------------------------


class Meltano:
    """Runs commands in one Meltano project; its log is shown when a command fails."""

    def __init__(self, executable: Path, project: Path, env: dict[str, str]) -> None:
        self.executable = executable
        self.project = project
        self.env = env
        self.log = project.parent / "meltano.log"

    def shell(self, line: str, *, cwd: Path | None = None) -> str:
        """Run one documented line in bash, with ``meltano`` being the installed Meltano."""
        command = re.sub(r"^meltano\b", shlex.quote(str(self.executable)), line.strip())
        result = subprocess.run(
            ["bash", "-c", command],
            cwd=cwd or self.project,
            env=self.env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_SECONDS,
            check=False,
        )
        with self.log.open("a", encoding="utf-8") as log:
            log.write(f"\n$ {line}\n{result.stdout}{result.stderr}")
        assert result.returncode == 0, f"{line}\n{result.stdout[-3000:]}\n{result.stderr[-6000:]}"
        return result.stdout

    def __call__(self, *args: str) -> str:
        return self.shell(shlex.join(["meltano", *args]))


def definition_file(folder: Path, plugin: dict[str, t.Any], **overrides: t.Any) -> Path:
    """A ``--from-ref`` file for a plugin definition."""
    path = folder / f"{plugin['name']}.yml"
    path.write_text(yaml.safe_dump({**plugin, **overrides}), encoding="utf-8")
    return path


def repo_loader(name: str) -> dict[str, t.Any]:
    (loader,) = [p for p in MELTANO_YML["plugins"]["loaders"] if p["name"] == name]
    pip_url = loader["pip_url"]
    if pip_url.startswith("-e ./"):  # relative to this repository, not to the test project
        pip_url = f"-e {ROOT / pip_url.removeprefix('-e ./')}"
    return {**loader, "pip_url": pip_url}


@pytest.fixture(scope="module")
def meltano_executable() -> Path:
    try:
        return Path(
            _bootstrap.ensure_tool_venv(demo.MELTANO_VENV, demo.MELTANO_REQUIREMENT, "meltano")
        )
    except _bootstrap.BootstrapError as exc:
        pytest.skip(f"Meltano ({demo.MELTANO_REQUIREMENT}) could not be installed from PyPI: {exc}")


@pytest.fixture(scope="module")
def api() -> Iterator[Sandbox]:
    with Sandbox() as sandbox:  # the real today: Meltano runs the tap in its own process
        yield sandbox


@pytest.fixture(scope="module")
def project(meltano_executable: Path, api: Sandbox, tmp_path_factory) -> Meltano:
    """A fresh project with the tap added and configured as the README says, and run once."""
    folder = tmp_path_factory.mktemp("meltano")
    PLUGIN_CACHE.mkdir(parents=True, exist_ok=True)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("TAP_AI_ANALYTICS_", "TARGET_", "MELTANO_", "PYTHONPATH"))
    }
    env |= {
        "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
        # Plugin virtual environments outlive the project (installing is the slow part); the
        # system database (state, runs) is the project's own.
        "MELTANO_SYS_DIR_ROOT": str(PLUGIN_CACHE),
        "MELTANO_DATABASE_URI": f"sqlite:///{folder / 'meltano.db'}",
        "AUGMENT_API_TOKEN": api.augment_token,
        "SOURCEGRAPH_ACCESS_TOKEN": api.sourcegraph_token,
    }
    meltano = Meltano(meltano_executable, folder / "project", env)
    meltano.shell("meltano init project --no-usage-stats", cwd=folder)
    local_plugin_yaml = definition_file(folder, PLUGIN_YAML, pip_url=f"-e {ROOT}")
    jsonl = definition_file(folder, repo_loader("target-jsonl"))
    start = (dt.datetime.now(dt.timezone.utc).date() - dt.timedelta(days=DAYS)).isoformat()
    replacements = {
        PLUGIN_YAML_URL: str(local_plugin_yaml),
        "meltano add target-jsonl ": f"meltano add target-jsonl --from-ref={jsonl} ",
        "'[\"sourcegraph.example.com\"]'": shlex.quote(json.dumps(api.sourcegraph_instances)),
        "start_date 2025-01-01": f"start_date {start}",
    }
    (block, *_) = sh_blocks(readme_section("### With Meltano"))
    lines = shell_lines(block)
    run_line = lines.pop()  # the sandbox's URLs and pacing go in before the run
    assert run_line.startswith("meltano run tap-ai-analytics target-jsonl")
    for line in lines:
        for old, new in replacements.items():
            line = line.replace(old, new)  # noqa: PLW2901
        meltano.shell(line)
    for setting, value in {
        "augment_api_url": api.url,
        "sourcegraph_api_url": api.url,
        "augment_rate_limit_per_minute": "60000",
        "request_timeout_seconds": "30",
    }.items():
        meltano("config", "set", "tap-ai-analytics", setting, value)
    meltano.shell(run_line)
    return meltano


def test_readme_commands_sync_the_default_selection(project: Meltano):
    outputs = {path.stem for path in (project.project / "output").glob("*.jsonl")}
    assert outputs == {rule.removesuffix(".*") for rule in PLUGIN_YAML["select"]}
    selected = project("select", "tap-ai-analytics", "--list")
    assert "augment_dau_count" in selected
    # Secrets went to .env, not meltano.yml.
    project_file = (project.project / "meltano.yml").read_text(encoding="utf-8")
    assert project.env["AUGMENT_API_TOKEN"] not in project_file
    assert project.env["AUGMENT_API_TOKEN"] in (project.project / ".env").read_text()


# -- loaders ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def emitted(project: Meltano) -> dict[str, int]:
    """Select every stream; the tap's rows per stream (distinct primary keys)."""
    project("config", "set", "tap-ai-analytics", "_select", '["*.*"]')
    output = project("invoke", "tap-ai-analytics")
    keys: dict[str, list[str]] = {}
    rows: dict[str, set[str]] = collections.defaultdict(set)
    for line in output.splitlines():
        message = json.loads(line)
        if message["type"] == "SCHEMA":
            keys[message["stream"]] = message["key_properties"]
        elif message["type"] == "RECORD":
            record = message["record"]
            rows[message["stream"]].add(json.dumps([record[k] for k in keys[message["stream"]]]))
    counts = {stream: len(found) for stream, found in rows.items()}
    assert set(counts) == ALL_STREAMS
    assert all(counts.values())
    return counts


def add_loader(project: Meltano, name: str) -> None:
    path = definition_file(project.project.parent, repo_loader(name))
    project("add", name, f"--from-ref={path}")


def readme_queries() -> list[str]:
    blocks = re.findall(r"```sql\n(.*?)```", readme_section("## Example SQL"), re.DOTALL)
    lines = [line for block in blocks for line in block.splitlines() if not line.startswith("--")]
    queries = [query.strip() for query in "\n".join(lines).split(";") if query.strip()]
    assert len(queries) >= 5
    return queries


def test_duckdb_loader_keeps_every_row_typed(project: Meltano, emitted: dict[str, int]):
    duckdb = pytest.importorskip("duckdb")
    add_loader(project, "target-duckdb")
    database = project.project / "output" / "warehouse.duckdb"
    project("run", "--full-refresh", "tap-ai-analytics", "target-duckdb")
    with duckdb.connect(str(database), read_only=True) as con:
        loaded = {
            table: con.execute(f'SELECT count(*) FROM {SCHEMA}."{table}"').fetchone()[0]  # noqa: S608
            for (table,) in con.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
                [SCHEMA],
            ).fetchall()
        }
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = 'augment_user_activity'",
                [SCHEMA],
            ).fetchall()
        )
        blank = con.execute(
            f"SELECT count(*) FROM {SCHEMA}.sourcegraph_usage_by_user_day_client_language "  # noqa: S608
            "WHERE language = ''"
        ).fetchone()[0]
        null_extras = con.execute(
            f"SELECT count(*) FROM {SCHEMA}.augment_user_activity WHERE extra_metrics IS NULL"  # noqa: S608
        ).fetchone()[0]
        con.execute(f"SET schema = '{SCHEMA}'")
        answered = [bool(con.execute(query).fetchall()) for query in readme_queries()]
    assert sum(answered) >= len(answered) - 1  # the sandbox's data answers all but one
    assert loaded == emitted
    assert types["date"] == "DATE"
    assert types["completions_accepted"] == "BIGINT"
    assert blank > 0  # blank keys are kept as ""
    assert null_extras == loaded["augment_user_activity"]  # no extras: SQL NULL


# -- PostgreSQL ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def external_postgres(url: str) -> dict[str, str]:
    """Loader settings for a server given as ``postgresql://user:password@host:port/db``."""
    parts = urllib.parse.urlsplit(url)
    return {
        "TARGET_POSTGRES_HOST": parts.hostname or "127.0.0.1",
        "TARGET_POSTGRES_PORT": str(parts.port or 5432),
        "TARGET_POSTGRES_USER": parts.username or "postgres",
        "TARGET_POSTGRES_PASSWORD": parts.password or "",
        "TARGET_POSTGRES_DATABASE": parts.path.lstrip("/") or "postgres",
    }


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, str]]:
    """A PostgreSQL server to load into.

    ``TEST_POSTGRES_URL`` names one (the weekly workflow's service container); otherwise a
    throwaway cluster on a loopback port, stopped and deleted afterwards.
    """
    if os.environ.get("TEST_POSTGRES_URL"):
        yield external_postgres(os.environ["TEST_POSTGRES_URL"])
        return
    found = {name: shutil.which(name) for name in ("initdb", "pg_ctl", "postgres")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        pytest.skip(
            f"no PostgreSQL to load into: {', '.join(missing)} not on PATH and TEST_POSTGRES_URL "
            "not set (the weekly workflow sets it to its postgres service)"
        )
    binaries = {name: path for name, path in found.items() if path is not None}
    # PostgreSQL refuses to run as root: run it as an unprivileged user then.
    as_user = ["runuser", "-u", "nobody", "--"] if os.geteuid() == 0 else []
    folder = Path(tempfile.mkdtemp(prefix="tap-ai-analytics-pg-"))
    folder.chmod(0o755)
    data = folder / "data"
    if as_user:
        shutil.chown(folder, "nobody")
    port = free_port()
    try:
        subprocess.run(
            [*as_user, binaries["initdb"], "-D", data, "-U", "postgres", "--auth=trust",
             "-E", "UTF8", "--no-sync"],
            capture_output=True, check=True, timeout=120,
        )  # fmt: skip
        options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c fsync=off"
        subprocess.run(
            [*as_user, binaries["pg_ctl"], "-D", data, "-l", folder / "log", "-o", options,
             "-w", "start"],
            capture_output=True, check=True, timeout=120,
        )  # fmt: skip
        yield {
            "TARGET_POSTGRES_HOST": "127.0.0.1",
            "TARGET_POSTGRES_PORT": str(port),
            "TARGET_POSTGRES_USER": "postgres",
            "TARGET_POSTGRES_PASSWORD": "unused-with-trust-auth",
            "TARGET_POSTGRES_DATABASE": "postgres",
        }
    finally:
        subprocess.run(
            [*as_user, binaries["pg_ctl"], "-D", data, "-m", "immediate", "stop"],
            capture_output=True, check=False, timeout=120,
        )  # fmt: skip
        shutil.rmtree(folder, ignore_errors=True)


#: Runs in target-postgres's own virtual environment, which has psycopg.
POSTGRES_PROBE = """
import json, sys
import psycopg
request = json.load(sys.stdin)
with psycopg.connect(**request["connect"], autocommit=True) as con:
    con.execute(f"SET search_path TO {request['schema']}")
    answers = {}
    for name, sql in request["queries"].items():
        answers[name] = [list(row) for row in con.execute(sql).fetchall()]
print(json.dumps(answers, default=str))
"""


def test_postgres_loader_keeps_every_row_typed(
    project: Meltano, emitted: dict[str, int], postgres: dict[str, str]
):
    add_loader(project, "target-postgres")
    project.env |= postgres
    project("run", "--full-refresh", "tap-ai-analytics", "target-postgres")
    python = next((PLUGIN_CACHE / "loaders" / "target-postgres").glob("venv/bin/python"))
    counts = {table: f'SELECT count(*) FROM "{table}"' for table in sorted(ALL_STREAMS)}  # noqa: S608
    queries = {
        **counts,
        "types": "SELECT column_name, data_type FROM information_schema.columns "  # noqa: S608
        f"WHERE table_schema = '{SCHEMA}' AND table_name = 'augment_user_activity'",
        # The tap omits an empty extra_metrics; target-postgres (SQLAlchemy's JSON type) stores
        # an absent JSON field as JSON null, not SQL NULL: the README says so.
        "null_extras": "SELECT count(*) FROM augment_user_activity "
        "WHERE extra_metrics IS NULL OR jsonb_typeof(extra_metrics) = 'null'",
        "blank": "SELECT count(*) FROM sourcegraph_usage_by_user_day_client_language "
        "WHERE language = ''",
        **{f"readme {i}": query for i, query in enumerate(readme_queries())},
    }
    request = {
        "connect": {
            "host": postgres["TARGET_POSTGRES_HOST"],
            "port": int(postgres["TARGET_POSTGRES_PORT"]),
            "user": postgres["TARGET_POSTGRES_USER"],
            "password": postgres["TARGET_POSTGRES_PASSWORD"],
            "dbname": postgres["TARGET_POSTGRES_DATABASE"],
        },
        "schema": SCHEMA,
        "queries": queries,
    }
    result = subprocess.run(
        [str(python), "-c", POSTGRES_PROBE],
        input=json.dumps(request),
        capture_output=True, text=True, check=False, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert {table: answers[table][0][0] for table in counts} == emitted
    types = dict(answers["types"])
    assert types["date"] == "date"
    assert types["completions_accepted"] == "bigint"
    assert answers["null_extras"][0][0] == emitted["augment_user_activity"]
    assert answers["blank"][0][0] > 0
    answered = [bool(answers[f"readme {i}"]) for i in range(len(readme_queries()))]
    assert sum(answered) >= len(answered) - 1  # the sandbox's data answers all but one
