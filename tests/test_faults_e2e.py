"""Fault injection end to end: the real CLI against a misbehaving fake API loses nothing.

Each test starts the sandbox, switches on faults (5xx with JSON or HTML bodies, 429 with
``Retry-After`` in seconds, as an HTTP date or absent, connections cut mid-body, bodies
stalled beyond the read timeout, malformed JSON, a repeating cursor), runs
``python -m tap_ai_analytics`` as a subprocess and compares its stdout with the API's
ground truth: every row delivered, keys unique (identical copies allowed), and no STATE
ahead of the records delivered before it.
"""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest

from sandbox import Faults, Sandbox
from tests.conftest import bookmark_of
from tests.e2e import (
    AUGMENT_PATHS,
    AUGMENT_STREAMS,
    FINE,
    FaultSequence,
    StateAuditor,
    assert_complete,
    assert_synced_everything,
    e2e_config,
    faults_fired,
    ground_truth,
    run_tap,
    strip_log_prefix,
    utc_today,
)

if t.TYPE_CHECKING:
    from pathlib import Path

    from sandbox import RequestRecord

DAU = AUGMENT_PATHS["augment_daily_active_users"]
USAGE = AUGMENT_PATHS["augment_daily_usage"]
DAU_COUNT = AUGMENT_PATHS["augment_dau_count"]
ACTIVITY = AUGMENT_PATHS["augment_user_activity"]
BY_EDITOR = AUGMENT_PATHS["augment_user_activity_by_editor_language"]
HTML_ERROR = "<!DOCTYPE html><html><head><title>503</title></head><body>upstream busy</body></html>"
#: The tap's read timeout in these tests, and a stall that exceeds it.
TIMEOUT = 1
STALL = TIMEOUT + 1.5


@pytest.fixture
def today() -> dt.date:
    """The real UTC date (the CLI subprocess reads the real clock)."""
    return utc_today()


def retry_gap(sb: Sandbox, path: str, nth: int = 0) -> float:
    """Seconds between the ``nth`` 429 on ``path`` and the next request there."""
    log: list[RequestRecord] = [r for r in sb.requests if r.path == path]
    hits = [i for i, r in enumerate(log) if r.status == 429]
    index = hits[nth]
    return log[index + 1].time - log[index].time


def test_augment_faults_lose_no_row_and_state_never_runs_ahead(tmp_path: Path, today: dt.date):
    """Every Augment fault kind in one run, paced against a rate-limited API.

    Proves: seeded random 500/502/503 (502 as an HTML gateway page), a 503 with an HTML
    body, 429s with Retry-After in seconds, as an HTTP date and absent, a connection cut
    mid-body, a body stalled past the read timeout and a truncated JSON body are all
    retried; 100 % of the ground-truth rows of the five Augment streams arrive with the
    right values, each STATE only bookmarks fully delivered dates, the final bookmark is
    the last date, Retry-After is honoured, and stderr has no traceback.
    """
    first, last = today - dt.timedelta(days=11), today - dt.timedelta(days=2)
    with Sandbox(today=today, rate_limit_per_minute=3000, rate_limit_burst=20) as sb:
        faults = sb.faults
        # One fault chain per endpoint, so that backoffs do not stack up on one request.
        faults.random_errors(0.05, statuses=(500, 502, 503), seed=6, path_prefix="/analytics/")
        faults.rate_limit_next(1, retry_after="seconds", seconds=1, path_prefix=DAU)
        faults.fail_next(
            1, status=503, body=HTML_ERROR, content_type="text/html", retry_after=0, path_prefix=DAU
        )
        faults.rate_limit_next(1, retry_after=None, path_prefix=USAGE)
        faults.rate_limit_next(1, retry_after="http-date", seconds=2, path_prefix=USAGE)
        faults.drop_connection_next(1, after_bytes=40, path_prefix=DAU_COUNT)
        faults.malformed_json_next(1, path_prefix=ACTIVITY)
        faults.slow_body_next(1, delay_seconds=STALL, path_prefix=BY_EDITOR)
        config = e2e_config(
            sb,
            first,
            last,
            sourcegraph=False,
            rate_per_minute=3000,
            request_timeout_seconds=TIMEOUT,
        )
        run = run_tap(tmp_path, config)
        assert_synced_everything(sb, first, last, run, AUGMENT_STREAMS)

        fired = faults_fired(sb)
        assert faults.pending == 0  # every scripted fault was consumed
        expected_kinds = [("rate_limit", "429"), ("drop", "200"), ("slow", "200")]
        for fault in [*expected_kinds, ("malformed", "200")]:
            assert fired[fault], (fault, fired)
        assert fired["fail", "503"] >= 1
        assert sum(n for (kind, _), n in fired.items() if kind == "fail") >= 2, fired  # random
        # Retry-After honoured: 1 s; no header: the backoff of at least one request
        # interval (1 s, jittered); an HTTP date 2 s ahead (whole seconds, so > 1 s).
        assert retry_gap(sb, DAU) >= 0.95
        assert retry_gap(sb, USAGE, 0) >= 0.85
        assert retry_gap(sb, USAGE, 1) >= 0.9
        retries = [line for line in run.stderr_lines if "retrying in" in line]
        assert len(retries) == sum(fired.values()) >= 8, run.explain()  # one per failure
        assert sb.errors == []


def burst_of_429s(faults: Faults) -> None:
    """Three 429s in a row on one request: Retry-After 0 s (twice), then as an HTTP date."""
    faults.rate_limit_next(2, retry_after="seconds", seconds=0)
    faults.rate_limit_next(1, retry_after="http-date", seconds=0)


def test_sourcegraph_faults_lose_no_row_and_state_never_runs_ahead(tmp_path: Path, today: dt.date):
    """Sourcegraph CSV downloads under faults, one download per instance and day.

    Proves: seeded random 500/502/503, a 429 without Retry-After, a burst of 429s with
    Retry-After 0 s and as an HTTP date, a 500 with an HTML body, CSV streams cut mid-body
    (inside a chunk) and stalled past the read timeout are retried from the start of the
    download, never parsed half-way: the day report delivers 100 % of the ground truth
    for both instances with the right values and no partial or extra row, and STATE per
    instance only bookmarks delivered days.
    """
    first, last = today - dt.timedelta(days=16), today - dt.timedelta(days=2)
    steps: list[t.Callable[[Faults], object]] = [
        lambda f: f.rate_limit_next(1, retry_after=None),
        burst_of_429s,
        lambda f: f.fail_next(1, status=500, body=HTML_ERROR, content_type="text/html"),
        lambda f: f.drop_connection_next(1, after_bytes=300),
        lambda f: f.slow_body_next(1, delay_seconds=STALL),
        lambda f: f.drop_connection_next(1, after_bytes=0),
    ]
    with Sandbox(today=today) as sb:
        sb.faults.random_errors(0.05, statuses=(500, 502, 503), seed=5)
        config = e2e_config(
            sb,
            first,
            last,
            augment=False,
            sourcegraph_window="day",
            request_timeout_seconds=TIMEOUT,
        )
        with FaultSequence(sb, steps) as sequence:
            run = run_tap(tmp_path, config)
        assert run.returncode == 0, run.explain()
        assert "Traceback" not in run.stderr
        assert sequence.done, f"only {sequence.armed} of {len(steps)} fault steps were used"

        truth = ground_truth(sb, first, last, [FINE])
        assert_complete(truth, run.messages)
        StateAuditor(truth).feed(run.messages)
        for instance in sb.sourcegraph_instances:
            assert bookmark_of(run.states[-1], FINE, instance) == last.isoformat()

        fired = faults_fired(sb)
        for fault in (("rate_limit", "429"), ("fail", "500"), ("drop", "200"), ("slow", "200")):
            assert fired[fault], (fault, fired)
        complete = [r for r in sb.requests if r.status == 200 and r.fault is None]
        days = {(r.params["instanceURL"], r.params["startDate"]) for r in complete}
        assert len(complete) == len(days) == 2 * 15  # each (instance, day) once, completely
        assert sb.errors == []


def test_repeating_cursor_stops_with_one_message_and_no_bookmark(tmp_path: Path, today: dt.date):
    """A cursor that repeats ends the run cleanly instead of looping.

    Proves: the run exits non-zero after at most 3 requests to the looping endpoint, the
    last stderr line explains it (no traceback), and no STATE bookmarks the date whose
    pages were cut short.
    """
    first, last = today - dt.timedelta(days=4), today - dt.timedelta(days=2)
    with Sandbox(today=today) as sb:
        sb.faults.repeat_cursor(DAU)
        run = run_tap(tmp_path, e2e_config(sb, first, last, sourcegraph=False))
        assert run.returncode != 0
        assert "Traceback" not in run.stderr
        assert "already sent" in strip_log_prefix(run.last_line), run.explain()
        assert len([r for r in sb.requests if r.path == DAU]) <= 3
        truth = ground_truth(sb, first, last, ["augment_daily_active_users"])
        StateAuditor(truth).feed(run.messages)
        assert all(bookmark_of(s, "augment_daily_active_users") is None for s in run.states)


def test_exhausted_retries_fail_with_one_message(tmp_path: Path, today: dt.date):
    """A server that keeps failing makes the run fail cleanly after max_request_attempts.

    Proves: exactly ``max_request_attempts`` requests are made, the exit code is non-zero,
    the last stderr line names the endpoint and the attempt count, without a traceback, and
    no bookmark is written for the failing stream.
    """
    first = last = today - dt.timedelta(days=2)
    with Sandbox(today=today) as sb:
        sb.faults.fail_next(50, status=503, path_prefix=DAU)
        config = e2e_config(sb, first, last, sourcegraph=False, max_request_attempts=2)
        run = run_tap(tmp_path, config)
        assert run.returncode != 0
        assert "Traceback" not in run.stderr
        message = strip_log_prefix(run.last_line)
        assert "kept failing after 2 attempts" in message, run.explain()
        assert DAU in message
        assert len([r for r in sb.requests if r.path == DAU]) == 2
        assert all(bookmark_of(s, "augment_daily_active_users") is None for s in run.states)


def test_a_stalled_body_is_reported_as_a_timeout(tmp_path: Path, today: dt.date):
    """A body that stalls past ``request_timeout_seconds`` is logged as a timeout.

    Proves: the retry line tells the user the server was too slow (so that
    raising ``request_timeout_seconds`` is the obvious fix), not that it was unreachable.
    """
    day = today - dt.timedelta(days=2)
    with Sandbox(today=today) as sb:
        sb.faults.slow_body_next(1, delay_seconds=STALL, path_prefix=DAU)
        config = e2e_config(sb, day, day, sourcegraph=False, request_timeout_seconds=TIMEOUT)
        run = run_tap(tmp_path, config)
        assert run.returncode == 0, run.explain()
        (retry,) = [line for line in run.stderr_lines if "retrying in" in line]
        assert "timed out" in retry, retry
