"""Augment's daily totals: the exact plan, free empty days, cheap lookback, fallback, state."""

from __future__ import annotations

import collections
import datetime as dt
import io
import json
import logging
import math
import re
import sys
import typing as t
from decimal import Decimal

import pytest

from sandbox import Sandbox
from sandbox.augment_data import AugmentData
from tap_ai_analytics import activity as activity_module
from tap_ai_analytics.activity import (
    FINGERPRINTS_KEY,
    FULL_LOOKBACK_KEY,
    ROWS_PER_USER_KEY,
    AugmentActivity,
    DayTotals,
    format_duration,
    learned_rows_per_user,
    remember_day,
)
from tap_ai_analytics.streams import AUGMENT_STREAMS
from tap_ai_analytics.streams.augment import AugmentStream
from tap_ai_analytics.tap import TapAIAnalytics
from tests.conftest import TODAY, YESTERDAY, augment_config, bookmark_of, days_before, run_sync
from tests.e2e import assert_complete, date_range, ground_truth

PREFIX = "/analytics/v0/"
DAU_COUNT, USAGE = PREFIX + "dau-count", PREFIX + "daily-usage"
PER_DAY = {
    "augment_daily_active_users": PREFIX + "dau",
    "augment_user_activity": PREFIX + "user-activity",
    "augment_user_activity_by_editor_language": PREFIX + "daily-user-activity-by-editor-language",
}
ALL_AUGMENT = ("augment_dau_count", "augment_daily_usage", *PER_DAY)
#: Enough people for several pages a day on every per-day endpoint.
LARGE_ORG = 400


@pytest.fixture
def activities(monkeypatch: pytest.MonkeyPatch) -> list[AugmentActivity]:
    """Every AugmentActivity the tap creates (one per run)."""
    created: list[AugmentActivity] = []

    class Recorded(AugmentActivity):
        def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
            super().__init__(*args, **kwargs)
            created.append(self)

    monkeypatch.setattr("tap_ai_analytics.tap.AugmentActivity", Recorded)
    return created


@pytest.fixture
def large_sandbox(frozen_today: dt.date) -> t.Iterator[Sandbox]:
    with Sandbox(today=frozen_today, augment_users=LARGE_ORG) as sb:
        yield sb
        assert sb.errors == []


def requests_by_path(sb: Sandbox) -> collections.Counter[str]:
    return collections.Counter(r.path for r in sb.requests)


def requested_days(sb: Sandbox, path: str) -> list[str]:
    """The dates of the first page of every request to a per-day endpoint."""
    return sorted(
        r.params.get("date") or r.params["start_date"]
        for r in sb.requests
        if r.path == path and "cursor" not in r.params
    )


def empty_dates(sb: Sandbox, first: dt.date, last: dt.date) -> list[str]:
    return [day.isoformat() for day in sb.data.augment.no_activity_dates(first, last)]


def pages_needed(sb: Sandbox, stream: str, day: dt.date) -> int:
    """The fewest pages one day of a per-day stream takes (ground truth)."""
    data = sb.data.augment
    rows, size = {
        "augment_daily_active_users": (len(data.dau_items(day)), 250),
        "augment_user_activity": (len(data.user_activity_items(day, day)), 100),
        "augment_user_activity_by_editor_language": (len(data.editor_language_items(day)), 100),
    }[stream]
    return max(1, math.ceil(rows / size))


# -- the plan ---------------------------------------------------------------------------


def test_plan_predicts_the_requests_exactly(large_sandbox, activities, caplog):
    sb = large_sandbox
    first = TODAY - dt.timedelta(days=20)
    caplog.set_level(logging.INFO, logger="tap-ai-analytics")
    run_sync(augment_config(sb, start_date=first.isoformat()), streams=ALL_AUGMENT)
    (plan,) = activities
    made = requests_by_path(sb)
    # The totals come first: the plan is made before any per-day request.
    assert [r.path for r in sb.requests[:2]] == [DAU_COUNT, USAGE]
    days = [d for d in date_range(first, YESTERDAY) if not sb.data.augment.is_no_activity_date(d)]
    for stream, path in PER_DAY.items():
        minimum = sum(pages_needed(sb, stream, day) for day in days)
        assert made[path] == minimum, stream  # no request wasted
        if stream == "augment_user_activity_by_editor_language":
            # Rows are users x (editor, language): the totals give a lower bound only.
            assert plan.plans[stream].least_requests <= minimum
            assert not plan.plans[stream].exact
        else:
            assert plan.plans[stream].requests == minimum, stream
            assert plan.plans[stream].exact
    # The totals are read once and reused by the dau_count and daily_usage streams.
    assert made[DAU_COUNT] == made[USAGE] == 1
    assert plan.plans["augment_dau_count"].requests == 0
    text = caplog.text
    assert "Augment run plan" in text
    assert "run total: about" in text  # the breakdown's estimate is not exact
    assert "done after" in text


def test_plan_total_is_exact_without_the_breakdown(large_sandbox, activities, caplog):
    caplog.set_level(logging.INFO, logger="tap-ai-analytics")
    streams = [s for s in ALL_AUGMENT if s != "augment_user_activity_by_editor_language"]
    run_sync(augment_config(large_sandbox, start_date=days_before(12)), streams=streams)
    (plan,) = activities
    assert plan.planned_requests == len(large_sandbox.requests) == plan.requests_done
    assert f"run total: {plan.planned_requests} requests" in caplog.text


def test_the_breakdown_estimate_learns_rows_per_user(large_sandbox, activities):
    streams = ["augment_user_activity_by_editor_language"]
    config = augment_config(large_sandbox, start_date=days_before(8), end_date=days_before(4))
    first = run_sync(config, streams=streams)
    ratio = first.final_state["bookmarks"][streams[0]][ROWS_PER_USER_KEY]
    assert isinstance(ratio, int)  # no float in STATE: SDK targets read it as a Decimal
    assert ratio > 1000  # people use several editors and languages a day
    large_sandbox.reset_log()
    run_sync({**config, "end_date": None}, state=first.final_state, streams=streams)
    made = requests_by_path(large_sandbox)[PER_DAY[streams[0]]]
    estimate = activities[1].plans[streams[0]].requests
    assert abs(estimate - made) <= 2
    assert activities[1].plans[streams[0]].least_requests <= made


def test_the_dau_count_stream_costs_nothing_extra_in_any_stream_order(
    sandbox, monkeypatch, activities
):
    # The SDK runs streams in discovery order: reverse it, the per-day streams go first.
    monkeypatch.setattr("tap_ai_analytics.tap.AUGMENT_STREAMS", tuple(reversed(AUGMENT_STREAMS)))
    result = run_sync(augment_config(sandbox, start_date=days_before(100)), streams=ALL_AUGMENT)
    first = next(stream for stream in activities[0].streams if stream.selected)
    assert first.name == "augment_user_activity_by_editor_language"
    made = requests_by_path(sandbox)
    assert made[DAU_COUNT] == made[USAGE] == 2  # 100 days: two 90-day windows, once each
    truth = ground_truth(sandbox, TODAY - dt.timedelta(days=100), YESTERDAY, ALL_AUGMENT)
    assert assert_complete(truth, result.messages) == 0


def test_progress_is_logged_during_a_long_run(sandbox, monkeypatch, caplog):
    monkeypatch.setattr(activity_module, "PROGRESS_INTERVAL_SECONDS", 0.0)
    caplog.set_level(logging.INFO, logger="tap-ai-analytics")
    run_sync(augment_config(sandbox, start_date=days_before(5)), streams=["augment_user_activity"])
    progress = [r.getMessage() for r in caplog.records if "Augment progress" in r.getMessage()]
    assert progress
    assert progress[0].startswith("Augment progress: augment_user_activity 0/5 dates; run 3/7")
    assert progress[-1].startswith("Augment progress: augment_user_activity 4/5 dates; run 7/7")


# -- empty days -------------------------------------------------------------------------


def test_empty_days_cost_nothing_and_still_advance_the_bookmark(sandbox):
    first = TODAY - dt.timedelta(days=40)
    empty = empty_dates(sandbox, first, YESTERDAY)
    assert len(empty) >= 2
    result = run_sync(augment_config(sandbox, start_date=first.isoformat()), streams=PER_DAY)
    for stream, path in PER_DAY.items():
        asked = requested_days(sandbox, path)
        assert not set(empty) & set(asked), stream
        assert len(asked) == len(date_range(first, YESTERDAY)) - len(empty)
        bookmarks = {bookmark_of(state, stream) for state in result.states}
        assert set(empty) <= bookmarks, stream  # each empty day was committed as done
        assert result.bookmark(stream) == YESTERDAY.isoformat()
    truth = ground_truth(sandbox, first, YESTERDAY, PER_DAY)
    assert assert_complete(truth, result.messages) == 0


def test_without_the_totals_every_day_is_requested(sandbox, caplog):
    sandbox.faults.fail_next(100, status=503, path_prefix=DAU_COUNT)
    caplog.set_level(logging.WARNING, logger="tap-ai-analytics")
    first = TODAY - dt.timedelta(days=20)
    config = augment_config(sandbox, start_date=first.isoformat(), max_request_attempts=2)
    result = run_sync(config, streams=PER_DAY)
    assert "every day is requested" in caplog.text
    for path in PER_DAY.values():
        assert requested_days(sandbox, path) == [
            d.isoformat() for d in date_range(first, YESTERDAY)
        ]
    truth = ground_truth(sandbox, first, YESTERDAY, PER_DAY)
    assert assert_complete(truth, result.messages) == 0


# -- cheap lookback ---------------------------------------------------------------------


def backfill(sb: Sandbox, **config: t.Any) -> tuple[dict[str, t.Any], dict[str, t.Any]]:
    settings = augment_config(sb, start_date=days_before(30), lookback_days=3, **config)
    state = run_sync(settings, streams=ALL_AUGMENT).final_state
    sb.reset_log()
    return settings, state


def test_an_unchanged_daily_run_rereads_no_day(sandbox):
    config, state = backfill(sandbox)
    result = run_sync(config, state=state, streams=ALL_AUGMENT)
    made = requests_by_path(sandbox)
    assert made == {DAU_COUNT: 1, USAGE: 1}  # the totals of the 3 lookback days, nothing else
    # The windowed streams still deliver their lookback days, from those two responses.
    assert {r["date"] for r in result.records["augment_dau_count"]} == {
        days_before(3),
        days_before(2),
        days_before(1),
    }
    assert result.final_state == state


def test_a_restated_day_is_reread(sandbox):
    config, state = backfill(sandbox)
    restated = YESTERDAY - dt.timedelta(days=1)
    if sandbox.data.augment.is_no_activity_date(restated):  # pragma: no cover - fixed TODAY
        restated -= dt.timedelta(days=1)
    sandbox.data.augment.restate(restated)
    result = run_sync(config, state=state, streams=ALL_AUGMENT)
    for stream, path in PER_DAY.items():
        assert requested_days(sandbox, path) == [restated.isoformat()], stream
    truth = ground_truth(sandbox, restated, restated, PER_DAY)
    delivered = [m for m in result.messages if m.get("stream") in PER_DAY]
    assert assert_complete(truth, delivered) == 0  # the restated values, all of them
    prints = result.final_state["bookmarks"]["augment_user_activity"][FINGERPRINTS_KEY]
    assert prints != state["bookmarks"]["augment_user_activity"][FINGERPRINTS_KEY]


@pytest.mark.parametrize(
    ("every", "last_full_days_ago", "rereads"),
    [(7, 6, False), (7, 7, True), (0, 0, True), (1, 1, True)],
)
def test_a_full_lookback_is_forced_every_n_days(sandbox, every, last_full_days_ago, rereads):
    config, state = backfill(sandbox, full_lookback_every_days=every)
    for stream in PER_DAY:
        assert state["bookmarks"][stream][FULL_LOOKBACK_KEY] == TODAY.isoformat()
        state["bookmarks"][stream][FULL_LOOKBACK_KEY] = days_before(last_full_days_ago)
    result = run_sync(config, state=state, streams=ALL_AUGMENT)
    lookback = [days_before(n) for n in (3, 2, 1)]
    for stream, path in PER_DAY.items():
        assert requested_days(sandbox, path) == (lookback if rereads else []), stream
        expected = TODAY.isoformat() if rereads else days_before(last_full_days_ago)
        assert result.final_state["bookmarks"][stream][FULL_LOOKBACK_KEY] == expected


def test_unreadable_fingerprints_mean_a_reread(sandbox):
    config, state = backfill(sandbox)
    good = {stream: state["bookmarks"][stream][FINGERPRINTS_KEY] for stream in PER_DAY}
    for stream in PER_DAY:
        state["bookmarks"][stream][FINGERPRINTS_KEY] = {days_before(2): 7, "junk": "x"}
    result = run_sync(config, state=state, streams=ALL_AUGMENT)
    for stream, path in PER_DAY.items():
        assert requested_days(sandbox, path) == [days_before(n) for n in (3, 2, 1)], stream
        assert result.final_state["bookmarks"][stream][FINGERPRINTS_KEY] == good[stream]


def test_state_stays_small_and_valid(sandbox):
    result = run_sync(
        augment_config(sandbox, start_date=days_before(60), lookback_days=3), streams=ALL_AUGMENT
    )
    state = result.final_state
    assert json.loads(json.dumps(state)) == state
    for stream in PER_DAY:
        entry = state["bookmarks"][stream]
        assert set(entry[FINGERPRINTS_KEY]) == {days_before(n) for n in (3, 2, 1)}
        assert len(json.dumps(entry)) < 300
    assert FINGERPRINTS_KEY not in state["bookmarks"]["augment_dau_count"]


def test_a_run_killed_mid_way_resumes_without_a_gap(sandbox, monkeypatch):
    first = TODAY - dt.timedelta(days=20)
    config = augment_config(sandbox, start_date=first.isoformat(), lookback_days=3)
    stream = "augment_user_activity"
    delivered = AugmentStream.window_delivered
    calls = collections.Counter[str]()

    def dies_on_the_ninth_day(self: AugmentStream, window: t.Any, context: t.Any) -> None:
        calls[self.name] += 1
        if self.name == stream and calls[self.name] == 9:
            raise KeyboardInterrupt  # records of the 9th day sent, its bookmark not
        delivered(self, window, context)

    monkeypatch.setattr(AugmentStream, "window_delivered", dies_on_the_ninth_day)
    messages = sync_until_stopped(config, [stream])
    monkeypatch.setattr(AugmentStream, "window_delivered", delivered)
    state = [m["value"] for m in messages if m["type"] == "STATE"][-1]
    assert bookmark_of(state, stream) == (first + dt.timedelta(days=7)).isoformat()
    resumed = run_sync(config, state=state, streams=[stream])
    truth = ground_truth(sandbox, first, YESTERDAY, [stream])
    assert assert_complete(truth, messages + resumed.messages) >= 0


def sync_until_stopped(config: dict[str, t.Any], streams: list[str]) -> list[dict[str, t.Any]]:
    """Run a sync that is interrupted; return the messages it wrote before stopping."""
    tap = TapAIAnalytics(config=config, parse_env_config=False)
    for stream in tap.streams.values():
        stream.selected = stream.name in streams
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    real_stdout, sys.stdout = sys.stdout, stdout
    try:
        with pytest.raises(KeyboardInterrupt):
            tap.sync_all()
    finally:
        sys.stdout = real_stdout
    stdout.flush()
    lines = stdout.buffer.getvalue().decode().splitlines()
    return [json.loads(line) for line in lines if line]


# -- units ------------------------------------------------------------------------------


def test_a_day_is_empty_only_when_both_totals_say_so():
    assert DayTotals(0, None, usage_known=True).empty
    assert not DayTotals(0, {"total_messages": 3}, usage_known=True).empty  # service accounts?
    assert not DayTotals(0, None, usage_known=False).empty
    assert not DayTotals(None, None, usage_known=True).empty


def test_fingerprints_change_with_either_total():
    base = DayTotals(12, {"a": 1, "b": 2}, usage_known=True).fingerprint
    assert base == DayTotals(12, {"b": 2, "a": 1}, usage_known=True).fingerprint
    assert base != DayTotals(13, {"a": 1, "b": 2}, usage_known=True).fingerprint
    assert base != DayTotals(12, {"a": 1, "b": 3}, usage_known=True).fingerprint
    assert DayTotals(12, None, usage_known=False).fingerprint is None


def test_remember_day_keeps_only_the_lookback_horizon():
    state: dict[str, t.Any] = {}
    day = dt.date(2025, 1, 10)
    for offset in range(5):
        remember_day(
            state, day + dt.timedelta(offset), f"fp{offset}", bookmark=None, lookback_days=2
        )
    assert state[FINGERPRINTS_KEY] == {"2025-01-13": "fp3", "2025-01-14": "fp4"}
    remember_day(state, day, "old", bookmark=dt.date(2025, 1, 14), lookback_days=2)
    assert state[FINGERPRINTS_KEY] == {"2025-01-13": "fp3", "2025-01-14": "fp4"}
    remember_day(state, dt.date(2025, 1, 14), None, bookmark=dt.date(2025, 1, 14), lookback_days=2)
    assert state[FINGERPRINTS_KEY] == {"2025-01-13": "fp3"}
    remember_day(state, dt.date(2025, 1, 20), "x", bookmark=None, lookback_days=0)
    assert FINGERPRINTS_KEY not in state


def test_durations_read_naturally():
    assert format_duration(42) == "42 s"
    assert format_duration(750) == "12.5 min"
    assert format_duration(3 * 3600 + 12 * 60) == "3 h 12 min"


def test_the_sandbox_restates_one_day_only():
    data, untouched = AugmentData(50), AugmentData(50)
    day, other = dt.date(2025, 10, 14), dt.date(2025, 10, 13)
    before = data.daily_usage(day)
    data.restate(day)
    assert data.daily_usage(day) != before
    assert data.daily_usage(other) == untouched.daily_usage(other)
    assert data.editor_language(other) == untouched.editor_language(other)


def test_progress_re_estimates_the_breakdown_as_it_is_read(
    large_sandbox, activities, monkeypatch, caplog
):
    monkeypatch.setattr(activity_module, "PROGRESS_INTERVAL_SECONDS", 0.0)
    caplog.set_level(logging.INFO, logger="tap-ai-analytics")
    stream = "augment_user_activity_by_editor_language"
    run_sync(augment_config(large_sandbox, start_date=days_before(6)), streams=[stream])
    made = len(large_sandbox.requests)
    planned = activities[0].planned_requests
    assert planned < made  # the first plan knows one row per active user only
    estimates = [
        int(match[1])
        for record in caplog.records
        if (match := re.search(r"run \d+/(\d+) requests", record.getMessage()))
    ]
    assert abs(estimates[len(estimates) // 2] - made) < abs(planned - made)
    assert estimates[-1] == made


def test_planning_ahead_does_not_repeat_the_horizon_warning(sandbox, caplog):
    caplog.set_level(logging.WARNING, logger="tap-ai-analytics")
    run_sync(augment_config(sandbox, start_date="2015-01-01", end_date=days_before(700)))
    warned = [r.name for r in caplog.records if "history horizon" in r.getMessage()]
    assert sorted(warned) == sorted(f"tap-ai-analytics.{name}" for name in ALL_AUGMENT)


@pytest.mark.parametrize(
    ("stored", "ratio"),
    [
        (Decimal(1900), 1.9),
        (2000, 2.0),
        (1500, 1.5),
        (500, 1.0),
        ("2000", 1.0),
        (True, 1.0),
        (None, 1.0),
    ],
)
def test_the_learned_rows_per_user_survive_a_state_file(stored, ratio):
    # The SDK reads a state file's numbers as Decimals.
    assert learned_rows_per_user({ROWS_PER_USER_KEY: stored}) == ratio
