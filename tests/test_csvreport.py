"""CSV reports: the compiled row converter, and bodies parsed while they download."""

from __future__ import annotations

import contextlib
import csv
import threading
import time
import typing as t

import msgspec
import pytest

from sandbox import Sandbox
from sandbox.sourcegraph_data import BENCH_INSTANCE
from tap_ai_analytics.csvreport import (
    BodyCutShortError,
    CompletenessCheck,
    ReportParser,
    read_report,
    read_report_body,
)
from tap_ai_analytics.dates import DateRange
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
from tap_ai_analytics.streams.sourcegraph import SourcegraphStream
from tap_ai_analytics.tap import TapAIAnalytics
from tests.conftest import sourcegraph_config

if t.TYPE_CHECKING:
    import datetime as dt

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


def test_struct_records_encode_as_the_dict_records() -> None:
    """The batch path's structs: the same JSON as the dicts, slow cells and blanks included."""
    encoder = msgspec.json.Encoder()
    dicts = list(parser().records(iter(ROWS), lambda: 0))
    structs = list(struct_parser().records(iter(ROWS), lambda: 0))
    assert all(isinstance(record, msgspec.Struct) for record in structs)
    assert [encoder.encode(s) for s in structs] == [encoder.encode(d) for d in dicts]
    header = [*KEY_HEADERS, "Searches", "searches"]  # no compiled converter: checked path
    row = ["1", "2025-01-01", "web", "go", "2", "3"]
    (checked,) = struct_parser(header).records(iter([row]), lambda: 0)
    (expected,) = parser(header).records(iter([row]), lambda: 0)
    assert encoder.encode(checked) == encoder.encode(expected)


def struct_parser(header: list[str] = HEADER, **options: t.Any) -> ReportParser:
    return ReportParser(
        header,
        fields=FIELDS,
        key_columns=KEYS,
        constants={"instance_url": "one.example"},
        where="test",
        as_structs=True,
        **options,
    )


def test_omitted_fields_are_left_out_not_moved_to_extra_columns() -> None:
    report = struct_parser(omit=("username", "searches", "instance_url"))
    record = msgspec.to_builtins(next(report.records(iter(ROWS), lambda: 0)))
    assert not {"username", "searches", "instance_url"} & set(record)
    assert record["extra_columns"] == {"brand_new_metric": "x", "site_admin": "true"}
    report = struct_parser(omit=("extra_columns",))
    assert "extra_columns" not in msgspec.to_builtins(next(report.records(iter(ROWS), lambda: 0)))
    assert report.unknown_columns == []  # nothing to warn about: the user left them out


def test_a_report_without_some_columns_keeps_the_template_values() -> None:
    report = parser(KEY_HEADERS)
    (record,) = report.records(iter([["1", "2025-01-01", "web", "go"]]), lambda: 0)
    assert record["instance_url"] == "one.example"
    assert record["searches"] is None
    assert "extra_columns" not in record  # omitted when empty: SQL NULL in a warehouse
    assert list(record) == [field for field in FIELDS if field != "extra_columns"]


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
    assert "m6" not in report.convert_row.__globals__
    assert "m1" in report.convert_row.__globals__  # user IDs repeat: still memoized


# -- a body parsed while it downloads ---------------------------------------------------------

BODY_HEADER = "Instance user ID,Timestamp Date,Username,Searches\n"
REGISTRY_FIELDS = ["instance_user_id", "date", "username", "searches"]


def body_records(
    chunks, check: CompletenessCheck, attempt: int | None = None
) -> list[dict[str, t.Any]]:
    """The records of one attempt (by default the one after the check's last)."""
    return list(
        read_report_body(
            chunks,
            check.attempt + 1 if attempt is None else attempt,
            check,
            fields=REGISTRY_FIELDS,
            key_columns=(USER_ID,),
            constants={},
            where="r",
        )
    )


def attempts(body: bytes, check: CompletenessCheck, n: int) -> list[dict[str, t.Any]]:
    """Read ``body`` in up to ``n`` attempts, as the retry loop would; the first success."""
    for _ in range(n - 1):
        with contextlib.suppress(BodyCutShortError):
            return body_records([body], check)
    return body_records([body], check)


def test_records_come_out_before_the_body_has_arrived() -> None:
    received: list[bytes] = []

    def chunks() -> t.Iterator[bytes]:
        for chunk in (BODY_HEADER.encode() + b"1,2025-01-01,ann,3\n2,2025-", b"01-01,bob,4\n"):
            received.append(chunk)
            yield chunk

    records = read_report_body(
        chunks(),
        1,
        CompletenessCheck("r", 1),
        fields=REGISTRY_FIELDS,
        key_columns=(USER_ID,),
        constants={},
        where="r",
    )
    first = next(records)
    assert first["username"] == "ann"
    assert len(received) == 1  # the second row was not parsed: its terminator is not in
    assert next(records)["username"] == "bob"
    assert list(records) == []


def test_any_split_of_the_body_gives_the_same_records() -> None:
    body = (
        "\ufeff" + BODY_HEADER + '1,2025-01-01,"Zoë ""z"", two\r\nlines",3\r\n'
        '2,2025-01-01,bob,\r\n\n3,2025-01-02,"ünï\rcode",5\n'
    ).encode()
    whole = body_records([body], CompletenessCheck("r", 1))
    assert [r["username"] for r in whole] == ['Zoë "z", two\r\nlines', "bob", "ünï\rcode"]
    for size in (1, 2, 3, 7, 64):
        chunks = [body[i : i + size] for i in range(0, len(body), size)]
        assert body_records(chunks, CompletenessCheck("r", 1)) == whole, size


@pytest.mark.parametrize(
    ("tail", "problem"),
    [
        ("3,2025-01-02,car", "ended 16 bytes after its last line terminator"),  # mid-value
        ("3,2025-01-02", "ended 12 bytes after its last line terminator"),  # mid-row
        ('3,2025-01-02,"two\n', "ends inside a quoted value"),  # cut after a quoted newline
        ("3,2025-01-02\n", "line 4 has 2 fields but the header has 4"),  # a short last row
    ],
)
def test_a_body_cut_short_is_retried_and_never_shortens_a_row(tail: str, problem: str) -> None:
    body = (BODY_HEADER + "1,2025-01-01,ann,3\n2,2025-01-01,bob,4\n" + tail).encode()
    delivered: list[dict[str, t.Any]] = []
    with pytest.raises(BodyCutShortError, match=problem):
        delivered.extend(
            read_report_body(
                [body],
                1,
                CompletenessCheck("r", 3),
                fields=REGISTRY_FIELDS,
                key_columns=(USER_ID,),
                constants={},
                where="r",
            )
        )
    assert [r["instance_user_id"] for r in delivered] == [1, 2]


def test_an_identical_unterminated_body_is_accepted_on_the_last_attempt() -> None:
    body = (BODY_HEADER + "1,2025-01-01,ann,3\n2,2025-01-01,bob,4").encode()
    check = CompletenessCheck("r", 3)
    records = attempts(body, check, 3)
    assert check.attempt == 3
    assert check.accepted_unterminated
    assert [r["searches"] for r in records] == [3, 4]
    # From a server known to omit the final newline, the first repeat settles it.
    known = CompletenessCheck("r", 8, repeat_proves=True)
    assert attempts(body, known, 8) == records
    assert known.attempt == 2


def test_attempts_without_a_body_count_towards_the_last_attempt() -> None:
    body = (BODY_HEADER + "1,2025-01-01,ann,3").encode()
    check = CompletenessCheck("r", 3)  # attempt 1 was a 503: no body
    with pytest.raises(BodyCutShortError):
        body_records([body], check, attempt=2)
    (record,) = body_records([body], check, attempt=3)
    assert check.accepted_unterminated
    assert record["username"] == "ann"


def test_unterminated_bodies_that_differ_are_never_accepted() -> None:
    check = CompletenessCheck("r", 2)
    with pytest.raises(BodyCutShortError):
        body_records([(BODY_HEADER + "1,2025-01-01,ann,3").encode()], check)
    with pytest.raises(BodyCutShortError, match="cut short"):
        body_records([(BODY_HEADER + "1,2025-01-01,ann,").encode()], check)


def test_a_short_last_row_in_every_download_is_a_data_error() -> None:
    body = (BODY_HEADER + "1,2025-01-01,ann,3\n2,2025-01-01\n").encode()
    check = CompletenessCheck("r", 2)
    with pytest.raises(DataError, match=r"line 3 has 2 fields.*the same in 2 downloads"):
        attempts(body, check, 2)


def test_a_malformed_row_inside_a_complete_body_is_a_data_error() -> None:
    body = (BODY_HEADER + "1,2025-01-01\n2,2025-01-01,bob,4\n").encode()
    with pytest.raises(DataError, match="line 2 has 2 fields but the header has 4"):
        body_records([body], CompletenessCheck("r", 5))


def test_a_cell_far_over_the_csv_default_limit_is_delivered_intact() -> None:
    big = "x" * (1 << 20) + "\n" + "y" * (300 << 10)
    body = (BODY_HEADER + f'1,2025-01-01,"{big}",3\n').encode()
    chunks = [body[i : i + 65536] for i in range(0, len(body), 65536)]
    (record,) = body_records(chunks, CompletenessCheck("r", 1))
    assert record["username"] == big


def test_csv_errors_are_line_numbered_data_errors() -> None:
    default = csv.field_size_limit()
    csv.field_size_limit(20)
    try:
        body = (
            BODY_HEADER + "1,2025-01-01,ann,3\n2,2025-01-01,bob-bob-bob-bob-bob-bob,4\n"
        ).encode()
        with pytest.raises(DataError, match=r"r: line 3 is not readable CSV: field larger"):
            body_records([body], CompletenessCheck("r", 1))
    finally:
        csv.field_size_limit(default)
    with pytest.raises(DataError, match="r: the text after line 0 is not UTF-8"):
        body_records(
            [(BODY_HEADER + "1,2025-01-01,\xff,3\n").encode("latin-1")], CompletenessCheck("r", 1)
        )


def test_a_consumer_that_stops_reading_stops_the_download(frozen_today: dt.date) -> None:
    """Closing the records generator early ends the download thread (no thread left)."""
    with Sandbox(today=frozen_today, sourcegraph_bench_rows=200_000) as sb:
        config = sourcegraph_config(sb, sourcegraph_instance_urls=[BENCH_INSTANCE])
        tap = TapAIAnalytics(config=config, parse_env_config=False)
        stream = tap.streams["sourcegraph_usage_by_user_day_client_language"]
        assert isinstance(stream, SourcegraphStream)
        month = DateRange(frozen_today.replace(day=1), frozen_today)
        records = stream.report_records({"instance_url": BENCH_INSTANCE}, month)
        assert next(records)["instance_url"] == BENCH_INSTANCE
        assert any(thread.name.endswith(" download") for thread in threading.enumerate())
        records.close()  # type: ignore[attr-defined]  # a generator, typed as an Iterator
        deadline = time.monotonic() + 5
        while any(thread.name.endswith(" download") for thread in threading.enumerate()):
            assert time.monotonic() < deadline, "the download thread is still running"
            time.sleep(0.01)
