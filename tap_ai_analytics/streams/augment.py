"""Augment Code Analytics API streams (JSON, cursor pages, 10 requests per minute)."""

from __future__ import annotations

import datetime as dt
import decimal
import functools
import re
import typing as t
from http import HTTPStatus

from singer_sdk import typing as th
from singer_sdk.streams.rest import PageContext

from tap_ai_analytics.activity import FULL_LOOKBACK_KEY, ROWS_PER_USER_KEY, remember_day
from tap_ai_analytics.client import AnalyticsHTTPStream
from tap_ai_analytics.compat import override
from tap_ai_analytics.dates import DateRange, parse_date, years_before
from tap_ai_analytics.errors import APIRequestError, DataError
from tap_ai_analytics.schemas import AUGMENT_METRICS, augment_schema, key_string
from tap_ai_analytics.streams.base import DateWindowStream

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

    import requests
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context, Record

    from tap_ai_analytics.activity import AugmentActivity, RowsPerDay, TotalsRole
    from tap_ai_analytics.pacing import RateLimiter
    from tap_ai_analytics.settings import AugmentSettings, Settings

#: The API refuses ranges longer than this (inclusive count of dates).
MAX_RANGE_DAYS = 90
#: The API serves at most this much history.
HISTORY_YEARS = 2


class AugmentPage(t.NamedTuple):
    """What one Augment request asks for: a date window and a page cursor."""

    window: DateRange
    cursor: str | None = None


class AugmentStream(DateWindowStream, AnalyticsHTTPStream):
    """An Augment Analytics endpoint, read in date windows and cursor pages.

    Subclasses only declare: name, path, primary keys, schema, where the records are
    in the body (``records_key``), how dates are sent (``date_param``), the window
    length and the page size.
    """

    vendor_label = "Augment"
    token_hint = (
        "an Enterprise administrator creates a service-account token at "  # noqa: S105
        "https://app.augmentcode.com/settings/service-accounts"
    )

    records_key: t.ClassVar[str]
    #: "date" sends one ``date``; "range" sends ``start_date``/``end_date``.
    date_param: t.ClassVar[t.Literal["date", "range"]] = "range"
    #: Dates per request; 1 means per-day records and the date is added to each record.
    window_days: t.ClassVar[int] = 1
    #: ``page_size`` to send on paginated endpoints (the documented maximum).
    page_size: t.ClassVar[int | None] = None
    #: Record fields copied as sent (besides date, identity and metrics).
    plain_fields: t.ClassVar[tuple[str, ...]] = ()
    #: Record fields that are part of the key: a missing value becomes "".
    key_fields: t.ClassVar[tuple[str, ...]] = ()
    #: Parameters every page sends besides the dates, page size and cursor.
    extra_parameters: t.ClassVar[Mapping[str, t.Any]] = {}
    #: The row field holding a multi-date window's row date.
    row_date_field: t.ClassVar[str] = "date"
    #: Per-day streams whose rows per day follow from the daily totals (see activity.py):
    #: their days are planned exactly, skipped when empty or unchanged.
    rows_per_day: t.ClassVar[RowsPerDay | None] = None
    #: The windowed endpoints that give the daily totals.
    totals_role: t.ClassVar[TotalsRole | None] = None

    def __init__(
        self,
        tap: Tap,
        settings: Settings,
        *,
        pacer: RateLimiter | None = None,
        activity: AugmentActivity | None = None,
    ) -> None:
        """Create the stream.

        Args:
            tap: The tap.
            settings: The validated configuration.
            pacer: The request budget shared by every Augment stream.
            activity: The daily totals and plan shared by every Augment stream (None:
                every day is requested, no run plan).
        """
        super().__init__(tap, settings, pacer=pacer)
        self.activity = activity
        if activity is not None:
            activity.register(self)
        self._dates_done = 0
        self._window_rows = 0
        self._window_requested = False
        #: Rows and active users of the days this run requested (the breakdown learns
        #: its rows per active user from them).
        self._rows_seen = 0
        self._users_seen = 0
        self._run_dates: tuple[DateRange | None] | None = None

    @property
    def rows_per_user_seen(self) -> float | None:
        """Rows per active user on the days this run requested so far (None: none yet)."""
        return self._rows_seen / self._users_seen if self._users_seen else None

    @override
    @property
    def vendor(self) -> AugmentSettings:
        """The Augment settings (these streams exist only when Augment is configured)."""
        assert self.settings.augment is not None  # noqa: S101
        return self.settings.augment

    @override
    def get_records(self, context: Context | None) -> Iterator[Record]:
        """Yield the records of every window of this run (see :meth:`sync_windows`)."""
        return self.counting_requests(self.sync_windows(context), context)

    @override
    def latest_date(self) -> dt.date:
        """Yesterday (UTC): the API serves no data for today."""
        return self.settings.today - dt.timedelta(days=1)

    @override
    def earliest_date(self) -> dt.date:
        """The 2-year horizon, one day inside it so the boundary is never disputed."""
        return years_before(self.settings.today, HISTORY_YEARS) + dt.timedelta(days=1)

    @override
    def windows(self, dates: DateRange) -> Iterable[DateRange]:
        """Windows of ``window_days`` dates."""
        return dates.split(self.window_days)

    @override
    def describe_window_cost(self, windows: list[DateRange]) -> str:
        """Requests per window, plus a note about extra pages."""
        cost = super().describe_window_cost(windows)
        return f"at least {cost} (one more per extra page)" if self.page_size else cost

    @override
    def get_url_params(
        self,
        context: Context | None,  # noqa: ARG002
        next_page_token: AugmentPage | None,
    ) -> dict[str, t.Any]:
        """Query parameters of one page of one window (none when they go in a POST body)."""
        assert next_page_token is not None  # noqa: S101 - always called with a page
        return {} if self.http_method == "POST" else self.page_parameters(next_page_token)

    @override
    def prepare_request_payload(
        self,
        context: Context | None,  # noqa: ARG002
        next_page_token: AugmentPage | None,
    ) -> dict[str, t.Any] | None:
        """A POST endpoint's JSON body: the parameters a GET endpoint sends as its query."""
        assert next_page_token is not None  # noqa: S101 - always called with a page
        return self.page_parameters(next_page_token) if self.http_method == "POST" else None

    def page_parameters(self, page: AugmentPage) -> dict[str, t.Any]:
        """The parameters of one page of one window.

        Every page resends the same date parameters with the cursor.
        """
        window, cursor = page
        if self.date_param == "date":
            params: dict[str, t.Any] = {"date": window.first.isoformat()}
        else:
            params = {"start_date": window.first.isoformat(), "end_date": window.last.isoformat()}
        params.update(self.extra_parameters)
        if self.page_size:
            params["page_size"] = self.page_size
        if cursor:
            params["cursor"] = cursor
        return params

    @override
    def window_records(self, window: DateRange, context: Context | None) -> Iterator[Record]:
        """Yield the records of one window (every page), ascending by date.

        A windowed endpoint already read for the run's daily totals is not requested
        again: its records come from that same response.
        """
        cached = self.activity.cached_rows(self, window) if self.activity else None
        pages = [cached] if cached is not None else self.fetch_pages(window, context)
        for rows in pages:
            records = [self.to_record(row, window) for row in rows]
            if self.window_days > 1:
                records.sort(key=lambda record: record["date"])
            self._window_rows += len(records)
            yield from records

    def fetch_pages(self, window: DateRange, context: Context | None) -> Iterator[list[t.Any]]:
        """Request every page of one window; yield each page's rows."""
        page = AugmentPage(window)
        seen_cursors: set[str] = set()
        while True:
            request = self.get_http_request(page=PageContext(context, page))
            # An object with a list under records_key: fetch_json retries anything else.
            body: dict[str, t.Any] = self.fetch_json(request, records_key=self.records_key)
            self.check_page(body, window)
            yield body[self.records_key]
            if self.activity is not None:
                self.activity.progress(self, self._dates_done, self.logger)
            cursor = self.next_cursor(body, window, seen_cursors)
            if cursor is None:
                return
            page = AugmentPage(window, cursor)

    def check_page(self, body: dict[str, t.Any], window: DateRange) -> None:
        """Inspect a delivered page beyond its records (nothing to check by default)."""

    def fetch_rows(self, window: DateRange) -> list[t.Any]:
        """Request one window's rows (all pages), without making records of them."""
        return [row for rows in self.fetch_pages(window, None) for row in rows]

    # -- the run plan, empty days and cheap lookback (see activity.py) ----------------

    @override
    def sync_dates(self, context: Context | None) -> DateRange | None:
        """The dates this run covers, computed once (the plan asks before the stream runs).

        Once, so that a warning about the history horizon is not logged twice.
        """
        if self._run_dates is None:
            self._run_dates = (super().sync_dates(context),)
        return self._run_dates[0]

    @override
    def log_plan(self, context: Context | None, dates: DateRange, windows: list[DateRange]) -> None:
        """Log the run plan (once, before the first request) and this stream's part."""
        if self.activity is None:
            super().log_plan(context, dates, windows)
            return
        self.activity.prepare(self.logger)
        self.activity.log_stream_start(self, self.logger)

    @override
    def should_request(self, window: DateRange, context: Context | None) -> bool:  # noqa: ARG002
        """Skip a day with no activity, and a lookback day whose totals are unchanged."""
        self._window_rows = 0
        self._window_requested = True
        if self.rows_per_day is None or self.activity is None or not self.activity.prepared:
            return True
        decision = self.activity.decide(self, window.first)
        if not decision.request:
            self.logger.debug("%s: %s skipped (%s).", self.name, window, decision.skipped_because)
        self._window_requested = decision.request
        return decision.request

    @override
    def window_delivered(self, window: DateRange, context: Context | None) -> None:
        """Keep the day's fingerprint (lookback horizon only) and what the run learnt."""
        self._dates_done += window.days
        if self.rows_per_day is None or self.activity is None or not self.activity.prepared:
            return
        state = self.get_context_state(context)
        previous = self.bookmark(context)
        totals = self.activity.totals(window.first)
        remember_day(
            state,
            window.first,
            totals.fingerprint if totals else None,
            bookmark=previous,
            lookback_days=self.settings.lookback_days,
        )
        if self.activity.full_lookback_due(self) and (previous is None or window.last >= previous):
            state[FULL_LOOKBACK_KEY] = self.settings.today.isoformat()
        if self._window_requested and totals is not None and totals.user_count:
            self._rows_seen += self._window_rows
            self._users_seen += totals.user_count
            if self.rows_per_day == "user_combos" and self.rows_per_user_seen is not None:
                state[ROWS_PER_USER_KEY] = round(1000 * max(1.0, self.rows_per_user_seen))

    def next_cursor(self, body: dict[str, t.Any], window: DateRange, seen: set[str]) -> str | None:
        """The cursor of the next page, or None after the last page.

        Raises:
            DataError: If the API announces more pages without a usable new cursor.
        """
        pagination = body.get("pagination") or {}
        if not pagination.get("has_more"):
            return None
        cursor = pagination.get("next_cursor")
        if not cursor:
            msg = f"Augment {self.path} for {window} says has_more but sends no next_cursor."
            raise DataError(msg)
        if cursor in seen:
            msg = (
                f"Augment {self.path} for {window} sent a cursor it had already sent "
                f"({len(seen)} pages in): stopping instead of looping forever."
            )
            raise DataError(msg)
        seen.add(cursor)
        return str(cursor)

    def to_record(self, row: t.Any, window: DateRange) -> Record:
        """Turn one API row into a record: date, identity, fields, flattened metrics."""
        if not isinstance(row, dict):
            msg = f"Augment {self.path} for {window} sent a non-object row: {row!r:.100}"
            raise DataError(msg)
        record: Record = {"date": self.row_date(row, window).isoformat()}
        if "identity" in self.schema["properties"]:
            record.update(self.identity(row, window))
        for field in self.plain_fields:
            record[field] = row.get(field)
        for field in self.key_fields:
            value = row.get(field)
            record[field] = "" if value is None else str(value)
        if "extra_metrics" in self.schema["properties"]:
            record.update(self.flatten_metrics(row.get("metrics"), window))
        return record

    def row_date(self, row: dict[str, t.Any], window: DateRange) -> dt.date:
        """The row's UTC date: the requested day, or the date a window's row names."""
        if self.window_days == 1:
            return window.first
        try:
            return parse_date(str(row[self.row_date_field]))
        except (KeyError, ValueError):
            msg = (
                f"Augment {self.path} for {window} sent a row without a YYYY-MM-DD "
                f"{self.row_date_field}."
            )
            raise DataError(msg) from None

    def identity(self, row: dict[str, t.Any], window: DateRange) -> Record:
        """The identity columns: the email, else the service account's name."""
        email = row.get("user_email") or None
        account = row.get("service_account_name") or None
        if email is None and account is None:
            msg = (
                f"Augment {self.path} for {window} sent a row with neither user_email nor "
                "service_account_name, so it has no key."
            )
            raise DataError(msg)
        return {
            "identity": email or account,
            "identity_type": "user" if email else "service_account",
            "user_email": row.get("user_email"),
            "service_account_name": row.get("service_account_name"),
        }

    def flatten_metrics(self, metrics: t.Any, window: DateRange) -> Record:
        """One integer column per documented metric (null when not sent), plus extras."""
        if metrics is None:
            metrics = {}
        if not isinstance(metrics, dict):
            msg = f"Augment {self.path} for {window} sent metrics that are not an object."
            raise DataError(msg)
        record: Record = {
            key: _integer(metrics.get(key), key, self.path) for key in AUGMENT_METRICS
        }
        extras = {key: value for key, value in metrics.items() if key not in record}
        if extras:  # omitted when empty: a JSON null would not be SQL NULL in a warehouse
            record["extra_metrics"] = extras
        return record


def _integer(value: t.Any, key: str, path: str | None) -> int | None:
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if not number.is_integer():
        msg = f"Augment {path} sent metric {key}={value!r}, which is not a whole number."
        raise DataError(msg)
    return int(number)


class AugmentDauCountStream(AugmentStream):
    """Daily count of active users and service accounts."""

    name = "augment_dau_count"
    path = "/analytics/v0/dau-count"
    primary_keys = ("date",)
    records_key = "daily_active_user_counts"
    window_days = MAX_RANGE_DAYS
    plain_fields = ("user_count",)
    totals_role = "counts"
    schema = augment_schema(
        th.Property("user_count", th.IntegerType, description="Unique active users that day.")
    )

    @override
    def connection_checks(self) -> list[tuple[str, Callable[[], object]]]:
        """One request for yesterday's count: the cheapest call that needs a valid token."""
        yesterday = self.latest_date()
        page = PageContext(None, AugmentPage(DateRange(yesterday, yesterday)))
        request = self.get_http_request(page=page)
        return [
            ("augment", functools.partial(self.fetch_json, request, records_key=self.records_key))
        ]


class AugmentDailyActiveUsersStream(AugmentStream):
    """The users and service accounts active on each day."""

    name = "augment_daily_active_users"
    path = "/analytics/v0/dau"
    primary_keys = ("date", "identity")
    records_key = "users"
    date_param = "date"
    page_size = 250
    rows_per_day = "active_users"
    schema = augment_schema(identity=True)


class AugmentDailyUsageStream(AugmentStream):
    """Organisation-wide usage metrics per day (days without activity are absent)."""

    name = "augment_daily_usage"
    path = "/analytics/v0/daily-usage"
    primary_keys = ("date",)
    records_key = "daily_usage"
    window_days = MAX_RANGE_DAYS
    totals_role = "usage"
    schema = augment_schema(metrics=True)


class AugmentUserActivityStream(AugmentStream):
    """Usage metrics per user per day (one-day ranges keep the per-day split)."""

    name = "augment_user_activity"
    path = "/analytics/v0/user-activity"
    primary_keys = ("date", "identity")
    records_key = "users"
    page_size = 100
    plain_fields = ("active_days",)
    rows_per_day = "active_users"
    schema = augment_schema(
        th.Property("active_days", th.IntegerType, description="Days with activity (1 per day)."),
        identity=True,
        metrics=True,
    )


class AugmentUserActivityByEditorLanguageStream(AugmentStream):
    """Usage metrics per user, editor and language per day."""

    name = "augment_user_activity_by_editor_language"
    path = "/analytics/v0/daily-user-activity-by-editor-language"
    primary_keys = ("date", "identity", "editor", "language")
    records_key = "records"
    date_param = "date"
    page_size = 100
    key_fields = ("editor", "language")
    rows_per_day = "user_combos"
    schema = augment_schema(
        th.Property(
            "editor", th.StringType(nullable=False), required=True, description="Editor or IDE."
        ),
        th.Property(
            "language", th.StringType(nullable=False), required=True, description="Language."
        ),
        identity=True,
        metrics=True,
    )


# -- Cost and credits: opt-in, and tolerant (their shapes come from observed clients) -----

#: Words of a 400/403 message saying the organisation does not have the feature.
_FEATURE_UNAVAILABLE = re.compile(
    r"not available|unavailable|not enabled|not supported|unsupported|not included|not part of",
    re.IGNORECASE,
)


class EndpointUnavailableError(APIRequestError):
    """The organisation does not have this endpoint (its plan or contract lacks it)."""


class AugmentSpendStream(AugmentStream):
    """An opt-in credit or cost endpoint, which some organisations do not have.

    Shares the Augment pacing budget and the date engine. On top of it:

    * an organisation without the endpoint (404, or a 400/403 whose message says the
      feature is unavailable) gets one warning and the stream is skipped: the run goes on;
    * a page whose ``metadata`` reports other effective dates than the window asked for
      (silent clamping) is logged with both ranges, and when the end was clamped the
      bookmark stays at the last date the API served, so a later run asks again.
    """

    selected_by_default = False
    window_days = MAX_RANGE_DAYS

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        """Create the stream (see :class:`~tap_ai_analytics.client.AnalyticsHTTPStream`)."""
        super().__init__(*args, **kwargs)
        #: The last date the API served when it clamped a window's end (bookmark cap).
        self.served_through: dt.date | None = None
        self._clamp_reported: set[DateRange] = set()

    @override
    def get_records(self, context: Context | None) -> Iterator[Record]:
        """The engine's records, or none (one warning) if the organisation lacks the endpoint."""
        try:
            yield from super().get_records(context)
        except EndpointUnavailableError as exc:
            self.logger.warning(
                "%s: skipped: %s. The other streams are not affected; deselect %s to "
                "silence this warning.",
                self.name,
                exc,
                self.name,
            )

    @override
    def client_error(self, response: requests.Response, detail: str) -> APIRequestError:
        """Tell "this organisation has no such endpoint" apart from other rejections."""
        status = response.status_code
        if status == HTTPStatus.NOT_FOUND or (
            status in {HTTPStatus.BAD_REQUEST, HTTPStatus.FORBIDDEN}
            and _FEATURE_UNAVAILABLE.search(detail)
        ):
            answer = f"HTTP {status} {response.reason or ''}".rstrip()
            msg = (
                f"this Augment organisation does not offer {self.http_method} {self.path} "
                f"({answer}{': ' + detail if detail else ''})"
            )
            return EndpointUnavailableError(msg)
        return super().client_error(response, detail)

    @override
    def check_page(self, body: dict[str, t.Any], window: DateRange) -> None:
        """Warn when the API served other dates than asked; hold the bookmark if it cut the end."""
        metadata = body.get("metadata")
        if not isinstance(metadata, dict):
            return
        try:
            first = parse_date(str(metadata["effective_start_date"]))
            last = parse_date(str(metadata["effective_end_date"]))
        except (KeyError, ValueError):
            return  # not reported (or not readable): nothing to compare
        if (first, last) == (window.first, window.last):
            return
        # A cut end means "not yet": hold the bookmark so a later run asks again. A cut
        # start means "never" (history the API no longer serves): asking again cannot help.
        if last < window.last:
            held = last if self.served_through is None else self.served_through
            self.served_through = min(held, last)
        if window not in self._clamp_reported:
            self._clamp_reported.add(window)
            self.logger.warning(
                "%s: asked Augment for %s but it answered for %s (metadata "
                "effective_start_date/effective_end_date)%s.",
                self.name,
                window,
                f"{first}..{last}",
                f"; the bookmark stays at {self.served_through} so a later run asks again"
                if self.served_through is not None
                else "",
            )

    @override
    def commit_bookmark(self, day: dt.date, context: Context | None) -> None:
        """Commit ``day``, or the last date served if the API cut a window's end short."""
        if self.served_through is not None:
            day = min(day, self.served_through)
        super().commit_bookmark(day, context)

    def whole_number(self, row: dict[str, t.Any], field: str, day: dt.date) -> int | None:
        """A count sent as an integer or as a string of one (null when absent)."""
        value = row.get(field)
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        number = _exact_decimal(value)
        if number is None or number != number.to_integral_value():
            raise self.unparsable(field, value, day, "a whole number")
        return int(number)

    def money(self, row: dict[str, t.Any], field: str, day: dt.date) -> decimal.Decimal | None:
        """An amount sent as a decimal string, kept exact (null when absent)."""
        value = row.get(field)
        if value is None or value == "":
            return None
        number = _exact_decimal(value)
        if number is None:
            raise self.unparsable(field, value, day, "a decimal number")
        return number

    def unparsable(self, field: str, value: object, day: dt.date, expected: str) -> DataError:
        """The error for a value that does not parse: it fails the window."""
        msg = (
            f"Augment {self.path} sent {field}={value!r:.60} for {day}, which is not "
            f"{expected}; nothing of this window was bookmarked."
        )
        return DataError(msg)


def _exact_decimal(value: object) -> decimal.Decimal | None:
    """``value`` as an exact decimal, or None when it is not a finite number.

    Strings are read digit for digit. A JSON number reaches us as a float; its shortest
    round-trip text is what the API wrote for up to 15 significant digits.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, float):
        text = repr(value)
    elif isinstance(value, (int, str)):
        text = str(value).strip()
    else:
        return None
    try:
        number = decimal.Decimal(text)
    except decimal.InvalidOperation:
        return None
    return number if number.is_finite() else None


class AugmentCreditUsageStream(AugmentSpendStream):
    """Credits consumed per user (or service account) per model per day."""

    name = "augment_credit_usage"
    path = "/analytics/v0/credit-usage-by-user"
    primary_keys = ("date", "identity", "model_name")
    records_key = "records"
    page_size = 500
    extra_parameters: t.ClassVar[Mapping[str, t.Any]] = {"by_date": "true", "by_model": "true"}
    key_fields = ("model_name",)
    schema = augment_schema(
        key_string("model_name", "Model the credits were spent on ('' when the API names none)."),
        th.Property("credits_consumed", th.IntegerType, description="Credits consumed."),
        identity=True,
    )

    @override
    def to_record(self, row: t.Any, window: DateRange) -> Record:
        """The base record (date, identity, model) plus the credits as an integer."""
        record = super().to_record(row, window)
        day = parse_date(record["date"])
        record["credits_consumed"] = self.whole_number(row, "credits_consumed", day)
        return record


#: Integer counts of ``cost_metrics`` (sent as numbers or strings).
COST_COUNTS: tuple[str, ...] = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "credits_consumed",
)
#: Money of ``cost_metrics`` in US dollars (sent as decimal strings).
COST_AMOUNTS: tuple[str, ...] = (
    "billed_amount_usd",
    "estimated_customer_cost_usd",
    "base_cost_usd",
)
_COST_DESCRIPTIONS = {
    "input_tokens": "Input tokens.",
    "output_tokens": "Output tokens.",
    "cache_read_tokens": "Tokens read from the prompt cache.",
    "cache_write_tokens": "Tokens written to the prompt cache.",
    "credits_consumed": "Credits consumed (the unit of credit-based contracts).",
    "billed_amount_usd": "Amount billed in USD (token-based pricing); exact decimal.",
    "estimated_customer_cost_usd": (
        "Estimated cost in USD at the customer's rates; exact decimal. Not an invoice: do "
        "not add it to billed_amount_usd."
    ),
    "base_cost_usd": "Base cost in USD; exact decimal.",
}


class AugmentCostStream(AugmentSpendStream):
    """Tokens, credits and USD cost per resource (model or compute) per day."""

    name = "augment_cost"
    path = "/analytics/v0/cost-analytics"
    http_method = "POST"
    payload_as_json = True
    primary_keys = ("date", "resource_type", "resource_display_name")
    records_key = "data_points"
    page_size = 1000
    extra_parameters: t.ClassVar[Mapping[str, t.Any]] = {
        "granularity": "COST_ANALYTICS_TIME_GRANULARITY_DAY",
        "group_by_keys": ["COST_ANALYTICS_GROUP_BY_RESOURCE"],
    }
    row_date_field = "start_date"
    schema = augment_schema(
        th.Property("end_date", th.DateType, description="Last date of the data point (UTC)."),
        key_string(
            "resource_display_name",
            "The resource, e.g. a model's name ('' when the API names none).",
        ),
        key_string(
            "resource_type",
            "e.g. COST_ANALYTICS_RESOURCE_TYPE_MODEL or _COMPUTE ('' when absent).",
        ),
        *(
            th.Property(key, th.IntegerType, description=_COST_DESCRIPTIONS[key])
            for key in COST_COUNTS
        ),
        # JSON-schema numbers whose values are decimal.Decimal: the writer prints their
        # exact digits (msgspec decimal_format="number"), never a binary float.
        *(
            th.Property(key, th.DecimalType, description=_COST_DESCRIPTIONS[key])
            for key in COST_AMOUNTS
        ),
        extra_metrics=True,
    )

    @override
    def to_record(self, row: t.Any, window: DateRange) -> Record:
        """Date, resource and the flattened ``cost_metrics`` (unknown ones in extras)."""
        if not isinstance(row, dict):
            msg = f"Augment {self.path} for {window} sent a non-object data point: {row!r:.100}"
            raise DataError(msg)
        day = self.row_date(row, window)
        groups = row.get("group_by_values") or {}
        metrics = row.get("cost_metrics") or {}
        if not isinstance(groups, dict) or not isinstance(metrics, dict):
            msg = f"Augment {self.path} sent a data point for {day} with a non-object part."
            raise DataError(msg)
        record: Record = {"date": day.isoformat(), "end_date": self.end_date(row, day)}
        for key in ("resource_display_name", "resource_type"):
            value = groups.get(key)
            record[key] = "" if value is None else str(value)
        for key in COST_COUNTS:
            record[key] = self.whole_number(metrics, key, day)
        for key in COST_AMOUNTS:
            record[key] = self.money(metrics, key, day)
        known = {*COST_COUNTS, *COST_AMOUNTS}
        extras = {key: value for key, value in metrics.items() if key not in known}
        record["extra_metrics"] = extras or None
        return record

    def end_date(self, row: dict[str, t.Any], day: dt.date) -> str | None:
        """The data point's ``end_date`` (null when absent)."""
        field = "end_date"
        value = row.get(field)
        if value is None:
            return None
        try:
            return parse_date(str(value)).isoformat()
        except ValueError:
            raise self.unparsable(field, value, day, "a YYYY-MM-DD date") from None


AUGMENT_STREAMS: tuple[type[AugmentStream], ...] = (
    AugmentDauCountStream,
    AugmentDailyActiveUsersStream,
    AugmentDailyUsageStream,
    AugmentUserActivityStream,
    AugmentUserActivityByEditorLanguageStream,
    AugmentCreditUsageStream,
    AugmentCostStream,
)
