"""Test helpers for the dbt package: an append-only Singer loader into DuckDB, and dbt runs.

The loader is deliberately the least helpful kind of warehouse load: every RECORD is
appended (a lookback re-read duplicates rows), dates and other strings are stored as text,
objects as JSON text, and each row carries the record's extraction time
(``_sdc_extracted_at``) and the load's time (``_sdc_batched_at``), as Singer loaders with
record metadata do. The dbt models must turn that into one row per primary key.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping


class Cursor(t.Protocol):
    """The DB-API calls the loader needs (a DuckDB connection or a psycopg2 cursor)."""

    def execute(self, sql: str, parameters: t.Any = ..., /) -> t.Any:
        """Run one statement."""

    def executemany(self, sql: str, parameters: t.Any, /) -> t.Any:
        """Run one statement for each row of parameters."""

    def fetchall(self) -> list[t.Any]:
        """Rows of the last query."""


REPO_ROOT = Path(__file__).resolve().parents[1]
DBT_PACKAGE = REPO_ROOT / "dbt_ai_analytics"
#: The schema Meltano's loaders default to for this extractor, and the package's default.
SOURCE_SCHEMA = "tap_ai_analytics"
#: Generous bound for one ``dbt build`` on a loaded machine.
DBT_TIMEOUT_SECONDS = 300.0


def column_type(prop: Mapping[str, t.Any]) -> str:
    """The DuckDB type of a JSON-schema property (dates stay text, like many loaders)."""
    declared = prop.get("type", "string")
    types = {declared} if isinstance(declared, str) else set(declared)
    if "integer" in types:
        return "BIGINT"
    if "number" in types:
        return "DOUBLE PRECISION"
    if "boolean" in types:
        return "BOOLEAN"
    return "VARCHAR"


def _cell(value: object) -> object:
    """A record value as stored: objects and arrays as JSON text."""
    return json.dumps(value) if isinstance(value, dict | list) else value


class AppendOnlyLoader:
    """Appends Singer RECORD messages to one table per stream, typed by SCHEMA messages."""

    METADATA = ("_sdc_extracted_at", "_sdc_batched_at")

    def __init__(self, cursor: Cursor, schema: str = SOURCE_SCHEMA, placeholder: str = "?") -> None:
        """Load into ``schema`` (created if missing).

        Args:
            cursor: Where statements run (DuckDB connection, psycopg2 autocommit cursor).
            schema: The schema of the tables.
            placeholder: The driver's parameter marker (``?`` DuckDB, ``%s`` psycopg2).
        """
        self.connection = cursor
        self.schema = schema
        self.placeholder = placeholder
        cursor.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')

    def _columns(self, stream: str) -> list[str]:
        mark = self.placeholder
        query = (
            "SELECT column_name FROM information_schema.columns "  # noqa: S608 - a driver's marker
            f"WHERE table_schema = {mark} AND table_name = {mark} ORDER BY ordinal_position"
        )
        self.connection.execute(query, [self.schema, stream])
        return [row[0] for row in self.connection.fetchall()]

    def _ensure_table(self, stream: str, properties: Mapping[str, t.Any]) -> None:
        """Create the stream's table, or add the columns a newer SCHEMA declares."""
        wanted = {name: column_type(prop) for name, prop in properties.items()}
        wanted |= dict.fromkeys(self.METADATA, "VARCHAR")
        existing = self._columns(stream)
        table = f'"{self.schema}"."{stream}"'
        if not existing:
            columns = ", ".join(f'"{name}" {kind}' for name, kind in wanted.items())
            self.connection.execute(f"CREATE TABLE {table} ({columns})")
            return
        for name, kind in wanted.items():
            if name not in existing:
                self.connection.execute(f'ALTER TABLE {table} ADD COLUMN "{name}" {kind}')

    def load(self, messages: Iterable[Mapping[str, t.Any]], batched_at: str) -> dict[str, int]:
        """Append every RECORD; return the number of rows appended per stream."""
        rows: dict[str, list[dict[str, t.Any]]] = {}
        for message in messages:
            if message["type"] == "SCHEMA":
                self._ensure_table(message["stream"], message["schema"]["properties"])
            elif message["type"] == "RECORD":
                record = dict(message["record"])
                record["_sdc_extracted_at"] = message.get("time_extracted") or batched_at
                record["_sdc_batched_at"] = batched_at
                rows.setdefault(message["stream"], []).append(record)
        for stream, records in rows.items():
            columns = self._columns(stream)
            names = ", ".join(f'"{name}"' for name in columns)
            marks = ", ".join(self.placeholder for _ in columns)
            self.connection.executemany(
                f'INSERT INTO "{self.schema}"."{stream}" ({names}) VALUES ({marks})',  # noqa: S608
                [[_cell(record.get(name)) for name in columns] for record in records],
            )
        return {stream: len(records) for stream, records in rows.items()}


def dbt_executable() -> Path | None:
    """The ``dbt`` command of this Python environment, or None if dbt is not installed."""
    beside = Path(sys.executable).with_name("dbt")
    if beside.exists():
        return beside
    found = shutil.which("dbt")
    return Path(found) if found else None


def write_profile(directory: Path, output: Mapping[str, t.Any]) -> Path:
    """Write a ``profiles.yml`` for the package's ``ai_analytics`` profile; return its folder."""
    directory.mkdir(parents=True, exist_ok=True)
    profile = {"ai_analytics": {"target": "test", "outputs": {"test": dict(output)}}}
    # JSON is valid YAML: no YAML writer needed.
    (directory / "profiles.yml").write_text(json.dumps(profile, indent=2), encoding="utf-8")
    return directory


def run_dbt(
    workdir: Path,
    profiles_dir: Path,
    args: Iterable[str] = ("build",),
    variables: Mapping[str, t.Any] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run dbt on the package with its target, logs and packages kept in ``workdir``."""
    dbt = dbt_executable()
    assert dbt is not None, "dbt is not installed"
    command = [
        str(dbt),
        *args,
        "--project-dir",
        str(DBT_PACKAGE),
        "--profiles-dir",
        str(profiles_dir),
        "--target-path",
        str(workdir / "target"),
        "--log-path",
        str(workdir / "logs"),
    ]
    if variables:
        command += ["--vars", json.dumps(dict(variables))]
    env = dict(os.environ, DBT_SEND_ANONYMOUS_USAGE_STATS="false", DO_NOT_TRACK="1")
    return subprocess.run(
        command,
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=workdir,
        timeout=DBT_TIMEOUT_SECONDS,
        check=False,
    )


def catalog_selecting_all(catalog: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """A copy of a discovered catalog with every stream and every field selected."""
    selected: dict[str, t.Any] = json.loads(json.dumps(catalog))
    for entry in selected["streams"]:
        for metadata in entry["metadata"]:
            metadata["metadata"]["selected"] = True
    return selected


# -- PostgreSQL -------------------------------------------------------------------------------

#: Where PostgreSQL's server programs may be when they are not on PATH (Debian's layout).
POSTGRES_BIN_DIRS = (Path("/usr/local/bin"), *sorted(Path("/usr/lib/postgresql").glob("*/bin")))
STARTUP_TIMEOUT_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class PostgresServer:
    """How to reach a PostgreSQL database (the variables of dbt_ai_analytics/profiles/postgres)."""

    host: str
    port: int
    user: str
    password: str
    database: str

    @classmethod
    def from_env(cls) -> PostgresServer | None:
        """The server named by ``DBT_POSTGRES_*`` variables (CI's service), if any."""
        if not os.environ.get("DBT_POSTGRES_HOST"):
            return None
        return cls(
            host=os.environ["DBT_POSTGRES_HOST"],
            port=int(os.environ.get("DBT_POSTGRES_PORT", "5432")),
            user=os.environ.get("DBT_POSTGRES_USER", "postgres"),
            password=os.environ.get("DBT_POSTGRES_PASSWORD", ""),
            database=os.environ.get("DBT_POSTGRES_DATABASE", "postgres"),
        )

    def profile(self, schema: str) -> dict[str, t.Any]:
        """A dbt-postgres output building into ``schema``."""
        return {
            "type": "postgres",
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": self.database,
            "schema": schema,
            "threads": 2,
        }

    def connect_kwargs(self) -> dict[str, t.Any]:
        """psycopg2.connect arguments."""
        return {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "dbname": self.database,
        }


def postgres_program(name: str) -> str | None:
    """A PostgreSQL server program (initdb, pg_ctl) on PATH or in a usual folder."""
    found = shutil.which(name)
    if found:
        return found
    return next((str(d / name) for d in POSTGRES_BIN_DIRS if (d / name).exists()), None)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def local_postgres() -> Iterator[PostgresServer]:
    """A throw-away PostgreSQL cluster on 127.0.0.1 (trust authentication), stopped at exit.

    PostgreSQL refuses to run as root: as root the cluster runs as the ``postgres`` user.

    Raises:
        LookupError: No ``initdb``/``pg_ctl``, or root without a ``postgres`` user.
    """
    initdb, pg_ctl = postgres_program("initdb"), postgres_program("pg_ctl")
    if initdb is None or pg_ctl is None:
        msg = "no PostgreSQL server programs (initdb, pg_ctl) on PATH"
        raise LookupError(msg)
    prefix: list[str] = []
    owner = None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None or subprocess.call(["id", "postgres"], stdout=subprocess.DEVNULL) != 0:
            msg = "running as root without runuser and a 'postgres' user"
            raise LookupError(msg)
        prefix, owner = [runuser, "-u", "postgres", "--"], "postgres"
    root = Path(tempfile.mkdtemp(prefix="ai-analytics-pg-"))
    if owner is not None:
        shutil.chown(root, owner)
    data, port = root / "data", _free_port()

    def run(*command: str) -> None:
        subprocess.run(
            [*prefix, *command], check=True, capture_output=True, timeout=STARTUP_TIMEOUT_SECONDS
        )

    try:
        run(initdb, "-D", str(data), "-U", "dbt", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(pg_ctl, "-D", str(data), "-o", options, "-l", str(root / "log"), "-w", "start")
        try:
            yield PostgresServer("127.0.0.1", port, "dbt", "", "postgres")
        finally:
            run(pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
