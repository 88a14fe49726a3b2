"""Sourcegraph CSV bodies that look complete but are not, end to end.

The real CLI against the sandbox's CSV body faults: a body that ends early while its HTTP
framing is complete (mid-row, mid-last-value, after a short row; chunked or with a
matching ``Content-Length``), a cell larger than the csv module's default limit, and a
server that never sends the final newline. Every delivered record is compared with the
sandbox's truth, and no STATE may bookmark a date before all its records were delivered.
"""

from __future__ import annotations

import datetime as dt
import typing as t

import pytest

from sandbox import Sandbox
from sandbox.faults import huge_cell
from tests.conftest import bookmark_of
from tests.e2e import (
    FINE,
    REPORT_PATH,
    StateAuditor,
    assert_complete,
    delivered,
    e2e_config,
    ground_truth,
    run_tap,
    sourcegraph_truth,
    strip_log_prefix,
    utc_today,
)

if t.TYPE_CHECKING:
    from pathlib import Path

ACCEPTED = "without a final line terminator"


@pytest.fixture
def today() -> dt.date:
    """The real UTC date (the CLI subprocess reads the real clock)."""
    return utc_today()


def report_requests(sb: Sandbox) -> list[tuple[str, str]]:
    """(instance, startDate) of every report request, in order."""
    return [
        (r.params["instanceURL"], r.params.get("startDate", ""))
        for r in sb.requests
        if r.path == REPORT_PATH
    ]


def day_config(sb: Sandbox, first: dt.date, last: dt.date, **overrides: t.Any) -> dict[str, t.Any]:
    """Sourcegraph only, one download per instance and day."""
    return e2e_config(sb, first, last, augment=False, sourcegraph_window="day", **overrides)


@pytest.mark.parametrize(
    ("cut", "framing"),
    [("mid_value", "chunked"), ("mid_row", "length"), ("short_row", "chunked")],
)
def test_a_body_cut_short_is_downloaded_again(
    tmp_path: Path, today: dt.date, cut: str, framing: str
):
    """A body that ends early with complete framing is retried: 100 % of the truth.

    Proves: the download is tried again (the retry line says the body looks cut short),
    no partial or shortened row is ever delivered (the first copy of every record has the
    truth's values), any row delivered twice is identical, and no STATE is ahead.
    """
    first, last = today - dt.timedelta(days=4), today - dt.timedelta(days=2)
    with Sandbox(today=today) as sb:
        sb.faults.truncate_csv_next(1, cut=cut, framing=framing, start_date=last.isoformat())
        run = run_tap(tmp_path, day_config(sb, first, last))
        assert run.returncode == 0, run.explain()
        assert "Traceback" not in run.stderr
        assert sb.faults.pending == 0

        truth = ground_truth(sb, first, last, [FINE])
        assert_complete(truth, run.messages)  # copies of a key (from a retry) identical
        StateAuditor(truth).feed(run.messages)
        for instance in sb.sourcegraph_instances:
            assert bookmark_of(run.states[-1], FINE, instance) == last.isoformat()
        (retry,) = [line for line in run.stderr_lines if "retrying in" in line]
        assert "cut short?" in retry, retry
        assert len(report_requests(sb)) == 3 * len(sb.sourcegraph_instances) + 1


def test_a_body_cut_short_every_time_fails_without_a_bookmark(tmp_path: Path, today: dt.date):
    """Truncation on every attempt: one clear line, non-zero exit, earlier windows kept.

    Proves: after ``max_request_attempts`` downloads the run fails with one line naming
    the report and the problem (no traceback); the failing window is never bookmarked
    while the windows before it are; every record delivered has the truth's values.
    """
    first, last = today - dt.timedelta(days=4), today - dt.timedelta(days=2)
    with Sandbox(today=today) as sb:
        instance = sb.sourcegraph_instances[0]
        sb.faults.truncate_csv_next(2, cut="mid_value", start_date=last.isoformat())
        run = run_tap(tmp_path, day_config(sb, first, last, max_request_attempts=2))
        assert run.returncode != 0
        assert "Traceback" not in run.stderr
        message = strip_log_prefix(run.last_line)
        assert "kept failing after 2 attempts" in message, run.explain()
        assert f"report for {instance} {last}" in message
        assert "line terminator" in message

        before_last = last - dt.timedelta(days=1)
        assert bookmark_of(run.states[-1], FINE, instance) == before_last.isoformat()
        assert all(bookmark_of(s, FINE, instance) != last.isoformat() for s in run.states)
        kept = ground_truth(sb, first, before_last, [FINE], instances=[instance])
        StateAuditor(kept).feed(run.messages)
        earlier = [
            m
            for m in run.messages
            if m["type"] != "RECORD" or m["record"]["date"] < last.isoformat()
        ]
        assert_complete(kept, earlier)
        # The failing day's records that were delivered are complete rows of the truth.
        whole = ground_truth(sb, first, last, [FINE], instances=[instance])[FINE, instance]
        for key, copies in delivered(run.messages)[FINE, instance].items():
            assert all(copy == copies[0] for copy in copies)
            assert {f: copies[0][f] for f in whole[key]} == whole[key], key


def test_a_cell_larger_than_128_kib_is_delivered_intact(tmp_path: Path, today: dt.date):
    """A quoted, multi-line cell of 200 KiB arrives whole, value for value.

    Proves: no traceback, no field-limit error; the first row of every report carries the
    huge username exactly as served; every other record matches the truth.
    """
    first, last = today - dt.timedelta(days=3), today - dt.timedelta(days=2)
    with Sandbox(today=today) as sb:
        sb.faults.sourcegraph_huge_cell = True
        run = run_tap(tmp_path, day_config(sb, first, last))
        assert run.returncode == 0, run.explain()
        assert "Traceback" not in run.stderr

        truth = ground_truth(sb, first, last, [FINE])
        huge = 0
        for instance in sb.sourcegraph_instances:
            for day in (first, last):
                served_first = next(iter(sourcegraph_truth(sb, FINE, instance, day, day)), None)
                if served_first is not None:
                    expected = truth[FINE, instance][served_first]
                    expected["username"] = huge_cell(expected["username"] or "")
                    huge += 1
        assert huge >= 2
        assert_complete(truth, run.messages)
        StateAuditor(truth).feed(run.messages)


def test_a_server_that_never_sends_a_final_newline_is_accepted_with_one_warning(
    tmp_path: Path, today: dt.date
):
    """A body without its final newline, the same on every attempt, is accepted.

    Proves: 100 % of the truth and state never ahead; exactly one warning that the body
    was accepted; the first download uses every attempt (3), later ones stop at the
    first repeat (2 each).
    """
    first, last = today - dt.timedelta(days=3), today - dt.timedelta(days=2)
    with Sandbox(today=today) as sb:
        sb.faults.sourcegraph_no_final_newline = True
        run = run_tap(tmp_path, day_config(sb, first, last, max_request_attempts=3))
        assert run.returncode == 0, run.explain()
        assert "Traceback" not in run.stderr

        truth = ground_truth(sb, first, last, [FINE])
        assert_complete(truth, run.messages)
        StateAuditor(truth).feed(run.messages)
        for instance in sb.sourcegraph_instances:
            assert bookmark_of(run.states[-1], FINE, instance) == last.isoformat()
        warnings = [line for line in run.stderr_lines if ACCEPTED in line]
        assert len(warnings) == 1, run.explain()
        downloads = 2 * len(sb.sourcegraph_instances)
        assert len(report_requests(sb)) == 3 + 2 * (downloads - 1)


def test_a_login_page_instead_of_a_report_fails_at_once(tmp_path: Path, today: dt.date):
    """A 200 login page on the report endpoint is named as such, not parsed as a bad CSV.

    Proves: one download, then a non-zero exit whose last line says an HTML page came back
    instead of a CSV report (with its title), no retry, no traceback, no bookmark.
    """
    first = last = today - dt.timedelta(days=2)
    with Sandbox(today=today) as sb:
        sb.faults.bad_ok_body_next(50, "html_page", path_prefix=REPORT_PATH)
        run = run_tap(tmp_path, day_config(sb, first, last))
        assert run.returncode != 0, run.explain()
        assert "Traceback" not in run.stderr
        message = strip_log_prefix(run.last_line)
        assert 'got an HTML page titled "Sign in - Corporate SSO" (HTTP 200)' in message
        assert "instead of a CSV report" in message
        assert "a proxy or login page?" in message
        assert not [line for line in run.stderr_lines if "retrying in" in line]
        assert len(report_requests(sb)) == 1
        assert all(
            bookmark_of(state, FINE, sb.sourcegraph_instances[0]) is None for state in run.states
        )
