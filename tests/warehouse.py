"""Test helpers for the dbt package: an append-only Singer loader into DuckDB, and dbt runs.

The loader is deliberately the least helpful kind of warehouse load: every RECORD is
appended (a lookback re-read duplicates rows), dates and other strings are stored as text,
objects as JSON text, and each row carries the record's extraction time
(``_sdc_extracted_at``) and the load's time (``_sdc_batched_at``), as Singer loaders with
record metadata do. The dbt models must turn that into one row per primary key.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import duckdb

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
        return "DOUBLE"
    if "boolean" in types:
        return "BOOLEAN"
    return "VARCHAR"


def _cell(value: object) -> object:
    """A record value as stored: objects and arrays as JSON text."""
    return json.dumps(value) if isinstance(value, dict | list) else value


class AppendOnlyLoader:
    """Appends Singer RECORD messages to one table per stream, typed by SCHEMA messages."""

    METADATA = ("_sdc_extracted_at", "_sdc_batched_at")

    def __init__(self, connection: duckdb.DuckDBPyConnection, schema: str = SOURCE_SCHEMA) -> None:
        """Load into ``schema`` of ``connection`` (created if missing)."""
        self.connection = connection
        self.schema = schema
        connection.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')

    def _columns(self, stream: str) -> list[str]:
        rows = self.connection.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = ? AND table_name = ? ORDER BY ordinal_position",
            [self.schema, stream],
        ).fetchall()
        return [row[0] for row in rows]

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
            marks = ", ".join("?" for _ in columns)
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
    selected = json.loads(json.dumps(catalog))
    for entry in selected["streams"]:
        for metadata in entry["metadata"]:
            metadata["metadata"]["selected"] = True
    return selected
