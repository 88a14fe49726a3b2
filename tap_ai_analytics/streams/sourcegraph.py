"""Sourcegraph Analytics streams: CSV reports per granularity, per instance."""

from __future__ import annotations

import datetime as dt
import functools
import typing as t
from http import HTTPStatus
from urllib.parse import parse_qs, urlsplit

from singer_sdk.streams.rest import HTTPRequest

from tap_ai_analytics.client import AnalyticsHTTPStream
from tap_ai_analytics.compat import override
from tap_ai_analytics.csvreport import CompletenessCheck, read_report_body
from tap_ai_analytics.dates import DateRange, month_start, next_month_start
from tap_ai_analytics.errors import APIRequestError
from tap_ai_analytics.output import BatchedRecords
from tap_ai_analytics.schemas import (
    CLIENT_NAME,
    LANGUAGE,
    REGISTRY_COLUMNS,
    TIMESTAMP_DATE,
    TIMESTAMP_MONTH,
    USAGE_COLUMNS,
    USER_ID,
    Column,
    sourcegraph_schema,
)
from tap_ai_analytics.streams.base import DateWindowStream

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    import requests
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context, Record

    from tap_ai_analytics.settings import Settings, SourcegraphSettings


class InstanceAccessError(APIRequestError):
    """The token may not read one instance (the others can still be synced)."""


class InstanceAccess:
    """The instances a token may not read, shared by one run's Sourcegraph streams.

    A denied instance is skipped by the streams that come after, and the run fails
    naming it once every stream has synced the other instances (:meth:`check`, called
    by the tap after the sync, whatever order the streams ran in).
    """

    def __init__(self) -> None:
        """Start with no denied instance."""
        self.denied: list[str] = []

    def check(self) -> None:
        """Fail the run if any instance was denied.

        Raises:
            InstanceAccessError: Naming every denied instance.
        """
        if self.denied:
            msg = (
                f"Sourcegraph denied access to {', '.join(self.denied)} (see above); every "
                "other instance was synced and its state saved."
            )
            raise InstanceAccessError(msg)


class SourcegraphStream(BatchedRecords, AnalyticsHTTPStream):
    """A Sourcegraph CSV report, requested once per configured instance.

    Subclasses declare: name, path, ``granularity``, the key columns and other columns.
    """

    vendor_label = "Sourcegraph"
    token_hint = "create one at https://analytics.sourcegraph.com/access-tokens"  # noqa: S105
    path = "/api/reports/by-user-client-date"
    granularity: t.ClassVar[str | None] = None
    key_columns: t.ClassVar[tuple[Column, ...]] = (USER_ID,)
    columns: t.ClassVar[tuple[Column, ...]] = USAGE_COLUMNS
    # CSV values are cast by the parser; the SDK's per-record type conformance would
    # only repeat that work for millions of rows (and rule out writing them in batches).
    TYPE_CONFORMANCE_LEVEL = AnalyticsHTTPStream.TYPE_CONFORMANCE_LEVEL.NONE

    def __init__(self, tap: Tap, settings: Settings, *, access: InstanceAccess) -> None:
        """Create the stream; its key and schema follow from its declared columns.

        Args:
            tap: The tap.
            settings: The validated configuration.
            access: The run's record of denied instances, shared by its Sourcegraph streams.
        """
        super().__init__(tap, settings, schema=sourcegraph_schema(self.key_columns, self.columns))
        self.primary_keys = ("instance_url", *(column.field for column in self.key_columns))
        self.access = access

    @override
    def generate_child_contexts(
        self, record: Record, context: Context | None
    ) -> Iterable[Context | None]:
        """No child contexts without child streams (the SDK makes one per record).

        Args:
            record: The record.
            context: The partition context.

        Returns:
            The child contexts: none when the stream has no child streams.
        """
        if not self.child_streams:
            return ()
        return super().generate_child_contexts(record, context)

    @override
    @property
    def vendor(self) -> SourcegraphSettings:
        """The Sourcegraph settings (these streams exist only when it is configured)."""
        assert self.settings.sourcegraph is not None  # noqa: S101
        return self.settings.sourcegraph

    @property
    def instances(self) -> tuple[str, ...]:
        """The configured instances (bare hosts)."""
        return self.vendor.instances

    @override
    @property
    def partitions(self) -> list[dict[str, t.Any]]:
        """One state partition per instance."""
        return [{"instance_url": instance} for instance in self.instances]

    @override
    def client_error(self, response: requests.Response, detail: str) -> APIRequestError:
        """Name the instance on access errors (the other instances can still be read)."""
        if response.status_code in {HTTPStatus.FORBIDDEN, HTTPStatus.NOT_FOUND}:
            query = parse_qs(urlsplit(response.request.url or "").query)
            instance = query.get("instanceURL", ["(unknown)"])[0]
            msg = (
                f"Sourcegraph denied access to instance {instance} (HTTP "
                f"{response.status_code}{': ' + detail if detail else ''}): the token's user "
                "has no access to that instance's analytics, or the instance URL is wrong. "
                "Ask Sourcegraph to link your account to the instance, or fix "
                "sourcegraph_instance_urls."
            )
            return InstanceAccessError(msg)
        return super().client_error(response, detail)

    def report_params(self, window: DateRange | None) -> dict[str, t.Any]:
        """Query parameters of one report download (besides the instance)."""
        params: dict[str, t.Any] = {"granularity": self.granularity}
        if window is not None:
            params |= {"startDate": window.first.isoformat(), "endDate": window.last.isoformat()}
        return params

    def report_request(self, context: Context, window: DateRange | None) -> HTTPRequest:
        """The request for one instance's report (over ``window``, if any)."""
        return HTTPRequest(
            url=self.get_url(context),
            params={"instanceURL": context["instance_url"], **self.report_params(window)},
            headers=self.http_headers,
        )

    def report_records(self, context: Context, window: DateRange | None) -> Iterator[Record]:
        """Yield one report's typed records while it downloads.

        A row is parsed once the line terminator after it has arrived, and a body that
        ends like one cut short is downloaded again (see :class:`CompletenessCheck`).
        Records of an attempt that then failed were already emitted: the retry emits
        them again, so rows may repeat but none is lost (the target's upsert on the
        primary key keeps one; the window's bookmark is only committed after the whole
        download).

        Usually the records are written here, a batch at a time, and none is yielded
        (:meth:`~tap_ai_analytics.output.BatchedRecords.record_batches`): the download
        thread parses and encodes them, this thread writes them.
        """
        instance = context["instance_url"]
        request = self.report_request(context, window)
        where = f"Sourcegraph {self.granularity or self.name} report for {instance}"
        if window is not None:
            where += f" {window}"
        omits_final_newline = getattr(self, "_omits_final_newline", False)
        check = CompletenessCheck(
            where, self.backoff_max_tries(), repeat_proves=omits_final_newline
        )
        parse = functools.partial(
            read_report_body,
            check=check,
            fields=self.schema["properties"],
            key_columns=self.key_columns,
            constants={"instance_url": instance},
            where=where,
            on_unknown_columns=self.warn_unknown_columns,
        )
        batches = self.record_batches()
        if batches is None:
            yield from self.stream_download(request, parse)
            return
        parse_structs = functools.partial(parse, omit=batches.deselected, as_structs=True)
        # About 1 MB of encoded records per hand-off to this thread.
        for lines, count in self.stream_download(request, batches.encoding(parse_structs), 16):
            batches.write(lines, count)
        if check.accepted_unterminated and not omits_final_newline:
            self._omits_final_newline = True
            self.logger.warning(
                "%s: Sourcegraph sent the same body without a final line terminator in "
                "%d downloads; accepted it as complete. For the rest of this run such a "
                "body is accepted once two downloads agree.",
                where,
                check.attempt,
            )

    def warn_unknown_columns(self, headers: list[str]) -> None:
        """Say once per run which new columns go to ``extra_columns``."""
        if not getattr(self, "_warned_unknown", False):
            self._warned_unknown = True
            self.logger.warning(
                "%s: columns unknown to this version are kept in extra_columns: %s",
                self.name,
                ", ".join(headers),
            )

    def instance_records(self, context: Context) -> Iterator[Record]:
        """Yield one instance's records (and commit its state)."""
        raise NotImplementedError

    @override
    def get_records(self, context: Context | None) -> Iterator[Record]:
        """Sync one instance; one the token cannot read fails the run only at the end.

        Args:
            context: The instance partition.

        Returns:
            The records.
        """
        assert context is not None  # noqa: S101 - always partitioned by instance
        return self.counting_requests(self.instance_or_nothing(context), context)

    def instance_or_nothing(self, context: Context) -> Iterator[Record]:
        """One instance's records; nothing from an instance the token cannot read.

        Yields:
            Records.
        """
        instance = context["instance_url"]
        if instance in self.access.denied:
            self.logger.warning("%s [%s]: skipped, access was denied.", self.name, instance)
            return
        try:
            yield from self.instance_records(context)
        except InstanceAccessError as exc:
            self.logger.error("%s", exc)  # noqa: TRY400 - the message is the whole story
            self.access.denied.append(instance)


class SourcegraphDateReportStream(DateWindowStream, SourcegraphStream):
    """A day-grain report: incremental on ``date``, downloaded in date windows."""

    @override
    def latest_date(self) -> dt.date:
        """Today: Sourcegraph refreshes hourly, so today's data is partial but real."""
        return self.settings.today

    @override
    def windows(self, dates: DateRange) -> Iterable[DateRange]:
        """Calendar months (default) or single days."""
        return dates.split(1) if self.vendor.window == "day" else dates.split_months()

    @override
    def describe_window_cost(self, windows: list[DateRange]) -> str:
        """Downloads, one per window."""
        return f"{len(windows)} download{'s' if len(windows) != 1 else ''}"

    @override
    def instance_records(self, context: Context) -> Iterator[Record]:
        """The date-window engine, for one instance."""
        return self.sync_windows(context)

    @override
    def window_records(self, window: DateRange, context: Context | None) -> Iterator[Record]:
        """One report download per window."""
        assert context is not None  # noqa: S101
        return self.report_records(context, window)


class SourcegraphUsageByUserDayClientLanguageStream(SourcegraphDateReportStream):
    """Usage per user, day, client and language (the finest report)."""

    name = "sourcegraph_usage_by_user_day_client_language"
    granularity = "by_user_day_client_language"
    key_columns = (USER_ID, TIMESTAMP_DATE, CLIENT_NAME, LANGUAGE)


class SourcegraphUsageByUserDayStream(SourcegraphDateReportStream):
    """Usage per user and day."""

    name = "sourcegraph_usage_by_user_day"
    granularity = "by_user_day"
    key_columns = (USER_ID, TIMESTAMP_DATE)
    columns = (CLIENT_NAME, LANGUAGE, *USAGE_COLUMNS)
    selected_by_default = False


class SourcegraphUsageByUserMonthStream(SourcegraphDateReportStream):
    """Usage per user and calendar month; the current and last month are always re-read."""

    name = "sourcegraph_usage_by_user_month"
    granularity = "by_user_month"
    replication_key = "month"
    key_columns = (USER_ID, TIMESTAMP_MONTH)
    columns = (CLIENT_NAME, LANGUAGE, *USAGE_COLUMNS)
    selected_by_default = False

    @override
    def sync_dates(self, context: Context | None) -> DateRange | None:
        """Whole months from the bookmark's month (or last month, if earlier) to now."""
        today = self.latest_date()
        first = month_start(self.settings.start_date)
        bookmark = self.bookmark(context)
        if bookmark is not None:
            last_month = month_start(month_start(today) - dt.timedelta(days=1))
            first = max(first, min(month_start(bookmark), last_month))
        end = self.settings.end_date or today
        last = min(next_month_start(end) - dt.timedelta(days=1), today)
        return DateRange(first, last) if first <= last else None

    @override
    def windows(self, dates: DateRange) -> Iterable[DateRange]:
        """One window per calendar month: a month row must aggregate the whole month."""
        return dates.split_months()

    @override
    def commit_bookmark(self, day: dt.date, context: Context | None) -> None:
        """The bookmark is the month (its first day) that was synced."""
        super().commit_bookmark(month_start(day), context)


class SourcegraphFullReportStream(SourcegraphStream):
    """A report without dates, fully re-read on every run (one request per instance)."""

    @override
    def instance_records(self, context: Context) -> Iterator[Record]:
        """One download per instance per run."""
        self.logger.info("%s [%s]: 1 download (full table).", self.name, context["instance_url"])
        return self.report_records(context, None)


class SourcegraphUsageByUserStream(SourcegraphFullReportStream):
    """All-time usage totals per user."""

    name = "sourcegraph_usage_by_user"
    granularity = "by_user"
    key_columns = (USER_ID,)
    columns = (CLIENT_NAME, LANGUAGE, *USAGE_COLUMNS)
    selected_by_default = False

    @override
    def connection_checks(self) -> list[tuple[str, Callable[[], object]]]:
        """One small report request per instance: each instance has its own access."""
        today = DateRange(self.settings.today, self.settings.today)
        return [
            (
                f"sourcegraph {context['instance_url']}",
                functools.partial(self.fetch_text, self.report_request(context, today)),
            )
            for context in self.partitions
        ]


class SourcegraphUserRegistryStream(SourcegraphFullReportStream):
    """The instance's current users: service account and site admin flags."""

    name = "sourcegraph_user_registry"
    path = "/api/reports/user-registry"
    key_columns = (USER_ID,)
    columns = REGISTRY_COLUMNS
    selected_by_default = False

    @override
    def report_params(self, window: DateRange | None) -> dict[str, t.Any]:  # noqa: ARG002
        """The registry takes only the instance."""
        return {}


SOURCEGRAPH_STREAMS: tuple[type[SourcegraphStream], ...] = (
    SourcegraphUsageByUserDayClientLanguageStream,
    SourcegraphUsageByUserDayStream,
    SourcegraphUsageByUserMonthStream,
    SourcegraphUsageByUserStream,
    SourcegraphUserRegistryStream,
)
