"""Fault-injection switches for the sandbox.

A :class:`Faults` object is shared by the test thread (which flips switches) and the server's
handler threads (which read them), so every mutation and every consumption happens under a lock.

There are two kinds of switches:

* **Style switches** are plain attributes (``faults.final_cursor = "null"``). They change how a
  normal response is rendered and stay in force until changed or until :meth:`Faults.clear`.
  Assigning an unsupported value raises ``ValueError`` so a typo cannot silently test nothing.
* **Scripted faults** (``fail_next``, ``rate_limit_next``, ...) are queued and consumed by the
  next matching requests, in the order they were queued.

``path_prefix`` filters are segment-aware: ``"/analytics/v0/dau"`` matches ``/analytics/v0/dau``
but not ``/analytics/v0/dau-count``; ``"/api/reports"`` matches every report endpoint. A prefix
ending in ``/`` is a plain string prefix.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import random
import threading
import typing as t

from .sourcegraph_data import SOURCEGRAPH_COLUMNS

if t.TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Iterable, Mapping, Sequence

#: Allowed values of each style switch; the first one is the default.
STYLE_CHOICES: dict[str, tuple[object, ...]] = {
    "identity_null": (False, True),
    "final_cursor": ("empty", "null", "absent"),
    "retry_after_style": ("seconds", "http-date", None),
    "sourcegraph_all_columns": (False, True),
    "sourcegraph_bool_style": ("truefalse", "10", "yesno"),
    "sourcegraph_month_style": ("YYYY-MM", "YYYY-MM-01"),
    "sourcegraph_empty_body": (False, True),
    "sourcegraph_no_final_newline": (False, True),
    "sourcegraph_huge_cell": (False, True),
}
#: Default undocumented column appended to usage reports (new columns are announced as planned).
DEFAULT_EXTRA_COLUMNS: tuple[str, ...] = ("Deep Search Events",)

DEFAULT_DROP_AFTER_BYTES = 64
#: Kinds of :meth:`Faults.bad_ok_body_next`: a 200 that is not the endpoint's data.
BAD_OK_BODIES: tuple[str, ...] = ("error_object", "no_data", "null_data", "html_page")
#: Where :meth:`Faults.truncate_csv_next` ends a CSV body (see :func:`truncate_csv`).
CSV_CUTS = ("mid_row", "mid_value", "short_row")
#: How a truncated CSV body is framed: chunked (with the terminating chunk) or with a
#: ``Content-Length`` that matches the truncated body.
CSV_FRAMINGS = ("chunked", "length")
#: Characters of the cell served by the ``sourcegraph_huge_cell`` switch (csv's default
#: field limit is 128 KiB).
HUGE_CELL_CHARS = 200 * 1024


def path_matches(prefix: str | None, path: str) -> bool:
    """Return whether ``path`` is selected by a ``path_prefix`` filter.

    Args:
        prefix: The filter (``None`` matches everything).
        path: The request path, without the query string.

    Returns:
        ``True`` when the filter selects the path.
    """
    if prefix is None:
        return True
    if prefix.endswith("/"):
        return path.startswith(prefix)
    return path == prefix or path.startswith(prefix + "/")


@dataclasses.dataclass(frozen=True)
class EarlyFault:
    """A fault that replaces the whole response before the request is handled.

    Attributes:
        kind: ``"fail"`` (arbitrary status) or ``"rate_limit"`` (scripted 429).
        status: HTTP status to send.
        body: Explicit body, or ``None`` for the vendor's default error body.
        content_type: Explicit content type (only used with an explicit body).
        retry_after: Value of the ``Retry-After`` header, or ``None`` for no header.
    """

    kind: str
    status: int
    body: bytes | None = None
    content_type: str | None = None
    retry_after: str | None = None


@dataclasses.dataclass(frozen=True)
class TransportFault:
    """A fault applied while the response body is written.

    Attributes:
        kind: ``"drop"`` (close the socket mid-body) or ``"slow"`` (stall mid-body).
        after_bytes: For ``drop``, how many body bytes to write before closing.
        delay_seconds: For ``slow``, how long to stall.
    """

    kind: str
    after_bytes: int = DEFAULT_DROP_AFTER_BYTES
    delay_seconds: float = 0.0


@dataclasses.dataclass(frozen=True)
class CsvCut:
    """A CSV body that ends early although its HTTP framing is complete.

    Attributes:
        kind: One of :data:`CSV_CUTS`.
        framing: One of :data:`CSV_FRAMINGS`.
        start_date: Only reports whose ``startDate`` parameter is this (None: any).
        nth: How many bodies the same fault cut before this one.
    """

    kind: str
    framing: str = "chunked"
    start_date: str | None = None
    nth: int = 0  # how many bodies this fault cut before (each is cut a row earlier)


@dataclasses.dataclass
class _Scripted:
    """One queued fault and how many more requests it applies to."""

    stage: str  # "early", "transport", "malformed" or "ok_body": when the server consults it
    remaining: int
    path_prefix: str | None
    early: EarlyFault | None = None
    transport: TransportFault | None = None
    retry_after_style: str | None = None
    retry_after_seconds: float = 1.0
    bad_ok_body: str | None = None  # for stage "ok_body": one of BAD_OK_BODIES
    csv_cut: CsvCut | None = None
    consumed: int = 0


@dataclasses.dataclass
class _RandomErrors:
    rate: float
    statuses: tuple[int, ...]
    rng: random.Random
    path_prefix: str | None


def _to_bytes(body: str | bytes | None) -> bytes | None:
    if body is None or isinstance(body, bytes):
        return body
    return body.encode("utf-8")


def _check_count(n: object) -> None:
    if not isinstance(n, int) or n < 0:
        msg = f"n must be a non-negative integer, got {n!r}"
        raise ValueError(msg)


class Faults:
    """Thread-safe fault-injection switches (all off by default).

    Attributes:
        identity_null: Render the non-applicable Augment identity field as explicit ``null``
            instead of omitting it.
        final_cursor: Augment last-page ``next_cursor`` style: ``"empty"`` (``""``),
            ``"null"`` or ``"absent"``.
        retry_after_style: ``Retry-After`` style of rate-limiter 429s: ``"seconds"``,
            ``"http-date"`` or ``None`` (header omitted).
        sourcegraph_all_columns: Always emit all 25 documented columns, unused dimensions blank.
        sourcegraph_extra_columns: Undocumented integer columns appended to usage reports.
        sourcegraph_bool_style: ``"truefalse"``, ``"10"`` or ``"yesno"``.
        sourcegraph_month_style: ``"YYYY-MM"`` or ``"YYYY-MM-01"``.
        sourcegraph_empty_body: Send an empty body instead of a header-only CSV.
        sourcegraph_no_final_newline: Send CSV bodies without their final line terminator
            (the same body every time: a server that omits it, not a cut).
        sourcegraph_huge_cell: Serve the ``Username`` of each report's first data row as
            :func:`huge_cell` of the real one (quoted, multi-line, > 128 KiB).
    """

    identity_null: bool
    final_cursor: str
    retry_after_style: str | None
    sourcegraph_all_columns: bool
    sourcegraph_extra_columns: list[str]
    sourcegraph_bool_style: str
    sourcegraph_month_style: str
    sourcegraph_empty_body: bool
    sourcegraph_no_final_newline: bool
    sourcegraph_huge_cell: bool
    _lock: threading.RLock
    _queue: list[_Scripted]
    _random: _RandomErrors | None
    _repeat_prefixes: list[str | None]
    _unavailable: list[tuple[str | None, int, str | None]]
    _date_clamps: list[tuple[str | None, dt.date | None, dt.date | None]]
    _page_caps: list[tuple[str | None, int]]

    def __init__(self) -> None:
        """Create the switches, all off."""
        object.__setattr__(self, "_lock", threading.RLock())
        self.clear()

    def __setattr__(self, name: str, value: object) -> None:
        """Validate style switches so that a typo fails loudly.

        Raises:
            ValueError: If the value is not supported by the switch.
            AttributeError: If the attribute is not a known switch.
        """
        if name in STYLE_CHOICES:
            if value not in STYLE_CHOICES[name]:
                msg = f"{name} must be one of {STYLE_CHOICES[name]!r}, got {value!r}"
                raise ValueError(msg)
        elif name == "sourcegraph_extra_columns":
            value = _check_extra_columns(value)
        else:
            msg = f"Faults has no switch named {name!r}"
            raise AttributeError(msg)
        with self._lock:
            object.__setattr__(self, name, value)

    # -- lifecycle -------------------------------------------------------------------------

    def clear(self) -> None:
        """Reset every style switch to its default and drop all scripted faults."""
        with self._lock:
            for name, choices in STYLE_CHOICES.items():
                object.__setattr__(self, name, choices[0])
            object.__setattr__(self, "sourcegraph_extra_columns", list(DEFAULT_EXTRA_COLUMNS))
            object.__setattr__(self, "_queue", [])
            object.__setattr__(self, "_random", None)
            object.__setattr__(self, "_repeat_prefixes", [])
            object.__setattr__(self, "_unavailable", [])
            object.__setattr__(self, "_date_clamps", [])
            object.__setattr__(self, "_page_caps", [])

    # -- scripted faults -------------------------------------------------------------------

    def fail_next(  # noqa: PLR0913, PLR0917 - mirrors the documented switch signature
        self,
        n: int,
        status: int = 500,
        body: str | bytes | None = None,
        content_type: str | None = None,
        retry_after: int | str | None = None,
        path_prefix: str | None = None,
    ) -> None:
        """Answer the next ``n`` matching requests with ``status``.

        Args:
            n: Number of requests to fail.
            status: HTTP status code.
            body: Response body; ``None`` uses the vendor's usual error body for that status
                (an HTML page for 502).
            content_type: Content type for an explicit body (guessed when omitted).
            retry_after: Optional ``Retry-After`` header value (seconds or a raw string).
            path_prefix: Only requests under this path are affected.
        """
        _check_count(n)
        fault = EarlyFault(
            kind="fail",
            status=status,
            body=_to_bytes(body),
            content_type=content_type,
            retry_after=None if retry_after is None else str(retry_after),
        )
        self._push(_Scripted("early", n, path_prefix, early=fault))

    def rate_limit_next(
        self,
        n: int,
        retry_after: str | None = "seconds",
        seconds: float = 1,
        path_prefix: str | None = None,
    ) -> None:
        """Answer the next ``n`` matching requests with 429.

        Args:
            n: Number of requests to reject.
            retry_after: ``"seconds"``, ``"http-date"`` or ``None`` (no header).
            seconds: Delay advertised in ``Retry-After``.
            path_prefix: Only requests under this path are affected.

        Raises:
            ValueError: If ``retry_after`` is not a supported style.
        """
        _check_count(n)
        if retry_after not in STYLE_CHOICES["retry_after_style"]:
            msg = f"retry_after must be 'seconds', 'http-date' or None, got {retry_after!r}"
            raise ValueError(msg)
        self._push(
            _Scripted(
                "early",
                n,
                path_prefix,
                early=EarlyFault(kind="rate_limit", status=429),
                retry_after_style=retry_after,
                retry_after_seconds=seconds,
            )
        )

    def random_errors(
        self,
        rate: float,
        statuses: Sequence[int] = (500, 502, 503),
        seed: int = 0,
        path_prefix: str | None = None,
    ) -> None:
        """Fail a random fraction of matching requests until cleared.

        The sequence of failures is reproducible for a given seed and request order.

        Args:
            rate: Probability (0-1) that a matching request fails; 0 disables.
            statuses: Statuses to pick from (502 gets an HTML body, others the vendor's body).
            seed: Seed of the random sequence.
            path_prefix: Only requests under this path are affected.

        Raises:
            ValueError: If ``rate`` is outside 0-1 or ``statuses`` is empty.
        """
        if not 0.0 <= rate <= 1.0:
            msg = f"rate must be between 0 and 1, got {rate!r}"
            raise ValueError(msg)
        if not statuses:
            msg = "statuses must not be empty"
            raise ValueError(msg)
        config = None
        if rate > 0:
            config = _RandomErrors(
                rate,
                tuple(statuses),
                random.Random(seed),  # noqa: S311 - reproducible test noise, not crypto
                path_prefix,
            )
        with self._lock:
            object.__setattr__(self, "_random", config)

    def drop_connection_next(
        self,
        n: int,
        after_bytes: int = DEFAULT_DROP_AFTER_BYTES,
        path_prefix: str | None = None,
    ) -> None:
        """Close the socket abruptly in the middle of the next ``n`` matching response bodies.

        Headers are sent complete (JSON keeps its full ``Content-Length``); at most
        ``after_bytes`` body bytes follow, and always fewer than the full body.

        Args:
            n: Number of responses to cut.
            after_bytes: Body bytes written before the socket is closed.
            path_prefix: Only requests under this path are affected.
        """
        _check_count(n)
        fault = TransportFault(kind="drop", after_bytes=max(0, after_bytes))
        self._push(_Scripted("transport", n, path_prefix, transport=fault))

    def slow_body_next(self, n: int, delay_seconds: float, path_prefix: str | None = None) -> None:
        """Stall the next ``n`` matching responses for ``delay_seconds`` in the middle of the body.

        Args:
            n: Number of responses to stall.
            delay_seconds: Length of the stall (the server resumes writing afterwards).
            path_prefix: Only requests under this path are affected.
        """
        _check_count(n)
        fault = TransportFault(kind="slow", delay_seconds=max(0.0, delay_seconds))
        self._push(_Scripted("transport", n, path_prefix, transport=fault))

    def repeat_cursor(self, path_prefix: str | None = None) -> None:
        """Make paginated Augment endpoints loop forever until cleared.

        Every page then reports ``has_more: true`` and the same non-empty ``next_cursor``
        (which points back at the first page).

        Args:
            path_prefix: Only endpoints under this path are affected (``None``: all).
        """
        with self._lock:
            self._repeat_prefixes.append(path_prefix)

    def malformed_json_next(self, n: int, path_prefix: str | None = None) -> None:
        """Truncate the next ``n`` matching successful JSON bodies (still sent as 200).

        Args:
            n: Number of responses to corrupt.
            path_prefix: Only requests under this path are affected.
        """
        _check_count(n)
        self._push(_Scripted("malformed", n, path_prefix))

    def bad_ok_body_next(self, n: int, kind: str, path_prefix: str | None = None) -> None:
        """Answer the next ``n`` matching successful JSON responses with a 200 that is not data.

        Kinds: ``"error_object"`` (an Augment ``{"error": {"code", "message"}}`` document),
        ``"no_data"`` (the response without its data array), ``"null_data"`` (the data
        array as ``null``) and ``"html_page"`` (a login page served as ``text/html``).

        Args:
            n: Number of responses to replace.
            kind: One of :data:`BAD_OK_BODIES`.
            path_prefix: Only requests under this path are affected.

        Raises:
            ValueError: If ``kind`` is not supported.
        """
        _check_count(n)
        if kind not in BAD_OK_BODIES:
            msg = f"kind must be one of {BAD_OK_BODIES!r}, got {kind!r}"
            raise ValueError(msg)
        self._push(_Scripted("ok_body", n, path_prefix, bad_ok_body=kind))

    def endpoint_unavailable(
        self, path_prefix: str | None, status: int = 404, message: str | None = None
    ) -> None:
        """Answer authenticated requests under ``path_prefix`` with ``status`` until cleared.

        Models an organisation whose plan lacks an endpoint. Authentication is checked
        first, so a bad token still gets 401.

        Args:
            path_prefix: The endpoint(s) to take away (``None``: all).
            status: 404, or the 400/403 some gateways send for a feature not enabled.
            message: The error message (a "not available" message when omitted).
        """
        with self._lock:
            self._unavailable.append((path_prefix, status, message))

    def clamp_dates(
        self,
        path_prefix: str | None,
        earliest: dt.date | None = None,
        latest: dt.date | None = None,
    ) -> None:
        """Serve only ``earliest..latest`` of any range asked under ``path_prefix``, silently.

        The response's ``metadata.effective_start_date``/``effective_end_date`` tell the truth.

        Args:
            path_prefix: The endpoint(s) to clamp (``None``: all range endpoints).
            earliest: First date served (``None``: no limit).
            latest: Last date served (``None``: no limit).
        """
        with self._lock:
            self._date_clamps.append((path_prefix, earliest, latest))

    def cap_page_size(self, n: int, path_prefix: str | None = None) -> None:
        """Serve at most ``n`` items per page under ``path_prefix``, whatever was asked.

        Args:
            n: The largest page served.
            path_prefix: The endpoint(s) affected (``None``: all paginated ones).
        """
        _check_count(n)
        with self._lock:
            self._page_caps.append((path_prefix, max(1, n)))

    def truncate_csv_next(
        self,
        n: int,
        cut: str = "mid_value",
        framing: str = "chunked",
        path_prefix: str | None = None,
        start_date: str | None = None,
    ) -> None:
        """End the next ``n`` matching CSV bodies early, with complete HTTP framing.

        The server "hit an error mid-export and closed the response normally": the body
        keeps its header and the first half of its rows, then ends as ``cut`` says (see
        :func:`truncate_csv`), and the response is framed as a complete one. Like a real
        export that fails, it does not fail at the same byte twice: each further body
        this fault cuts ends a row earlier (while there are rows to spare).

        Args:
            n: Number of reports to truncate.
            cut: One of :data:`CSV_CUTS`.
            framing: One of :data:`CSV_FRAMINGS`.
            path_prefix: Only requests under this path are affected.
            start_date: Only reports whose ``startDate`` is this date (``YYYY-MM-DD``).

        Raises:
            ValueError: On an unknown cut or framing.
        """
        _check_count(n)
        if cut not in CSV_CUTS or framing not in CSV_FRAMINGS:
            msg = f"cut must be one of {CSV_CUTS}, framing one of {CSV_FRAMINGS}"
            raise ValueError(msg)
        item = _Scripted("csv_cut", n, path_prefix, csv_cut=CsvCut(cut, framing, start_date))
        self._push(item)

    # -- consumption (called by the server) ----------------------------------------------------

    def take_early(self, path: str) -> tuple[EarlyFault, str | None, float] | None:
        """Consume the early fault (if any) that applies to a new request.

        Args:
            path: The request path.

        Returns:
            ``(fault, retry_after_style, retry_after_seconds)`` or ``None``. For ``fail``
            faults the last two items are ``None`` and ``0``.
        """
        with self._lock:
            item = self._consume("early", path)
            if item is not None and item.early is not None:
                if item.early.kind == "rate_limit":
                    return item.early, item.retry_after_style, item.retry_after_seconds
                return item.early, None, 0.0
            config: _RandomErrors | None = self._random
            if config is not None and path_matches(config.path_prefix, path):
                # Draw both numbers every time so the sequence depends only on request order.
                roll = config.rng.random()
                status = config.rng.choice(config.statuses)
                if roll < config.rate:
                    return EarlyFault(kind="fail", status=status), None, 0.0
        return None

    def take_transport(self, path: str) -> TransportFault | None:
        """Consume the transport fault (if any) for a response that has a body.

        Args:
            path: The request path.

        Returns:
            The fault to apply while writing, or ``None``.
        """
        with self._lock:
            item = self._consume("transport", path)
        return None if item is None else item.transport

    def take_malformed(self, path: str) -> bool:
        """Consume a malformed-JSON fault for a successful JSON response.

        Args:
            path: The request path.

        Returns:
            ``True`` when the body must be corrupted.
        """
        with self._lock:
            return self._consume("malformed", path) is not None

    def take_bad_ok_body(self, path: str) -> str | None:
        """Consume a bad-200 fault for a successful JSON response.

        Args:
            path: The request path.

        Returns:
            The kind of body to send instead (see :meth:`bad_ok_body_next`), or ``None``.
        """
        with self._lock:
            item = self._consume("ok_body", path)
        return None if item is None else item.bad_ok_body

    def next_bad_ok_body(self, path: str) -> str | None:
        """The kind of the bad-200 fault the next response to ``path`` would take (not consumed)."""
        with self._lock:
            item = next(
                (
                    item
                    for item in self._queue
                    if item.stage == "ok_body" and path_matches(item.path_prefix, path)
                ),
                None,
            )
        return None if item is None else item.bad_ok_body

    def take_csv_cut(self, path: str, params: Mapping[str, str]) -> CsvCut | None:
        """Consume the CSV truncation (if any) for a report request.

        Args:
            path: The request path.
            params: The query parameters.

        Returns:
            How to truncate the body, or ``None``.
        """
        with self._lock:
            for item in self._queue:
                cut = item.csv_cut
                if (
                    cut is not None
                    and path_matches(item.path_prefix, path)
                    and cut.start_date in {None, params.get("startDate")}
                ):
                    item.remaining -= 1
                    if item.remaining <= 0:
                        self._queue.remove(item)
                    item.consumed += 1
                    return dataclasses.replace(cut, nth=item.consumed - 1)
        return None

    def repeats_cursor(self, path: str) -> bool:
        """Return whether pagination on ``path`` must loop (see :meth:`repeat_cursor`).

        Args:
            path: The request path.

        Returns:
            ``True`` when a ``repeat_cursor`` switch covers the path.
        """
        with self._lock:
            return any(path_matches(prefix, path) for prefix in self._repeat_prefixes)

    def unavailable(self, path: str) -> tuple[int, str | None] | None:
        """Return ``(status, message)`` when :meth:`endpoint_unavailable` covers ``path``."""
        with self._lock:
            for prefix, status, message in self._unavailable:
                if path_matches(prefix, path):
                    return status, message
        return None

    def date_clamp(self, path: str) -> tuple[dt.date | None, dt.date | None]:
        """Return the narrowest ``(earliest, latest)`` :meth:`clamp_dates` sets for ``path``."""
        earliest: dt.date | None = None
        latest: dt.date | None = None
        with self._lock:
            for prefix, first, last in self._date_clamps:
                if path_matches(prefix, path):
                    if first is not None:
                        earliest = first if earliest is None else max(earliest, first)
                    if last is not None:
                        latest = last if latest is None else min(latest, last)
        return earliest, latest

    def page_size_cap(self, path: str) -> int | None:
        """Return the smallest :meth:`cap_page_size` for ``path``, if any."""
        with self._lock:
            caps = [n for prefix, n in self._page_caps if path_matches(prefix, path)]
        return min(caps) if caps else None

    def styles(self) -> dict[str, object]:
        """Return a consistent snapshot of the style switches for one request.

        Returns:
            Mapping of switch name to current value.
        """
        with self._lock:
            snapshot: dict[str, object] = {name: getattr(self, name) for name in STYLE_CHOICES}
            snapshot["sourcegraph_extra_columns"] = tuple(self.sourcegraph_extra_columns)
            return snapshot

    @property
    def pending(self) -> int:
        """Number of scripted requests still queued (not counting random or repeat switches)."""
        with self._lock:
            return sum(item.remaining for item in self._queue)

    # -- internals -------------------------------------------------------------------------

    def _push(self, item: _Scripted) -> None:
        if item.remaining == 0:
            return
        with self._lock:
            self._queue.append(item)

    def _consume(self, stage: str, path: str) -> _Scripted | None:
        for item in self._queue:
            if item.stage == stage and path_matches(item.path_prefix, path):
                item.remaining -= 1
                if item.remaining <= 0:
                    self._queue.remove(item)
                return item
        return None


def _check_extra_columns(value: object) -> list[str]:
    if isinstance(value, str) or not _is_iterable(value):
        msg = "sourcegraph_extra_columns must be a list of column names"
        raise ValueError(msg)
    names = [str(name) for name in t.cast("Iterable[object]", value)]
    if len(set(names)) != len(names) or any(not name for name in names):
        msg = f"sourcegraph_extra_columns must hold distinct non-empty names, got {names!r}"
        raise ValueError(msg)
    clashes = set(names) & {*SOURCEGRAPH_COLUMNS, "Timestamp Month"}
    if clashes:
        msg = f"sourcegraph_extra_columns must not repeat documented columns: {sorted(clashes)!r}"
        raise ValueError(msg)
    return names


def _is_iterable(value: object) -> bool:
    try:
        iter(t.cast("Iterable[object]", value))
    except TypeError:
        return False
    return True


# -- CSV body faults (pure functions: tests use them to compute what was served) -------------


def _csv_line(row: Sequence[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(row)
    return buffer.getvalue()


def truncate_csv(text: str, cut: str, nth: int = 0) -> str:
    """A CSV body ended early: the header, the first half of the rows, then part of a row.

    Args:
        text: The complete body.
        cut: ``"mid_row"``: the next row's first half of fields, no line terminator;
            ``"mid_value"``: the next row up to the middle of its last value, no line
            terminator; ``"short_row"``: the next row's first half of fields and a line
            terminator. Without data rows, the header is cut instead.
        nth: Keep this many fewer rows (not fewer than one, while there are rows).

    Returns:
        The truncated body.
    """
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        return text
    keep = max(1, 1 + (len(rows) - 1) // 2 - nth) if len(rows) > 1 else 0
    victim = rows[keep]
    kept = "".join(_csv_line(row) for row in rows[:keep])
    if cut == "mid_value":
        line = _csv_line(victim)[:-1]
        return kept + line[: len(line) - max(1, len(victim[-1]) // 2)]
    half = _csv_line(victim[: max(1, len(victim) // 2)])
    return kept + (half if cut == "short_row" else half[:-1])


def huge_cell(original: str) -> str:
    """The value served instead of ``original`` by the ``sourcegraph_huge_cell`` switch.

    Longer than :data:`HUGE_CELL_CHARS`, with commas, quotes and line breaks, so it is
    served quoted over many lines.
    """
    unit = 'a "quoted", multi-line\r\nvalue\n'
    return original + " " + unit * (HUGE_CELL_CHARS // len(unit) + 1)


def with_huge_cell(text: str, column: str = "Username") -> str:
    """The body with ``column`` of its first data row replaced by :func:`huge_cell`."""
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if len(rows) < 2 or column not in rows[0]:  # noqa: PLR2004 - a header and a row
        return text
    index = rows[0].index(column)
    rows[1][index] = huge_cell(rows[1][index])
    return "".join(_csv_line(row) for row in rows)
