"""The compiled row converter gives the records the cell-by-cell converter gives."""

from __future__ import annotations

import typing as t

import pytest

from tap_ai_analytics.csvreport import ReportParser, read_report
from tap_ai_analytics.errors import DataError
from tap_ai_analytics.schemas import (
    CLIENT_NAME,
    LANGUAGE,
    REGISTRY_COLUMNS,
    TIMESTAMP_DATE,
    USAGE_COLUMNS,
    USER_ID,
    sourcegraph_schema,
)

KEYS = (USER_ID, TIMESTAMP_DATE, CLIENT_NAME, LANGUAGE)
KEY_HEADERS = ["Instance user ID", "Timestamp Date", "Client Name", "Language"]
FIELDS = sourcegraph_schema(KEYS, USAGE_COLUMNS)["properties"]
HEADER = [
    "Language",  # columns in another order than the schema's
    "Instance user ID",
    "Timestamp Date",
    "Client Name",
    "Username",
    "Active Sourcegraph User",
    "Searches",
    "Combined CAR",
    "Brand New Metric",  # unknown: kept as text
    "Site Admin",  # known, but not a field of this stream: kept as text
]
ROWS = [
    ["go", "7", "2025-10-01", "vscode.cody", "ann", "true", "3", "0.25", "x", "true"],
    ["", "8", "2025-10-01 00:00:00 UTC", "", "", "", "", "", "", ""],  # blanks
    ["C#", "9", "2025-10-02", "web", "bob", "Yes", "12.0", "1e-3", "y", "f"],  # slow cells
    ["py", " 10 ", "2025-10-02", "web", "c", "F", "-4", "1E2", "z", "no"],
]


def parser(header: list[str] = HEADER, constants: dict[str, t.Any] | None = None) -> ReportParser:
    return ReportParser(
        header,
        fields=FIELDS,
        key_columns=KEYS,
        constants={"instance_url": "one.example"} if constants is None else constants,
        where="test",
    )


def test_the_compiled_converter_matches_cell_by_cell_conversion() -> None:
    report = parser()
    assert report.convert_row is not None
    records = list(report.records(iter(ROWS), lambda: 0))
    assert len(records) == len(ROWS)
    for row, record in zip(ROWS, records):
        expected = report.convert_row_checked(row, lambda: 0)
        assert expected is not None
        assert list(record.items()) == list(expected.items())  # same keys, order, values
    assert list(records[0]) == list(FIELDS)  # the schema's order
    assert records[0]["extra_columns"] == {"brand_new_metric": "x", "site_admin": "true"}
    assert records[1]["language"] == ""
    assert records[1]["client_name"] == ""
    assert records[1]["username"] is None
    assert records[1]["searches"] is None
    assert records[1]["date"] == "2025-10-01"
    assert records[2]["searches"] == 12
    assert records[2]["active_sourcegraph_user"] is True
    assert records[3]["instance_user_id"] == 10


def test_a_report_without_some_columns_keeps_the_template_values() -> None:
    report = parser(KEY_HEADERS)
    (record,) = report.records(iter([["1", "2025-01-01", "web", "go"]]), lambda: 0)
    assert record["instance_url"] == "one.example"
    assert record["searches"] is None
    assert record["extra_columns"] is None
    assert list(record) == list(FIELDS)


def test_two_columns_for_one_field_use_the_checked_path() -> None:
    report = parser([*KEY_HEADERS, "Searches", "searches"])
    assert report.convert_row is None
    (record,) = report.records(iter([["1", "2025-01-01", "web", "go", "2", "3"]]), lambda: 0)
    assert record["searches"] == 3  # the last column wins, as before
    with pytest.raises(DataError, match="line 5: column 'Searches' has 'many'"):
        list(report.records(iter([["1", "2025-01-01", "web", "go", "many", "3"]]), lambda: 5))


def row_with(**cells: str) -> list[str]:
    """A row of HEADER: valid keys, blank otherwise, with ``cells`` set by position."""
    values = ["go", "7", "2025-10-01", "web", "", "", "", "", "", ""]
    for position, value in cells.items():
        values[int(position[1:])] = value
    return values


@pytest.mark.parametrize(
    ("row", "error"),
    [
        (["go", "7", "2025-10-01"], "line 4 has 3 fields but the header has 10"),
        (row_with(c1="seven"), "'Instance user ID' has 'seven'"),
        (row_with(c2="2025-13-01"), "'Timestamp Date' has '2025-13-01'"),
        (row_with(c5="maybe"), "has 'maybe', which is not true/false"),
        (row_with(c6="1.5"), "'Searches' has '1.5', which is not a whole number"),
        (row_with(c7="lots"), "'Combined CAR' has 'lots'"),
    ],
)
def test_bad_rows_fail_with_the_line_number(row: list[str], error: str) -> None:
    rows = iter([ROWS[0], [], row])  # a blank line is skipped
    with pytest.raises(DataError, match=error):
        list(parser().records(rows, lambda: 4))


def test_header_text_is_data_not_code() -> None:
    header = [*KEY_HEADERS, "x'] + [1", '"']
    (record,) = read_report(
        [
            ",".join(f'"{cell}"' if '"' not in cell else '""""' for cell in header) + "\n",
            "1,2025-01-01,web,go,a,b\n",
        ],
        fields=FIELDS,
        key_columns=KEYS,
        constants={},
        where="test",
    )
    assert record["extra_columns"] == {"x_1": "a", "column_6": "b"}


def test_registry_booleans() -> None:
    fields = sourcegraph_schema((USER_ID,), REGISTRY_COLUMNS)["properties"]
    records = list(
        read_report(
            ["Instance user ID,Service Account,Site Admin\n", "1,true,\n", "2,0,yes\n"],
            fields=fields,
            key_columns=(USER_ID,),
            constants={"instance_url": "i"},
            where="test",
        )
    )
    flags = [(r["service_account"], r["site_admin"]) for r in records]
    assert flags == [(True, None), (False, True)]


def test_a_count_with_many_values_goes_back_to_int(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tap_ai_analytics.csvreport._Memo.LIMIT", 3)
    report = parser()
    rows = [row_with(c6=str(n)) for n in range(10)] + [row_with(c6="12.0"), row_with(c6="3")]
    records = list(report.records(iter(rows), lambda: 0))
    assert [r["searches"] for r in records] == [*range(10), 12, 3]
    assert report.convert_row is not None
    assert report.convert_row.__globals__["f6"] is int  # the memo gave up
    assert report.convert_row.__globals__["f1"] is not int  # user IDs repeat: still memoized
