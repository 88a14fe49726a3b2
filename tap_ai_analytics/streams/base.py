"""The incremental engine: dates → windows → records, with a bookmark per window.

:class:`DateWindowStream` is composed into a vendor's HTTP stream class (``class
AugmentStream(DateWindowStream, AnalyticsHTTPStream)``): it is not itself an HTTP
stream, so a vendor's streams inherit the HTTP plumbing once, and each stream's
``get_records`` calls :meth:`DateWindowStream.sync_windows` directly.

A stream's run is a straight line: compute the dates to cover from config and the
bookmark (:func:`~tap_ai_analytics.dates.sync_range`), cut them into request windows,
fetch each window's records, then move the bookmark to the window's last date and emit
STATE. The bookmark therefore always names the last date whose every page was
delivered, so a run killed at any point resumes without a gap, and dates without data
still advance it.
"""

from __future__ import annotations

import typing as t

from tap_ai_analytics.dates import DateRange, sync_range
from tap_ai_analytics.sdk_seams import PerWindowState
from tap_ai_analytics.state import bookmark_date

if t.TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context, Record

    from tap_ai_analytics.pacing import RateLimiter
    from tap_ai_analytics.settings import Settings


class DateWindowStream(PerWindowState):
    """The date-window engine of a stream read in ascending windows, incremental on a date.

    The bookmark moves only when a whole window is delivered (:meth:`commit_bookmark`),
    never per record (:class:`~tap_ai_analytics.sdk_seams.PerWindowState`). Composed
    with :class:`~tap_ai_analytics.client.AnalyticsHTTPStream`, which provides the
    attributes declared below.
    """

    # -- from the HTTP stream it is composed with (AnalyticsHTTPStream) ---------------
    settings: Settings
    pacer: RateLimiter | None
    vendor_label: t.ClassVar[str]
    requests_sent: int

    replication_key = "date"
    # Records arrive window by window in ascending order, and state only ever names
    # completed windows, so an interrupted run is resumable.
    is_sorted = True

    # -- what each stream declares ----------------------------------------------------

    def latest_date(self) -> dt.date:
        """The most recent date the API serves."""
        raise NotImplementedError

    def earliest_date(self) -> dt.date | None:
        """The oldest date the API serves (its history horizon), if it has one."""
        return None

    def windows(self, dates: DateRange) -> Iterable[DateRange]:
        """Cut the dates of a run into request windows, ascending."""
        raise NotImplementedError

    def window_records(self, window: DateRange, context: Context | None) -> Iterable[Record]:
        """Fetch every record of one window (all pages)."""
        raise NotImplementedError

    def should_request(self, window: DateRange, context: Context | None) -> bool:  # noqa: ARG002
        """Whether a window must be requested (False: known to hold nothing new)."""
        return True

    def window_delivered(self, window: DateRange, context: Context | None) -> None:
        """Keep per-window state beside the bookmark (the window is delivered or skipped).

        Called before the window's bookmark is committed, so both reach the same STATE.
        """

    def describe_window_cost(self, windows: list[DateRange]) -> str:
        """Describe the requests a list of windows takes, for the run plan."""
        return f"{len(windows)} requests" if len(windows) != 1 else "1 request"

    # -- the engine ---------------------------------------------------------------------

    def sync_windows(self, context: Context | None) -> Iterator[Record]:
        """Yield the records of every window of this run, committing state after each.

        Args:
            context: The state partition (a Sourcegraph instance), if any.

        Yields:
            Records in ascending window order.
        """
        dates = self.sync_dates(context)
        if dates is None:
            self.logger.info("%s%s: already up to date.", self.name, _where(context))
            return
        windows = list(self.windows(dates))
        self.log_plan(context, dates, windows)
        for window in windows:
            if self.should_request(window, context):
                yield from self.window_records(window, context)
            self.window_delivered(window, context)
            self.commit_bookmark(window.last, context)
        self.logger.info(
            "%s%s: synced through %s (%d requests by this stream so far).",
            self.name,
            _where(context),
            dates.last,
            self.requests_sent,
        )

    def sync_dates(self, context: Context | None) -> DateRange | None:
        """The dates this run covers, from config, the bookmark and the API's limits."""
        dates, clamped_from = sync_range(
            start_date=self.settings.start_date,
            end_date=self.settings.end_date,
            bookmark=self.bookmark(context),
            lookback_days=self.settings.lookback_days,
            latest=self.latest_date(),
            earliest=self.earliest_date(),
        )
        if clamped_from is not None and dates is not None:
            self.logger.warning(
                "%s: %s is beyond the API's history horizon; starting at %s instead.",
                self.name,
                clamped_from,
                dates.first,
            )
        return dates

    def bookmark(self, context: Context | None) -> dt.date | None:
        """The last date fully synced by a previous run (from the incoming state)."""
        state = self.get_context_state(context)
        value = state.get("replication_key_value")
        if not value:
            return None
        if state.get("replication_key") != self.replication_key:
            self.logger.warning(
                "%s%s: ignoring a bookmark on %r (this version bookmarks %r); starting from "
                "start_date.",
                self.name,
                _where(context),
                state.get("replication_key"),
                self.replication_key,
            )
            return None
        return bookmark_date(value, f"{self.name}{_where(context)}")

    def commit_bookmark(self, day: dt.date, context: Context | None) -> None:
        """Record that every date up to ``day`` is delivered, and emit STATE."""
        previous = self.bookmark(context)
        if previous is not None and previous > day:
            return  # a lookback re-read never moves the bookmark backwards
        state = self.get_context_state(context)
        state["replication_key"] = self.replication_key
        state["replication_key_value"] = day.isoformat()
        self.finalize_state_progress_markers(state)

    def log_plan(self, context: Context | None, dates: DateRange, windows: list[DateRange]) -> None:
        """Log what this run will request and how long that takes at the paced rate."""
        plan = f"{self.name}{_where(context)}: {dates} ({dates.days} days) in " + (
            self.describe_window_cost(windows)
        )
        if self.pacer is not None:
            minutes = self.pacer.seconds_for(len(windows)) / 60
            per_minute = self.pacer.rate * 60
            plan += (
                f"; about {minutes:.1f} min at {per_minute:g} requests/min "
                f"(a budget shared by all {self.vendor_label} streams)"
            )
        self.logger.info(plan)


def _where(context: Context | None) -> str:
    return f" [{context['instance_url']}]" if context and "instance_url" in context else ""
