"""HTTP plumbing shared by both vendors: auth, pacing, retries and error messages.

Every request goes through :meth:`AnalyticsHTTPStream.fetch_json` or
:meth:`AnalyticsHTTPStream.stream_download`, which pace each attempt, retry transient failures
(honouring ``Retry-After``) and turn permanent failures into one actionable message.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import email.utils
import itertools
import json
import queue
import random
import re
import socket
import ssl
import threading
import typing as t
from functools import cached_property
from http import HTTPStatus
from importlib import metadata
from urllib.parse import urlsplit

import requests
import urllib3
from singer_sdk import RESTStream, metrics
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import RetriableAPIError

from tap_ai_analytics.compat import override
from tap_ai_analytics.errors import APIRequestError, APIUnusableError, quote_body, redact

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable, Iterator

    from backoff.types import Details
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context, Record
    from singer_sdk.streams.rest import HTTPRequest

    from tap_ai_analytics.pacing import RateLimiter
    from tap_ai_analytics.settings import AugmentSettings, Settings, SourcegraphSettings

#: Never wait longer than this for one Retry-After, whatever the server says.
MAX_RETRY_AFTER_SECONDS = 900.0
#: Cap of the exponential backoff used when the server gives no Retry-After.
MAX_BACKOFF_SECONDS = 120.0
#: First backoff after a 5xx, timeout or dropped connection.
INITIAL_BACKOFF_SECONDS = 1.0
DOWNLOAD_CHUNK_BYTES = 1024 * 1024
#: Attempts before giving up on a failure that retrying cannot fix (a host name that does
#: not resolve, an untrusted TLS certificate): one quick re-try covers a passing resolver
#: or certificate-rotation glitch; more would only delay the same answer.
PERMANENT_FAILURE_ATTEMPTS = 2
#: getaddrinfo errors meaning the name has no address (as opposed to EAI_AGAIN: try later).
_NO_SUCH_HOST = frozenset(
    code for code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)) if code is not None
)
_CHECK_URL = "check the API URL setting"
_MARKUP_START = re.compile(rb"\s*<")  # matched in place: no copy of a large body
_HTML_TITLE = re.compile(rb"<title[^>]*>(.*?)</title", re.IGNORECASE | re.DOTALL)
#: A download's items are handed to the consumer in lists of this many (a hand-off
#: wakes the other thread: rarely enough that it costs nothing per item)...
HANDOFF_BATCH_ITEMS = 1024
#: ...of which at most this many wait (a few thousand records, or a few MB of encoded ones).
HANDOFF_BATCHES = 4
#: How often a download blocked on a full hand-off checks that its consumer is still there.
HANDOFF_POLL_SECONDS = 0.1

RETRIED_EXCEPTIONS = (
    ConnectionResetError,
    RetriableAPIError,
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)

_T = t.TypeVar("_T")


def _version() -> str:
    try:
        return metadata.version("tap-ai-analytics")
    except metadata.PackageNotFoundError:  # running from a source tree
        return "0+unknown"


USER_AGENT = f"tap-ai-analytics/{_version()}"


def retry_after_seconds(
    response: requests.Response | None, *, now: dt.datetime | None = None
) -> float | None:
    """Read a ``Retry-After`` header given in seconds or as an HTTP date.

    Args:
        response: The failed response, if there was one.
        now: The current time (injectable for tests).

    Returns:
        Seconds to wait, or None when the header is absent or unreadable.
    """
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    now = now or dt.datetime.now(dt.timezone.utc)
    return max(0.0, (when - now).total_seconds())


def describe_exception(exc: BaseException) -> str:
    """Summarise a request failure in one line (without URLs' query strings)."""
    if isinstance(exc, RetriableAPIError):
        return str(exc)
    if isinstance(exc, (requests.exceptions.RequestException, ConnectionResetError)):
        return connection_failure(exc).cause
    return type(exc).__name__


@dataclasses.dataclass(frozen=True)
class RequestFailure:
    """Why a request failed, and whether retrying can help.

    Attributes:
        cause: What happened, naming the host (``DNS resolution failed for ...``).
        fix: What the user can check, for the final error message ("" when nothing).
        permanent: True when retrying cannot help (the name does not resolve, the
            certificate is not trusted): the request gives up after
            :data:`PERMANENT_FAILURE_ATTEMPTS` instead of the whole retry budget.
    """

    cause: str
    fix: str = ""
    permanent: bool = False


def connection_failure(exc: BaseException) -> RequestFailure:  # noqa: PLR0911 - one per cause
    """Classify a failed request from the exceptions requests and urllib3 wrap inside it.

    Args:
        exc: The exception the request raised.

    Returns:
        The cause naming the host, and whether it is worth retrying.
    """
    chain = list(_exception_chain(exc))
    host = _failed_host(chain)
    dns = _dns_failure(chain, host)
    if dns is not None:
        return dns
    if _first(chain, ConnectionRefusedError) is not None:
        return RequestFailure(
            f"connection refused by {host}",
            "check that the server is up and that the API URL setting has the right host and port",
        )
    certificate = _first(chain, ssl.SSLCertVerificationError)
    if certificate is not None:
        reason = certificate.verify_message or certificate.reason or "untrusted certificate"
        return RequestFailure(
            f"TLS certificate verification failed for {host}: {reason}",
            f"{_CHECK_URL}; a proxy that intercepts TLS needs its CA certificate trusted",
            permanent=True,
        )
    tls = _first(chain, ssl.SSLError)
    if tls is not None or isinstance(exc, requests.exceptions.SSLError):
        detail = (tls.reason or tls.strerror) if tls is not None else None
        return RequestFailure(f"TLS error with {host}: {detail or exc}", _CHECK_URL)
    if _is_connect_timeout(chain):
        return RequestFailure(
            f"timed out connecting to {host}", "check the network connection and any firewall"
        )
    if isinstance(exc, requests.exceptions.Timeout) or _is_read_timeout(chain):
        return RequestFailure(
            f"timed out waiting for {host} to answer",
            "raise request_timeout_seconds if the server is just slow",
        )
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, ConnectionResetError)) or (
        _first(chain, ConnectionResetError) is not None
    ):
        return RequestFailure(f"connection to {host} dropped before the response was complete")
    if isinstance(exc, requests.exceptions.ConnectionError):
        innermost = chain[-1]
        detail = innermost.strerror if isinstance(innermost, OSError) else None
        return RequestFailure(f"connection to {host} failed ({detail or type(innermost).__name__})")
    return RequestFailure(type(exc).__name__)


def _dns_failure(chain: list[BaseException], host: str) -> RequestFailure | None:
    """The failure to resolve ``host``, if that is what happened."""
    gai = _first(chain, socket.gaierror)
    if gai is not None and gai.errno in _NO_SUCH_HOST:
        return RequestFailure(
            f"DNS resolution failed for {host} (no such host)", _CHECK_URL, permanent=True
        )
    if gai is not None:  # EAI_AGAIN and the like: the resolver may answer later
        return RequestFailure(
            f"DNS resolution failed for {host} ({gai.strerror or gai})",
            "check the network connection and DNS",
        )
    if _first(chain, urllib3.exceptions.NameResolutionError) is not None:  # cause unknown
        return RequestFailure(f"DNS resolution failed for {host}", _CHECK_URL)
    return None


def _exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception wrapped in it, outermost first.

    requests wraps urllib3's error in its ``args``, urllib3's MaxRetryError names the
    real one in ``reason``, and the socket or ssl error is the ``__cause__`` below that.
    """
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending += [arg for arg in current.args if isinstance(arg, BaseException)]
        reason = getattr(current, "reason", None)
        if isinstance(reason, BaseException):
            pending.append(reason)
        pending += [e for e in (current.__cause__, current.__context__) if e is not None]


_E = t.TypeVar("_E", bound=BaseException)


def _first(chain: list[BaseException], kind: type[_E]) -> _E | None:
    return next((e for e in chain if isinstance(e, kind)), None)


def _failed_host(chain: list[BaseException]) -> str:
    """``host[:port]`` of the failed request (never the URL's credentials or query)."""
    for error in chain:
        request = getattr(error, "request", None)
        url = getattr(request, "url", None)
        if isinstance(url, str) and url:
            parts = urlsplit(url)
            if parts.hostname:
                return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname
        # urllib3 errors know their connection (pool): used when requests gives no request.
        where = getattr(error, "pool", None) or getattr(error, "conn", None)
        if isinstance(getattr(where, "host", None), str):
            port = getattr(where, "port", None)
            return f"{where.host}:{port}" if port else where.host  # type: ignore[union-attr]
    return "the server"


def _is_connect_timeout(chain: list[BaseException]) -> bool:
    # urllib3's NewConnectionError (refused, DNS) subclasses ConnectTimeoutError.
    return any(
        isinstance(e, (requests.exceptions.ConnectTimeout, urllib3.exceptions.ConnectTimeoutError))
        and not isinstance(e, urllib3.exceptions.NewConnectionError)
        for e in chain
    )


def _is_read_timeout(chain: list[BaseException]) -> bool:
    # requests reports a body that stalls past the read timeout as a ConnectionError
    # wrapping urllib3's ReadTimeoutError.
    return _first(chain, urllib3.exceptions.ReadTimeoutError) is not None


def _json_type(value: object) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "null" if value is None else "string"


def _not_data(body: object, records_key: str) -> str:
    """Why a decoded 200 body is not an endpoint's data ("" when it is)."""
    if not isinstance(body, dict):
        return f"is a JSON {_json_type(body)}, not an object with a {records_key!r} list"
    if body.get("error"):
        return "carries an error instead of data"
    if records_key not in body:
        return f"has no {records_key!r} list"
    records = body[records_key]
    if not isinstance(records, list):
        return f"has {records_key!r} as a JSON {_json_type(records)}, not a list"
    return ""


def _html_content_type(response: requests.Response) -> bool:
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    return content_type in {"text/html", "application/xhtml+xml"}


def _is_html(response: requests.Response) -> bool:
    return _html_content_type(response) or bool(_MARKUP_START.match(response.content))


def _html_title(response: requests.Response) -> str:
    match = _HTML_TITLE.search(response.content[:65536])
    if not match:
        return ""
    return quote_body(match.group(1).decode(response.encoding or "utf-8", errors="replace"))


class RetriesExhaustedError(APIRequestError):
    """A transient failure kept happening until the attempt budget ran out."""


class APIUnreachableError(RetriesExhaustedError, APIUnusableError):
    """The API's host could not be reached (DNS, refused, TLS): no endpoint would answer."""


def _unreachable(exc: BaseException) -> bool:
    """Whether a failure means the host cannot be reached at all (not one slow endpoint)."""
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    return not (
        isinstance(exc, requests.exceptions.Timeout)
        or _is_read_timeout(list(_exception_chain(exc)))
    )


class _ConsumerGoneError(Exception):
    """The consumer of a download stopped reading: the download stops too."""


@dataclasses.dataclass(frozen=True)
class _DownloadEnd:
    """The last item of a download's hand-off: how it ended."""

    failure: BaseException | None


class AnalyticsHTTPStream(RESTStream):
    """Base of every stream: one vendor's endpoint, requested politely and safely."""

    #: Vendor name used in logs and error messages.
    vendor_label: t.ClassVar[str] = ""
    #: Where a user gets a (new) token, for 401 messages.
    token_hint: t.ClassVar[str] = ""
    #: Never follow redirects: the bearer token must not be replayed to another host.
    allow_redirects = False

    def __init__(
        self,
        tap: Tap,
        settings: Settings,
        *,
        pacer: RateLimiter | None = None,
        schema: dict[str, t.Any] | None = None,
    ) -> None:
        """Create the stream.

        Args:
            tap: The tap.
            settings: The validated configuration.
            pacer: The request budget shared with the vendor's other streams, if any.
            schema: The record schema, when not declared on the class.
        """
        self.settings = settings
        self.pacer = pacer
        #: HTTP requests sent by this stream, retries included (logged as the sync's cost).
        self.requests_sent = 0
        #: The SDK's request-count metric while a partition syncs (:meth:`counting_requests`).
        self._request_counter: metrics.Counter | None = None
        super().__init__(tap, schema=schema)

    # -- vendor hooks -----------------------------------------------------------------

    @property
    def vendor(self) -> AugmentSettings | SourcegraphSettings:
        """This stream's vendor settings (API URL and token)."""
        raise NotImplementedError

    def connection_checks(self) -> list[tuple[str, Callable[[], object]]]:
        """The cheap requests ``--test`` sends for this stream, as (label, send) pairs.

        One stream per vendor answers; the others have none.
        """
        return []

    def client_error(self, response: requests.Response, detail: str) -> APIRequestError:
        """Explain a 4xx response and how to fix it.

        Args:
            response: The rejected response.
            detail: The server's error message, redacted and truncated.

        Returns:
            The error to raise.
        """
        where = f"{self.vendor_label} {response.request.method} {urlsplit(response.url).path}"
        status = f"HTTP {response.status_code} {response.reason or ''}".rstrip()
        hint = {
            HTTPStatus.BAD_REQUEST: (
                "the API rejected the request parameters; check start_date, end_date and "
                "the API URL, and report it if they look right"
            ),
            HTTPStatus.UNAUTHORIZED: (
                f"the token is missing, invalid, expired or revoked; {self.token_hint}"
            ),
            HTTPStatus.FORBIDDEN: (
                "the token lacks permission to read analytics (an Enterprise feature); ask "
                "an administrator to grant it"
            ),
        }.get(response.status_code, "the request was rejected")  # type: ignore[call-overload]
        message = f"{where} failed ({status}): {hint}"
        message = f"{message}. Server said: {detail}" if detail else f"{message}."
        if response.status_code == HTTPStatus.UNAUTHORIZED:
            return APIUnusableError(message)
        return APIRequestError(message)

    # -- SDK hooks --------------------------------------------------------------------

    @override
    @property
    def url_base(self) -> str:
        """Base URL of the vendor's API."""
        return self.vendor.api_url

    @override
    @cached_property
    def authenticator(self) -> BearerTokenAuthenticator:
        """Bearer-token authentication (the token travels only in this header)."""
        return BearerTokenAuthenticator(token=self.vendor.token)

    @override
    @property
    def http_headers(self) -> dict[str, t.Any]:
        """Headers sent with every request."""
        return {"User-Agent": USER_AGENT, "Accept": "application/json, text/csv;q=0.9"}

    @override
    @property
    def timeout(self) -> int:
        """Seconds to wait for a connection or for more data."""
        return self.settings.request_timeout_seconds

    @override
    def backoff_max_tries(self) -> int:
        """Attempts per request (the configured ``max_request_attempts``)."""
        return self.settings.max_request_attempts

    @override
    def backoff_jitter(self, value: float) -> float:
        """Wait exactly what the wait generator computed (it adds its own jitter)."""
        return value

    @override
    def backoff_wait_generator(self) -> Generator[float, BaseException, None]:  # type: ignore[override]
        """Yield waits: the server's ``Retry-After`` when given, else exponential backoff.

        Yields:
            Seconds to wait before the next attempt; receives the failure of the last one.
        """
        failure = yield 0.0  # primed by the backoff library; the value is discarded
        backoffs = 0  # waits we chose ourselves: only these grow exponentially
        while True:
            server_says = retry_after_seconds(getattr(failure, "response", None))
            if server_says is not None:
                failure = yield min(server_says, MAX_RETRY_AFTER_SECONDS)
            else:
                failure = yield self.backoff_delay(failure, backoffs)
                backoffs += 1

    def backoff_delay(self, failure: BaseException, backoffs: int) -> float:
        """Seconds to wait after a failure without ``Retry-After``: exponential, jittered.

        Args:
            failure: The failure of the last attempt.
            backoffs: How many such waits came before this one.

        Returns:
            The wait.
        """
        response = getattr(failure, "response", None)
        base = INITIAL_BACKOFF_SECONDS
        if (
            response is not None
            and response.status_code == HTTPStatus.TOO_MANY_REQUESTS
            and self.pacer
        ):
            base = max(base, 1 / self.pacer.rate)  # one request interval, then doubling
        delay = min(MAX_BACKOFF_SECONDS, base * 2**backoffs)
        return float(delay * random.uniform(0.9, 1.1))  # noqa: S311 - jitter, not crypto

    @override
    def backoff_handler(self, details: Details) -> None:
        """Log each retry in one line (no URL query strings, no headers)."""
        failure = details.get("exception")
        reason = describe_exception(failure) if failure else "failed"
        self.logger.warning(
            "%s %s: %s; retrying in %.1f s (attempt %d of %d)",
            self.vendor_label,
            self.path,
            redact(reason, self.settings.secrets),
            details.get("wait") or 0.0,
            details["tries"] + 1,
            self.attempt_limit(failure),
        )

    def attempt_limit(self, failure: BaseException | None) -> int:
        """Attempts a request gets, given the failure of its last attempt.

        Args:
            failure: The last failure, if any.

        Returns:
            ``max_request_attempts``, or fewer for a failure retrying cannot fix.
        """
        limit = self.backoff_max_tries()
        if (
            isinstance(failure, requests.exceptions.ConnectionError)
            and connection_failure(failure).permanent
        ):
            return min(limit, PERMANENT_FAILURE_ATTEMPTS)
        return limit

    @override
    def request_decorator(self, func: Callable[..., _T]) -> Callable[..., _T]:
        """Pace every attempt, retry transient failures, explain exhausted retries.

        A failure retrying cannot fix (see :class:`RequestFailure`) gives up after
        :data:`PERMANENT_FAILURE_ATTEMPTS` instead of the whole budget.

        Args:
            func: The function performing one attempt.

        Returns:
            The function with pacing and retries.
        """
        attempts = 0  # of the current call, for the final message

        def paced(*args: t.Any, **kwargs: t.Any) -> _T:
            nonlocal attempts
            if self.pacer is not None:
                self.pacer.acquire()
            attempts += 1
            try:
                return func(*args, **kwargs)
            except requests.exceptions.ConnectionError as exc:
                # Raised as a non-retried error, so backoff stops before its own limit.
                if attempts >= self.attempt_limit(exc):
                    failure = connection_failure(exc)
                    raise self.retries_exhausted(
                        attempts, failure, unreachable=_unreachable(exc)
                    ) from None
                raise

        retried = super().request_decorator(paced)  # type: ignore[arg-type]

        def call(*args: t.Any, **kwargs: t.Any) -> _T:
            nonlocal attempts
            attempts = 0
            try:
                return t.cast("_T", retried(*args, **kwargs))
            except RETRIED_EXCEPTIONS as exc:
                failure = (
                    RequestFailure(str(exc))
                    if isinstance(exc, RetriableAPIError)
                    else connection_failure(exc)
                )
                raise self.retries_exhausted(
                    attempts, failure, unreachable=_unreachable(exc)
                ) from None

        return call

    def retries_exhausted(
        self, attempts: int, failure: RequestFailure, *, unreachable: bool = False
    ) -> RetriesExhaustedError:
        """The final error of a request that kept failing.

        Args:
            attempts: Attempts made.
            failure: The last attempt's failure.
            unreachable: Whether the host itself could not be reached.

        Returns:
            The error, naming the endpoint, the cause and (if any) what to check.
        """
        msg = f"{self.vendor_label} {self.path} kept failing after {attempts} attempts: "
        msg += f"{failure.cause}; {failure.fix}." if failure.fix else failure.cause
        error = APIUnreachableError if unreachable else RetriesExhaustedError
        return error(redact(msg, self.settings.secrets))

    @override
    def validate_response(self, response: requests.Response) -> None:
        """Classify a response: fine, transient (retried) or permanent (explained).

        Args:
            response: The response to check.

        Raises:
            RetriableAPIError: For 408, 429 and 5xx responses.
            APIRequestError: For other non-2xx responses, with the fix.
        """
        status = response.status_code
        if HTTPStatus.OK <= status < HTTPStatus.MULTIPLE_CHOICES:
            return
        detail = redact(quote_body(self.error_detail(response)), self.settings.secrets)
        path = urlsplit(response.url).path
        transient = {HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.TOO_MANY_REQUESTS}
        if status in transient or status >= HTTPStatus.INTERNAL_SERVER_ERROR:
            if status == HTTPStatus.TOO_MANY_REQUESTS and self.pacer is not None:
                self.pacer.drain()
            msg = f"HTTP {status} {response.reason or ''} from {path}".rstrip()
            if status != HTTPStatus.TOO_MANY_REQUESTS and detail:
                msg += f": {detail}"
            raise RetriableAPIError(msg, response)
        if HTTPStatus.MULTIPLE_CHOICES <= status < HTTPStatus.BAD_REQUEST:
            target = urlsplit(response.headers.get("Location", "")).netloc or "another URL"
            msg = (
                f"{self.vendor_label} {path} answered HTTP {status}, redirecting to {target}; "
                f"redirects are not followed so the token stays with {self.url_base}. "
                "Check the API URL setting."
            )
            raise APIRequestError(msg)
        raise self.client_error(response, detail)

    @staticmethod
    def error_detail(response: requests.Response) -> str:
        """Extract the API's own error message from a response body, if any."""
        try:
            text = response.text
        except requests.exceptions.RequestException:  # body cut short: nothing to quote
            return ""
        try:
            body = json.loads(text)
        except ValueError:
            return "" if text.lstrip().startswith("<") else text  # skip HTML error pages
        if isinstance(body, dict):
            error = body.get("error")
            if isinstance(error, dict):
                code, message = error.get("code"), error.get("message")
                return ": ".join(str(part) for part in (code, message) if part)
            if isinstance(error, str):
                return error
            if isinstance(body.get("message"), str):
                return str(body["message"])
        return text

    # -- requests -----------------------------------------------------------------------

    def counting_requests(
        self, records: Iterable[Record], context: Context | None
    ) -> Iterator[Record]:
        """Yield ``records``, counting the requests behind them in the SDK's metric.

        The SDK's ``http_request_count`` counter, as its own request path keeps it: one
        per stream partition, logged periodically and when the partition is done.
        """
        with self.get_http_request_counter() as counter:
            counter.with_context(context)
            self._request_counter = counter
            try:
                yield from records
            finally:
                self._request_counter = None

    def _send(self, request: HTTPRequest, *, stream: bool = False) -> requests.Response:
        """Send one attempt of a request and classify its response.

        Logs the SDK's request metrics (``http_request_duration``, ``http_request_count``)
        through its public helpers, as its own request path does: the tap cannot use that
        path, which neither streams a body nor paces each attempt.
        """
        # A POST endpoint's parameters travel in the body, encoded as the SDK would.
        body = {"json" if self.payload_as_json else "data": request.data}
        prepared = self.build_prepared_request(
            method=request.method,
            url=request.url,
            params=request.encode_params(),
            headers=request.headers,
            **body,
        )
        self.requests_sent += 1
        session = self.requests_session
        # What requests.get would take from the environment: proxies, and the CA bundle
        # (REQUESTS_CA_BUNDLE, CURL_CA_BUNDLE) a TLS-intercepting proxy needs, which
        # Session.send alone ignores.
        environment = session.merge_environment_settings(prepared.url, {}, stream, None, None)
        response = session.send(
            prepared,
            timeout=self.timeout,
            allow_redirects=self.allow_redirects,
            **environment,
        )
        self.log_request_metrics(response)
        try:
            self.validate_response(response)
        except Exception:
            response.close()
            raise
        return response

    def log_request_metrics(self, response: requests.Response) -> None:
        """Log the SDK's ``http_request_duration`` point and count the request."""
        failed = response.status_code >= HTTPStatus.BAD_REQUEST
        point = metrics.Point(
            "timer",
            metric=metrics.Metric.HTTP_REQUEST_DURATION,
            value=response.elapsed.total_seconds(),
            tags={
                metrics.Tag.STREAM: self.name,
                metrics.Tag.ENDPOINT: self.path,
                metrics.Tag.HTTP_STATUS_CODE: response.status_code,
                metrics.Tag.STATUS: metrics.Status.FAILED if failed else metrics.Status.SUCCEEDED,
            },
        )
        metrics.log(self.metrics_logger, point)
        if self._request_counter is not None:
            self._request_counter.increment()

    def fetch_json(self, request: HTTPRequest, *, records_key: str | None = None) -> t.Any:
        """Send a request and return its JSON body, retrying transient failures.

        A 200 that is not data is retried like a 5xx: a body that is not valid JSON (a
        cut connection) and, when ``records_key`` is given, anything but a JSON object
        with a list under that key (an ``error`` object, a missing array). Taking such a
        body for "no records" would move the bookmark past dates never delivered. An
        HTML page is reported at once (see :meth:`html_page_error`).

        Args:
            request: The request.
            records_key: The endpoint's documented data array, if the body must have one.

        Returns:
            The decoded JSON body.
        """

        def attempt() -> t.Any:
            response = self._send(request)
            try:
                body = response.json()
            except ValueError:
                if _is_html(response):  # (JSON labelled text/html is still JSON)
                    raise self.html_page_error(response) from None
                problem = "is not valid JSON"
            else:
                problem = "" if records_key is None else _not_data(body, records_key)
            if problem:
                status = f"HTTP {response.status_code} from {urlsplit(response.url).path}"
                excerpt = redact(quote_body(response.text), self.settings.secrets)
                msg = f"{status} {problem}: {excerpt or '(empty)'}"
                raise RetriableAPIError(msg, response)
            return body

        return self.request_decorator(attempt)()

    def html_page_error(
        self, response: requests.Response, *, expected: str = "JSON"
    ) -> APIRequestError:
        """Explain an HTML page where JSON was expected, without retrying.

        A JSON API does not answer 200 with HTML: a login page, a captive portal or a
        proxy's block page does, and it answers the same way on every attempt. Failing
        at once costs nothing (no bookmark moves, the next run resumes here), whereas the
        retry budget would only delay the same answer by minutes; a gateway that is merely
        busy sends a 5xx status, which is retried.

        Args:
            response: The 200 response with an HTML body.
            expected: What the endpoint serves ("JSON", "a CSV report").

        Returns:
            The error to raise.
        """
        title = _html_title(response)
        page = f'an HTML page titled "{title}"' if title else "an HTML page"
        msg = (
            f"{self.vendor_label} {response.request.method} {urlsplit(response.url).path} "
            f"got {page} (HTTP {response.status_code}) instead of {expected} — a proxy or login "
            "page? "
            "Check the API URL setting and any proxy, VPN or firewall between this machine "
            "and the API."
        )
        return APIUnusableError(redact(msg, self.settings.secrets))

    def fetch_text(self, request: HTTPRequest) -> str:
        """Send a request and return its body as text, retrying transient failures."""
        return self.request_decorator(lambda: self._send(request).text)()

    def stream_download(
        self,
        request: HTTPRequest,
        parse: Callable[[Iterator[bytes], int], Iterable[_T]],
        items_per_handoff: int = HANDOFF_BATCH_ITEMS,
    ) -> Iterator[_T]:
        """Yield what ``parse`` makes of a response body while it downloads.

        One attempt sends the request and feeds the body's chunks to ``parse`` as they
        arrive, with the attempt's number (1 for the first, counting every attempt);
        ``parse`` raises a transient error (e.g. a body cut short) to have the download
        retried. The retry loop is :meth:`request_decorator`'s, as for every
        request (pacing, backoff, ``Retry-After``, the final message): it must wrap the
        whole read while this generator yields as it goes, so the attempts run in a
        worker thread that hands items over through a bounded queue (memory stays flat;
        the network read overlaps with the consumer's work). Items a failed attempt
        handed over are not taken back: the next attempt hands over the body again from
        its start, so a retried download repeats items, never loses one.

        Args:
            request: The request.
            parse: Turns one attempt's body chunks (and the attempt's number) into items.
            items_per_handoff: Items handed over at a time (fewer for larger items).

        Yields:
            The items, in the order ``parse`` made them.
        """
        handoff: _Handoff[_T] = _Handoff()
        numbers = itertools.count(1)

        def attempt() -> None:
            number = next(numbers)
            with self._send(request, stream=True) as response:
                if _html_content_type(response):  # a login page would parse as a bad header
                    raise self.html_page_error(response, expected="a CSV report")
                items = parse(response.iter_content(DOWNLOAD_CHUNK_BYTES), number)
                handoff.put_all(items, items_per_handoff)

        def download() -> None:
            try:
                self.request_decorator(attempt)()
            except _ConsumerGoneError:
                return
            except BaseException as exc:  # noqa: BLE001 - re-raised by the consumer
                handoff.finish(exc)
            else:
                handoff.finish(None)

        # Started on the first item asked for: a generator never iterated starts nothing.
        worker = threading.Thread(target=download, name=f"{self.name} download", daemon=True)
        worker.start()
        yield from handoff.items(worker)


class _Handoff(t.Generic[_T]):
    """Items from a download thread to the generator that consumes them, in batches.

    The queue is bounded, so a download never runs more than a few batches ahead of
    its consumer; a download blocked on a full queue stops once the consumer is gone.
    """

    def __init__(self) -> None:
        self._queue: queue.Queue[list[_T] | _DownloadEnd] = queue.Queue(HANDOFF_BATCHES)
        self._consumer_gone = threading.Event()

    def _put(self, item: list[_T] | _DownloadEnd) -> None:
        while not self._consumer_gone.is_set():
            with contextlib.suppress(queue.Full):
                self._queue.put(item, timeout=HANDOFF_POLL_SECONDS)
                return
        raise _ConsumerGoneError

    def put_all(self, items: Iterable[_T], batch_items: int) -> None:
        """Hand over ``items``, ``batch_items`` at a time (called by the download thread).

        Raises:
            _ConsumerGoneError: If the consumer stopped reading.
        """
        items = iter(items)
        while batch := list(itertools.islice(items, batch_items)):
            self._put(batch)

    def finish(self, failure: BaseException | None) -> None:
        """Say that the download ended, and how (called by the download thread)."""
        with contextlib.suppress(_ConsumerGoneError):
            self._put(_DownloadEnd(failure))

    def items(self, worker: threading.Thread) -> Iterator[_T]:
        """Yield the items handed over by ``worker``; re-raise the failure that ended it.

        Raises:
            BaseException: Whatever ended the download (e.g. RetriesExhaustedError).
        """
        try:
            while not isinstance(batch := self._queue.get(), _DownloadEnd):
                yield from batch
        finally:
            self._consumer_gone.set()
        worker.join()
        if batch.failure is not None:
            raise batch.failure
