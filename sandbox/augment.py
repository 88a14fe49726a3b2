"""Augment Code Analytics API handlers (``/analytics/v0/...``).

Behaviour follows the reconstructed reference. Choices the docs leave open (marked inferred
there) are: an inclusive 90-day maximum; explicit dates older than two calendar years are
rejected while defaulted ones are clamped; ``page_size`` above the maximum is clamped; cursors
are base64 JSON bound to the effective date parameters.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime as dt
import json
import re
import time
import typing as t

from .messages import BAD_GATEWAY_HTML, HTML_TYPE, Request, Response, json_response

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from .augment_data import AugmentData
    from .faults import Faults

PREFIX = "/analytics/v0/"
MAX_RANGE_DAYS = 90
DEFAULT_RANGE_DAYS = 7
LOOKBACK_YEARS = 2

#: (default page size, maximum page size) of the paginated endpoints.
PAGE_SIZES = {
    "dau": (100, 250),
    "user-activity": (50, 100),
    "daily-user-activity-by-editor-language": (50, 100),
}

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_INT_RE = re.compile(r"[+-]?\d+")

#: gRPC-style error codes per HTTP status (only InvalidArgument is documented verbatim).
ERROR_CODES = {
    400: "InvalidArgument",
    401: "Unauthenticated",
    403: "PermissionDenied",
    404: "NotFound",
    405: "MethodNotAllowed",
    429: "ResourceExhausted",
    500: "Internal",
    501: "Unimplemented",
    503: "Unavailable",
    504: "DeadlineExceeded",
}
_DEFAULT_MESSAGES = {
    401: "missing or invalid authentication token",
    403: "service account lacks analytics permission",
    429: "rate limit exceeded",
    500: "internal error",
    503: "service unavailable",
    504: "deadline exceeded",
}


class InvalidArgumentError(Exception):
    """A request parameter failed validation (HTTP 400 ``InvalidArgument``)."""


def error_body(status: int, message: str | None = None) -> dict[str, dict[str, str]]:
    """Return the Augment error document for a status.

    Args:
        status: HTTP status.
        message: Message (a generic one per status when omitted).

    Returns:
        ``{"error": {"code": ..., "message": ...}}``.
    """
    code = ERROR_CODES.get(status, "Unknown")
    text = message or _DEFAULT_MESSAGES.get(status, f"request failed with status {status}")
    return {"error": {"code": code, "message": text}}


def error_response(
    status: int, message: str | None = None, headers: list[tuple[str, str]] | None = None
) -> Response:
    """Return an Augment error response (502 gets a gateway HTML page, like a real proxy).

    Args:
        status: HTTP status.
        message: Message.
        headers: Extra headers.

    Returns:
        The response.
    """
    if status == 502:  # noqa: PLR2004 - a gateway error is not produced by the API itself
        return Response(status, HTML_TYPE, BAD_GATEWAY_HTML, headers=list(headers or []))
    return json_response(status, error_body(status, message), headers or [])


def generated_at(today: dt.date) -> str:
    """Return a nanosecond-precision ISO 8601 timestamp on ``today`` (UTC).

    The time of day is the real one, so consecutive responses get increasing timestamps.

    Args:
        today: The sandbox's current date.

    Returns:
        Timestamp such as ``2026-01-17T00:17:59.723335985Z``.
    """
    nanos = time.time_ns()
    seconds, fraction = divmod(nanos, 1_000_000_000)
    clock = dt.datetime.fromtimestamp(seconds, tz=dt.timezone.utc)
    return f"{today.isoformat()}T{clock:%H:%M:%S}.{fraction:09d}Z"


def years_before(day: dt.date, years: int) -> dt.date:
    """Return the same calendar day ``years`` earlier (29 February becomes 28 February).

    Args:
        day: The date.
        years: Number of years.

    Returns:
        The earlier date.
    """
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def _parse_date(name: str, value: str) -> dt.date:
    if not _DATE_RE.fullmatch(value):
        msg = f'invalid {name} "{value}": expected format YYYY-MM-DD'
        raise InvalidArgumentError(msg)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        msg = f'invalid {name} "{value}": not a valid calendar date'
        raise InvalidArgumentError(msg) from None


@dataclasses.dataclass(frozen=True)
class _DateRules:
    """Date limits relative to the sandbox's today."""

    today: dt.date

    @property
    def yesterday(self) -> dt.date:
        return self.today - dt.timedelta(days=1)

    @property
    def earliest(self) -> dt.date:
        return years_before(self.today, LOOKBACK_YEARS)

    def explicit(self, name: str, value: str) -> dt.date:
        day = _parse_date(name, value)
        if day >= self.today:
            msg = f"{name} cannot be later than yesterday (UTC)"
            raise InvalidArgumentError(msg)
        if day < self.earliest:
            msg = (
                f"{name} cannot be earlier than 2 years before today (UTC): "
                f"the earliest allowed date is {self.earliest.isoformat()}"
            )
            raise InvalidArgumentError(msg)
        return day

    def single(self, params: dict[str, str]) -> dt.date:
        value = params.get("date")
        return self.yesterday if value is None else self.explicit("date", value)

    def range(self, params: dict[str, str]) -> tuple[dt.date, dt.date]:
        raw_start, raw_end = params.get("start_date"), params.get("end_date")
        start = None if raw_start is None else _parse_date("start_date", raw_start)
        end = None if raw_end is None else _parse_date("end_date", raw_end)
        if end is not None:
            end = self.explicit("end_date", raw_end or "")
        if start is not None:
            start = self.explicit("start_date", raw_start or "")
        span = dt.timedelta(days=DEFAULT_RANGE_DAYS - 1)
        if start is None and end is None:
            end = self.yesterday
            start = max(end - span, self.earliest)
        elif end is None:
            assert start is not None  # noqa: S101 - narrowed by the branches above
            end = min(start + span, self.yesterday)
        elif start is None:
            start = max(end - span, self.earliest)
        if start > end:
            msg = "start_date cannot be later than end_date"
            raise InvalidArgumentError(msg)
        if (end - start).days + 1 > MAX_RANGE_DAYS:
            msg = f"date range cannot exceed {MAX_RANGE_DAYS} days"
            raise InvalidArgumentError(msg)
        return start, end


def _page_size(params: dict[str, str], endpoint: str) -> int:
    default, maximum = PAGE_SIZES[endpoint]
    value = params.get("page_size")
    if value is None:
        return default
    if not _INT_RE.fullmatch(value.strip()) or int(value) <= 0:
        msg = f'invalid page_size "{value}": must be a positive integer'
        raise InvalidArgumentError(msg)
    return min(int(value), maximum)


def encode_cursor(last_id: str, binding: dict[str, str]) -> str:
    """Encode an opaque cursor (base64 JSON with the last id and the bound date parameters).

    Args:
        last_id: Key of the last item on the previous page (``""``: start of the list).
        binding: Effective date parameters of the query.

    Returns:
        The cursor.
    """
    payload = json.dumps({"last_id": last_id, **binding}, separators=(",", ":"))
    return base64.b64encode(payload.encode()).decode()


def decode_cursor(cursor: str, binding: dict[str, str]) -> str:
    """Decode a cursor and check it belongs to the same query.

    Args:
        cursor: The ``cursor`` parameter.
        binding: Effective date parameters of the current query.

    Returns:
        The cursor's ``last_id``.

    Raises:
        InvalidArgumentError: If the cursor cannot be decoded or was issued for other dates.
    """
    # Tolerate clients that forgot to URL-encode it ("+" arrives as a space) or dropped padding.
    text = cursor.strip().replace(" ", "+")
    text += "=" * (-len(text) % 4)
    try:
        raw = base64.b64decode(
            text, altchars=b"-_" if ("-" in text or "_" in text) else None, validate=True
        )
        payload = json.loads(raw)
    except (binascii.Error, ValueError):
        msg = "invalid cursor"
        raise InvalidArgumentError(msg) from None
    if not isinstance(payload, dict) or not isinstance(payload.get("last_id"), str):
        msg = "invalid cursor"
        raise InvalidArgumentError(msg)
    bound = {key: payload.get(key) for key in binding}
    if bound != binding or set(payload) != {"last_id", *binding}:
        msg = "cursor does not match the query parameters; restart pagination without a cursor"
        raise InvalidArgumentError(msg)
    return payload["last_id"]


class AugmentAPI:
    """Serves the five documented GET endpoints.

    Args:
        data: Augment ground truth.
        faults: Shared fault switches.
        today: Returns the sandbox's current UTC date.
        tokens: Bearer tokens with analytics permission.
        forbidden_tokens: Valid bearer tokens without analytics permission.
        admit: Rate limiter: returns ``None`` when the token may proceed, else the number of
            seconds until it may.
    """

    vendor = "augment"

    def __init__(  # noqa: PLR0913 - explicit collaborators keep the handler testable
        self,
        data: AugmentData,
        faults: Faults,
        *,
        today: Callable[[], dt.date],
        tokens: set[str],
        forbidden_tokens: set[str],
        admit: Callable[[str], float | None],
    ) -> None:
        """Create the handler."""
        self.data = data
        self.faults = faults
        self.today = today
        self.tokens = tokens
        self.forbidden_tokens = forbidden_tokens
        self.admit = admit
        self._routes: dict[str, Callable[[Request, _DateRules, dict[str, object]], Response]] = {
            "dau-count": self._dau_count,
            "dau": self._dau,
            "daily-usage": self._daily_usage,
            "user-activity": self._user_activity,
            "daily-user-activity-by-editor-language": self._editor_language,
        }

    def default_error(self, status: int) -> Response:
        """Return this vendor's default body for a scripted failure.

        Args:
            status: HTTP status.

        Returns:
            The response.
        """
        return error_response(status)

    def rate_limited(self, retry_after: str | None) -> Response:
        """Return the 429 response.

        Args:
            retry_after: ``Retry-After`` header value, or ``None`` for none.

        Returns:
            The response.
        """
        headers = [] if retry_after is None else [("Retry-After", retry_after)]
        return error_response(429, headers=headers)

    def handle(self, request: Request, retry_after: Callable[[float], str | None]) -> Response:
        """Authenticate, rate-limit and dispatch one request.

        Args:
            request: The request.
            retry_after: Formats a wait in seconds as a ``Retry-After`` value (or ``None``).

        Returns:
            The response.
        """
        name = request.path[len(PREFIX) :] if request.path.startswith(PREFIX) else None
        route = self._routes.get(name or "")
        if route is None:
            return error_response(404, f"no such endpoint: {request.path}")
        denied = self._gate(request, retry_after)
        if denied is not None:
            return denied
        if request.method != "GET":
            return error_response(405, f"method {request.method} not allowed")
        styles = self.faults.styles()
        try:
            return route(request, _DateRules(self.today()), styles)
        except InvalidArgumentError as exc:
            return error_response(400, str(exc))

    def _gate(
        self, request: Request, retry_after: Callable[[float], str | None]
    ) -> Response | None:
        """Authenticate, authorise and rate-limit; ``None`` lets the request through."""
        token = request.bearer_token()
        if token is None or (token not in self.tokens and token not in self.forbidden_tokens):
            return error_response(401)
        if token in self.forbidden_tokens:
            return error_response(403)
        wait = self.admit(token)
        return None if wait is None else self.rate_limited(retry_after(wait))

    # -- endpoints -------------------------------------------------------------------------

    def _dau_count(self, request: Request, rules: _DateRules, _: dict[str, object]) -> Response:
        start, end = rules.range(request.params)
        days = (end - start).days + 1
        counts = [
            {"date": day.isoformat(), "user_count": self.data.dau_count(day)}
            for day in (start + dt.timedelta(days=i) for i in range(days))
        ]
        return json_response(
            200,
            {
                "daily_active_user_counts": counts,
                "metadata": {
                    "effective_start_date": start.isoformat(),
                    "effective_end_date": end.isoformat(),
                    "generated_at": generated_at(rules.today),
                    "total_days": days,
                },
            },
        )

    def _daily_usage(self, request: Request, rules: _DateRules, _: dict[str, object]) -> Response:
        start, end = rules.range(request.params)
        days = (end - start).days + 1
        usage = [
            entry
            for entry in (self.data.daily_usage(start + dt.timedelta(days=i)) for i in range(days))
            if entry is not None
        ]
        return json_response(
            200,
            {
                "daily_usage": usage,
                "metadata": {
                    "effective_start_date": start.isoformat(),
                    "effective_end_date": end.isoformat(),
                    "generated_at": generated_at(rules.today),
                    # Documented quirk: days with data in the response, not days in the range.
                    "total_days": len(usage),
                },
            },
        )

    def _dau(self, request: Request, rules: _DateRules, styles: dict[str, object]) -> Response:
        day = rules.single(request.params)
        size = _page_size(request.params, "dau")
        binding = {"date": day.isoformat()}
        items = self.data.dau_items(day, identity_null=bool(styles["identity_null"]))
        page, pagination = self._paginate(request, items, size, binding, styles)
        return json_response(
            200,
            {
                "users": page,
                "pagination": pagination,
                "metadata": {
                    "effective_date": day.isoformat(),
                    "generated_at": generated_at(rules.today),
                    "returned_user_count": len(page),
                },
            },
        )

    def _user_activity(
        self, request: Request, rules: _DateRules, styles: dict[str, object]
    ) -> Response:
        start, end = rules.range(request.params)
        size = _page_size(request.params, "user-activity")
        binding = {"start_date": start.isoformat(), "end_date": end.isoformat()}
        items = self.data.user_activity_items(
            start, end, identity_null=bool(styles["identity_null"])
        )
        page, pagination = self._paginate(request, items, size, binding, styles)
        return json_response(
            200,
            {
                "users": page,
                "pagination": pagination,
                "metadata": {
                    "effective_start_date": start.isoformat(),
                    "effective_end_date": end.isoformat(),
                    "generated_at": generated_at(rules.today),
                    "total_days": (end - start).days + 1,
                    "returned_user_count": len(page),
                },
            },
        )

    def _editor_language(
        self, request: Request, rules: _DateRules, styles: dict[str, object]
    ) -> Response:
        day = rules.single(request.params)
        size = _page_size(request.params, "daily-user-activity-by-editor-language")
        binding = {"date": day.isoformat()}
        items = self.data.editor_language_items(day, identity_null=bool(styles["identity_null"]))
        page, pagination = self._paginate(request, items, size, binding, styles)
        return json_response(
            200,
            {
                "records": page,
                "pagination": pagination,
                "metadata": {
                    "effective_date": day.isoformat(),
                    "generated_at": generated_at(rules.today),
                    "returned_record_count": len(page),
                },
            },
        )

    # -- pagination ------------------------------------------------------------------------

    def _paginate(
        self,
        request: Request,
        items: list[tuple[str, dict]],
        size: int,
        binding: dict[str, str],
        styles: dict[str, object],
    ) -> tuple[list[dict], dict[str, object]]:
        offset = 0
        cursor = request.params.get("cursor", "")
        if cursor:
            last_id = decode_cursor(cursor, binding)
            if last_id:
                keys = [key for key, _ in items]
                if last_id not in keys:
                    msg = "invalid cursor: unknown position"
                    raise InvalidArgumentError(msg)
                offset = keys.index(last_id) + 1
        chunk = items[offset : offset + size]
        page = [obj for _, obj in chunk]
        if self.faults.repeats_cursor(request.path):
            # Scripted server bug: always the same cursor, which leads back to the first page.
            return page, {"next_cursor": encode_cursor("", binding), "has_more": True}
        if offset + size < len(items):
            return page, {"next_cursor": encode_cursor(chunk[-1][0], binding), "has_more": True}
        style = styles["final_cursor"]
        if style == "absent":
            return page, {"has_more": False}
        return page, {"next_cursor": None if style == "null" else "", "has_more": False}


# -- 200 responses that are not data (fault injection) ---------------------------------------

#: What a single-sign-on proxy in front of the API answers instead of the API.
LOGIN_PAGE_HTML = (
    b"<!DOCTYPE html><html><head><title>Sign in - Corporate SSO</title></head><body>"
    b'<form method="post" action="/login"><input name="username"><input name="password" '
    b'type="password"><button>Sign in</button></form></body></html>'
)


def bad_ok_body(kind: str, response: Response) -> Response:
    """Replace a successful JSON response with a 200 that is not the endpoint's data.

    Args:
        kind: ``"error_object"``, ``"no_data"``, ``"null_data"`` or ``"html_page"`` (see
            :meth:`~sandbox.faults.Faults.bad_ok_body_next`).
        response: The real response.

    Returns:
        The replacement, with status 200.
    """
    if kind == "html_page":
        return Response(200, HTML_TYPE, LOGIN_PAGE_HTML)
    if kind == "error_object":
        return json_response(200, error_body(500, "transient backend error"))
    document = json.loads(response.body)
    # The data array is the response's list-valued top-level member.
    arrays = [key for key, value in document.items() if isinstance(value, list)]
    for key in arrays:
        if kind == "no_data":
            del document[key]
        else:
            document[key] = None
    return json_response(200, document)
