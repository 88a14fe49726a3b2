"""The repository's DuckDB loader (loaders/target-duckdb) keeps every row and value.

In-process: Singer messages in, DuckDB tables out. The end-to-end proof with the tap's own
output through Meltano is in test_meltano_project.py.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import sys
import typing as t
from pathlib import Path

import pytest

duckdb = pytest.importorskip("duckdb")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "loaders" / "target-duckdb"))

from target_duckdb_upsert import TargetDuckDBUpsert, column_type  # noqa: E402

SCHEMA = {
    "type": "SCHEMA",
    "stream": "usage",
    "key_properties": ["date", "language"],
    "schema": {
        "type": "object",
        "properties": {
            "date": {"type": "string", "format": "date"},
            "language": {"type": "string"},
            "count": {"type": ["integer", "null"]},
            "extra": {"type": ["object", "null"]},
        },
    },
}


def record(**values: object) -> dict[str, t.Any]:
    return {"type": "RECORD", "stream": "usage", "record": values}


def load(path: Path, *messages: dict[str, t.Any]) -> None:
    target = TargetDuckDBUpsert(config={"filepath": str(path), "default_target_schema": "ai"})
    target.listen(io.StringIO("".join(json.dumps(m) + "\n" for m in messages)))


def rows(path: Path, sql: str) -> list[tuple[t.Any, ...]]:
    with duckdb.connect(str(path), read_only=True) as con:
        return list(con.execute(sql).fetchall())


def test_blank_keys_objects_and_absent_fields_are_kept(tmp_path):
    database = tmp_path / "w.duckdb"
    load(
        database,
        SCHEMA,
        # All text but the date: the first row is data, not a CSV header.
        record(date="2025-01-01", language="", count=1),
        record(date="2025-01-01", language="go", count=2, extra={"new_metric": 3}),
        record(date="2025-01-02", language="", count=None),
    )
    assert rows(database, "SELECT * FROM ai.usage ORDER BY date, language") == [
        (dt.date(2025, 1, 1), "", 1, None),
        (dt.date(2025, 1, 1), "go", 2, '{"new_metric":3}'),
        (dt.date(2025, 1, 2), "", None, None),
    ]
    types = dict(rows(database, "SELECT column_name, data_type FROM information_schema.columns"))
    assert types == {"date": "DATE", "language": "VARCHAR", "count": "BIGINT", "extra": "JSON"}


def test_reruns_upsert_and_new_columns_are_added(tmp_path):
    database = tmp_path / "w.duckdb"
    load(database, SCHEMA, record(date="2025-01-01", language="go", count=1))
    wider = json.loads(json.dumps(SCHEMA))
    wider["schema"]["properties"]["ratio"] = {"type": ["number", "null"]}
    load(
        database,
        wider,
        record(date="2025-01-01", language="go", count=5, ratio=0.5),
        record(date="2025-01-01", language="go", count=6, ratio=0.25),  # the last one wins
        record(date="2025-01-02", language="go", count=7),
    )
    assert rows(database, "SELECT date::text, count, ratio FROM ai.usage ORDER BY date") == [
        ("2025-01-01", 6, 0.25),
        ("2025-01-02", 7, None),
    ]


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        ({"type": ["string", "null"], "format": "date-time"}, "TIMESTAMPTZ"),
        ({"anyOf": [{"type": "string", "format": "date"}, {"type": "null"}]}, "DATE"),
        ({"type": ["integer", "string"]}, "VARCHAR"),
        ({"type": ["integer", "number"]}, "DOUBLE"),
        ({"type": "boolean"}, "BOOLEAN"),
        ({"type": "array", "items": {"type": "string"}}, "JSON"),
        ({}, "JSON"),
    ],
)
def test_column_types(schema, expected):
    assert column_type(schema) == expected
