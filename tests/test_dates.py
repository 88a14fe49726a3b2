"""Date arithmetic: inclusive windows, lookback, horizon and end clamping."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_ai_analytics.dates import (
    DateRange,
    month_start,
    next_month_start,
    sync_range,
    years_before,
)

D = dt.date


def test_split_into_inclusive_windows_of_at_most_n_days() -> None:
    windows = list(DateRange(D(2025, 1, 1), D(2025, 6, 30)).split(90))
    assert [str(w) for w in windows] == [
        "2025-01-01..2025-03-31",
        "2025-04-01..2025-06-29",
        "2025-06-30..2025-06-30",
    ]
    assert all(w.days <= 90 for w in windows)
    assert sum(w.days for w in windows) == DateRange(D(2025, 1, 1), D(2025, 6, 30)).days


def test_split_single_days() -> None:
    days = list(DateRange(D(2025, 2, 27), D(2025, 3, 2)).split(1))
    assert [w.first for w in days] == [D(2025, 2, 27), D(2025, 2, 28), D(2025, 3, 1), D(2025, 3, 2)]
    assert all(w.first == w.last for w in days)


def test_split_months_follows_calendar() -> None:
    months = list(DateRange(D(2024, 1, 15), D(2024, 3, 3)).split_months())
    assert [str(m) for m in months] == [
        "2024-01-15..2024-01-31",
        "2024-02-01..2024-02-29",
        "2024-03-01..2024-03-03",
    ]


def test_empty_range_is_rejected() -> None:
    with pytest.raises(ValueError, match="empty"):
        DateRange(D(2025, 1, 2), D(2025, 1, 1))


def test_month_helpers() -> None:
    assert month_start(D(2024, 2, 29)) == D(2024, 2, 1)
    assert next_month_start(D(2024, 12, 31)) == D(2025, 1, 1)
    assert years_before(D(2026, 2, 28), 2) == D(2024, 2, 28)
    assert years_before(D(2028, 2, 29), 2) == D(2026, 2, 28)


def test_first_run_covers_start_date_to_latest() -> None:
    dates, clamped = sync_range(
        start_date=D(2025, 1, 1),
        end_date=None,
        bookmark=None,
        lookback_days=3,
        latest=D(2025, 1, 10),
    )
    assert str(dates) == "2025-01-01..2025-01-10"
    assert clamped is None


def test_incremental_run_rereads_exactly_lookback_days_up_to_the_bookmark() -> None:
    dates, _ = sync_range(
        start_date=D(2025, 1, 1),
        end_date=None,
        bookmark=D(2025, 1, 10),
        lookback_days=3,
        latest=D(2025, 1, 12),
    )
    # 3 already-synced days (8, 9, 10) + 2 new days.
    assert str(dates) == "2025-01-08..2025-01-12"
    assert dates is not None and dates.days == 3 + 2


def test_zero_lookback_resumes_the_day_after_the_bookmark() -> None:
    dates, _ = sync_range(
        start_date=D(2025, 1, 1),
        end_date=None,
        bookmark=D(2025, 1, 10),
        lookback_days=0,
        latest=D(2025, 1, 12),
    )
    assert str(dates) == "2025-01-11..2025-01-12"


def test_up_to_date_with_no_lookback_is_nothing_to_do() -> None:
    dates, _ = sync_range(
        start_date=D(2025, 1, 1),
        end_date=None,
        bookmark=D(2025, 1, 12),
        lookback_days=0,
        latest=D(2025, 1, 12),
    )
    assert dates is None


def test_lookback_never_reaches_before_start_date() -> None:
    dates, _ = sync_range(
        start_date=D(2025, 1, 9),
        end_date=None,
        bookmark=D(2025, 1, 10),
        lookback_days=30,
        latest=D(2025, 1, 12),
    )
    assert str(dates) == "2025-01-09..2025-01-12"


def test_end_date_is_clamped_to_latest() -> None:
    dates, _ = sync_range(
        start_date=D(2025, 1, 1),
        end_date=D(2030, 1, 1),
        bookmark=None,
        lookback_days=0,
        latest=D(2025, 1, 5),
    )
    assert dates is not None and dates.last == D(2025, 1, 5)


def test_explicit_end_date_is_honoured() -> None:
    dates, _ = sync_range(
        start_date=D(2025, 1, 1),
        end_date=D(2025, 1, 3),
        bookmark=None,
        lookback_days=0,
        latest=D(2025, 1, 5),
    )
    assert str(dates) == "2025-01-01..2025-01-03"


def test_start_before_horizon_is_clamped_and_reported() -> None:
    dates, clamped = sync_range(
        start_date=D(2020, 1, 1),
        end_date=None,
        bookmark=None,
        lookback_days=0,
        latest=D(2025, 1, 5),
        earliest=D(2023, 1, 6),
    )
    assert dates is not None and dates.first == D(2023, 1, 6)
    assert clamped == D(2020, 1, 1)


def test_stale_bookmark_before_horizon_is_clamped_too() -> None:
    dates, clamped = sync_range(
        start_date=D(2020, 1, 1),
        end_date=None,
        bookmark=D(2021, 1, 1),
        lookback_days=3,
        latest=D(2025, 1, 5),
        earliest=D(2023, 1, 6),
    )
    assert dates is not None and dates.first == D(2023, 1, 6)
    assert clamped == D(2020, 12, 30)
