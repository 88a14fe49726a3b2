"""UTC calendar arithmetic: what a run covers and how it is cut into request windows.

All dates are calendar dates in UTC. Ranges are inclusive at both ends, like the APIs'.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import typing as t

import pendulum

from tap_ai_analytics.compat import override

if t.TYPE_CHECKING:
    from collections.abc import Iterator


_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def today_utc() -> dt.date:
    """Return today's date in UTC (the one clock every date rule is measured against)."""
    return pendulum.now("UTC").date()


def parse_date(value: str) -> dt.date:
    """Parse ``YYYY-MM-DD`` (or the date part of an ISO timestamp) into a date.

    Args:
        value: The text to parse.

    Returns:
        The calendar date.

    Raises:
        ValueError: If the text does not start with a valid ``YYYY-MM-DD`` date.
    """
    text = value.strip()[:10]
    if not _ISO_DATE.fullmatch(text):  # fromisoformat also takes 20250131 on Python 3.11+
        raise ValueError(value)
    return dt.date.fromisoformat(text)


def years_before(day: dt.date, years: int) -> dt.date:
    """Return the same calendar day ``years`` earlier (Feb 29 becomes Feb 28)."""
    return pendulum.date(day.year, day.month, day.day).subtract(years=years)


def month_start(day: dt.date) -> dt.date:
    """Return the first day of ``day``'s month."""
    return day.replace(day=1)


def next_month_start(day: dt.date) -> dt.date:
    """Return the first day of the month after ``day``'s month."""
    return pendulum.date(day.year, day.month, 1).add(months=1)


@dataclasses.dataclass(frozen=True)
class DateRange:
    """An inclusive range of UTC calendar dates."""

    first: dt.date
    last: dt.date

    def __post_init__(self) -> None:
        """Reject an empty range: callers represent "nothing to do" as ``None``."""
        if self.first > self.last:
            msg = f"empty date range {self.first}..{self.last}"
            raise ValueError(msg)

    @override
    def __str__(self) -> str:
        """Render as ``first..last``."""
        return f"{self.first.isoformat()}..{self.last.isoformat()}"

    @property
    def days(self) -> int:
        """Number of dates in the range."""
        return (self.last - self.first).days + 1

    def split(self, max_days: int) -> Iterator[DateRange]:
        """Cut the range into consecutive windows of at most ``max_days`` dates."""
        first = self.first
        step = dt.timedelta(days=max_days - 1)
        while first <= self.last:
            last = min(first + step, self.last)
            yield DateRange(first, last)
            first = last + dt.timedelta(days=1)

    def split_months(self) -> Iterator[DateRange]:
        """Cut the range at calendar-month boundaries."""
        first = self.first
        while first <= self.last:
            last = min(next_month_start(first) - dt.timedelta(days=1), self.last)
            yield DateRange(first, last)
            first = last + dt.timedelta(days=1)


def sync_range(  # noqa: PLR0913
    *,
    start_date: dt.date,
    end_date: dt.date | None,
    bookmark: dt.date | None,
    lookback_days: int,
    latest: dt.date,
    earliest: dt.date | None = None,
) -> tuple[DateRange | None, dt.date | None]:
    """Compute the dates one run covers.

    The bookmark is the last date fully synced. An incremental run re-reads the
    ``lookback_days`` dates up to and including the bookmark (late or restated data),
    then every newer date, so a run right after a complete sync makes
    ``lookback_days + new days`` requests per per-day stream.

    Args:
        start_date: The configured first date.
        end_date: The configured last date, or None for "as recent as allowed".
        bookmark: The last date fully synced by a previous run, if any.
        lookback_days: Dates before and including the bookmark to re-read.
        latest: The most recent date the API serves (yesterday for Augment).
        earliest: The oldest date the API serves (its history horizon), if any.

    Returns:
        The range to sync (None when there is nothing to do) and, when the start had to
        be moved forward to the horizon, the date it was clamped from.
    """
    first = start_date
    if bookmark is not None:
        first = max(first, bookmark + dt.timedelta(days=1 - lookback_days))
    clamped_from = None
    if earliest is not None and first < earliest:
        clamped_from, first = first, earliest
    last = latest if end_date is None else min(end_date, latest)
    if first > last:
        return None, clamped_from
    return DateRange(first, last), clamped_from
