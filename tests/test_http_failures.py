"""How request failures are classified and worded, in process (fast).

The end-to-end suite (``test_http_faults_e2e``) runs the CLI against real failures; these
tests cover the shapes it cannot produce cheaply: 200 bodies of every wrong kind, timeouts,
a temporary DNS failure, and the host named without the URL's credentials.
"""

from __future__ import annotations

import socket

import pytest
import requests
import urllib3
from singer_sdk.streams.rest import PageContext

from tap_ai_analytics.client import (
    PERMANENT_FAILURE_ATTEMPTS,
    RetriesExhaustedError,
    connection_failure,
)
from tap_ai_analytics.dates import DateRange
from tap_ai_analytics.errors import APIRequestError
from tap_ai_analytics.streams.augment import AugmentDailyActiveUsersStream, AugmentPage
from tap_ai_analytics.tap import TapAIAnalytics
from tests.conftest import YESTERDAY
from tests.e2e import serve_text

TOKEN = "tok-unit-0123456789"


def fetch_users(url: str) -> object:
    """Ask ``url`` for one day of ``augment_daily_active_users`` (2 attempts)."""
    config = {
        "augment_api_token": TOKEN,
        "augment_api_url": url,
        "start_date": YESTERDAY.isoformat(),
        "max_request_attempts": 2,
        "augment_rate_limit_per_minute": 60000,
    }
    tap = TapAIAnalytics(config=config, parse_env_config=False)
    stream = tap.streams[AugmentDailyActiveUsersStream.name]
    assert isinstance(stream, AugmentDailyActiveUsersStream)
    page = PageContext(None, AugmentPage(DateRange(YESTERDAY, YESTERDAY)))
    return stream.fetch_json(stream.get_http_request(page=page), records_key="users")


@pytest.mark.usefixtures("frozen_today")
@pytest.mark.parametrize(
    ("body", "says"),
    [
        ("", "is not valid JSON: (empty)"),
        ('{"users": [', 'is not valid JSON: {"users": ['),
        ("[]", "is a JSON array, not an object with a 'users' list: []"),
        ('{"users": {}}', "has 'users' as a JSON object, not a list"),
        ('{"metadata": {}}', "has no 'users' list: {\"metadata\": {}}"),
        ('{"error": "quota exceeded"}', "carries an error instead of data"),
        (
            f'{{"users": [], "error": {{"message": "bad Bearer {TOKEN}"}}}}',
            'error instead of data: {"users": [], "error": {"message": "bad Bearer ***"}}',
        ),
    ],
)
def test_a_200_that_is_not_data_is_retried_then_quoted(body: str, says: str):
    with (
        serve_text(body, content_type="application/json") as url,
        pytest.raises(RetriesExhaustedError) as failure,
    ):
        fetch_users(url)
    message = str(failure.value)
    prefix = "Augment /analytics/v0/dau kept failing after 2 attempts: HTTP 200 from "
    assert message.startswith(prefix + "/analytics/v0/dau "), message
    assert says in message
    assert TOKEN not in message


@pytest.mark.usefixtures("frozen_today")
def test_a_long_bad_200_is_quoted_truncated():
    body = '{"metadata": "' + "x" * 5000 + '"}'
    with (
        serve_text(body, content_type="application/json") as url,
        pytest.raises(RetriesExhaustedError) as failure,
    ):
        fetch_users(url)
    assert str(failure.value).endswith("…")
    assert len(str(failure.value)) < 450


@pytest.mark.usefixtures("frozen_today")
@pytest.mark.parametrize(
    ("body", "content_type", "page"),
    [
        ("Please sign in", "text/html; charset=utf-8", "an HTML page (HTTP 200)"),
        ("\n <html><title> Portal\n</title></html>", "application/json", 'titled "Portal"'),
    ],
)
def test_an_html_200_is_reported_without_retrying(body: str, content_type: str, page: str):
    with (
        serve_text(body, content_type=content_type) as url,
        pytest.raises(APIRequestError) as failure,
    ):
        fetch_users(url)
    assert not isinstance(failure.value, RetriesExhaustedError)
    assert page in str(failure.value)
    assert "a proxy or login page?" in str(failure.value)


URL = "https://user:s3cret@api.example.com:8443/analytics/v0/dau?date=2025-01-01"
POOL = urllib3.HTTPSConnectionPool("api.example.com", 8443)
READ_TIMEOUT = urllib3.exceptions.ReadTimeoutError(POOL, URL, "read timed out")


def wrapped(error: Exception, outer: type[requests.RequestException]) -> Exception:
    """``error`` wrapped as requests wraps urllib3's failures to connect."""
    reason = urllib3.exceptions.MaxRetryError(POOL, "/x", error)
    return outer(reason, request=requests.Request("GET", URL).prepare())


@pytest.mark.parametrize(
    ("error", "cause"),
    [
        (
            wrapped(
                urllib3.exceptions.ConnectTimeoutError(POOL, "connect timed out"),
                requests.exceptions.ConnectTimeout,
            ),
            "timed out connecting to api.example.com:8443",
        ),
        (
            requests.exceptions.ReadTimeout(
                READ_TIMEOUT, request=requests.Request("GET", URL).prepare()
            ),
            "timed out waiting for api.example.com:8443 to answer",
        ),
        (  # a body that stalls: a bare ConnectionError around urllib3's error, no request
            requests.exceptions.ConnectionError(READ_TIMEOUT),
            "timed out waiting for api.example.com:8443 to answer",
        ),
        (
            requests.exceptions.ChunkedEncodingError(
                urllib3.exceptions.ProtocolError("Connection broken", ConnectionResetError(104)),
                request=requests.Request("GET", URL).prepare(),
            ),
            "connection to api.example.com:8443 dropped before the response was complete",
        ),
    ],
)
def test_timeouts_and_drops_are_transient_and_name_the_host(error: Exception, cause: str):
    failure = connection_failure(error)
    assert failure.cause == cause
    assert not failure.permanent
    assert "s3cret" not in failure.cause


def test_only_a_name_that_does_not_exist_is_a_permanent_dns_failure():
    no_such_host = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    try_again = socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
    permanent = connection_failure(resolution_failure(no_such_host))
    temporary = connection_failure(resolution_failure(try_again))
    assert permanent.permanent
    assert permanent.cause == "DNS resolution failed for api.example.com:8443 (no such host)"
    assert not temporary.permanent
    assert temporary.cause == (
        "DNS resolution failed for api.example.com:8443 (Temporary failure in name resolution)"
    )
    assert PERMANENT_FAILURE_ATTEMPTS <= 3  # "a few quick attempts"


def resolution_failure(cause: socket.gaierror) -> Exception:
    """What requests raises when getaddrinfo fails with ``cause``."""
    connection = urllib3.connection.HTTPSConnection("api.example.com", 8443)
    error = urllib3.exceptions.NameResolutionError("api.example.com", connection, cause)
    error.__cause__ = cause
    return wrapped(error, requests.exceptions.ConnectionError)


@pytest.mark.usefixtures("frozen_today")
def test_json_data_labelled_as_html_is_still_data():
    body = '{"users": [], "pagination": {"has_more": false}}'
    with serve_text(body, content_type="text/html") as url:
        assert fetch_users(url) == {"users": [], "pagination": {"has_more": False}}
