"""JSON bodies that are not data, connection failures and a vanished target, end to end.

The real CLI runs against the sandbox (or against nothing: a host name that cannot resolve,
a closed port, a TLS server whose certificate nobody trusts). Each fault either delivers
100 % of the sandbox's truth (it clears on a retry) or ends the run with one clear line and
a non-zero exit; either way no STATE is ahead of the records delivered before it and no
traceback is printed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.util
import shutil
import socket
import ssl
import subprocess
import threading
import time
import typing as t

import pytest

from sandbox import Sandbox
from tests.conftest import bookmark_of
from tests.e2e import (
    AUGMENT_STREAMS,
    CliRun,
    StateAuditor,
    assert_complete,
    assert_synced_everything,
    cli_args,
    cli_env,
    e2e_config,
    faults_fired,
    ground_truth,
    run_tap,
    strip_log_prefix,
    utc_today,
    write_json,
)
from tests.test_faults_e2e import ACTIVITY, BY_EDITOR, DAU, DAU_COUNT, USAGE

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

TOKEN = "tok-e2e-0123456789abcdef"  # a token the output must never show
#: getaddrinfo's answers for a name that does not exist (a resolver that cannot be asked
#: answers EAI_AGAIN, which the tap rightly treats as temporary).
NO_SUCH_HOST = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
#: The real UTC date (the CLI subprocess reads the real clock).
TODAY = utc_today()


def assert_one_clear_failure(run: CliRun, *phrases: str) -> str:
    """The run failed with a last line holding every phrase, and no traceback or secret.

    Returns:
        The last line's message.
    """
    assert run.returncode != 0, run.explain()
    assert "Traceback" not in run.stderr, run.explain()
    assert "Exception ignored" not in run.stderr, run.explain()
    message = strip_log_prefix(run.last_line)
    for phrase in phrases:
        assert phrase in message, (phrase, run.explain())
    return message


# -- 200 responses that are not data ------------------------------------------------------


def test_bad_200s_that_clear_are_retried_and_lose_nothing(tmp_path: Path):
    """A 200 with an error object, without its data array or with a null one, is retried.

    Proves: each of the five Augment endpoints answers one bad 200 (an error object, the
    data array missing, the data array null) and the run still delivers 100 % of the
    ground truth with the right values; every STATE only bookmarks delivered dates; each
    bad 200 is logged as a retry that says what came back. (Before, such a body was read
    as "no records" and the bookmark moved past the day.)
    """
    first, last = TODAY - dt.timedelta(days=4), TODAY - dt.timedelta(days=2)
    with Sandbox(today=TODAY) as sb:
        faults = sb.faults
        faults.bad_ok_body_next(1, "error_object", path_prefix=DAU)
        faults.bad_ok_body_next(1, "no_data", path_prefix=USAGE)
        faults.bad_ok_body_next(1, "null_data", path_prefix=DAU_COUNT)
        faults.bad_ok_body_next(1, "error_object", path_prefix=ACTIVITY)
        faults.bad_ok_body_next(1, "no_data", path_prefix=BY_EDITOR)
        run = run_tap(tmp_path, e2e_config(sb, first, last, sourcegraph=False))
        assert_synced_everything(sb, first, last, run, AUGMENT_STREAMS)
        assert faults.pending == 0
        fired = faults_fired(sb)
        assert fired["error_object", "200"] == 2, fired
        assert fired["no_data", "200"] == 2, fired
        assert fired["null_data", "200"] == 1, fired
        retries = [strip_log_prefix(line) for line in run.stderr_lines if "retrying in" in line]
        assert len(retries) == 5, run.explain()
        said = "\n".join(retries)
        assert f"HTTP 200 from {DAU} carries an error instead of data" in said
        assert "transient backend error" in said  # the server's own words
        assert f"HTTP 200 from {USAGE} has no 'daily_usage' list" in said
        assert "has 'daily_active_user_counts' as a JSON null, not a list" in said
        assert sb.errors == []


@pytest.mark.parametrize(
    ("kind", "says"),
    [
        ("error_object", "carries an error instead of data: "),
        ("no_data", "has no 'users' list: "),
        ("null_data", "has 'users' as a JSON null, not a list: "),
    ],
)
def test_bad_200s_that_persist_fail_with_one_line(tmp_path: Path, kind: str, says: str):
    """A bad 200 that never clears uses the retry budget, then fails in one line.

    Proves: exactly ``max_request_attempts`` requests, a non-zero exit, a last line that
    names the endpoint and quotes what came back (without the token), no traceback, no
    bookmark for the failing stream, and no STATE ahead of the delivered records (the
    stream synced before it is complete and bookmarked).
    """
    first = last = TODAY - dt.timedelta(days=2)
    with Sandbox(today=TODAY, augment_token=TOKEN) as sb:
        sb.faults.bad_ok_body_next(50, kind, path_prefix=ACTIVITY)
        config = e2e_config(sb, first, last, sourcegraph=False, max_request_attempts=2)
        run = run_tap(tmp_path, config)
        message = assert_one_clear_failure(
            run,
            f"Augment {ACTIVITY} kept failing after 2 attempts: HTTP 200 from {ACTIVITY} {says}",
        )
        assert len(message) < 600, message  # quoted, not the whole body
        assert TOKEN not in run.output
        assert len([r for r in sb.requests if r.path == ACTIVITY]) == 2
        assert_state_follows_delivery(sb, first, last, run, failed="augment_user_activity")


def assert_state_follows_delivery(
    sb: Sandbox, first: dt.date, last: dt.date, run: CliRun, *, failed: str
) -> None:
    """No STATE is ahead of the records; streams synced before ``failed`` are complete.

    The streams run in name order, so those before the failing one finished (delivered
    and bookmarked) and the failing one has no bookmark.
    """
    done = [stream for stream in AUGMENT_STREAMS if stream < failed]
    truth = ground_truth(sb, first, last, AUGMENT_STREAMS)
    StateAuditor(truth).feed(run.messages)
    assert_complete({slot: truth[slot] for slot in truth if slot[0] in done}, run.messages)
    for stream in done:
        assert bookmark_of(run.states[-1], stream) == last.isoformat(), stream
    assert all(bookmark_of(state, failed) is None for state in run.states)


def test_an_html_login_page_fails_at_once(tmp_path: Path):
    """A 200 login page from a proxy is recognised on first sight, not retried for minutes.

    Proves: with the default retry budget, one request to the endpoint, then a non-zero
    exit whose last line says it got an HTML page (with its title) and asks about a proxy
    or login page; no traceback; no bookmark for the failing stream.
    """
    first = last = TODAY - dt.timedelta(days=2)
    with Sandbox(today=TODAY) as sb:
        sb.faults.bad_ok_body_next(50, "html_page", path_prefix=USAGE)
        run = run_tap(tmp_path, e2e_config(sb, first, last, sourcegraph=False))
        assert_one_clear_failure(
            run,
            f'Augment GET {USAGE} got an HTML page titled "Sign in - Corporate SSO" (HTTP 200)',
            "a proxy or login page?",
        )
        assert not [line for line in run.stderr_lines if "retrying in" in line]
        assert len([r for r in sb.requests if r.path == USAGE]) == 1
        # The run reads the daily totals before any per-day request (the plan), so the
        # page stops the first Augment stream: nothing is delivered and nothing bookmarked.
        assert_state_follows_delivery(sb, first, last, run, failed="augment_daily_active_users")
        assert not any(
            bookmark_of(state, stream) for state in run.states for stream in AUGMENT_STREAMS
        )


def test_the_connection_check_recognises_a_login_page(tmp_path: Path):
    """``--test`` against a proxy's login page fails its check at once, saying so.

    Proves: one request, a non-zero exit, and the Augment check's verdict says it got an
    HTML page and asks about a proxy or login page (a 200 used to pass the check).
    """
    with Sandbox(today=TODAY) as sb:
        sb.faults.bad_ok_body_next(50, "html_page", path_prefix=DAU_COUNT)
        config = e2e_config(sb, TODAY - dt.timedelta(days=3), TODAY - dt.timedelta(days=2))
        run = run_tap(tmp_path, config, args=["--test"])
        assert run.returncode != 0, run.explain()
        assert "Traceback" not in run.stderr
        (verdict,) = [line for line in run.stderr_lines if "augment: FAILED" in line]
        assert "got an HTML page" in verdict, verdict
        assert "a proxy or login page?" in verdict
        assert len([r for r in sb.requests if r.path == DAU_COUNT]) == 1


# -- connection failures ------------------------------------------------------------------


def unreachable_config(api_url: str, **overrides: t.Any) -> dict[str, t.Any]:
    """An Augment-only config pointing at ``api_url``."""
    day = (TODAY - dt.timedelta(days=2)).isoformat()
    return {
        "augment_api_token": TOKEN,
        "augment_api_url": api_url,
        "start_date": day,
        "end_date": day,
        "request_timeout_seconds": 5,
        **overrides,
    }


def test_a_host_that_does_not_resolve_fails_fast_and_names_the_host(tmp_path: Path):
    """An unresolvable host name gives up after two quick attempts, not the whole budget.

    ``.invalid`` is reserved (RFC 6761) never to resolve, and resolvers answer it at once
    without network traffic. Proves: with the default budget of 8 attempts, two attempts
    and a non-zero exit within seconds; the last line names the host and the cause and
    points at the API URL setting; no traceback.
    """
    host = "api.augment.invalid"
    started = time.monotonic()
    try:
        socket.getaddrinfo(host, 443)
    except socket.gaierror as exc:
        if exc.errno not in NO_SUCH_HOST:  # pragma: no cover - e.g. no resolver at all
            pytest.skip(f"this machine's resolver fails {host} with {exc}, not 'no such host'")
    else:  # pragma: no cover
        pytest.skip(f"this machine's resolver answers for {host}")
    if time.monotonic() - started > 1:  # pragma: no cover - a resolver that asks upstream
        pytest.skip(f"this machine's resolver takes seconds to reject {host}")
    started = time.monotonic()
    run = run_tap(tmp_path, unreachable_config(f"https://{host}"))
    elapsed = time.monotonic() - started
    assert_one_clear_failure(
        run,
        f"kept failing after 2 attempts: DNS resolution failed for {host} (no such host)",
        "check the API URL setting",
    )
    (retry,) = [line for line in run.stderr_lines if "retrying in" in line]
    assert "(attempt 2 of 2)" in retry, retry
    assert elapsed < 15, elapsed  # 8 attempts would back off for two minutes


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_refused_connection_names_the_host_and_port(tmp_path: Path):
    """A refused connection is retried (a server restarting), then named in one line.

    Proves: the retry line and the final line say "connection refused by 127.0.0.1:<port>"
    instead of "connection failed"; the run uses its whole (here: 2) attempts.
    """
    port = closed_port()
    config = unreachable_config(f"http://127.0.0.1:{port}", max_request_attempts=2)
    run = run_tap(tmp_path, config)
    assert_one_clear_failure(
        run, f"kept failing after 2 attempts: connection refused by 127.0.0.1:{port}"
    )
    (retry,) = [line for line in run.stderr_lines if "retrying in" in line]
    assert f"connection refused by 127.0.0.1:{port}" in retry, retry


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1 and its key; return both paths.

    Uses the ``openssl`` command, else the ``cryptography`` package; skips the test when
    neither is available.
    """
    cert, key = directory / "cert.pem", directory / "key.pem"
    openssl = shutil.which("openssl")
    if openssl:
        command = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"]
        command += ["-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"]
        command += ["-keyout", str(key), "-out", str(cert)]
        subprocess.run(
            command,
            check=True,
            capture_output=True,
            timeout=60,
        )
    elif importlib.util.find_spec("cryptography"):  # pragma: no cover - no openssl here
        _write_certificate_with_cryptography(cert, key)
    else:  # pragma: no cover
        pytest.skip("needs the openssl command or the cryptography package for a test cert")
    return cert, key


def _write_certificate_with_cryptography(cert: Path, key: Path) -> None:  # pragma: no cover
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(private, hashes.SHA256())
    )
    cert.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


@contextlib.contextmanager
def tls_server(cert: Path, key: Path) -> Iterator[tuple[int, list[str]]]:
    """Accept TLS handshakes on a loopback port; yield the port and each handshake's outcome."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    outcomes: list[str] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            with connection:
                connection.settimeout(5)
                try:
                    context.wrap_socket(connection, server_side=True).close()
                except (ssl.SSLError, OSError) as exc:
                    outcomes.append(type(exc).__name__)  # the client rejected us
                else:
                    outcomes.append("handshake")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], outcomes
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_an_untrusted_certificate_fails_fast_and_says_so(tmp_path: Path):
    """A TLS certificate that does not verify gives up after two attempts, named as such.

    Proves: against a local TLS server with a self-signed certificate, two connection
    attempts (not the default 8), a non-zero exit, and a last line naming the host, "TLS
    certificate verification failed" and the verifier's reason; no traceback.
    """
    cert, key = self_signed_certificate(tmp_path)
    with tls_server(cert, key) as (port, handshakes):
        run = run_tap(tmp_path, unreachable_config(f"https://127.0.0.1:{port}"))
    assert_one_clear_failure(
        run,
        "kept failing after 2 attempts: TLS certificate verification failed for "
        f"127.0.0.1:{port}: self-signed certificate",
        "check the API URL setting",
    )
    assert len(handshakes) == 2, handshakes
    assert "handshake" not in handshakes


def test_a_ca_bundle_named_in_the_environment_is_trusted(tmp_path: Path):
    """``REQUESTS_CA_BUNDLE`` works as it does for ``requests.get``: a TLS-intercepting proxy.

    Proves: with the self-signed certificate as the bundle, the TLS handshake succeeds
    (the server then hangs up, so the run still fails, but not on the certificate).
    """
    cert, key = self_signed_certificate(tmp_path)
    config = unreachable_config("https://127.0.0.1:1", max_request_attempts=2)
    with tls_server(cert, key) as (port, handshakes):
        config["augment_api_url"] = f"https://127.0.0.1:{port}"
        run = run_tap(tmp_path, config, env={"REQUESTS_CA_BUNDLE": str(cert)})
    assert run.returncode != 0, run.explain()
    assert handshakes, run.explain()
    assert set(handshakes) == {"handshake"}, handshakes
    assert "certificate" not in strip_log_prefix(run.last_line), run.explain()


# -- the target and the state -------------------------------------------------------------


def test_a_target_that_stops_reading_ends_the_run_in_one_line(tmp_path: Path):
    """``tap | head -1``: the tap stops with one line, non-zero, and no atexit traceback.

    The reader takes the first line and closes the pipe while the first request is still
    being answered (its body stalls for a moment), so the tap's next write finds no reader.
    Proves: a non-zero exit, the last stderr line says the target stopped reading, and
    stderr has no traceback (neither from the sync nor from the buffered writer at exit).
    """
    first, last = TODAY - dt.timedelta(days=4), TODAY - dt.timedelta(days=2)
    with Sandbox(today=TODAY) as sb:
        sb.faults.slow_body_next(1, delay_seconds=1.5)  # time for the reader to hang up
        config = write_json(tmp_path / "config.json", e2e_config(sb, first, last))
        stderr_path = tmp_path / "stderr.txt"
        with (
            stderr_path.open("w", encoding="utf-8") as stderr,
            subprocess.Popen(
                cli_args(config, None, ()), stdout=subprocess.PIPE, stderr=stderr, env=cli_env()
            ) as process,
        ):
            assert process.stdout is not None
            first_line = process.stdout.readline()
            process.stdout.close()  # what `head -1` does
            returncode = process.wait(timeout=60)
    assert first_line.startswith(b'{"type":"SCHEMA"')
    run = CliRun(returncode, "", stderr_path.read_text(encoding="utf-8"))
    assert_one_clear_failure(run, "The target stopped reading")


def test_a_bookmark_of_an_unknown_stream_is_ignored_with_one_warning(tmp_path: Path):
    """A state from another version, with a stream this one does not have, still resumes.

    Proves: the run succeeds, resumes the known stream from its bookmark, and stderr has
    exactly one line naming the unknown stream (a warning saying it is ignored).
    """
    first, last = TODAY - dt.timedelta(days=4), TODAY - dt.timedelta(days=2)
    resume_from = (last - dt.timedelta(days=1)).isoformat()
    state = {
        "bookmarks": {
            "augment_dau_count": {"replication_key": "date", "replication_key_value": resume_from},
            "augment_retired_stream": {"replication_key": "date", "replication_key_value": "x"},
        }
    }
    with Sandbox(today=TODAY) as sb:
        config = e2e_config(sb, first, last, sourcegraph=False, lookback_days=0)
        run = run_tap(tmp_path, config, state=state)
        assert run.returncode == 0, run.explain()
        dau_counts = sorted(r["date"] for r in run.records["augment_dau_count"])
        assert dau_counts == [last.isoformat()]
    mentions = [line for line in run.stderr_lines if "augment_retired_stream" in line]
    assert len(mentions) == 1, run.explain()
    assert "WARNING" in mentions[0]
    assert "does not have" in mentions[0]
