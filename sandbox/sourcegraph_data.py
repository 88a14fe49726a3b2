"""Synthetic Sourcegraph instances and the CSV reports built from their raw daily rows."""

from __future__ import annotations

import collections
import csv
import dataclasses
import datetime as dt
import io
import threading
import typing as t
import zlib

from .seeding import DEFAULT_SEED, date_range, rand_int, rng_for

if t.TYPE_CHECKING:
    import random
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence


#: The 25 documented usage columns, in documented order (§4.1).
SOURCEGRAPH_COLUMNS: tuple[str, ...] = (
    "Instance user ID",
    "User Email",
    "Username",
    "Active Sourcegraph User",
    "Client Name",
    "Timestamp Date",
    "Language",
    "Searches",
    "Code Navigation Events",
    "Code Insight Views",
    "Chat Events",
    "Command Events",
    "Combined Completion Suggestions",
    "Combined Completion Acceptances",
    "Total Accepted Char Count",
    "Combined CAR",
    "Weighted CAR",
    "Total Characters Written by Cody",
    "Total Characters Written",
    "Percentage of Code Written by Cody",
    "Auto-edit suggested events",
    "Auto-edit accepted events",
    "Auto-edit acceptance rate",
    "Lines changed by chats and commands",
    "Lines changed by completions and auto-edits",
)
SOURCEGRAPH_METRIC_COLUMNS = SOURCEGRAPH_COLUMNS[7:]
SOURCEGRAPH_GRANULARITIES: tuple[str, ...] = (
    "by_user",
    "by_user_month",
    "by_user_day",
    "by_user_day_client_language",
)
DEFAULT_GRANULARITY = "by_user_day_client_language"
REGISTRY_COLUMNS: tuple[str, ...] = ("Instance user ID", "Service Account", "Site Admin")
#: First date with Sourcegraph data.
SOURCEGRAPH_DATA_START = dt.date(2024, 1, 1)
#: Auto-edit columns are blank before this date (the feature and columns arrived then).
AUTO_EDIT_SINCE = dt.date(2025, 6, 24)
SOURCEGRAPH_CLIENTS: tuple[str, ...] = (
    "jetbrains.cody",
    "server.svelte-web",
    "server.web",
    "vscode.cody",
)
SOURCEGRAPH_LANGUAGES: tuple[str, ...] = ("", "C#", "C++", "go", "python", "typescript")

BENCH_INSTANCE = "bench.sourcegraph.example"
BENCH_FIRST_USER_ID = 1000
_BENCH_TEMPLATES = 4096
_BENCH_COMBOS: tuple[tuple[str, str], ...] = tuple(
    (client, language) for client in SOURCEGRAPH_CLIENTS for language in SOURCEGRAPH_LANGUAGES
)

# Generated rows are a pure function of (seed, host, user, date): memoise them process-wide so
# that tests starting many sandboxes do not regenerate the same all-time reports.
_ROW_CACHE: collections.OrderedDict[tuple[str, str, SourcegraphUser, dt.date], tuple[_RawRow, ...]]
_ROW_CACHE = collections.OrderedDict()
_ROW_CACHE_LOCK = threading.Lock()
_ROW_CACHE_SIZE = 200_000

DEFAULT_STYLES: dict[str, object] = {
    "sourcegraph_all_columns": False,
    "sourcegraph_extra_columns": ("Deep Search Events",),
    "sourcegraph_bool_style": "truefalse",
    "sourcegraph_month_style": "YYYY-MM",
}
_BOOLS = {"truefalse": ("true", "false"), "10": ("1", "0"), "yesno": ("yes", "no")}

# Indices of the internal metric vector (summable base quantities, rates are derived).
(
    _SEARCH,
    _NAV,
    _INSIGHT,
    _CHAT,
    _COMMAND,
    _SUGGEST,
    _ACCEPT,
    _ACCEPT_CHARS,
    _SHOWN_CHARS,
    _CODY_CHARS,
    _ALL_CHARS,
    _AE_SUGGEST,
    _AE_ACCEPT,
    _LINES_CHAT,
    _LINES_COMPLETION,
    _DEEP_SEARCH,
) = range(16)
_VECTOR_SIZE = 16

Vector = tuple[int | None, ...]


@dataclasses.dataclass(frozen=True)
class SourcegraphUser:
    """One user of a Sourcegraph instance.

    Attributes:
        uid: Numeric instance user ID.
        email: Primary email (blank in reports without the metadata addendum).
        username: Username (same caveat).
        service_account: Whether the user is a service account.
        site_admin: Whether the user is a site admin.
        activity: Weekday activity probability (0 = in the registry but never active).
        client: Main Cody IDE client.
        languages: Languages the user writes.
    """

    uid: int
    email: str
    username: str
    service_account: bool = False
    site_admin: bool = False
    activity: float = 0.6
    client: str = "vscode.cody"
    languages: tuple[str, ...] = ("typescript",)


@dataclasses.dataclass(frozen=True)
class SourcegraphInstance:
    """A Sourcegraph instance known to the analytics service.

    Attributes:
        host: Bare host name (the ``instanceURL`` value).
        user_metadata: Whether email/username are exported (Cloud, or the addendum signed).
        users: Users, ascending by ID.
    """

    host: str
    user_metadata: bool
    users: tuple[SourcegraphUser, ...]


_U = SourcegraphUser
DEFAULT_SOURCEGRAPH_INSTANCES: tuple[SourcegraphInstance, ...] = (
    # Self-hosted without the user-metadata export addendum: email and username are blank.
    SourcegraphInstance(
        "sourcegraph.acme.example",
        user_metadata=False,
        users=(
            _U(
                1,
                "root@corp.acme.example",
                "root",
                site_admin=True,
                activity=0.3,
                languages=("go",),
            ),
            _U(2, "ana@corp.acme.example", "ana", activity=0.85, languages=("go", "C++")),
            _U(
                3,
                "ben@corp.acme.example",
                "ben",
                activity=0.7,
                client="jetbrains.cody",
                languages=("python", "C#"),
            ),
            _U(4, "chen@corp.acme.example", "chen", activity=0.6, languages=("typescript",)),
            _U(
                6,
                "dina@corp.acme.example",
                "dina",
                activity=0.5,
                client="jetbrains.cody",
                languages=("C#", "python"),
            ),
            _U(7, "", "sourcegraph-ci", service_account=True, activity=0.8),
            _U(9, "eli@corp.acme.example", "eli", activity=0.4, languages=("go", "python")),
            _U(12, "fay@corp.acme.example", "fay", activity=0.0),
        ),
    ),
    # alice, bob and carol also use Augment, as user002, user005 and user007: same email,
    # though bob's and carol's are sent in other letter case or with stray spaces. (Usage is
    # seeded by user ID, not email, so the overlap leaves every metric as it was.)
    SourcegraphInstance(
        "acme.sourcegraphcloud.com",
        user_metadata=True,
        users=(
            _U(
                1,
                "admin@acme.example",
                "sg-admin",
                site_admin=True,
                activity=0.35,
                languages=("go",),
            ),
            _U(
                2, "user002@acme.example", "alice", activity=0.9, languages=("typescript", "python")
            ),
            _U(
                3,
                "User005@ACME.example",
                "bob",
                activity=0.7,
                client="jetbrains.cody",
                languages=("go", "python"),
            ),
            _U(
                5,
                "jo.smith@acme.example",
                "Smith, Jo",
                activity=0.6,
                languages=("C#", "typescript"),
            ),
            _U(
                8,
                "devops@acme.example",
                'dev"ops',
                activity=0.5,
                client="jetbrains.cody",
                languages=("python", "go"),
            ),
            _U(13, "zoe@acme.example", "zoë", activity=0.6, languages=("C++", "python")),
            _U(
                21,
                " user007@acme.example ",
                "carol",
                site_admin=True,
                activity=0.8,
                client="jetbrains.cody",
                languages=("C#", "C++"),
            ),
            _U(34, "", "ci-scanner", service_account=True, activity=0.7),
            _U(42, "dave@acme.example", "dave", activity=0.4, languages=("go",)),
            _U(57, "erin@acme.example", "erin", activity=0.0),
        ),
    ),
    # Exists, but the default token is not linked to it (403).
    SourcegraphInstance(
        "globex.sourcegraphcloud.com",
        user_metadata=True,
        users=(
            _U(1, "hank@globex.example", "hank", site_admin=True, activity=0.5),
            _U(2, "ivy@globex.example", "ivy", activity=0.8, languages=("python",)),
            _U(
                3,
                "jack@globex.example",
                "jack",
                activity=0.6,
                client="jetbrains.cody",
                languages=("go",),
            ),
        ),
    ),
)


@dataclasses.dataclass(frozen=True)
class _RawRow:
    uid: int
    client: str
    language: str
    active: bool
    vector: Vector


@dataclasses.dataclass(frozen=True)
class ReportStyle:
    """How report cells are rendered (mirrors the ``Faults`` style switches).

    Attributes:
        all_columns: Emit all 25 columns, unused dimensions blank.
        extra_columns: Undocumented integer columns appended at the end.
        bool_style: ``"truefalse"``, ``"10"`` or ``"yesno"``.
        month_style: ``"YYYY-MM"`` or ``"YYYY-MM-01"``.
    """

    all_columns: bool = False
    extra_columns: tuple[str, ...] = ("Deep Search Events",)
    bool_style: str = "truefalse"
    month_style: str = "YYYY-MM"

    def boolean(self, value: bool) -> str:  # noqa: FBT001 - a cell value, not a flag
        """Render a boolean cell."""
        return _BOOLS[self.bool_style][0 if value else 1]

    @property
    def true(self) -> str:
        """The rendered ``true`` cell."""
        return _BOOLS[self.bool_style][0]

    @property
    def false(self) -> str:
        """The rendered ``false`` cell."""
        return _BOOLS[self.bool_style][1]

    def month(self, first_day: dt.date) -> str:
        """Render a month cell."""
        text = first_day.isoformat()
        return text if self.month_style == "YYYY-MM-01" else text[:7]


def report_header(granularity: str, style: ReportStyle) -> list[str]:
    """Return the usage-report header for a granularity.

    Args:
        granularity: One of :data:`SOURCEGRAPH_GRANULARITIES`.
        style: Rendering style.

    Returns:
        Column names.
    """
    period = "Timestamp Month" if granularity == "by_user_month" else "Timestamp Date"
    dims = list(SOURCEGRAPH_COLUMNS[:4])
    if style.all_columns or granularity == "by_user_day_client_language":
        dims += ["Client Name", period, "Language"]
    elif granularity != "by_user":
        dims.append(period)
    return dims + list(SOURCEGRAPH_METRIC_COLUMNS) + list(style.extra_columns)


def _ratio(numerator: int | None, denominator: int | None, scale: float, digits: int) -> str:
    if numerator is None or not denominator:
        return ""
    return f"{numerator * scale / denominator:.{digits}f}"


def _cell(value: int | None) -> str:
    return "" if value is None else str(value)


def _metric_cells(vector: Vector) -> list[str]:
    v = vector
    return [
        _cell(v[_SEARCH]),
        _cell(v[_NAV]),
        _cell(v[_INSIGHT]),
        _cell(v[_CHAT]),
        _cell(v[_COMMAND]),
        _cell(v[_SUGGEST]),
        _cell(v[_ACCEPT]),
        _cell(v[_ACCEPT_CHARS]),
        _ratio(v[_ACCEPT], v[_SUGGEST], 1.0, 4),
        _ratio(v[_ACCEPT_CHARS], v[_SHOWN_CHARS], 1.0, 4),
        _cell(v[_CODY_CHARS]),
        _cell(v[_ALL_CHARS]),
        _ratio(v[_CODY_CHARS], v[_ALL_CHARS], 100.0, 2),
        _cell(v[_AE_SUGGEST]),
        _cell(v[_AE_ACCEPT]),
        _ratio(v[_AE_ACCEPT], v[_AE_SUGGEST], 1.0, 4),
        _cell(v[_LINES_CHAT]),
        _cell(v[_LINES_COMPLETION]),
    ]


def _add(total: list[int | None], vector: Sequence[int | None]) -> None:
    """Add ``vector`` into ``total`` in place; blank + blank stays blank."""
    for index, value in enumerate(vector):
        if value is not None:
            current = total[index]
            total[index] = value if current is None else current + value


class SourcegraphData:
    """Synthetic Sourcegraph instances and their usage reports.

    Args:
        today: Returns the current UTC date (data exists up to and including today).
        seed: Seed of the dataset.
        bench_rows: Row count of the benchmark instance's reports (0 disables it).
        styles: Returns the current style switches (the sandbox's ``Faults``); ``None`` means
            the defaults.
        instances: Instance definitions.
    """

    def __init__(
        self,
        today: Callable[[], dt.date],
        seed: str = DEFAULT_SEED,
        bench_rows: int = 0,
        styles: Callable[[], Mapping[str, object]] | None = None,
        instances: Sequence[SourcegraphInstance] = DEFAULT_SOURCEGRAPH_INSTANCES,
    ) -> None:
        """Create the instances."""
        self._today = today
        self._seed = seed
        self._styles = styles
        self._instances = {instance.host: instance for instance in instances}
        self.bench_rows = max(0, bench_rows)
        self._bench_templates: dict[tuple[str, tuple[str, ...]], list[list[str]]] = {}
        self._lock = threading.Lock()

    # -- catalogue -------------------------------------------------------------------------

    @property
    def instances(self) -> list[str]:
        """Hosts of all instances that exist (whether or not a token can access them)."""
        hosts = list(self._instances)
        if self.bench_rows:
            hosts.append(BENCH_INSTANCE)
        return hosts

    def has_instance(self, host: str) -> bool:
        """Return whether ``host`` is a known instance."""
        return host in self._instances or (host == BENCH_INSTANCE and self.bench_rows > 0)

    def users(self, host: str) -> list[SourcegraphUser]:
        """Return an instance's users (not available for the benchmark instance)."""
        return list(self._instance(host).users)

    def current_style(self, **overrides: object) -> ReportStyle:
        """Resolve the rendering style: explicit overrides, else the live switches.

        Args:
            **overrides: ``all_columns``, ``extra_columns``, ``bool_style``, ``month_style``;
                ``None`` values are ignored.

        Returns:
            The style.
        """
        styles = dict(DEFAULT_STYLES)
        if self._styles is not None:
            styles.update({k: v for k, v in self._styles().items() if k in DEFAULT_STYLES})
        style = ReportStyle(
            all_columns=bool(styles["sourcegraph_all_columns"]),
            extra_columns=tuple(t.cast("Iterable[str]", styles["sourcegraph_extra_columns"])),
            bool_style=str(styles["sourcegraph_bool_style"]),
            month_style=str(styles["sourcegraph_month_style"]),
        )
        clean = {k: v for k, v in overrides.items() if v is not None}
        if "extra_columns" in clean:
            clean["extra_columns"] = tuple(t.cast("Iterable[str]", clean["extra_columns"]))
        return dataclasses.replace(style, **clean)  # type: ignore[arg-type]

    # -- reports ---------------------------------------------------------------------------

    def report(  # noqa: PLR0913 - mirrors the endpoint's parameters plus style overrides
        self,
        instance: str,
        granularity: str = DEFAULT_GRANULARITY,
        start: dt.date | None = None,
        end: dt.date | None = None,
        *,
        all_columns: bool | None = None,
        extra_columns: Sequence[str] | None = None,
        bool_style: str | None = None,
        month_style: str | None = None,
    ) -> tuple[list[str], Iterator[list[str]]]:
        """Return a usage report exactly as served (header and raw cell rows).

        Style arguments left as ``None`` follow the sandbox's current fault switches.

        Args:
            instance: Instance host.
            granularity: Report granularity.
            start: Inclusive first date, or ``None`` for no lower bound.
            end: Inclusive last date, or ``None`` for no upper bound.
            all_columns: Override of ``Faults.sourcegraph_all_columns``.
            extra_columns: Override of ``Faults.sourcegraph_extra_columns``.
            bool_style: Override of ``Faults.sourcegraph_bool_style``.
            month_style: Override of ``Faults.sourcegraph_month_style``.

        Returns:
            ``(header, rows)``; rows are generated lazily.

        Raises:
            ValueError: On an unknown granularity.
            KeyError: On an unknown instance.
        """
        style = self.current_style(
            all_columns=all_columns,
            extra_columns=extra_columns,
            bool_style=bool_style,
            month_style=month_style,
        )
        return self._report(instance, granularity, start, end, style)

    def report_text(
        self,
        instance: str,
        granularity: str,
        start: dt.date | None,
        end: dt.date | None,
        style: ReportStyle,
    ) -> tuple[bool, Iterator[str]]:
        """Render a report as CSV text in batches (what the server streams).

        Args:
            instance: Instance host.
            granularity: Report granularity.
            start: Inclusive first date or ``None``.
            end: Inclusive last date or ``None``.
            style: Rendering style.

        Returns:
            ``(has_rows, chunks)``: whether at least one data row follows the header, and the
            CSV text (header first) in batches.
        """
        if instance == BENCH_INSTANCE and self.bench_rows:
            header = report_header(granularity, style)
            periods = self._bench_periods(granularity, start, end, style)
            lines = self._bench_lines(granularity, periods, style)
            return bool(periods), _prepend(",".join(header) + "\n", lines)
        header, rows = self._report(instance, granularity, start, end, style)
        first = next(rows, None)
        if first is None:
            return False, iter([_csv_text([header])])
        return True, _csv_batches(header, first, rows)

    def registry(self, instance: str) -> tuple[list[str], list[list[str]]]:
        """Return the user-registry CSV (header and rows) of an instance.

        Args:
            instance: Instance host.

        Returns:
            ``(header, rows)`` sorted by user ID.
        """
        style = self.current_style()
        if instance == BENCH_INSTANCE and self.bench_rows:
            count = min(self.bench_rows, 1000)
            rows = [[str(BENCH_FIRST_USER_ID + j), style.false, style.false] for j in range(count)]
            return list(REGISTRY_COLUMNS), rows
        users = self._instance(instance).users
        rows = [
            [str(u.uid), style.boolean(u.service_account), style.boolean(u.site_admin)]
            for u in sorted(users, key=lambda u: u.uid)
        ]
        return list(REGISTRY_COLUMNS), rows

    # -- report internals ------------------------------------------------------------------

    def _instance(self, host: str) -> SourcegraphInstance:
        try:
            return self._instances[host]
        except KeyError:
            msg = f"unknown instance {host!r}"
            raise KeyError(msg) from None

    def _report(
        self,
        instance: str,
        granularity: str,
        start: dt.date | None,
        end: dt.date | None,
        style: ReportStyle,
    ) -> tuple[list[str], Iterator[list[str]]]:
        if granularity not in SOURCEGRAPH_GRANULARITIES:
            msg = f"unknown granularity {granularity!r}"
            raise ValueError(msg)
        header = report_header(granularity, style)
        if instance == BENCH_INSTANCE and self.bench_rows:
            periods = self._bench_periods(granularity, start, end, style)
            return header, self._bench_cells(granularity, periods, style)
        inst = self._instance(instance)
        return header, self._rows(inst, granularity, start, end, style)

    def _dates(self, start: dt.date | None, end: dt.date | None) -> list[dt.date]:
        first = max(start or SOURCEGRAPH_DATA_START, SOURCEGRAPH_DATA_START)
        last = min(end or self._today(), self._today())
        return list(date_range(first, last))

    def _rows(
        self,
        inst: SourcegraphInstance,
        granularity: str,
        start: dt.date | None,
        end: dt.date | None,
        style: ReportStyle,
    ) -> Iterator[list[str]]:
        dates = self._dates(start, end)
        today = self._today()
        extras = style.extra_columns
        for user in inst.users:
            if user.activity <= 0:
                continue
            prefix = [
                str(user.uid),
                user.email if inst.user_metadata else "",
                user.username if inst.user_metadata else "",
            ]
            # Groups keyed by (client, period, language); None marks a dropped dimension.
            groups: dict[tuple[str | None, str | None, str | None], tuple[bool, list[int | None]]]
            groups = {}
            for day in dates:
                for raw in self._raw_rows(inst.host, user, day, today):
                    vector = list(raw.vector) + self._extra_values(inst.host, day, raw, extras)
                    key = self._group_key(granularity, raw, day, style)
                    if granularity == "by_user_day_client_language":
                        yield self._render(prefix, raw.active, key, vector, style)
                        continue
                    active, total = groups.get(key, (False, [None] * len(vector)))
                    _add(total, vector)
                    groups[key] = (active or raw.active, total)
                if granularity == "by_user_day":
                    yield from self._flush(prefix, groups, style)
            yield from self._flush(prefix, groups, style)

    def _flush(
        self,
        prefix: list[str],
        groups: dict[tuple[str | None, str | None, str | None], tuple[bool, list[int | None]]],
        style: ReportStyle,
    ) -> Iterator[list[str]]:
        for key, (active, total) in groups.items():
            yield self._render(prefix, active, key, total, style)
        groups.clear()

    @staticmethod
    def _group_key(
        granularity: str, raw: _RawRow, day: dt.date, style: ReportStyle
    ) -> tuple[str | None, str | None, str | None]:
        if granularity == "by_user_day_client_language":
            return raw.client, day.isoformat(), raw.language
        if granularity == "by_user_day":
            return None, day.isoformat(), None
        if granularity == "by_user_month":
            return None, style.month(day.replace(day=1)), None
        return None, None, None

    @staticmethod
    def _render(
        prefix: list[str],
        active: bool,  # noqa: FBT001 - a cell value
        key: tuple[str | None, str | None, str | None],
        vector: Sequence[int | None],
        style: ReportStyle,
    ) -> list[str]:
        client, period, language = key
        row = [*prefix, style.boolean(active)]
        if style.all_columns or client is not None:
            row += [client or "", period or "", language or ""]
        elif period is not None:
            row.append(period)
        row += _metric_cells(tuple(vector[:_VECTOR_SIZE]))
        row += [_cell(value) for value in vector[_VECTOR_SIZE:]]
        return row

    def _extra_values(
        self, host: str, day: dt.date, raw: _RawRow, extras: Sequence[str]
    ) -> list[int | None]:
        values: list[int | None] = []
        deep = raw.vector[_DEEP_SEARCH]
        for name in extras:
            if deep is None:
                values.append(None)
            elif name == "Deep Search Events":
                values.append(deep)
            else:
                key = f"{self._seed}|{host}|{raw.uid}|{day}|{raw.client}|{raw.language}|{name}"
                values.append(zlib.crc32(key.encode()) % 10)
        return values

    def _raw_rows(
        self, host: str, user: SourcegraphUser, day: dt.date, today: dt.date
    ) -> Sequence[_RawRow]:
        key = (self._seed, host, user, day)
        with _ROW_CACHE_LOCK:
            rows = _ROW_CACHE.get(key)
        if rows is None:
            rows = self._generate_user_day(host, user, day)
            with _ROW_CACHE_LOCK:
                _ROW_CACHE[key] = rows
                if len(_ROW_CACHE) > _ROW_CACHE_SIZE:
                    _ROW_CACHE.popitem(last=False)
        if day == today:
            # The current day is partial (hourly refresh): only part of it is collected so far.
            return [
                r
                for r in rows
                if zlib.crc32(f"{host}|{r.uid}|{r.client}|{r.language}".encode()) % 2 == 0
            ]
        return rows

    def _generate_user_day(
        self, host: str, user: SourcegraphUser, day: dt.date
    ) -> tuple[_RawRow, ...]:
        rng = rng_for(self._seed, "sourcegraph", host, user.uid, day.isoformat())
        weekend = day.weekday() >= 5  # noqa: PLR2004 - Saturday and Sunday
        rate = user.activity * (0.25 if weekend else 1.0)
        if rng.random() >= rate:
            return ()
        return tuple(_generate_rows(rng, user, day))

    # -- benchmark instance ----------------------------------------------------------------

    def _bench_periods(
        self,
        granularity: str,
        start: dt.date | None,
        end: dt.date | None,
        style: ReportStyle,
    ) -> list[str | None]:
        dates = self._dates(start, end)
        if not dates:
            return []
        if granularity == "by_user":
            return [None]
        if granularity == "by_user_month":
            months = sorted({day.replace(day=1) for day in dates})
            return [style.month(month) for month in months]
        return [day.isoformat() for day in dates]

    def _bench_template_cells(self, style: ReportStyle) -> list[list[str]]:
        key = (style.bool_style, style.extra_columns)
        with self._lock:
            cached = self._bench_templates.get(key)
        if cached is not None:
            return cached
        templates = []
        for index in range(_BENCH_TEMPLATES):
            rng = rng_for(self._seed, "bench", index)
            vector = _completion_vector(rng, "typescript", AUTO_EDIT_SINCE, full=True)
            vector[_SEARCH] = rand_int(rng, 0, 30)
            vector[_NAV] = rand_int(rng, 0, 20)
            vector[_INSIGHT] = rand_int(rng, 0, 3)
            vector[_CHAT] = rand_int(rng, 0, 12)
            vector[_COMMAND] = rand_int(rng, 0, 4)
            vector[_LINES_CHAT] = rand_int(rng, 0, 80)
            extras = [str(rand_int(rng, 0, 5)) for _ in style.extra_columns]
            templates.append([style.true, *_metric_cells(tuple(vector)), *extras])
        with self._lock:
            self._bench_templates[key] = templates
        return templates

    def _bench_layout(
        self, granularity: str, periods: Sequence[str | None], style: ReportStyle
    ) -> Iterator[tuple[int, str, str, list[str]]]:
        """Yield ``(row index, uid, dimension cells joined, template)`` for every bench row."""
        templates = self._bench_template_cells(style)
        total = self.bench_rows
        count = len(periods)
        index = 0
        for position, period in enumerate(periods):
            rows = (position + 1) * total // count - position * total // count
            if granularity == "by_user_day_client_language":
                dims = [",".join((client, period or "", lang)) for client, lang in _BENCH_COMBOS]
            elif style.all_columns:
                dims = [f",{period or ''},"]
            elif period is None:
                dims = [""]
            else:
                dims = [period]
            width = len(dims) if granularity == "by_user_day_client_language" else 1
            for j in range(rows):
                uid = str(BENCH_FIRST_USER_ID + j // width)
                yield index, uid, dims[j % width], templates[index % _BENCH_TEMPLATES]
                index += 1

    def _bench_cells(
        self, granularity: str, periods: Sequence[str | None], style: ReportStyle
    ) -> Iterator[list[str]]:
        for _, uid, dims, template in self._bench_layout(granularity, periods, style):
            dim_cells = dims.split(",") if dims or style.all_columns else []
            yield [
                uid,
                f"bench{uid}@bench.example",
                f"bench{uid}",
                template[0],
                *dim_cells,
                *template[1:],
            ]

    def _bench_lines(
        self, granularity: str, periods: Sequence[str | None], style: ReportStyle
    ) -> Iterator[str]:
        # Pre-rendered template tails make each row a single f-string: the server must not be
        # the bottleneck of a benchmark.
        tails = [",".join(template[1:]) + "\n" for template in self._bench_template_cells(style)]
        active = style.true
        has_dims = granularity != "by_user" or style.all_columns
        batch: list[str] = []
        for index, uid, dims, _ in self._bench_layout(granularity, periods, style):
            mid = f"{dims}," if has_dims else ""
            batch.append(
                f"{uid},bench{uid}@bench.example,bench{uid},{active},{mid}"
                f"{tails[index % _BENCH_TEMPLATES]}"
            )
            if len(batch) >= 2048:  # noqa: PLR2004 - ~0.5 MB per chunk
                yield "".join(batch)
                batch.clear()
        if batch:
            yield "".join(batch)


def _blank() -> list[int | None]:
    return [None] * _VECTOR_SIZE


def _generate_rows(rng: random.Random, user: SourcegraphUser, day: dt.date) -> list[_RawRow]:
    """Generate one active user's raw rows for one date (already known to be active)."""
    blank: Vector = (None,) * _VECTOR_SIZE
    if rng.random() < 0.08:  # noqa: PLR2004
        # Billable but untracked activity: "active" is set and the rest of the row is blank.
        return [_RawRow(user.uid, "server.web", "", active=True, vector=blank)]
    rows: dict[tuple[str, str], _RawRow] = {}
    web = "server.svelte-web" if rng.random() < 0.3 else "server.web"  # noqa: PLR2004
    if user.service_account or rng.random() < 0.65:  # noqa: PLR2004
        vector = _blank()
        vector[_SEARCH] = rand_int(rng, 0, 25)
        vector[_NAV] = rand_int(rng, 0, 15)
        vector[_INSIGHT] = rng.choice((0, 0, 0, 1, 2))
        vector[_CHAT] = rng.choice((None, 0, rand_int(rng, 1, 3)))
        vector[_DEEP_SEARCH] = rng.choice((0, 0, rand_int(rng, 1, 4)))
        rows[web, ""] = _RawRow(user.uid, web, "", active=True, vector=tuple(vector))
    if not user.service_account and rng.random() < 0.25:  # noqa: PLR2004
        # Code navigation is one of the few event kinds that records a language.
        language = rng.choice(user.languages)
        vector = _blank()
        vector[_NAV] = rand_int(rng, 1, 20)
        rows[web, language] = _RawRow(user.uid, web, language, active=True, vector=tuple(vector))
    if not user.service_account and rng.random() < 0.75:  # noqa: PLR2004
        client = user.client
        if rng.random() < 0.1:  # noqa: PLR2004
            client = "jetbrains.cody" if client == "vscode.cody" else "vscode.cody"
        for language in rng.sample(user.languages, rand_int(rng, 1, len(user.languages))):
            vector = _completion_vector(rng, language, day)
            active = bool(vector[_SUGGEST]) or rng.random() < 0.5  # noqa: PLR2004
            rows[client, language] = _RawRow(
                user.uid, client, language, active=active, vector=tuple(vector)
            )
        if rng.random() < 0.5:  # noqa: PLR2004
            vector = _blank()
            vector[_CHAT] = rand_int(rng, 0, 12)
            vector[_COMMAND] = rand_int(rng, 0, 3)
            vector[_LINES_CHAT] = rand_int(rng, 0, 80)
            rows[client, ""] = _RawRow(user.uid, client, "", active=True, vector=tuple(vector))
    if not rows:
        vector = _blank()
        vector[_SEARCH] = rand_int(rng, 1, 10)
        rows[web, ""] = _RawRow(user.uid, web, "", active=True, vector=tuple(vector))
    return [rows[key] for key in sorted(rows)]


def _completion_vector(
    rng: random.Random, language: str, day: dt.date, *, full: bool = False
) -> list[int | None]:
    """Generate a completion row's metrics; ``full`` guarantees every cell is non-blank."""
    vector = _blank()
    suggested = rng.choice((0, rand_int(rng, 1, 40), rand_int(rng, 20, 220)))
    if full:
        suggested = rand_int(rng, 20, 220)
    accepted = int(suggested * rng.uniform(0.15, 0.45))
    accepted_chars = accepted * rand_int(rng, 20, 90)
    cody_chars = accepted_chars + rand_int(rng, 0, 2000)
    vector[_SUGGEST] = suggested
    vector[_ACCEPT] = accepted
    vector[_ACCEPT_CHARS] = accepted_chars
    vector[_SHOWN_CHARS] = accepted_chars + (suggested - accepted) * rand_int(rng, 20, 90)
    vector[_CODY_CHARS] = cody_chars
    vector[_ALL_CHARS] = cody_chars + rand_int(rng, 0, 9000) if suggested else cody_chars
    lines = accepted * rand_int(rng, 1, 3)
    if day >= AUTO_EDIT_SINCE:
        ae_suggested = rand_int(rng, 1 if full else 0, 40)
        ae_accepted = int(ae_suggested * rng.uniform(0.2, 0.6))
        vector[_AE_SUGGEST] = ae_suggested
        vector[_AE_ACCEPT] = ae_accepted
        lines += ae_accepted
    vector[_LINES_COMPLETION] = lines
    if not full and language in ("C#", "C++") and rng.random() < 0.2:  # noqa: PLR2004
        # Languages with weaker completion support sometimes report no character counts.
        vector[_CODY_CHARS] = vector[_ALL_CHARS] = None
    return vector


def _csv_text(rows: Iterable[Sequence[str]]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    return buffer.getvalue()


def _csv_batches(header: list[str], first: list[str], rows: Iterator[list[str]]) -> Iterator[str]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerow(first)
    count = 1
    for row in rows:
        writer.writerow(row)
        count += 1
        if count >= 512:  # noqa: PLR2004 - stream in modest batches
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            count = 0
    yield buffer.getvalue()


def _prepend(first: str, rest: Iterator[str]) -> Iterator[str]:
    yield first
    yield from rest
