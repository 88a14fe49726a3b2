"""Augment's daily totals, read once per run: an exact plan, free empty days, cheap lookback.

At 10 requests per minute the cost of a run is its page count, and the pages of the
per-day endpoints follow from how many people were active each day. Two windowed
endpoints tell that for 90 days per request: ``dau-count`` (active users per day) and
``daily-usage`` (the organisation's metrics per day). One :class:`AugmentActivity` per
run, shared by every Augment stream, reads both once and answers three questions:

* **The plan**: how many pages each per-day stream needs (exact for ``/dau`` and
  ``/user-activity``, whose rows per day are the day's active users; a bound plus an
  estimate for the editor/language breakdown, whose rows are users x combinations), the
  run's total, and the ETA at the shared rate.
* **Empty days**: a day with no active user and no usage row is recorded as done
  without a request. Both must agree: whether ``dau-count`` counts service accounts is
  not documented, and ``daily-usage`` covers everything the organisation did.
* **Cheap lookback**: a day being re-read (``lookback_days``) is skipped when its
  totals (its *fingerprint*) are what they were when it was last synced. Every
  ``full_lookback_every_days`` days a run re-reads the whole lookback anyway, because a
  restatement that leaves the organisation's totals unchanged is invisible here.

Order rule: the first selected Augment stream that starts (whichever the SDK runs first)
prepares everything, for all selected Augment streams: the totals are fetched for the
union of their date ranges before any per-day request, and the ``dau_count`` and
``daily_usage`` streams then serve their records from those same responses, so reading
the totals costs nothing extra when those streams are selected. The totals are fetched
before the days they describe are read: a restatement landing in between changes the
fingerprint seen by the next run, which then re-reads the day (safe direction).

Correctness first: when the totals are unavailable (an endpoint fails, a day is missing
from the answer, no fingerprint stored yet) the day is requested.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import math
import time
import typing as t

from tap_ai_analytics.dates import DateRange, parse_date
from tap_ai_analytics.errors import APIUnusableError, TapError

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Iterable

    from tap_ai_analytics.pacing import RateLimiter
    from tap_ai_analytics.streams.augment import AugmentStream

#: The windowed endpoints' longest range (inclusive days per request).
MAX_RANGE_DAYS = 90
#: Log progress at least this often during a long run.
PROGRESS_INTERVAL_SECONDS = 60.0
#: State keys of a per-day stream (beside the SDK's replication keys).
FINGERPRINTS_KEY = "day_fingerprints"
FULL_LOOKBACK_KEY = "last_full_lookback"
#: Rows per 1,000 active users, an integer: a float in STATE would reach the target as a
#: Decimal, which SDK-based targets cannot write back out (json.dumps fails).
ROWS_PER_USER_KEY = "rows_per_1000_active_users"

#: What a per-day stream's rows per day are: the day's active users, or active users
#: times their (editor, language) combinations.
RowsPerDay = t.Literal["active_users", "user_combos"]
#: Which windowed endpoint a stream is, for the shared totals.
TotalsRole = t.Literal["counts", "usage"]


@dataclasses.dataclass(frozen=True)
class DayTotals:
    """What the windowed endpoints said about one day."""

    user_count: int | None  # None: dau-count did not say
    usage: dict[str, t.Any] | None  # the daily-usage metrics; None: no row that day
    usage_known: bool  # daily-usage was read for this day

    @property
    def empty(self) -> bool:
        """Nobody was active: no user counted and no usage row."""
        return self.user_count == 0 and self.usage_known and self.usage is None

    @property
    def fingerprint(self) -> str | None:
        """A compact digest of the day's totals (None when either endpoint did not say)."""
        if self.user_count is None or not self.usage_known:
            return None
        text = json.dumps(self.usage, sort_keys=True, separators=(",", ":"))
        digest = hashlib.blake2b(text.encode(), digest_size=5).hexdigest()
        return f"{self.user_count}-{digest}"


@dataclasses.dataclass(frozen=True)
class DayDecision:
    """Whether a per-day stream requests a day, and how many pages that takes."""

    request: bool
    pages: int = 0  # planned pages (an estimate when not exact)
    least_pages: int = 0  # a lower bound
    exact: bool = True
    skipped_because: t.Literal["empty", "unchanged"] | None = None


@dataclasses.dataclass
class StreamPlan:
    """What one stream will request this run."""

    name: str
    dates: DateRange | None
    requests: int = 0
    least_requests: int = 0
    exact: bool = True
    empty_days: int = 0
    unchanged_days: int = 0
    requested_days: int = 0
    #: Rows per active user the estimate assumed (the editor/language breakdown).
    rows_per_user: float = 1.0
    #: A windowed stream served from the responses read for the daily totals.
    from_totals: bool = False

    def describe(self) -> str:
        """The plan in words."""
        if self.from_totals:
            return "no request (its records come from the daily totals' responses)"
        if self.requests == self.least_requests:
            cost = f"{'' if self.exact else 'at least '}{_requests(self.requests)}"
        else:
            cost = f"about {_requests(self.requests)} (at least {self.least_requests})"
        skipped = []
        if self.empty_days:
            skipped.append(f"{self.empty_days} empty days")
        if self.unchanged_days:
            skipped.append(f"{self.unchanged_days} unchanged lookback days")
        if skipped:
            cost += f"; {' and '.join(skipped)} skipped"
        return cost


class AugmentActivity:
    """The per-run Augment totals, plan and progress, shared by every Augment stream."""

    def __init__(
        self, pacer: RateLimiter | None, *, clock: t.Callable[[], float] = time.monotonic
    ) -> None:
        """Create an empty, unprepared object.

        Args:
            pacer: The Augment request budget (for ETAs), if pacing is on.
            clock: Monotonic seconds (injectable for tests).
        """
        self.pacer = pacer
        self.clock = clock
        self.streams: list[AugmentStream] = []
        #: Raw rows of the windowed endpoints, and the span each covers.
        self.rows: dict[TotalsRole, list[dict[str, t.Any]]] = {}
        self.covered: dict[TotalsRole, DateRange] = {}
        self.counts: dict[dt.date, int] = {}
        self.usage: dict[dt.date, dict[str, t.Any] | None] = {}
        self.plans: dict[str, StreamPlan] = {}
        self.planned_requests = 0
        self.prepared = False
        self._requests_before = 0
        self._sent_before_streams: dict[str, int] = {}
        self._last_progress = 0.0

    def register(self, stream: AugmentStream) -> None:
        """Add a stream (called by each Augment stream as it is created)."""
        self.streams.append(stream)

    # -- totals -------------------------------------------------------------------------

    @property
    def requests_done(self) -> int:
        """Augment requests sent this run since the plan was made."""
        return sum(stream.requests_sent for stream in self.streams) - self._requests_before

    def totals(self, day: dt.date) -> DayTotals | None:
        """What the windowed endpoints said about ``day`` (None: not read)."""
        counts_span, usage_span = self.covered.get("counts"), self.covered.get("usage")
        if counts_span is None or not _within(day, counts_span) or day not in self.counts:
            return None
        usage_known = usage_span is not None and _within(day, usage_span)
        return DayTotals(self.counts[day], self.usage.get(day), usage_known)

    def cached_rows(self, stream: AugmentStream, window: DateRange) -> list[t.Any] | None:
        """The rows a windowed stream would fetch for ``window``, if read already."""
        role = stream.totals_role
        span = self.covered.get(role) if role else None
        if role is None or span is None or window.first < span.first or window.last > span.last:
            return None
        return [
            row
            for row in self.rows[role]
            if _within(parse_date(str(row["date"])), window)  # checked when cached
        ]

    def _read_totals(self, span: DateRange, logger: logging.Logger) -> None:
        """Fetch dau-count and daily-usage for ``span`` (90 days per request)."""
        for role in t.get_args(TotalsRole):
            source = next((s for s in self.streams if s.totals_role == role), None)
            if source is None:
                continue
            try:
                rows = [
                    row
                    for window in span.split(MAX_RANGE_DAYS)
                    for row in source.fetch_rows(window)
                ]
                by_day = {parse_date(str(row["date"])): row for row in rows}
            except APIUnusableError:
                raise  # every endpoint would fail alike: requesting each day would only repeat it
            except (TapError, KeyError, TypeError, ValueError) as exc:
                logger.warning(
                    "Augment %s could not be read for %s (%s): every day is requested "
                    "and the plan is a lower bound.",
                    source.path,
                    span,
                    exc,
                )
                continue
            if role == "counts":
                counts = {day: row.get("user_count") for day, row in by_day.items()}
                self.counts = {day: n for day, n in counts.items() if isinstance(n, int) and n >= 0}
            else:
                self.usage = {day: row.get("metrics") or {} for day, row in by_day.items()}
            self.rows[role] = rows
            self.covered[role] = span

    # -- decisions --------------------------------------------------------------------

    def decide(self, stream: AugmentStream, day: dt.date) -> DayDecision:
        """Whether ``stream`` requests ``day``, and how many pages it will take."""
        totals = self.totals(day)
        if totals is not None and totals.empty:
            return DayDecision(request=False, skipped_because="empty")
        # Only a day this version synced has a fingerprint (checked first: cheap, and a
        # state of another version never reaches the bookmark's warning).
        stored = stored_fingerprints(stream.get_context_state(None)).get(day.isoformat())
        if (
            totals is not None
            and stored is not None
            and stored == totals.fingerprint
            and not self.full_lookback_due(stream)
            and (bookmark := stream.bookmark(None)) is not None
            and day <= bookmark
        ):
            return DayDecision(request=False, skipped_because="unchanged")
        return self.pages(stream, totals)

    def pages(self, stream: AugmentStream, totals: DayTotals | None) -> DayDecision:
        """The pages one day of ``stream`` takes."""
        page_size = stream.page_size or 1
        if totals is None or totals.user_count is None:
            return DayDecision(request=True, pages=1, least_pages=1, exact=False)
        least = max(1, math.ceil(totals.user_count / page_size))
        if stream.rows_per_day == "active_users":
            return DayDecision(request=True, pages=least, least_pages=least)
        ratio = learned_rows_per_user(stream.get_context_state(None))
        estimate = max(least, math.ceil(totals.user_count * ratio / page_size))
        return DayDecision(request=True, pages=estimate, least_pages=least, exact=False)

    def full_lookback_due(self, stream: AugmentStream) -> bool:
        """Whether this run re-reads every lookback day of ``stream``."""
        every = stream.settings.full_lookback_every_days
        last = _date_or_none(stream.get_context_state(None).get(FULL_LOOKBACK_KEY))
        return every == 0 or last is None or (stream.settings.today - last).days >= every

    # -- the plan ---------------------------------------------------------------------

    def prepare(self, logger: logging.Logger) -> None:
        """Read the totals and log the run plan, once, before the first per-day request."""
        if self.prepared:
            return
        self.prepared = True
        self._requests_before = sum(stream.requests_sent for stream in self.streams)
        selected = [s for s in self.streams if s.selected]
        ranges = {s.name: s.sync_dates(None) for s in selected}
        if any(s.rows_per_day and ranges[s.name] for s in selected):
            spans = [
                r for s in selected if (r := ranges[s.name]) and (s.rows_per_day or s.totals_role)
            ]
            self._read_totals(covering(spans), logger)
        totals_requests = self.requests_done
        self._sent_before_streams = {s.name: s.requests_sent for s in self.streams}
        for stream in selected:
            self.plans[stream.name] = self._plan(stream, ranges[stream.name])
        self.planned_requests = totals_requests + sum(p.requests for p in self.plans.values())
        self._log_run_plan(logger, totals_requests)
        self._last_progress = self.clock()

    def _plan(self, stream: AugmentStream, dates: DateRange | None) -> StreamPlan:
        plan = StreamPlan(stream.name, dates)
        if dates is None:
            return plan
        windows = list(stream.windows(dates))
        plan.rows_per_user = learned_rows_per_user(stream.get_context_state(None))
        if stream.rows_per_day is None:
            plan.from_totals = all(self.cached_rows(stream, w) is not None for w in windows)
            plan.requests = plan.least_requests = 0 if plan.from_totals else len(windows)
            plan.exact = plan.from_totals or not stream.page_size
            return plan
        for window in windows:
            decision = self.decide(stream, window.first)
            plan.requests += decision.pages
            plan.least_requests += decision.least_pages
            plan.exact &= decision.exact
            plan.empty_days += decision.skipped_because == "empty"
            plan.unchanged_days += decision.skipped_because == "unchanged"
            plan.requested_days += decision.request
        return plan

    def _log_run_plan(self, logger: logging.Logger, totals_requests: int) -> None:
        rate = f" at {self.pacer.rate * 60:g} requests/min" if self.pacer else ""
        lines = [f"Augment run plan (one request budget shared by every stream{rate}):"]
        if self.covered:
            spans = ", ".join(
                f"{self._source_path(role)} {span}" for role, span in self.covered.items()
            )
            lines.append(f"  daily totals ({spans}): {totals_requests} requests")
        elif any(plan.requested_days for plan in self.plans.values()):
            lines.append("  daily totals unavailable: every day is requested")
        cumulative = totals_requests
        for plan in self.plans.values():
            if plan.dates is None:
                lines.append(f"  {plan.name}: already up to date")
                continue
            cumulative += plan.requests
            lines.append(
                f"  {plan.name}: {plan.dates} ({plan.dates.days} days): {plan.describe()}; "
                f"done after {self._eta(cumulative)} of the run"
            )
        exact = all(plan.exact for plan in self.plans.values())
        lines.append(
            f"  run total: {'' if exact else 'about '}{self.planned_requests} requests, "
            f"{self._eta(self.planned_requests)}"
        )
        if any(plan.requested_days for plan in self.plans.values()) and self.counts:
            lines.append(
                "  (pages of /dau and /user-activity: one row per active user and service "
                "account; that dau-count counts service accounts is assumed, as the API's "
                "documentation does not say)"
            )
        if any(not plan.exact and plan.requested_days for plan in self.plans.values()):
            lines.append(
                "  (not exact: the editor/language breakdown has one row per user, editor and "
                "language, which the daily totals do not tell; its estimate uses the rows per "
                "active user seen by the last run, its lower bound one row per active user)"
            )
        logger.info("\n".join(lines))

    def _source_path(self, role: TotalsRole) -> str:
        return next((s.path or "" for s in self.streams if s.totals_role == role), role).rsplit(
            "/"
        )[-1]

    def log_stream_start(self, stream: AugmentStream, logger: logging.Logger) -> None:
        """Log a stream's part of the plan, with the run's remaining budget."""
        plan = self.plans.get(stream.name)
        if plan is None or plan.dates is None:
            return
        left = self.requests_left()
        logger.info(
            "%s: %s (%d days): %s, about %s; run: %d requests done, about %d (%s) left.",
            stream.name,
            plan.dates,
            plan.dates.days,
            plan.describe(),
            self._eta(plan.requests, from_start=False),
            self.requests_done,
            left,
            self._eta(left, from_start=False),
        )

    def requests_left(self) -> int:
        """The planned requests not sent yet, the breakdown's re-estimated as it is read.

        The editor/language breakdown's estimate assumed a number of rows per active user;
        once this run has read some of its days, the rest is scaled by what it saw.
        """
        left = 0
        for stream in self.streams:
            plan = self.plans.get(stream.name)
            if plan is None:
                continue
            sent = stream.requests_sent - self._sent_before_streams.get(stream.name, 0)
            remaining = max(0, plan.requests - sent)
            seen = stream.rows_per_user_seen
            if stream.rows_per_day == "user_combos" and seen is not None:
                remaining = math.ceil(remaining * max(1.0, seen) / plan.rows_per_user)
            left += remaining
        return left

    # -- progress ---------------------------------------------------------------------

    def progress(self, stream: AugmentStream, dates_done: int, logger: logging.Logger) -> None:
        """Log progress when the last progress line is a minute old."""
        plan = self.plans.get(stream.name)
        now = self.clock()
        if (
            plan is None
            or plan.dates is None
            or now - self._last_progress < PROGRESS_INTERVAL_SECONDS
        ):
            return  # (no plan: the daily totals are being read for the plan)
        self._last_progress = now
        done, left = self.requests_done, self.requests_left()
        logger.info(
            "Augment progress: %s %d/%d dates; run %d/%d requests (planned %d); about %s left.",
            stream.name,
            dates_done,
            plan.dates.days,
            done,
            done + left,
            self.planned_requests,
            self._eta(left, from_start=False),
        )

    def _eta(self, requests: int, *, from_start: bool = True) -> str:
        """Time ``requests`` take at the paced rate (from a full bucket at the start)."""
        if self.pacer is None:
            return "no pacing"
        seconds = self.pacer.seconds_for(requests) if from_start else requests / self.pacer.rate
        return format_duration(seconds)


def _requests(count: int) -> str:
    return "1 request" if count == 1 else f"{count} requests"


def format_duration(seconds: float) -> str:
    """``42 s``, ``12.5 min`` or ``3 h 12 min``."""
    if seconds < 60:  # noqa: PLR2004
        return f"{seconds:.0f} s"
    if seconds < 3600:  # noqa: PLR2004
        return f"{seconds / 60:.1f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min"


# -- per-stream state: fingerprints of the lookback horizon, the full-lookback date --------


def stored_fingerprints(state: dict[str, t.Any]) -> dict[str, str]:
    """The fingerprints a state holds (an unreadable entry is ignored: that day is re-read)."""
    value = state.get(FINGERPRINTS_KEY)
    if not isinstance(value, dict):
        return {}
    return {day: fp for day, fp in value.items() if isinstance(fp, str) and _date_or_none(day)}


def remember_day(
    state: dict[str, t.Any],
    day: dt.date,
    fingerprint: str | None,
    *,
    bookmark: dt.date | None,
    lookback_days: int,
) -> None:
    """Store ``day``'s fingerprint; keep only the days a future lookback can re-read.

    Args:
        state: The stream's state (changed in place).
        day: A day just delivered (read, or skipped as empty or unchanged).
        fingerprint: Its totals' fingerprint (None: unknown, so it will be re-read).
        bookmark: The bookmark before this day is committed.
        lookback_days: The configured lookback.
    """
    prints = stored_fingerprints(state)
    if fingerprint is None:
        prints.pop(day.isoformat(), None)
    else:
        prints[day.isoformat()] = fingerprint
    newest = max(day, bookmark) if bookmark else day
    oldest = newest - dt.timedelta(days=lookback_days - 1)
    kept = {d: fp for d, fp in sorted(prints.items()) if oldest <= parse_date(d) <= newest}
    if kept:
        state[FINGERPRINTS_KEY] = kept
    else:
        state.pop(FINGERPRINTS_KEY, None)


def learned_rows_per_user(state: dict[str, t.Any]) -> float:
    """Rows per active user seen by the last run (1.0, the lower bound, when unknown)."""
    value = state.get(ROWS_PER_USER_KEY)
    if isinstance(value, (bool, str)):
        return 1.0
    try:  # a state file read by the SDK holds Decimals, a state dict holds ints
        ratio = float(value) / 1000  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 1.0
    return ratio if math.isfinite(ratio) and ratio >= 1 else 1.0


def covering(ranges: Iterable[DateRange]) -> DateRange:
    """The smallest range covering every range given."""
    spans = list(ranges)
    return DateRange(min(r.first for r in spans), max(r.last for r in spans))


def _within(day: dt.date, span: DateRange) -> bool:
    return span.first <= day <= span.last


def _date_or_none(value: object) -> dt.date | None:
    try:
        return parse_date(value) if isinstance(value, str) else None
    except ValueError:
        return None
