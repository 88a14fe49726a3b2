"""Singer target for DuckDB that keeps every row and value (see README.md beside this package)."""

from __future__ import annotations

import json
import os
import tempfile
import typing as t
from pathlib import Path

import duckdb
from singer_sdk import BatchSink, Target
from singer_sdk import typing as th

if t.TYPE_CHECKING:
    from collections.abc import Iterable


def quote(name: str) -> str:
    """Quote an identifier for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """Quote a string literal for DuckDB."""
    return "'" + text.replace("'", "''") + "'"


def _types(schema: dict[str, t.Any]) -> set[str]:
    """The JSON types a property allows, including those of ``anyOf`` alternatives."""
    declared = schema.get("type", [])
    found = {declared} if isinstance(declared, str) else set(declared)
    for alternative in schema.get("anyOf", []):
        found |= _types(alternative)
    return found - {"null"}


def _format(schema: dict[str, t.Any]) -> str | None:
    formats = [schema.get("format")] + [alt.get("format") for alt in schema.get("anyOf", [])]
    return next((fmt for fmt in formats if fmt), None)


def column_type(schema: dict[str, t.Any]) -> str:  # noqa: PLR0911 - one return per type
    """The DuckDB type of a JSON-schema property: the most specific type that holds every value.

    Args:
        schema: The property's JSON schema.

    Returns:
        A DuckDB type name.
    """
    types = _types(schema)
    if not types or types & {"object", "array"}:
        return "JSON"
    if "string" in types:
        if types == {"string"}:
            return {"date": "DATE", "date-time": "TIMESTAMPTZ", "time": "TIME"}.get(
                _format(schema) or "", "VARCHAR"
            )
        return "VARCHAR"  # a string or a number: text keeps both
    if "number" in types:
        return "DOUBLE"
    if "integer" in types:
        return "BIGINT"
    if types == {"boolean"}:
        return "BOOLEAN"
    return "JSON"


class DuckDBUpsertSink(BatchSink):
    """One stream's table: created and widened from the SCHEMA, loaded batch by batch."""

    @property
    def columns(self) -> dict[str, str]:
        """Column name → DuckDB type, in the schema's order."""
        return {name: column_type(schema) for name, schema in self.schema["properties"].items()}

    @property
    def schema_name(self) -> str:
        """The DuckDB schema that holds the tables."""
        return str(self.config.get("default_target_schema") or "main")

    @property
    def table(self) -> str:
        """The quoted ``schema.table`` of this stream."""
        return f"{quote(self.schema_name)}.{quote(self.stream_name)}"

    def connect(self) -> duckdb.DuckDBPyConnection:
        """Open the database file (a connection per batch: DuckDB allows one writer process)."""
        return duckdb.connect(self.config["filepath"])

    def setup(self) -> None:
        """Create the schema and table, and add columns the table does not have yet."""
        columns = self.columns
        keys = list(self.key_properties or [])
        definitions = [f"{quote(name)} {kind}" for name, kind in columns.items()]
        if keys:
            definitions.append(f"PRIMARY KEY ({', '.join(map(quote, keys))})")
        with self.connect() as con:
            con.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(self.schema_name)}")
            con.execute(f"CREATE TABLE IF NOT EXISTS {self.table} ({', '.join(definitions)})")
            existing = {
                row[0]
                for row in con.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = ? AND table_name = ?",
                    [self.schema_name, self.stream_name],
                ).fetchall()
            }
            for name, kind in columns.items():
                if name not in existing:
                    con.execute(f"ALTER TABLE {self.table} ADD COLUMN {quote(name)} {kind}")

    def latest_per_key(self, records: Iterable[dict[str, t.Any]]) -> list[dict[str, t.Any]]:
        """The batch with one record per primary key (the last one), as an upsert would keep."""
        keys = list(self.key_properties or [])
        if not keys:
            return list(records)
        latest: dict[tuple[t.Any, ...], dict[str, t.Any]] = {}
        for record in records:
            latest[tuple(json.dumps(record.get(key), default=str) for key in keys)] = record
        return list(latest.values())

    def process_batch(self, context: dict) -> None:
        """Load the batch through a JSON-lines file read with the declared column types."""
        received = context.get("records", [])
        records = self.latest_per_key(received)
        if len(records) < len(received):
            self.tally_duplicate_merged(len(received) - len(records))
        if not records:
            return
        columns = self.columns
        handle, path = tempfile.mkstemp(suffix=".jsonl", prefix=f"{self.stream_name}-")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as file:
                for record in records:
                    row = {name: record.get(name) for name in columns}
                    file.write(json.dumps(row, default=str) + "\n")
            names = ", ".join(quote(name) for name in columns)
            struct = ", ".join(
                f"{literal(name)}: {literal(kind)}" for name, kind in columns.items()
            )
            verb = "INSERT OR REPLACE" if self.key_properties else "INSERT"
            with self.connect() as con:
                con.execute(
                    f"{verb} INTO {self.table} ({names}) SELECT {names} FROM read_json("  # noqa: S608
                    f"{literal(path)}, format = 'newline_delimited', columns = {{{struct}}})"
                )
        finally:
            Path(path).unlink()

    def activate_version(self, new_version: int) -> None:
        """Keep the table as it is: rows are replaced by key, none are deleted."""
        _ = new_version


class TargetDuckDBUpsert(Target):
    """Singer target for DuckDB: typed tables, upserts on the primary key, every value kept."""

    name = "target-duckdb-upsert"
    config_jsonschema = th.PropertiesList(
        th.Property(
            "filepath", th.StringType, required=True, description="Path of the DuckDB file."
        ),
        th.Property(
            "default_target_schema",
            th.StringType,
            default="main",
            description="Schema the tables are created in.",
        ),
    ).to_dict()
    default_sink_class = DuckDBUpsertSink
