"""Sourcegraph Analytics API handlers: CSV reports, user registry and token management.

Errors are short ``text/plain`` messages (Go ``http.Error`` style), which is what the reference
suggests for an emulator; the real bodies are undocumented.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import secrets
import threading
import typing as t
import uuid

from .faults import truncate_csv, with_huge_cell
from .messages import (
    BAD_GATEWAY_HTML,
    CSV_TYPE,
    HTML_TYPE,
    Request,
    Response,
    json_response,
    text_response,
)
from .sourcegraph_data import DEFAULT_GRANULARITY, SOURCEGRAPH_GRANULARITIES

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from .faults import Faults
    from .sourcegraph_data import SourcegraphData

REPORT_PATH = "/api/reports/by-user-client-date"
REGISTRY_PATH = "/api/reports/user-registry"
TOKENS_PATH = "/api/service-access-tokens"
SESSION_COOKIES = ("cas", "accounts_session_v2")

_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
_STATUS_TEXT = {
    400: "bad request",
    401: "unauthorized",
    403: "forbidden",
    404: "not found",
    429: "rate limit exceeded",
    500: "internal server error",
    503: "service unavailable",
    504: "gateway timeout",
}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def error_response(
    status: int, message: str | None = None, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    """Return a Sourcegraph-style error (text/plain; 502 is a gateway HTML page).

    Args:
        status: HTTP status.
        message: Message (a generic one per status when omitted).
        headers: Extra headers.

    Returns:
        The response.
    """
    if status == 502:  # noqa: PLR2004 - produced by the proxy in front of the service
        return Response(status, HTML_TYPE, BAD_GATEWAY_HTML, headers=list(headers))
    return text_response(status, message or _STATUS_TEXT.get(status, f"error {status}"), headers)


@dataclasses.dataclass
class AccessToken:
    """A Sourcegraph Accounts (SAMS) access token.

    Attributes:
        id: Token UUID.
        secret: Bearer secret (``sams_at_...``).
        owner: Account that created it (determines instance access).
        created_at: Creation time.
        display_name: Optional display name.
        expires_at: Optional expiry.
        revoked: Whether it was revoked.
    """

    id: str
    secret: str
    owner: str
    created_at: dt.datetime
    display_name: str | None = None
    expires_at: dt.datetime | None = None
    revoked: bool = False

    def is_expired(self, now: dt.datetime) -> bool:
        """Return whether the token can no longer be used (revoked or past its expiry)."""
        return self.revoked or (self.expires_at is not None and self.expires_at <= now)

    def public(self, now: dt.datetime) -> dict[str, object]:
        """Return the list representation (never includes the secret)."""
        item: dict[str, object] = {"id": self.id}
        if self.display_name is not None:
            item["displayName"] = self.display_name
        item["createdAt"] = _rfc3339(self.created_at)
        if self.expires_at is not None:
            item["expiresAt"] = _rfc3339(self.expires_at)
        item["isExpired"] = self.is_expired(now)
        return item


class TokenStore:
    """Thread-safe registry of access tokens, session cookies and instance access.

    Args:
        access: Instances each account may read.
    """

    def __init__(self, access: dict[str, set[str]]) -> None:
        """Create an empty store."""
        self._lock = threading.Lock()
        self._tokens: dict[str, AccessToken] = {}
        self._sessions: dict[str, str] = {}
        self.access = access

    def add_session(self, cookie: str, owner: str) -> None:
        """Register a session cookie value for an account."""
        with self._lock:
            self._sessions[cookie] = owner

    def session_owner(self, cookie: str | None) -> str | None:
        """Return the account of a session cookie, or ``None``."""
        with self._lock:
            return None if cookie is None else self._sessions.get(cookie)

    def add(self, token: AccessToken) -> None:
        """Register a token."""
        with self._lock:
            self._tokens[token.id] = token

    def create(
        self, owner: str, display_name: str | None, expires_at: dt.datetime | None
    ) -> AccessToken:
        """Create a new token for ``owner``."""
        token = AccessToken(
            id=str(uuid.uuid4()),
            secret="sams_at_" + secrets.token_urlsafe(24),
            owner=owner,
            created_at=_now(),
            display_name=display_name,
            expires_at=expires_at,
        )
        self.add(token)
        return token

    def owned_by(self, owner: str) -> list[AccessToken]:
        """Return an account's tokens, oldest first."""
        with self._lock:
            return [tok for tok in self._tokens.values() if tok.owner == owner]

    def revoke(self, owner: str, token_id: str) -> bool:
        """Revoke a token; returns ``False`` when the account has no such token."""
        with self._lock:
            token = self._tokens.get(token_id)
            if token is None or token.owner != owner:
                return False
            token.revoked = True
            return True

    def by_secret(self, secret: str | None) -> AccessToken | None:
        """Return the live token with this secret, or ``None`` (unknown, revoked or expired)."""
        if not secret:
            return None
        with self._lock:
            for token in self._tokens.values():
                if secrets.compare_digest(token.secret, secret):
                    return None if token.is_expired(_now()) else token
        return None


def _parse_date(name: str, value: str) -> dt.date:
    if not _DATE_RE.fullmatch(value):
        msg = f"invalid {name}: {value!r} (expected YYYY-MM-DD)"
        raise ValueError(msg)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        msg = f"invalid {name}: {value!r} is not a valid date"
        raise ValueError(msg) from None


def _encode_stream(chunks: Iterator[str]) -> Iterator[bytes]:
    for chunk in chunks:
        if chunk:
            yield chunk.encode("utf-8")


@dataclasses.dataclass(frozen=True)
class _ReportQuery:
    """Validated query parameters of the report endpoints."""

    instance: str
    granularity: str = DEFAULT_GRANULARITY
    start: dt.date | None = None
    end: dt.date | None = None

    @classmethod
    def parse(cls, params: dict[str, str], *, registry: bool) -> _ReportQuery:
        """Validate the parameters.

        Raises:
            ValueError: With a short message naming the problem.
        """
        instance = params.get("instanceURL")
        if not instance:
            msg = "missing required parameter: instanceURL"
            raise ValueError(msg)
        if "://" in instance or "/" in instance:
            msg = "invalid instanceURL: expected a bare host such as example.sourcegraphcloud.com"
            raise ValueError(msg)
        if registry:
            return cls(instance)
        granularity = params.get("granularity") or DEFAULT_GRANULARITY
        if granularity not in SOURCEGRAPH_GRANULARITIES:
            choices = ", ".join(SOURCEGRAPH_GRANULARITIES)
            msg = f"invalid granularity {granularity!r}: must be one of {choices}"
            raise ValueError(msg)
        start = _parse_date("startDate", params["startDate"]) if params.get("startDate") else None
        end = _parse_date("endDate", params["endDate"]) if params.get("endDate") else None
        return cls(instance, granularity, start, end)


class SourcegraphAPI:
    """Serves ``/api/reports/*`` (bearer token) and ``/api/service-access-tokens`` (cookie).

    Args:
        data: Sourcegraph ground truth.
        faults: Shared fault switches.
        tokens: Token store.
        admit: Rate limiter: returns ``None`` when the token may proceed, else the number of
            seconds until it may.
    """

    vendor = "sourcegraph"

    def __init__(
        self,
        data: SourcegraphData,
        faults: Faults,
        tokens: TokenStore,
        admit: Callable[[str], float | None],
    ) -> None:
        """Create the handler."""
        self.data = data
        self.faults = faults
        self.tokens = tokens
        self.admit = admit

    def default_error(self, status: int) -> Response:
        """Return this vendor's default body for a scripted failure."""
        return error_response(status)

    def rate_limited(self, retry_after: str | None) -> Response:
        """Return the 429 response."""
        return error_response(
            429, headers=[] if retry_after is None else [("Retry-After", retry_after)]
        )

    def handle(self, request: Request, retry_after: Callable[[float], str | None]) -> Response:
        """Dispatch one request.

        Args:
            request: The request.
            retry_after: Formats a wait in seconds as a ``Retry-After`` value (or ``None``).

        Returns:
            The response.
        """
        if request.path in (REPORT_PATH, REGISTRY_PATH):
            return self._report_endpoint(request, retry_after)
        if request.path == TOKENS_PATH or request.path.startswith(TOKENS_PATH + "/"):
            return self._tokens_endpoint(request)
        return error_response(404, "404 page not found")

    # -- reports ---------------------------------------------------------------------------

    def _report_endpoint(
        self, request: Request, retry_after: Callable[[float], str | None]
    ) -> Response:
        token = self.tokens.by_secret(request.bearer_token())
        if token is None:
            return error_response(401, "unauthorized")
        wait = self.admit(token.secret)
        if wait is not None:
            return self.rate_limited(retry_after(wait))
        if request.method != "GET":
            return error_response(405, "method not allowed", [("Allow", "GET")])
        return self._report(request, token)

    def _report(self, request: Request, token: AccessToken) -> Response:
        try:
            query = _ReportQuery.parse(request.params, registry=request.path == REGISTRY_PATH)
        except ValueError as exc:
            return error_response(400, str(exc))
        denied = self._check_access(token, query.instance)
        if denied is not None:
            return denied
        if request.path == REGISTRY_PATH:
            header, rows = self.data.registry(query.instance)
            lines = (",".join(row) + "\n" for row in [header, *rows])
            return self._csv_faults(request, Response(200, CSV_TYPE, stream=_encode_stream(lines)))
        style = self.data.current_style()
        has_rows, chunks = self.data.report_text(
            query.instance, query.granularity, query.start, query.end, style
        )
        if not has_rows and bool(self.faults.styles()["sourcegraph_empty_body"]):
            return Response(200, CSV_TYPE, stream=iter(()))
        return self._csv_faults(request, Response(200, CSV_TYPE, stream=_encode_stream(chunks)))

    def _csv_faults(self, request: Request, response: Response) -> Response:
        """Apply the CSV body faults switched on (huge cell, truncation, no final newline)."""
        cut = self.faults.take_csv_cut(request.path, request.params)
        styles = self.faults.styles()
        huge, unterminated = styles["sourcegraph_huge_cell"], styles["sourcegraph_no_final_newline"]
        if cut is None and not huge and not unterminated:
            return response
        text = b"".join(response.stream or [response.body]).decode("utf-8")
        if huge:
            text = with_huge_cell(text)
        if cut is not None:
            text = truncate_csv(text, cut.kind, cut.nth)
        if unterminated:
            text = text.removesuffix("\n")
        body = text.encode("utf-8")
        if cut is not None and cut.framing == "length":
            return Response(200, CSV_TYPE, body=body)
        return Response(200, CSV_TYPE, stream=iter([body] if body else []))

    def _check_access(self, token: AccessToken, instance: str) -> Response | None:
        if not self.data.has_instance(instance):
            return error_response(404, "instance not found")
        if instance not in self.tokens.access.get(token.owner, set()):
            return error_response(403, "forbidden")
        return None

    # -- token management ------------------------------------------------------------------

    def _session_owner(self, request: Request) -> str | None:
        for name in SESSION_COOKIES:
            owner = self.tokens.session_owner(request.cookie(name))
            if owner is not None:
                return owner
        return None

    def _tokens_endpoint(self, request: Request) -> Response:
        owner = self._session_owner(request)
        if owner is None:
            return error_response(401, "unauthorized")
        token_id = request.path[len(TOKENS_PATH) :].strip("/")
        if token_id:
            return self._revoke(request, owner, token_id)
        if request.method == "GET":
            now = _now()
            return json_response(
                200, {"tokens": [tok.public(now) for tok in self.tokens.owned_by(owner)]}
            )
        if request.method == "POST":
            return self._create_token(owner, request.body)
        return error_response(405, "method not allowed", [("Allow", "GET, POST")])

    def _revoke(self, request: Request, owner: str, token_id: str) -> Response:
        if request.method != "DELETE":
            return error_response(405, "method not allowed", [("Allow", "DELETE")])
        if not self.tokens.revoke(owner, token_id):
            return error_response(404, "token not found")
        return Response(204)

    def _create_token(self, owner: str, body: bytes) -> Response:
        try:
            name, expires_at = _parse_create_body(body)
        except ValueError as exc:
            return error_response(400, str(exc))
        token = self.tokens.create(owner, name, expires_at)
        created: dict[str, object] = {"id": token.id}
        if name is not None:
            created["displayName"] = name
        created["secret"] = token.secret
        created["createdAt"] = _rfc3339(token.created_at)
        if expires_at is not None:
            created["expiresAt"] = _rfc3339(expires_at)
        return json_response(201, created)


def _parse_create_body(body: bytes) -> tuple[str | None, dt.datetime | None]:
    """Validate a token-creation body (``{}``, ``displayName``, ``expiresAt``).

    Raises:
        ValueError: With a short message naming the problem.
    """
    try:
        payload = json.loads(body) if body.strip() else {}
    except ValueError:
        msg = "invalid JSON body"
        raise ValueError(msg) from None
    if not isinstance(payload, dict):
        msg = "invalid JSON body: expected an object"
        raise ValueError(msg)  # noqa: TRY004 - becomes a 400 like every other body problem
    name = payload.get("displayName")
    if name is not None and not isinstance(name, str):
        msg = "invalid displayName: expected a string"
        raise ValueError(msg)
    expires = payload.get("expiresAt")
    if expires is None:
        return name, None
    try:
        expires_at = dt.datetime.fromisoformat(str(expires).replace("Z", "+00:00"))
    except ValueError:
        msg = "invalid expiresAt: expected an RFC 3339 timestamp"
        raise ValueError(msg) from None
    if expires_at.tzinfo is None:
        msg = "invalid expiresAt: a time zone is required"
        raise ValueError(msg)
    return name, expires_at
