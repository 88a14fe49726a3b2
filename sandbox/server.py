"""The sandbox HTTP server: routing, request log, rate limiter and fault application.

One threaded server on 127.0.0.1 serves both vendors (their paths do not collide). It speaks
HTTP/1.1 with keep-alive; JSON bodies carry ``Content-Length`` and CSV bodies are streamed with
chunked transfer encoding straight from the generator, so a huge report never sits in memory.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import email.utils
import math
import socket
import sys
import threading
import time
import traceback
import typing as t
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from .augment import AugmentAPI, bad_ok_body
from .data import BENCH_INSTANCE, DEFAULT_SEED, Dataset
from .faults import Faults, TransportFault
from .messages import Request, Response, guess_content_type, text_response
from .sourcegraph import AccessToken, SourcegraphAPI, TokenStore

if t.TYPE_CHECKING:
    from collections.abc import Iterable
    from types import TracebackType

    from typing_extensions import Self

# Well-known fake credentials: the sandbox only ever runs locally.
DEFAULT_AUGMENT_TOKEN = "aug-test-token-5f2b9c"  # noqa: S105
DEFAULT_AUGMENT_FORBIDDEN_TOKEN = "aug-noperm-token-0c4e1d"  # noqa: S105
DEFAULT_SOURCEGRAPH_TOKEN = "sams_at_test-token-7d1e4a"  # noqa: S105
DEFAULT_CAS_COOKIE = "cas-session-acme-8b3f2e"
SOURCEGRAPH_INSTANCES = ("sourcegraph.acme.example", "acme.sourcegraphcloud.com")
SOURCEGRAPH_UNLINKED_INSTANCE = "globex.sourcegraphcloud.com"
_DEFAULT_TOKEN_ID = "5f0c2a4e-7d1e-4a8b-9c3d-2e6f1a0b7d1e"  # noqa: S105
_MAX_BODY = 1 << 20


@dataclasses.dataclass(frozen=True)
class RequestRecord:
    """One logged request.

    Attributes:
        method: HTTP method.
        path: Path without the query string.
        params: Query parameters (first value of each name).
        status: Final status sent (for a dropped connection: the status in the headers).
        vendor: ``"augment"``, ``"sourcegraph"`` or ``"unknown"``.
        headers: Request headers (last value of each name).
        fault: Name of the injected fault (``"fail"``, ``"rate_limit"``, ``"drop"``, ``"slow"``,
            ``"malformed"``, or a kind of ``bad_ok_body_next``) or ``None``.
        time: Monotonic time at which the response started.
        body: The request body (a POST endpoint's JSON parameters).
    """

    method: str
    path: str
    params: dict[str, str]
    status: int
    vendor: str
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    fault: str | None = None
    time: float = 0.0
    body: bytes = b""


class RateLimiter:
    """Token bucket per key: capacity ``burst``, continuous refill of ``per_minute / 60`` a second.

    Args:
        per_minute: Refill rate.
        burst: Bucket capacity (buckets start full).
    """

    def __init__(self, per_minute: float, burst: int) -> None:
        """Create the limiter."""
        if per_minute <= 0 or burst < 1:
            msg = "rate_limit_per_minute must be > 0 and rate_limit_burst >= 1"
            raise ValueError(msg)
        self.rate = per_minute / 60.0
        self.burst = float(burst)
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float | None:
        """Take one token for ``key``.

        Rejected requests consume nothing.

        Args:
            key: Bucket key (the bearer token).

        Returns:
            ``None`` when admitted, otherwise the seconds until a token is available.
        """
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                return None
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) / self.rate


def retry_after_value(seconds: float, style: object) -> str | None:
    """Format a ``Retry-After`` header.

    Args:
        seconds: Delay.
        style: ``"seconds"`` (integer, rounded up), ``"http-date"`` or ``None`` (no header).

    Returns:
        The header value, or ``None``.
    """
    if style is None:
        return None
    whole = max(0, math.ceil(seconds))
    if style == "http-date":
        return email.utils.formatdate(time.time() + whole, usegmt=True)
    return str(whole)


class _App:
    """Routing and bookkeeping shared by all handler threads."""

    def __init__(self, faults: Faults, augment: AugmentAPI, sourcegraph: SourcegraphAPI) -> None:
        self.faults = faults
        self.augment = augment
        self.sourcegraph = sourcegraph
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.log: list[RequestRecord] = []
        self.errors: list[str] = []
        self.count_429 = 0

    def route(self, path: str) -> AugmentAPI | SourcegraphAPI | None:
        if path.startswith("/analytics/"):
            return self.augment
        if path.startswith("/api/"):
            return self.sourcegraph
        return None

    def limiter_retry_after(self, wait: float) -> str | None:
        # Never advertise 0: a token is not available yet.
        return retry_after_value(max(1.0, wait), self.faults.retry_after_style)

    def respond(self, request: Request) -> tuple[Response, str, str | None]:
        """Return ``(response, vendor, fault label)`` for a request."""
        api = self.route(request.path)
        if api is None:
            return text_response(404, "404 page not found"), "unknown", None
        early = self.faults.take_early(request.path)
        if early is not None:
            fault, style, seconds = early
            if fault.kind == "rate_limit":
                return api.rate_limited(retry_after_value(seconds, style)), api.vendor, "rate_limit"
            if fault.body is not None:
                content_type = fault.content_type or guess_content_type(fault.body)
                response = Response(fault.status, content_type, fault.body)
            else:
                response = api.default_error(fault.status)
            if fault.retry_after is not None:
                response.headers.append(("Retry-After", fault.retry_after))
            return response, api.vendor, "fail"
        try:
            response = api.handle(request, self.limiter_retry_after)
        except Exception:  # noqa: BLE001 - a sandbox bug must surface as a 500, not a hang
            self.record_error()
            return api.default_error(500), api.vendor, None
        if (
            response.is_json
            and 200 <= response.status < 300  # noqa: PLR2004
            and self.faults.take_malformed(request.path)
        ):
            response.body = response.body[: max(1, len(response.body) // 2)]
            return response, api.vendor, "malformed"
        response, label = self.apply_bad_ok_body(request.path, response)
        return response, api.vendor, label

    def apply_bad_ok_body(self, path: str, response: Response) -> tuple[Response, str | None]:
        """Swap a successful response for a scripted bad 200, if one is queued.

        JSON responses take every kind; a CSV report only the login page (the other kinds
        are JSON documents).
        """
        if not 200 <= response.status < 300:  # noqa: PLR2004
            return response, None
        if not response.is_json and self.faults.next_bad_ok_body(path) != "html_page":
            return response, None
        kind = self.faults.take_bad_ok_body(path)
        return (response, None) if kind is None else (bad_ok_body(kind, response), kind)

    def record(self, record: RequestRecord) -> None:
        with self.lock:
            self.log.append(record)
            if record.status == 429:  # noqa: PLR2004
                self.count_429 += 1

    def record_error(self) -> None:
        with self.lock:
            self.errors.append(traceback.format_exc())


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "ai-analytics-sandbox"
    sys_version = ""
    timeout = 60  # idle keep-alive connections are closed after this
    # Buffered writes coalesce headers and small bodies into one packet; every place that must
    # reach the client before a pause or a hang-up flushes explicitly.
    wbufsize = 1 << 16
    server: _Server

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        """Silence the default per-request stderr logging."""

    def setup(self) -> None:
        """Disable Nagle's algorithm: headers and small bodies must not wait for delayed ACKs."""
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self) -> str:
        """Return the ``Server`` header value."""
        return self.server_version

    def do_GET(self) -> None:
        """Handle GET."""
        self._dispatch()

    def do_POST(self) -> None:
        """Handle POST."""
        self._dispatch()

    def do_DELETE(self) -> None:
        """Handle DELETE."""
        self._dispatch()

    def do_PUT(self) -> None:
        """Handle PUT (answered with 405)."""
        self._dispatch()

    def do_PATCH(self) -> None:
        """Handle PATCH (answered with 405)."""
        self._dispatch()

    def do_HEAD(self) -> None:
        """Handle HEAD (headers only)."""
        self._dispatch()

    def _dispatch(self) -> None:
        app = self.server.app
        split = urlsplit(self.path)
        params = {
            key: values[0] for key, values in parse_qs(split.query, keep_blank_values=True).items()
        }
        body = self._read_body()
        if body is None:
            response: Response = text_response(400, "unreadable request body")
            self.close_connection = True
            vendor, label = "unknown", None
        else:
            request = Request(self.command, unquote(split.path), params, self.headers, body)
            response, vendor, label = app.respond(request)
        path = unquote(split.path)
        has_body = bool(response.body) or response.stream is not None
        transport = app.faults.take_transport(path) if has_body and self.command != "HEAD" else None
        if transport is not None:
            label = transport.kind
        app.record(
            RequestRecord(
                method=self.command,
                path=path,
                params=params,
                status=response.status,
                vendor=vendor,
                headers=dict(self.headers.items()),
                fault=label,
                time=time.monotonic(),
                body=body or b"",
            )
        )
        try:
            self._write(response, transport)
            self.wfile.flush()
        except OSError:  # the client went away (or a fault hung up): nothing left to do
            self.close_connection = True
        finally:
            close = getattr(response.stream, "close", None)
            if close is not None:
                close()

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return None
        if length < 0 or length > _MAX_BODY:
            return None
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";")[0].strip(), 16)
            except ValueError:
                return None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailers
                    pass
                return b"".join(parts)
            total += size
            if total > _MAX_BODY:
                return None
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    # -- writing ---------------------------------------------------------------------------

    def _write(self, response: Response, transport: TransportFault | None) -> None:
        self.send_response(response.status)
        if response.content_type:
            self.send_header("Content-Type", response.content_type)
        for name, value in response.headers:
            self.send_header(name, value)
        no_body = self.command == "HEAD" or response.status in (204, 304)
        if response.stream is None:
            if response.status not in (204, 304):
                self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if not no_body:
                self._write_fixed(response.body, transport)
            return
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if not no_body:
            self._write_chunked(response.stream, transport)

    def _write_fixed(self, body: bytes, transport: TransportFault | None) -> None:
        if transport is None:
            self.wfile.write(body)
        elif transport.kind == "drop":
            # Content-Length announced the full body; send less and hang up.
            self.wfile.write(body[: min(transport.after_bytes, max(len(body) - 1, 0))])
            self._abort()
        else:
            half = max(1, len(body) // 2)
            self.wfile.write(body[:half])
            self._pause(transport.delay_seconds)
            self.wfile.write(body[half:])

    def _write_chunked(self, stream: Iterable[bytes], transport: TransportFault | None) -> None:
        sent = 0
        stalled = False
        write = self.wfile.write
        for chunk in stream:
            if not chunk:
                continue
            if transport is not None and transport.kind == "drop":
                room = transport.after_bytes - sent
                if len(chunk) > room:
                    # Announce the whole chunk, deliver part of it, hang up: a mid-body break.
                    write(b"%x\r\n" % len(chunk) + chunk[: max(room, 0)])
                    self._abort()
                    return
            write(b"%x\r\n%b\r\n" % (len(chunk), chunk))
            sent += len(chunk)
            if transport is not None and transport.kind == "slow" and not stalled:
                stalled = True
                self._pause(transport.delay_seconds)
        if transport is not None and transport.kind == "drop":
            self._abort()  # the body ended before the cut: omit the terminating chunk
            return
        if transport is not None and transport.kind == "slow" and not stalled:
            self._pause(transport.delay_seconds)
        write(b"0\r\n\r\n")

    def _pause(self, seconds: float) -> None:
        self.wfile.flush()
        self.server.app.stopping.wait(seconds)

    def _abort(self) -> None:
        with contextlib.suppress(OSError):
            self.wfile.flush()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], app: _App) -> None:
        self.app = app
        self._conn_lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()
        super().__init__(address, _Handler)

    def process_request(self, request: socket.socket, client_address: t.Any) -> None:  # type: ignore[override]
        """Serve each connection in its own daemon thread, tracked so stop() can end it."""
        worker = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            daemon=True,
            name="sandbox-connection",
        )
        with self._conn_lock:
            self._connections.add(request)
            self._workers.add(worker)
        worker.start()

    def _serve_connection(self, request: socket.socket, client_address: t.Any) -> None:
        try:
            self.finish_request(request, client_address)
        except Exception:  # noqa: BLE001
            self.handle_error(request, client_address)
        finally:
            with self._conn_lock:
                self._connections.discard(request)
            self.shutdown_request(request)
            with self._conn_lock:
                self._workers.discard(threading.current_thread())

    def handle_error(self, request: object, client_address: object) -> None:  # noqa: ARG002
        """Keep stderr clean; keep unexpected tracebacks (not client hang-ups) for debugging."""
        if not isinstance(sys.exc_info()[1], OSError):
            self.app.record_error()

    def close_connections(self, timeout: float) -> None:
        """Hang up every open connection and wait (bounded) for their threads."""
        with self._conn_lock:
            connections = list(self._connections)
            workers = list(self._workers)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))


class Sandbox:
    """Fake Augment and Sourcegraph Analytics APIs on one local HTTP server.

    Args:
        today: The sandbox's "today" (UTC); ``None`` follows the real UTC date.
        augment_users: Number of human Augment users (plus 2 service accounts).
        rate_limit_per_minute: Token-bucket refill per minute and per token; ``None`` disables
            rate limiting.
        rate_limit_burst: Token-bucket capacity.
        sourcegraph_bench_rows: Rows of the benchmark instance's reports (0 disables it).
        host: Interface to bind.
        port: Port to bind (0 picks a free one).
        seed: Dataset seed.
        augment_token: Valid Augment bearer token.
        sourcegraph_token: Valid Sourcegraph bearer token.
    """

    def __init__(  # noqa: PLR0913 - a configuration surface
        self,
        today: dt.date | None = None,
        augment_users: int = 12,
        rate_limit_per_minute: float | None = None,
        rate_limit_burst: int = 20,
        sourcegraph_bench_rows: int = 0,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: str = DEFAULT_SEED,
        augment_token: str = DEFAULT_AUGMENT_TOKEN,
        sourcegraph_token: str = DEFAULT_SOURCEGRAPH_TOKEN,
    ) -> None:
        """Configure the sandbox (call :meth:`start` or use it as a context manager)."""
        self._fixed_today = today
        self.host = host
        self.port = port
        self._faults = Faults()
        self.data = Dataset(
            self._today, augment_users, sourcegraph_bench_rows, seed, styles=self.faults.styles
        )
        self.augment_token = augment_token
        self.augment_forbidden_token = DEFAULT_AUGMENT_FORBIDDEN_TOKEN
        self.sourcegraph_token = sourcegraph_token
        self.sourcegraph_instances = list(SOURCEGRAPH_INSTANCES)
        self.sourcegraph_unlinked_instance = SOURCEGRAPH_UNLINKED_INSTANCE
        self.sourcegraph_bench_instance = BENCH_INSTANCE if sourcegraph_bench_rows > 0 else None
        self.cas_cookie = DEFAULT_CAS_COOKIE
        self.limiter = (
            None
            if rate_limit_per_minute is None
            else RateLimiter(rate_limit_per_minute, rate_limit_burst)
        )

        access = set(self.sourcegraph_instances)
        if self.sourcegraph_bench_instance:
            access.add(self.sourcegraph_bench_instance)
        self.tokens = TokenStore({"acme": access})
        self.tokens.add_session(self.cas_cookie, "acme")
        self.tokens.add(
            AccessToken(
                id=_DEFAULT_TOKEN_ID,
                secret=sourcegraph_token,
                owner="acme",
                created_at=dt.datetime(2025, 5, 28, 12, 0, tzinfo=dt.timezone.utc),
                display_name="Sandbox default token",
            )
        )
        admit = self.limiter.acquire if self.limiter is not None else _always_admit
        self._app = _App(
            self.faults,
            AugmentAPI(
                self.data.augment,
                self.faults,
                today=self._today,
                tokens={augment_token},
                forbidden_tokens={self.augment_forbidden_token},
                admit=admit,
            ),
            SourcegraphAPI(self.data.sourcegraph, self.faults, self.tokens, admit),
        )
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> Self:
        """Bind the socket and start serving in a background thread.

        Returns:
            The sandbox itself.

        Raises:
            RuntimeError: If already started.
        """
        if self._server is not None:
            msg = "sandbox already started"
            raise RuntimeError(msg)
        self._app.stopping.clear()
        server = _Server((self.host, self.port), self._app)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name="sandbox-server",
        )
        self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop serving, close every socket and wait (bounded) for the threads.

        Args:
            timeout: Upper bound on the wait for connection threads.
        """
        server, self._server = self._server, None
        if server is None:
            return
        self._app.stopping.set()
        server.shutdown()
        server.close_connections(timeout)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def __enter__(self) -> Self:
        """Start the sandbox."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the sandbox."""
        self.stop()

    # -- state -----------------------------------------------------------------------------

    @property
    def faults(self) -> Faults:
        """Fault switches (mutate them; the object itself is fixed for the sandbox's life)."""
        return self._faults

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:41234``.

        Raises:
            RuntimeError: If the sandbox is not running.
        """
        if self._server is None:
            msg = "sandbox is not running"
            raise RuntimeError(msg)
        host, port = self._server.server_address[:2]
        return f"http://{t.cast('str', host)}:{port}"

    @property
    def today(self) -> dt.date:
        """The sandbox's current UTC date."""
        return self._today()

    def _today(self) -> dt.date:
        if self._fixed_today is not None:
            return self._fixed_today
        return dt.datetime.now(dt.timezone.utc).date()

    @property
    def requests(self) -> list[RequestRecord]:
        """Snapshot of the request log, oldest first."""
        with self._app.lock:
            return list(self._app.log)

    def reset_log(self) -> None:
        """Clear the request log and the 429 counter."""
        with self._app.lock:
            self._app.log.clear()
            self._app.count_429 = 0

    @property
    def count_429(self) -> int:
        """Number of 429 responses sent since start (or the last :meth:`reset_log`)."""
        with self._app.lock:
            return self._app.count_429

    @property
    def errors(self) -> list[str]:
        """Tracebacks of unexpected server-side exceptions (should stay empty)."""
        with self._app.lock:
            return list(self._app.errors)


def _always_admit(_: str) -> float | None:
    return None
