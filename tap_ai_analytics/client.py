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
import threading
import typing as t
from functools import cached_property
from http import HTTPStatus
from importlib import metadata
from urllib.parse import urlsplit

import requests
import urllib3
from singer_sdk import RESTStream
from singer_sdk.authenticators import BearerTokenAuthenticator
from singer_sdk.exceptions import RetriableAPIError

from tap_ai_analytics.errors import APIRequestError, quote_body, redact

if t.TYPE_CHECKING:
    from collections.abc import Callable, Generator, Iterable, Iterator

    from backoff.types import Details
    from singer_sdk import Tap
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
#: A download's items are handed to the consumer in lists of this many (a hand-off
#: wakes the other thread: rarely enough that it costs nothing per item)...
HANDOFF_BATCH_ITEMS = 1024
#: ...of which at most this many wait (so a few thousand records are held at once).
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
    if isinstance(exc, requests.exceptions.Timeout) or _is_read_timeout(exc):
        return "timed out"
    if isinstance(exc, (requests.exceptions.ChunkedEncodingError, ConnectionResetError)):
        return "connection dropped mid-response"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return "connection failed"
    return type(exc).__name__


def _is_read_timeout(exc: BaseException) -> bool:
    # requests reports a body that stalls past the read timeout as a ConnectionError
    # wrapping urllib3's ReadTimeoutError.
    return any(isinstance(arg, urllib3.exceptions.ReadTimeoutError) for arg in exc.args)


class RetriesExhaustedError(APIRequestError):
    """A transient failure kept happening until the attempt budget ran out."""


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
        super().__init__(tap, schema=schema)

    # -- vendor hooks -----------------------------------------------------------------

    @property
    def vendor(self) -> AugmentSettings | SourcegraphSettings:
        """This stream's vendor settings (API URL and token)."""
        raise NotImplementedError

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
        return APIRequestError(f"{message}. Server said: {detail}" if detail else f"{message}.")

    # -- SDK hooks --------------------------------------------------------------------

    @property
    def url_base(self) -> str:
        """Base URL of the vendor's API."""
        return self.vendor.api_url

    @cached_property
    def authenticator(self) -> BearerTokenAuthenticator:
        """Bearer-token authentication (the token travels only in this header)."""
        return BearerTokenAuthenticator(token=self.vendor.token)

    @property
    def http_headers(self) -> dict:
        """Headers sent with every request."""
        return {"User-Agent": USER_AGENT, "Accept": "application/json, text/csv;q=0.9"}

    @property
    def timeout(self) -> int:
        """Seconds to wait for a connection or for more data."""
        return self.settings.request_timeout_seconds

    def backoff_max_tries(self) -> int:
        """Attempts per request (the configured ``max_request_attempts``)."""
        return self.settings.max_request_attempts

    def backoff_jitter(self, value: float) -> float:
        """Wait exactly what the wait generator computed (it adds its own jitter)."""
        return value

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
        return delay * random.uniform(0.9, 1.1)  # noqa: S311 - jitter, not crypto

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
            self.backoff_max_tries(),
        )

    def request_decorator(self, func: Callable[..., _T]) -> Callable[..., _T]:
        """Pace every attempt, retry transient failures, explain exhausted retries.

        Args:
            func: The function performing one attempt.

        Returns:
            The function with pacing and retries.
        """

        def paced(*args: t.Any, **kwargs: t.Any) -> _T:
            if self.pacer is not None:
                self.pacer.acquire()
            return func(*args, **kwargs)

        retried = super().request_decorator(paced)  # type: ignore[arg-type]

        def call(*args: t.Any, **kwargs: t.Any) -> _T:
            try:
                return t.cast("_T", retried(*args, **kwargs))
            except RETRIED_EXCEPTIONS as exc:
                msg = (
                    f"{self.vendor_label} {self.path} kept failing after "
                    f"{self.backoff_max_tries()} attempts: {describe_exception(exc)}"
                )
                raise RetriesExhaustedError(redact(msg, self.settings.secrets)) from None

        return call

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

    def _send(self, request: HTTPRequest, *, stream: bool = False) -> requests.Response:
        prepared = self.build_prepared_request(
            method=request.method,
            url=request.url,
            params=request.encode_params(),
            headers=request.headers,
        )
        self.requests_sent += 1
        response = self.requests_session.send(
            prepared, timeout=self.timeout, allow_redirects=self.allow_redirects, stream=stream
        )
        try:
            self.validate_response(response)
        except Exception:
            response.close()
            raise
        return response

    def fetch_json(self, request: HTTPRequest) -> t.Any:
        """Send a request and return its JSON body, retrying transient failures.

        A 200 whose body is not valid JSON (a proxy page, a cut connection) is retried
        like a 5xx.

        Args:
            request: The request.

        Returns:
            The decoded JSON body.
        """

        def attempt() -> t.Any:
            response = self._send(request)
            try:
                return response.json()
            except ValueError:
                msg = f"malformed JSON in a {response.status_code} response from {self.path}"
                raise RetriableAPIError(msg, response) from None

        return self.request_decorator(attempt)()

    def fetch_text(self, request: HTTPRequest) -> str:
        """Send a request and return its body as text, retrying transient failures."""
        return self.request_decorator(lambda: self._send(request).text)()

    def stream_download(
        self, request: HTTPRequest, parse: Callable[[Iterator[bytes]], Iterable[_T]]
    ) -> Iterator[_T]:
        """Yield what ``parse`` makes of a response body while it downloads.

        One attempt sends the request and feeds the body's chunks to ``parse`` as they
        arrive; ``parse`` raises a transient error (e.g. a body cut short) to have the
        download retried. The retry loop is :meth:`request_decorator`'s, as for every
        request (pacing, backoff, ``Retry-After``, the final message): it must wrap the
        whole read while this generator yields as it goes, so the attempts run in a
        worker thread that hands items over through a bounded queue (memory stays flat;
        the network read overlaps with the consumer's work). Items a failed attempt
        handed over are not taken back: the next attempt hands over the body again from
        its start, so a retried download repeats items, never loses one.

        Args:
            request: The request.
            parse: Turns one attempt's body chunks into items.

        Yields:
            The items, in the order ``parse`` made them.
        """
        handoff: _Handoff[_T] = _Handoff()

        def attempt() -> None:
            with self._send(request, stream=True) as response:
                handoff.put_all(parse(response.iter_content(DOWNLOAD_CHUNK_BYTES)))

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

    def put_all(self, items: Iterable[_T]) -> None:
        """Hand over ``items`` in batches (called by the download thread).

        Raises:
            _ConsumerGoneError: If the consumer stopped reading.
        """
        items = iter(items)
        while batch := list(itertools.islice(items, HANDOFF_BATCH_ITEMS)):
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
