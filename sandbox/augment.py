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
import decimal
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
    "credit-usage-by-user": (100, 500),
    "cost-analytics": (100, 1000),
}
#: Endpoints answered on POST with a JSON body (every other one is GET).
POST_ENDPOINTS = frozenset({"cost-analytics"})
#: Endpoints that serve today too (about 90 minutes behind, per second-hand notes).
SERVES_TODAY = frozenset({"credit-usage-by-user", "cost-analytics"})
COST_GRANULARITIES = (
    "COST_ANALYTICS_TIME_GRANULARITY_DAY",
    "COST_ANALYTICS_TIME_GRANULARITY_TOTAL",
)
GROUP_BY_RESOURCE = "COST_ANALYTICS_GROUP_BY_RESOURCE"

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
    serves_today: bool = False

    @property
    def yesterday(self) -> dt.date:
        return self.today - dt.timedelta(days=1)

    @property
    def latest(self) -> dt.date:
        return self.today if self.serves_today else self.yesterday

    @property
    def earliest(self) -> dt.date:
        return years_before(self.today, LOOKBACK_YEARS)

    def explicit(self, name: str, value: str) -> dt.date:
        day = _parse_date(name, value)
        if day > self.latest:
            latest = "today" if self.serves_today else "yesterday"
            msg = f"{name} cannot be later than {latest} (UTC)"
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
            end = self.latest
            start = max(end - span, self.earliest)
        elif end is None:
            assert start is not None  # noqa: S101 - narrowed by the branches above
            end = min(start + span, self.latest)
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
            "credit-usage-by-user": self._credit_usage,
            "cost-analytics": self._cost_analytics,
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
        endpoint = name or ""
        if request.method != ("POST" if endpoint in POST_ENDPOINTS else "GET"):
            return error_response(405, f"method {request.method} not allowed")
        unavailable = self.faults.unavailable(request.path)
        if unavailable is not None:
            status, message = unavailable
            text = message or f"{endpoint} is not available for this organization"
            return error_response(status, text)
        styles = self.faults.styles()
        rules = _DateRules(self.today(), serves_today=endpoint in SERVES_TODAY)
        try:
            return route(request, rules, styles)
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

    def _credit_usage(
        self, request: Request, rules: _DateRules, styles: dict[str, object]
    ) -> Response:
        params = request.params
        start, end = rules.range(params)
        size = self._page_size(request, params, "credit-usage-by-user")
        by_date, by_model = _flag(params, "by_date"), _flag(params, "by_model")
        served = self._served(request, start, end)
        binding = {
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "by_date": str(by_date).lower(),
            "by_model": str(by_model).lower(),
        }
        items = (
            []
            if served[0] > served[1]
            else self.data.credit_usage_items(*served, identity_null=bool(styles["identity_null"]))
        )
        if not (by_date and by_model):
            items = _merge_credit_usage(items, by_date=by_date, by_model=by_model)
        page, pagination = self._paginate(request, items, size, binding, styles)
        return json_response(
            200,
            {
                "records": page,
                "pagination": pagination,
                "metadata": _effective(served)
                | {"generated_at": generated_at(rules.today), "returned_record_count": len(page)},
            },
        )

    def _cost_analytics(
        self, request: Request, rules: _DateRules, styles: dict[str, object]
    ) -> Response:
        body = _json_body(request)
        dates = {key: body[key] for key in ("start_date", "end_date") if body.get(key) is not None}
        if not all(isinstance(value, str) for value in dates.values()):
            msg = "start_date and end_date must be strings formatted YYYY-MM-DD"
            raise InvalidArgumentError(msg)
        start, end = rules.range(dates)
        granularity = body.get("granularity", COST_GRANULARITIES[0])
        if granularity not in COST_GRANULARITIES:
            msg = f'invalid granularity "{granularity}"'
            raise InvalidArgumentError(msg)
        group_by = body.get("group_by_keys") or []
        if not isinstance(group_by, list) or any(key != GROUP_BY_RESOURCE for key in group_by):
            msg = f"unsupported group_by_keys: {group_by!r}"
            raise InvalidArgumentError(msg)
        logins = self._filter_emails(body.get("filters"))
        page_params = {"page_size": str(body["page_size"])} if "page_size" in body else {}
        size = self._page_size(request, page_params, "cost-analytics")
        served = self._served(request, start, end)
        points: list[dict[str, object]] = []
        if served[0] <= served[1]:
            for day in _dates(*served):
                points.extend(self.data.cost_points(day, logins))
            points = _merge_cost_points(
                points,
                served if granularity == COST_GRANULARITIES[1] else None,
                by_resource=bool(group_by),
            )
        items = [(_point_key(point), point) for point in points]
        binding = {
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
            "granularity": str(granularity),
            "group_by": ",".join(group_by),
        }
        cursor = body.get("cursor") or ""
        if not isinstance(cursor, str):
            msg = "invalid cursor"
            raise InvalidArgumentError(msg)
        page, pagination = self._paginate(request, items, size, binding, styles, cursor=cursor)
        return json_response(
            200,
            {
                "data_points": page,
                "pagination": pagination,
                "metadata": _effective(served)
                | {
                    "generated_at": generated_at(rules.today),
                    "returned_data_point_count": len(page),
                },
            },
        )

    def _filter_emails(self, filters: object) -> set[str] | None:
        if not filters:
            return None
        emails = filters.get("user_emails") if isinstance(filters, dict) else None
        if not isinstance(emails, list) or not all(isinstance(e, str) for e in emails):
            msg = "filters.user_emails must be a list of emails"
            raise InvalidArgumentError(msg)
        known = {user.get("user_email") for user in self.data.users}
        unknown = [email for email in emails if email not in known]
        if unknown:
            msg = f"user_email(s) not found on this organization: {', '.join(unknown)}"
            raise InvalidArgumentError(msg)
        return set(emails)

    def _page_size(self, request: Request, params: dict[str, str], endpoint: str) -> int:
        """The page size asked for, clamped to the maximum and to any scripted cap."""
        size = _page_size(params, endpoint)
        cap = self.faults.page_size_cap(request.path)
        return size if cap is None else min(size, cap)

    def _served(self, request: Request, start: dt.date, end: dt.date) -> tuple[dt.date, dt.date]:
        """The dates actually served: the range, narrowed by a scripted silent clamp.

        A clamp can leave nothing (first date after the last one): then nothing is served.
        """
        earliest, latest = self.faults.date_clamp(request.path)
        first = start if earliest is None else max(start, earliest)
        last = end if latest is None else min(end, latest)
        return first, last

    # -- pagination ------------------------------------------------------------------------

    def _paginate(  # noqa: PLR0913 - the page, its query and how to render it
        self,
        request: Request,
        items: list[tuple[str, dict]],
        size: int,
        binding: dict[str, str],
        styles: dict[str, object],
        *,
        cursor: str | None = None,
    ) -> tuple[list[dict], dict[str, object]]:
        offset = 0
        if cursor is None:
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


# -- credits and cost ------------------------------------------------------------------------


def _dates(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def _flag(params: dict[str, str], name: str) -> bool:
    value = params.get(name, "false").strip().lower()
    if value not in {"true", "false", "1", "0"}:
        msg = f'invalid {name} "{params[name]}": expected true or false'
        raise InvalidArgumentError(msg)
    return value in {"true", "1"}


def _effective(served: tuple[dt.date, dt.date]) -> dict[str, object]:
    """``effective_*`` metadata: the dates served after clamping (possibly none: first > last)."""
    first, last = served
    return {"effective_start_date": first.isoformat(), "effective_end_date": last.isoformat()}


def _json_body(request: Request) -> dict[str, t.Any]:
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        msg = "request body is not valid JSON"
        raise InvalidArgumentError(msg) from None
    if not isinstance(body, dict):
        msg = "request body must be a JSON object"
        raise InvalidArgumentError(msg)
    return body


def _merge_credit_usage(
    items: list[tuple[str, dict]], *, by_date: bool, by_model: bool
) -> list[tuple[str, dict]]:
    """Sum credit rows over dates (``by_date=false``) and/or models (``by_model=false``)."""
    merged: dict[str, dict] = {}
    for key, obj in items:
        day, uid, model = key.split("|")
        group = "|".join((day if by_date else "", uid, model if by_model else ""))
        row = merged.get(group)
        if row is None:
            row = {k: v for k, v in obj.items() if k not in {"credits_consumed", "model_name"}}
            if not by_date:
                del row["date"]
            if by_model and "model_name" in obj:
                row["model_name"] = obj["model_name"]
            row["credits_consumed"] = 0
            merged[group] = row
        row["credits_consumed"] += int(obj["credits_consumed"])
    return list(merged.items())


def _merge_cost_points(
    points: list[dict[str, t.Any]],
    total: tuple[dt.date, dt.date] | None,
    *,
    by_resource: bool,
) -> list[dict[str, t.Any]]:
    """Sum data points over the range (``total``) and/or over resources (no grouping)."""
    merged: dict[tuple[str, str], dict[str, t.Any]] = {}
    for point in points:
        start, end = (
            (total[0].isoformat(), total[1].isoformat())
            if total
            else (point["start_date"], point["end_date"])
        )
        groups = point["group_by_values"] if by_resource else None
        key = (start, groups["resource_display_name"] if groups else "")
        into = merged.setdefault(key, {"start_date": start, "end_date": end, "cost_metrics": {}})
        if groups:
            into["group_by_values"] = dict(groups)
        sums = into["cost_metrics"]
        for name, value in point["cost_metrics"].items():
            sums[name] = _add(sums.get(name), value)
    return list(merged.values())


def _point_key(point: dict[str, t.Any]) -> str:
    """A data point's position in the result (the cursor's ``last_id``)."""
    groups = point.get("group_by_values") or {}
    return f"{point['start_date']}|{groups.get('resource_display_name', '')}"


def _add(total: object, value: object) -> object:
    """Add two metric values, keeping the API's rendering (strings stay decimal strings)."""
    if total is None:
        return value
    if isinstance(value, str):
        return str(decimal.Decimal(str(total)) + decimal.Decimal(value))
    return t.cast("int", total) + t.cast("int", value)
