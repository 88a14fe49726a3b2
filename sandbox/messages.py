"""Transport-neutral request and response objects shared by the vendor handlers and the server."""

from __future__ import annotations

import dataclasses
import json
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterable
    from email.message import Message

JSON_TYPE = "application/json"
CSV_TYPE = "text/csv; charset=utf-8"
TEXT_TYPE = "text/plain; charset=utf-8"
HTML_TYPE = "text/html; charset=utf-8"

BAD_GATEWAY_HTML = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


@dataclasses.dataclass(frozen=True)
class Request:
    """A parsed HTTP request.

    Attributes:
        method: Upper-case HTTP method.
        path: Percent-decoded path without the query string.
        params: Query parameters (first value of each name).
        headers: Request headers (``http.client.HTTPMessage``).
        body: Raw request body.
    """

    method: str
    path: str
    params: dict[str, str]
    headers: Message
    body: bytes = b""

    def bearer_token(self) -> str | None:
        """Return the bearer token from the ``Authorization`` header, if any.

        Returns:
            The token, or ``None`` when the header is missing or not a bearer credential.
        """
        value = self.headers.get("Authorization") or ""
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return None
        return token.strip()

    def cookie(self, name: str) -> str | None:
        """Return one cookie's value from the ``Cookie`` header(s).

        Args:
            name: Cookie name.

        Returns:
            The value, or ``None`` when absent.
        """
        for header in self.headers.get_all("Cookie") or []:
            for part in header.split(";"):
                key, sep, value = part.strip().partition("=")
                if sep and key == name:
                    return value.strip().strip('"')
        return None


@dataclasses.dataclass
class Response:
    """A response ready to be written by the server.

    Exactly one of ``body`` (sent with ``Content-Length``) or ``stream`` (sent with chunked
    transfer encoding) carries the payload.

    Attributes:
        status: HTTP status code.
        content_type: ``Content-Type`` header value, or ``None`` for no body.
        body: Complete body for fixed-length responses.
        stream: Body chunks for streamed responses.
        headers: Extra headers.
    """

    status: int
    content_type: str | None = None
    body: bytes = b""
    stream: Iterable[bytes] | None = None
    headers: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    @property
    def is_json(self) -> bool:
        """Whether the payload is a fixed-length JSON document."""
        return self.stream is None and (self.content_type or "").startswith(JSON_TYPE)


def json_response(
    status: int, payload: object, headers: Iterable[tuple[str, str]] = ()
) -> Response:
    """Build a JSON response.

    Args:
        status: HTTP status code.
        payload: JSON-serialisable document.
        headers: Extra headers.

    Returns:
        The response.
    """
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return Response(status, JSON_TYPE, body, headers=list(headers))


def text_response(status: int, text: str, headers: Iterable[tuple[str, str]] = ()) -> Response:
    """Build a ``text/plain`` response (Go ``http.Error`` style: message plus newline).

    Args:
        status: HTTP status code.
        text: Message.
        headers: Extra headers.

    Returns:
        The response.
    """
    return Response(status, TEXT_TYPE, (text + "\n").encode("utf-8"), headers=list(headers))


def guess_content_type(body: bytes) -> str:
    """Guess a content type for an explicitly scripted error body.

    Args:
        body: The body.

    Returns:
        A ``Content-Type`` value.
    """
    head = body.lstrip()[:1]
    if head == b"<":
        return HTML_TYPE
    if head in (b"{", b"["):
        return JSON_TYPE
    return TEXT_TYPE
