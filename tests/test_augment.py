"""Augment streams against the sandbox: records, windows, pages, state and errors."""

from __future__ import annotations

import datetime as dt
import logging
import typing as t

import pytest

from tap_ai_analytics.activity import ROWS_PER_USER_KEY
from tap_ai_analytics.errors import APIRequestError, DataError
from tap_ai_analytics.schemas import AUGMENT_METRICS
from tests.conftest import (
    TODAY,
    YESTERDAY,
    augment_config,
    bookmark_of,
    days_before,
    requests_to,
    run_sync,
)

DAU = "/analytics/v0/dau"
DAU_COUNT = "/analytics/v0/dau-count"
USAGE = "/analytics/v0/daily-usage"
ACTIVITY = "/analytics/v0/user-activity"
BY_EDITOR = "/analytics/v0/daily-user-activity-by-editor-language"
ALL_AUGMENT = (
    "augment_dau_count",
    "augment_daily_active_users",
    "augment_daily_usage",
    "augment_user_activity",
    "augment_user_activity_by_editor_language",
)


def dates(first: str, last: str) -> list[str]:
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    return [(start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1)]


def login(row: dict[str, t.Any]) -> str:
    return str(row.get("user_email") or row["service_account_name"])


def test_records_match_the_api_ground_truth(sandbox):
    result = run_sync(augment_config(sandbox, start_date=days_before(10)))
    data = sandbox.data.augment
    synced = dates(days_before(10), YESTERDAY.isoformat())

    counts = {r["date"]: r["user_count"] for r in result.records["augment_dau_count"]}
    assert counts == {d: data.dau_count(dt.date.fromisoformat(d)) for d in synced}

    usage = {r["date"]: r for r in result.records["augment_daily_usage"]}
    for day in synced:
        expected = data.daily_usage(dt.date.fromisoformat(day))
        if expected is None:
            assert day not in usage  # days without activity are absent, as in the API
        else:
            assert {k: usage[day][k] for k in AUGMENT_METRICS} == {
                k: expected["metrics"].get(k) for k in AUGMENT_METRICS
            }

    active = {(r["date"], r["identity"]) for r in result.records["augment_daily_active_users"]}
    assert active == {
        (d, login(u)) for d in synced for u in data.dau_users(dt.date.fromisoformat(d))
    }

    activity = {(r["date"], r["identity"]): r for r in result.records["augment_user_activity"]}
    for day in synced:
        for row in data.user_activity(dt.date.fromisoformat(day)):
            record = activity.pop((day, login(row)))
            assert record["active_days"] == row["active_days"]
            for key in AUGMENT_METRICS:  # a key the API omits is null, never 0
                assert record[key] == row["metrics"].get(key)
    assert activity == {}

    breakdown = result.records["augment_user_activity_by_editor_language"]
    expected_breakdown = [
        (d, login(r), r["editor"], r["language"])
        for d in synced
        for r in data.editor_language(dt.date.fromisoformat(d))
    ]
    assert sorted(
        (r["date"], r["identity"], r["editor"], r["language"]) for r in breakdown
    ) == sorted(expected_breakdown)


def test_missing_metric_keys_are_null_not_zero(sandbox):
    # Before 2025-06-01 the API did not send completions_suggested_lines_of_code.
    result = run_sync(
        augment_config(sandbox, start_date="2025-05-30", end_date="2025-06-01"),
        streams=["augment_user_activity"],
    )
    rows = result.records["augment_user_activity"]
    old = [r for r in rows if r["date"] < "2025-06-01"]
    new = [r for r in rows if r["date"] == "2025-06-01"]
    assert old and new
    assert all(r["completions_suggested_lines_of_code"] is None for r in old)
    assert all(isinstance(r["completions_suggested_lines_of_code"], int) for r in new)
    assert any(r["total_tool_calls"] is None for r in rows)  # omitted for some users


def test_identity_never_null_and_typed(sandbox):
    sandbox.faults.identity_null = True  # the other identity field sent as explicit null
    result = run_sync(augment_config(sandbox), streams=["augment_user_activity"])
    rows = result.records["augment_user_activity"]
    accounts = [r for r in rows if r["identity_type"] == "service_account"]
    users = [r for r in rows if r["identity_type"] == "user"]
    assert accounts and users
    assert all(
        r["identity"] == r["service_account_name"] and r["user_email"] is None for r in accounts
    )
    assert all(
        r["identity"] == r["user_email"] and r["service_account_name"] is None for r in users
    )


def test_records_are_in_ascending_date_order(sandbox):
    result = run_sync(augment_config(sandbox, start_date=days_before(20)))
    for stream in ALL_AUGMENT:
        days = [r["date"] for r in result.records[stream]]
        assert days == sorted(days), stream


def test_requests_follow_the_documented_shapes(sandbox):
    run_sync(augment_config(sandbox, start_date=days_before(5)))
    assert requests_to(sandbox, DAU_COUNT) == [
        {"start_date": days_before(5), "end_date": YESTERDAY.isoformat()}
    ]
    assert requests_to(sandbox, USAGE) == [
        {"start_date": days_before(5), "end_date": YESTERDAY.isoformat()}
    ]
    first_pages = [p for p in requests_to(sandbox, DAU) if "cursor" not in p]
    assert first_pages == [
        {"date": d, "page_size": "250"} for d in dates(days_before(5), YESTERDAY.isoformat())
    ]
    activity = [p for p in requests_to(sandbox, ACTIVITY) if "cursor" not in p]
    assert activity == [
        {"start_date": d, "end_date": d, "page_size": "100"}
        for d in dates(days_before(5), YESTERDAY.isoformat())
    ]
    assert all(p["page_size"] == "100" for p in requests_to(sandbox, BY_EDITOR))


def test_windowed_streams_use_at_most_90_day_windows(sandbox):
    run_sync(augment_config(sandbox, start_date=days_before(200)), streams=["augment_dau_count"])
    windows = [
        (dt.date.fromisoformat(p["start_date"]), dt.date.fromisoformat(p["end_date"]))
        for p in requests_to(sandbox, DAU_COUNT)
    ]
    assert len(windows) == 3
    assert all((last - first).days + 1 <= 90 for first, last in windows)
    assert windows[0][0] == TODAY - dt.timedelta(days=200)
    assert windows[-1][1] == YESTERDAY
    assert all(b[0] - a[1] == dt.timedelta(days=1) for a, b in zip(windows, windows[1:]))


def test_pagination_resends_the_same_dates_with_each_cursor(frozen_today):
    from sandbox import Sandbox

    with Sandbox(today=frozen_today, augment_users=600) as sb:
        busiest = max(range(1, 8), key=lambda n: sb.data.augment.dau_count(TODAY - dt.timedelta(n)))
        day = days_before(busiest)
        result = run_sync(
            augment_config(sb, start_date=day, end_date=day),
            streams=["augment_daily_active_users", "augment_user_activity"],
        )
        pages = requests_to(sb, ACTIVITY)
        assert len(pages) >= 3
        assert all(p["start_date"] == p["end_date"] == day for p in pages)
        assert all("cursor" in p for p in pages[1:])
        assert len(requests_to(sb, DAU)) >= 2
        expected = {login(u) for u in sb.data.augment.user_activity(dt.date.fromisoformat(day))}
        assert {r["identity"] for r in result.records["augment_user_activity"]} == expected
        assert len(result.records["augment_user_activity"]) == len(expected)  # no duplicates


@pytest.mark.parametrize("style", ["empty", "null", "absent"])
def test_final_cursor_styles_end_pagination(frozen_today, style):
    from sandbox import Sandbox

    with Sandbox(today=frozen_today, augment_users=120) as sb:
        sb.faults.final_cursor = style
        result = run_sync(
            augment_config(sb, start_date=days_before(1)), streams=["augment_user_activity"]
        )
        assert len(result.records["augment_user_activity"]) == len(
            sb.data.augment.user_activity(YESTERDAY)
        )


def test_repeated_cursor_is_an_error_not_an_endless_loop(sandbox):
    sandbox.faults.repeat_cursor(DAU)
    with pytest.raises(DataError, match="already sent"):
        run_sync(augment_config(sandbox), streams=["augment_daily_active_users"])
    assert len(requests_to(sandbox, DAU)) <= 3


def test_empty_days_still_advance_the_bookmark(sandbox):
    empty = sandbox.data.augment.no_activity_dates(TODAY - dt.timedelta(days=60), YESTERDAY)
    day = empty[-1]
    result = run_sync(
        augment_config(sandbox, start_date=day.isoformat(), end_date=day.isoformat()),
        streams=ALL_AUGMENT,
    )
    assert "augment_daily_usage" not in result.records  # nothing that day
    for stream in ALL_AUGMENT:
        assert result.bookmark(stream) == day.isoformat(), stream


def test_state_is_emitted_after_each_completed_date(sandbox):
    result = run_sync(
        augment_config(sandbox, start_date=days_before(4)), streams=["augment_user_activity"]
    )
    seen_records: set[str] = set()
    bookmarks = []
    for message in result.messages:
        if message["type"] == "RECORD":
            seen_records.add(message["record"]["date"])
        elif message["type"] == "STATE":
            mark = bookmark_of(message["value"], "augment_user_activity")
            if mark:
                # Never ahead of delivered records: the bookmarked date was fully sent.
                assert all(d <= mark for d in seen_records)
                bookmarks.append(mark)
    assert bookmarks == sorted(set(bookmarks))
    assert dates(days_before(4), YESTERDAY.isoformat()) == sorted(set(bookmarks))


def test_incremental_run_requests_only_lookback_plus_new_days(sandbox):
    # A full lookback every run: lookback_days re-reads exactly that many dates.
    config = augment_config(
        sandbox, start_date=days_before(30), lookback_days=3, full_lookback_every_days=0
    )
    first = run_sync(config)
    assert first.bookmark("augment_daily_active_users") == YESTERDAY.isoformat()
    sandbox.reset_log()
    second = run_sync(config, state=first.final_state)
    # Per-day streams: exactly lookback_days dates (no new day yet); windowed: one window.
    for path in (DAU, ACTIVITY, BY_EDITOR):
        first_pages = [p for p in requests_to(sandbox, path) if "cursor" not in p]
        assert len(first_pages) == 3, path
        days = sorted(p.get("date") or p["start_date"] for p in first_pages)
        assert days == dates(days_before(3), YESTERDAY.isoformat())
    for path in (DAU_COUNT, USAGE):
        assert requests_to(sandbox, path) == [
            {"start_date": days_before(3), "end_date": YESTERDAY.isoformat()}
        ]
    # The same state, but for the rows per user each run saw (the second saw 3 days).
    for state in (first.final_state, second.final_state):
        state["bookmarks"]["augment_user_activity_by_editor_language"].pop(ROWS_PER_USER_KEY)
    assert second.final_state == first.final_state


def test_resume_from_a_state_file_continues_after_the_bookmark(sandbox):
    state = {
        "bookmarks": {
            "augment_dau_count": {
                "replication_key": "date",
                "replication_key_value": days_before(5),
            }
        }
    }
    run_sync(
        augment_config(sandbox, start_date=days_before(30), lookback_days=0),
        state=state,
        streams=["augment_dau_count"],
    )
    assert requests_to(sandbox, DAU_COUNT) == [
        {"start_date": days_before(4), "end_date": YESTERDAY.isoformat()}
    ]


def test_today_and_future_are_never_requested(sandbox):
    run_sync(augment_config(sandbox, start_date=days_before(3), end_date="2099-01-01"))
    for record in sandbox.requests:
        for key in ("date", "start_date", "end_date"):
            if key in record.params:
                assert record.params[key] <= YESTERDAY.isoformat()
    assert all(r.status == 200 for r in sandbox.requests)


def test_start_before_two_year_horizon_is_clamped_with_a_warning(sandbox, caplog):
    caplog.set_level(logging.WARNING)
    run_sync(augment_config(sandbox, start_date="2020-01-01"), streams=["augment_dau_count"])
    first = requests_to(sandbox, DAU_COUNT)[0]["start_date"]
    assert first == "2023-10-22"  # TODAY - 2 years + 1 day
    assert all(r.status == 200 for r in sandbox.requests)
    assert "history horizon" in caplog.text


def test_429_is_retried_with_and_without_retry_after(sandbox, caplog):
    caplog.set_level(logging.WARNING)
    sandbox.faults.rate_limit_next(1, retry_after="seconds", seconds=1, path_prefix=DAU_COUNT)
    sandbox.faults.rate_limit_next(1, retry_after="http-date", seconds=1, path_prefix=USAGE)
    sandbox.faults.rate_limit_next(1, retry_after=None, path_prefix=DAU)
    result = run_sync(
        augment_config(sandbox, start_date=days_before(1)),
        streams=["augment_dau_count", "augment_daily_usage", "augment_daily_active_users"],
    )
    statuses = [r.status for r in sandbox.requests]
    assert statuses.count(429) == 3
    assert result.records["augment_dau_count"]
    assert result.records["augment_daily_active_users"]
    assert caplog.text.count("retrying in") == 3


def test_server_errors_and_malformed_json_are_retried(sandbox):
    sandbox.faults.fail_next(1, status=502, path_prefix=DAU_COUNT)
    sandbox.faults.fail_next(1, status=500, path_prefix=DAU_COUNT)
    sandbox.faults.malformed_json_next(1, path_prefix=DAU_COUNT)
    result = run_sync(
        augment_config(sandbox, start_date=days_before(1)), streams=["augment_dau_count"]
    )
    assert [r.status for r in sandbox.requests] == [502, 500, 200, 200]
    assert [r["date"] for r in result.records["augment_dau_count"]] == [YESTERDAY.isoformat()]


@pytest.mark.parametrize(
    ("token_attr", "status", "hint"),
    [
        ("bogus", 401, "service-account token"),
        ("augment_forbidden_token", 403, "lacks permission"),
    ],
)
def test_auth_errors_fail_with_a_clear_message(sandbox, token_attr, status, hint):
    token = "not-a-valid-token" if token_attr == "bogus" else getattr(sandbox, token_attr)
    with pytest.raises(APIRequestError) as caught:
        run_sync(augment_config(sandbox, augment_api_token=token), streams=["augment_dau_count"])
    message = str(caught.value)
    assert f"HTTP {status}" in message
    assert DAU_COUNT in message
    assert hint in message
    assert token not in message
    assert len([r for r in sandbox.requests if r.status == status]) == 1  # not retried


def test_400_quotes_the_api_message(sandbox):
    # A start date the API refuses (today) can only come from a broken clock: fake one.
    config = augment_config(sandbox, start_date=TODAY.isoformat())
    from tap_ai_analytics.streams.augment import AugmentDauCountStream

    original = AugmentDauCountStream.latest_date
    AugmentDauCountStream.latest_date = lambda self: self.settings.today  # type: ignore[method-assign]
    try:
        with pytest.raises(APIRequestError) as caught:
            run_sync(config, streams=["augment_dau_count"])
    finally:
        AugmentDauCountStream.latest_date = original  # type: ignore[method-assign]
    assert "HTTP 400" in str(caught.value)
    assert "cannot be later than yesterday" in str(caught.value)
