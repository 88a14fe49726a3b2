"""Sourcegraph streams against the sandbox: typed CSV records, windows, state, errors."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import logging
import typing as t

import pytest

from tap_ai_analytics.compat import override
from tap_ai_analytics.csvreport import read_report
from tap_ai_analytics.errors import APIRequestError, DataError, TapError
from tap_ai_analytics.schemas import KNOWN_COLUMNS, USER_ID, column_field_name
from tap_ai_analytics.tap import TapAIAnalytics
from tests.conftest import TODAY, days_before, requests_to, run_sync, sourcegraph_config

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

REPORT = "/api/reports/by-user-client-date"
REGISTRY = "/api/reports/user-registry"
FINE = "sourcegraph_usage_by_user_day_client_language"
ALL_SOURCEGRAPH = (
    FINE,
    "sourcegraph_usage_by_user_day",
    "sourcegraph_usage_by_user_month",
    "sourcegraph_usage_by_user",
    "sourcegraph_user_registry",
)
GRANULARITY = {
    FINE: "by_user_day_client_language",
    "sourcegraph_usage_by_user_day": "by_user_day",
    "sourcegraph_usage_by_user_month": "by_user_month",
    "sourcegraph_usage_by_user": "by_user",
}
KEYS = {
    FINE: ("instance_url", "instance_user_id", "date", "client_name", "language"),
    "sourcegraph_usage_by_user_day": ("instance_url", "instance_user_id", "date"),
    "sourcegraph_usage_by_user_month": ("instance_url", "instance_user_id", "month"),
    "sourcegraph_usage_by_user": ("instance_url", "instance_user_id"),
    "sourcegraph_user_registry": ("instance_url", "instance_user_id"),
}


def expected_value(header: str, raw: str):
    column = KNOWN_COLUMNS[column_field_name(header)]
    if raw == "":
        return "" if column.kind == "key_string" else None
    cast: dict[str, t.Callable[[str], t.Any]] = {
        "integer": int,
        "number": float,
        "boolean": lambda v: v.lower() in {"true", "1", "yes"},
        "month": lambda v: v[:7] + "-01",
        "date": lambda v: v[:10],
    }
    return cast.get(column.kind, str)(raw)


def expected_records(
    sb, stream: str, instance: str, first=None, last=None
) -> list[dict[str, t.Any]]:
    if stream == "sourcegraph_user_registry":
        header, rows = sb.data.sourcegraph.registry(instance)
    else:
        header, rows = sb.data.sourcegraph.report(instance, GRANULARITY[stream], first, last)
    records = []
    for row in rows:
        record = {"instance_url": instance}
        for cell, raw in zip(header, row):
            if column_field_name(cell) in KNOWN_COLUMNS:
                record[column_field_name(cell)] = expected_value(cell, raw)
        records.append(record)
    return records


def key(record: dict[str, t.Any], stream: str) -> tuple[t.Any, ...]:
    return tuple(record[k] for k in KEYS[stream])


def test_all_five_streams_yield_typed_keyed_records_for_two_instances(sandbox):
    config = sourcegraph_config(sandbox, start_date=days_before(40))
    result = run_sync(config, streams=ALL_SOURCEGRAPH)
    first = TODAY - dt.timedelta(days=40)
    month_first = first.replace(day=1)
    for stream in ALL_SOURCEGRAPH:
        records = result.records[stream]
        for instance in sandbox.sourcegraph_instances:
            got = {key(r, stream): r for r in records if r["instance_url"] == instance}
            if stream in {FINE, "sourcegraph_usage_by_user_day"}:
                want = expected_records(sandbox, stream, instance, first, TODAY)
            elif stream == "sourcegraph_usage_by_user_month":
                want = expected_records(sandbox, stream, instance, month_first, TODAY)
            else:
                want = expected_records(sandbox, stream, instance)
            assert want, (stream, instance)
            assert len(got) == len(want), (stream, instance)  # keys unique, none lost
            for expected in want:
                record = got[key(expected, stream)]
                assert {k: record[k] for k in expected} == expected
                assert all(record[k] is not None for k in KEYS[stream])


def test_header_mapping_and_casting(sandbox):
    result = run_sync(sourcegraph_config(sandbox, start_date=days_before(20)), streams=[FINE])
    records = result.records[FINE]
    sample = records[0]
    assert isinstance(sample["instance_user_id"], int)
    assert "percentage_of_code_written_by_cody" in sample
    assert "auto_edit_acceptance_rate" in sample
    assert "lines_changed_by_completions_and_auto_edits" in sample
    assert any(isinstance(r["combined_car"], float) for r in records)
    assert any(r["active_sourcegraph_user"] is True for r in records)
    assert any(r["language"] == "C#" for r in records)
    assert any(r["language"] == "" for r in records)  # blank key cell → ""
    assert any(r["username"] == "Smith, Jo" for r in records)  # quoted in the CSV
    assert any(r["username"] == 'dev"ops' for r in records)
    blank = [r for r in records if r["searches"] is None and r["chat_events"] is None]
    assert blank, "active-but-blank rows keep their nulls"


def test_unknown_column_is_kept_in_extra_columns_with_a_warning(sandbox, caplog):
    caplog.set_level(logging.WARNING)
    result = run_sync(sourcegraph_config(sandbox, start_date=days_before(3)), streams=[FINE])
    records = result.records[FINE]
    assert all(set(r["extra_columns"]) == {"deep_search_events"} for r in records)
    assert "Deep Search Events" in caplog.text
    sandbox.faults.sourcegraph_extra_columns = []
    result = run_sync(sourcegraph_config(sandbox, start_date=days_before(3)), streams=[FINE])
    assert all("extra_columns" not in r for r in result.records[FINE])


@pytest.mark.parametrize(("style", "month"), [("10", "YYYY-MM-01"), ("yesno", "YYYY-MM")])
def test_value_styles_are_tolerated(sandbox, style, month):
    sandbox.faults.sourcegraph_bool_style = style
    sandbox.faults.sourcegraph_month_style = month
    sandbox.faults.sourcegraph_all_columns = True  # unused dimensions sent blank
    result = run_sync(
        sourcegraph_config(sandbox, start_date=days_before(5)),
        streams=[FINE, "sourcegraph_usage_by_user_month"],
    )
    assert any(r["active_sourcegraph_user"] is True for r in result.records[FINE])
    months = {r["month"] for r in result.records["sourcegraph_usage_by_user_month"]}
    assert months == {TODAY.replace(day=1).isoformat()}  # start_date is in this month


def test_day_reports_use_calendar_month_windows_ascending(sandbox):
    run_sync(sourcegraph_config(sandbox, start_date="2025-07-15"), streams=[FINE])
    for instance in sandbox.sourcegraph_instances:
        windows = [
            (p["startDate"], p["endDate"])
            for p in requests_to(sandbox, REPORT)
            if p["instanceURL"] == instance
        ]
        assert windows == [
            ("2025-07-15", "2025-07-31"),
            ("2025-08-01", "2025-08-31"),
            ("2025-09-01", "2025-09-30"),
            ("2025-10-01", TODAY.isoformat()),  # Sourcegraph serves today
        ]
    assert all(
        p["granularity"] == "by_user_day_client_language" for p in requests_to(sandbox, REPORT)
    )


def test_instance_urls_are_sent_as_bare_hosts(sandbox):
    cloud, hosted = sandbox.sourcegraph_instances
    config = sourcegraph_config(
        sandbox, sourcegraph_instance_urls=[f"https://{cloud}/", f"{hosted}/some/path"]
    )
    result = run_sync(config, streams=["sourcegraph_usage_by_user"])
    assert {p["instanceURL"] for p in requests_to(sandbox, REPORT)} == {cloud, hosted}
    assert {r["instance_url"] for r in result.records["sourcegraph_usage_by_user"]} == {
        cloud,
        hosted,
    }


def test_full_table_reports_are_one_request_per_instance(sandbox):
    run_sync(
        sourcegraph_config(sandbox),
        streams=["sourcegraph_usage_by_user", "sourcegraph_user_registry"],
    )
    assert sorted(p["instanceURL"] for p in requests_to(sandbox, REPORT)) == sorted(
        sandbox.sourcegraph_instances
    )
    assert all("startDate" not in p for p in requests_to(sandbox, REPORT))
    assert len(requests_to(sandbox, REGISTRY)) == 2


def test_state_per_instance_and_incremental_rerun_reads_only_the_lookback(sandbox):
    config = sourcegraph_config(sandbox, start_date=days_before(40), lookback_days=3)
    first = run_sync(config, streams=[FINE])
    for instance in sandbox.sourcegraph_instances:
        assert first.bookmark(FINE, instance) == TODAY.isoformat()
    sandbox.reset_log()
    second = run_sync(config, state=first.final_state, streams=[FINE])
    windows = sorted(
        (p["instanceURL"], p["startDate"], p["endDate"]) for p in requests_to(sandbox, REPORT)
    )
    assert windows == sorted(
        (instance, days_before(2), TODAY.isoformat()) for instance in sandbox.sourcegraph_instances
    )
    assert second.final_state == first.final_state


def test_month_report_always_rereads_the_current_and_last_month(sandbox):
    config = sourcegraph_config(sandbox, start_date="2025-05-10")
    first = run_sync(config, streams=["sourcegraph_usage_by_user_month"])
    months = sorted({(p["startDate"], p["endDate"]) for p in requests_to(sandbox, REPORT)})
    assert months[0] == ("2025-05-01", "2025-05-31")  # whole months, even from mid-month
    assert months[-1] == ("2025-10-01", TODAY.isoformat())
    instance = sandbox.sourcegraph_instances[0]
    assert first.bookmark("sourcegraph_usage_by_user_month", instance) == "2025-10-01"
    sandbox.reset_log()
    run_sync(config, state=first.final_state, streams=["sourcegraph_usage_by_user_month"])
    again = sorted({(p["startDate"], p["endDate"]) for p in requests_to(sandbox, REPORT)})
    assert again == [("2025-09-01", "2025-09-30"), ("2025-10-01", TODAY.isoformat())]


def test_resume_after_a_kill_between_windows(sandbox):
    config = sourcegraph_config(sandbox, start_date="2025-07-01", lookback_days=0)
    full = run_sync(config, streams=[FINE])
    # Keep only the state emitted after the first instance's second window.
    instance = sandbox.sourcegraph_instances[0]
    partial = next(
        s for s in full.states if (bookmark := _mark(s, instance)) and bookmark >= "2025-08-31"
    )
    sandbox.reset_log()
    resumed = run_sync(config, state=partial, streams=[FINE])
    first_window = next(p for p in requests_to(sandbox, REPORT) if p["instanceURL"] == instance)
    assert first_window["startDate"] == "2025-09-01"
    keys = {key(r, FINE) for r in resumed.records[FINE]}
    assert keys <= {key(r, FINE) for r in full.records[FINE]}


def _mark(state: dict[str, t.Any], instance: str) -> str | None:
    from tests.conftest import bookmark_of

    return bookmark_of(state, FINE, instance)


def test_truncated_body_is_retried_and_loses_nothing(sandbox):
    sandbox.faults.drop_connection_next(2, after_bytes=5000, path_prefix=REPORT)
    config = sourcegraph_config(sandbox, start_date=days_before(20))
    result = run_sync(config, streams=[FINE])
    baseline = run_sync(config, streams=[FINE])
    assert sorted(key(r, FINE) for r in result.records[FINE]) == sorted(
        key(r, FINE) for r in baseline.records[FINE]
    )
    assert len(result.records[FINE]) == len(baseline.records[FINE])  # no partial rows


def test_429_storm_and_5xx_lose_nothing(sandbox):
    sandbox.faults.rate_limit_next(4, retry_after="seconds", seconds=0, path_prefix=REPORT)
    sandbox.faults.fail_next(2, status=502, path_prefix=REPORT)
    config = sourcegraph_config(sandbox, start_date=days_before(20))
    result = run_sync(config, streams=[FINE])
    assert [r.status for r in sandbox.requests].count(429) == 4
    baseline = run_sync(config, streams=[FINE])
    assert len(result.records[FINE]) == len(baseline.records[FINE])


@pytest.mark.parametrize("empty_body", [False, True])
def test_empty_report_is_a_normal_zero_row_window(sandbox, empty_body):
    sandbox.faults.sourcegraph_empty_body = empty_body
    result = run_sync(
        sourcegraph_config(sandbox, start_date="2023-06-01", end_date="2023-06-30"),
        streams=[FINE],
    )
    assert FINE not in result.records
    assert result.bookmark(FINE, sandbox.sourcegraph_instances[0]) == "2023-06-30"


def test_invalid_token_fails_with_the_token_page_hint(sandbox):
    with pytest.raises(APIRequestError) as caught:
        run_sync(
            sourcegraph_config(sandbox, sourcegraph_access_token="sams_at_nope"), streams=[FINE]
        )
    assert "HTTP 401" in str(caught.value)
    assert "analytics.sourcegraph.com/access-tokens" in str(caught.value)
    assert "sams_at_nope" not in str(caught.value)


@pytest.mark.parametrize("which", ["unlinked", "unknown"])
def test_instance_without_access_fails_after_the_others_keep_state(sandbox, which):
    bad = sandbox.sourcegraph_unlinked_instance if which == "unlinked" else "nowhere.example.com"
    good = sandbox.sourcegraph_instances[1]
    config = sourcegraph_config(
        sandbox, sourcegraph_instance_urls=[bad, good], start_date=days_before(5)
    )
    with pytest.raises(TapError) as caught:
        run_sync(config, streams=[FINE])
    assert bad in str(caught.value)
    assert good not in str(caught.value).split("(see above)")[0]
    # The good instance (after the bad one) was still synced.
    assert any(p["instanceURL"] == good for p in requests_to(sandbox, REPORT))


def test_malformed_rows_fail_with_the_line_number():
    lines = [
        "Instance user ID,Timestamp Date,Searches\n",
        "1,2025-01-01,3\n",
        "2,2025-01-01\n",
    ]
    fields = ["instance_user_id", "date", "searches"]

    def parse() -> list[dict[str, t.Any]]:
        return list(
            read_report(lines, fields=fields, key_columns=(USER_ID,), constants={}, where="r")
        )

    with pytest.raises(DataError, match="line 3 has 2 fields"):
        parse()
    lines[2] = "2,2025-01-01,lots\n"
    with pytest.raises(DataError, match="line 3: column 'Searches' has 'lots'"):
        parse()


def test_missing_key_column_is_a_clear_error():
    lines = ["User Email,Searches\n", "a@b.c,1\n"]
    with pytest.raises(DataError, match="no 'Instance user ID' column"):
        list(
            read_report(
                lines,
                fields=["instance_user_id", "user_email"],
                key_columns=(USER_ID,),
                constants={},
                where="r",
            )
        )


def test_quoted_newlines_and_bom_are_handled():
    import io

    text = io.StringIO('Instance user ID,Username,Searches\n7,"two\nlines",\n', newline="")
    records = list(
        read_report(
            text,
            fields=["instance_user_id", "username", "searches"],
            key_columns=(USER_ID,),
            constants={"instance_url": "x"},
            where="r",
        )
    )
    assert records == [
        {"instance_url": "x", "instance_user_id": 7, "username": "two\nlines", "searches": None}
    ]


def test_unknown_columns_are_named_once_per_stream_and_run(sandbox, caplog):
    """Many downloads (two instances, day windows) with a new column: one warning each."""
    caplog.set_level(logging.WARNING)
    config = sourcegraph_config(sandbox, start_date=days_before(3), sourcegraph_window="day")
    streams = [FINE, "sourcegraph_usage_by_user_day"]
    run_sync(config, streams=streams)
    warnings = [r.getMessage() for r in caplog.records if "extra_columns" in r.getMessage()]
    assert sorted(w.split(":")[0] for w in warnings) == sorted(streams)


def test_a_denied_instance_fails_the_run_after_every_stream_whatever_their_order(sandbox):
    """The run fails once, at the end, even when the SDK runs the streams in another order."""

    class ReversedOrder(TapAIAnalytics):
        @override  # type: ignore[misc]  # final in the SDK: a test of another order only
        def load_streams(self) -> list[Stream]:
            return list(reversed(super().load_streams()))  # the SDK sorts them by name

    bad, good = sandbox.sourcegraph_unlinked_instance, sandbox.sourcegraph_instances[0]
    config = sourcegraph_config(
        sandbox, sourcegraph_instance_urls=[bad, good], start_date=days_before(3)
    )
    tap = ReversedOrder(config=config, parse_env_config=False)
    selected = [FINE, "sourcegraph_usage_by_user_day", "sourcegraph_user_registry"]
    for stream in tap.streams.values():
        stream.selected = stream.name in selected
    assert list(tap.streams)[-1] != max(selected)  # not the SDK's usual name order
    output = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    with contextlib.redirect_stdout(output), pytest.raises(TapError, match=bad):
        tap.sync_all()
    synced = {
        (r.path, r.params.get("granularity"))
        for r in sandbox.requests
        if r.params.get("instanceURL") == good
    }
    assert len(synced) == len(selected)
