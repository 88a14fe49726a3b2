"""``--test``: one cheap request per vendor and instance, and a verdict per check.

The real CLI runs ``--config ... --test`` against the sandbox; the sandbox's request log
proves how many requests each check made and what they asked for.
"""

from __future__ import annotations

import collections
import datetime as dt
import typing as t

import click
import pytest

from sandbox import Sandbox
from tap_ai_analytics.tap import TapAIAnalytics
from tests.e2e import AUGMENT_PATHS, REPORT_PATH, e2e_config, run_tap, strip_log_prefix, utc_today

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sandbox import RequestRecord

TODAY = utc_today()
DAU_COUNT = AUGMENT_PATHS["augment_dau_count"]


@pytest.fixture
def sb() -> Iterator[Sandbox]:
    """A fresh sandbox per test, so its request log is the test's own."""
    with Sandbox(today=TODAY) as sandbox:
        yield sandbox
        assert sandbox.errors == []


def checks_made(requests: list[RequestRecord]) -> collections.Counter[str]:
    """Requests per check: "augment", or the Sourcegraph instance asked about."""
    return collections.Counter(
        "augment" if r.vendor == "augment" else r.params.get("instanceURL", "?") for r in requests
    )


def config_for(sb: Sandbox, **overrides: t.Any) -> dict[str, t.Any]:
    """Both vendors, both instances; dates as a real config would have them."""
    first, last = TODAY - dt.timedelta(days=30), TODAY - dt.timedelta(days=2)
    return e2e_config(sb, first, last, **overrides)


def verdicts(stderr_lines: list[str]) -> dict[str, str]:
    """The "<check>: ok" / "<check>: FAILED: ..." lines, by check."""
    found = {}
    for line in map(strip_log_prefix, stderr_lines):
        label, _, verdict = line.partition(": ")
        if label == "augment" or label.startswith("sourcegraph "):
            found[label] = verdict
    return found


def test_all_checks_pass_with_one_request_each(tmp_path: Path, sb: Sandbox):
    """Both vendors and two instances are fine: exit 0 and "ok" for each check.

    Proves: exactly one request for Augment (a one-day dau-count for yesterday, the
    cheapest call) and exactly one per Sourcegraph instance (a one-day by_user report for
    today), nothing synced to stdout.
    """
    run = run_tap(tmp_path, config_for(sb), args=["--test"])
    assert run.returncode == 0, run.explain()
    assert "Traceback" not in run.stderr
    instances = sb.sourcegraph_instances
    expected = {"augment": "ok"} | {f"sourcegraph {i}": "ok" for i in instances}
    assert verdicts(run.stderr_lines) == expected
    assert checks_made(sb.requests) == collections.Counter(["augment", *instances])
    yesterday = (TODAY - dt.timedelta(days=1)).isoformat()
    (augment,) = [r for r in sb.requests if r.vendor == "augment"]
    assert augment.path == DAU_COUNT
    assert augment.params == {"start_date": yesterday, "end_date": yesterday}
    for request in sb.requests:
        if request.vendor == "sourcegraph":
            assert request.path == REPORT_PATH
            assert request.params["startDate"] == request.params["endDate"] == TODAY.isoformat()
    assert not [m for m in run.messages if m["type"] == "RECORD"]


def test_bad_augment_token_fails_its_check_only(tmp_path: Path, sb: Sandbox):
    """A rejected Augment token fails the run, and the Sourcegraph checks still run.

    Proves: exit non-zero; the Augment check reports the 401 with where to get a token;
    both instances report "ok"; the last stderr line summarises the failed check; one
    request per check (a 401 is not retried).
    """
    run = run_tap(tmp_path, config_for(sb, augment_api_token="aug-wrong"), args=["--test"])
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    found = verdicts(run.stderr_lines)
    assert found["augment"].startswith("FAILED: ")
    assert "HTTP 401" in found["augment"]
    assert "service-accounts" in found["augment"]
    assert all(found[f"sourcegraph {i}"] == "ok" for i in sb.sourcegraph_instances)
    last = strip_log_prefix(run.last_line)
    assert last.startswith("1 connection check(s) failed: augment: "), run.explain()
    assert checks_made(sb.requests) == collections.Counter(["augment", *sb.sourcegraph_instances])


def test_denied_instance_is_named_and_the_others_pass(tmp_path: Path, sb: Sandbox):
    """One instance the token may not read fails its check; the others pass.

    Proves: exit non-zero, the last stderr line names the denied instance (and only it
    as failed), Augment and the other instances report "ok", one request per check.
    """
    good = list(sb.sourcegraph_instances)
    denied = sb.sourcegraph_unlinked_instance
    instances = [good[0], denied, good[1]]
    run = run_tap(tmp_path, config_for(sb, sourcegraph_instance_urls=instances), args=["--test"])
    assert run.returncode != 0
    assert "Traceback" not in run.stderr
    found = verdicts(run.stderr_lines)
    assert found["augment"] == "ok"
    assert found[f"sourcegraph {good[0]}"] == found[f"sourcegraph {good[1]}"] == "ok"
    assert found[f"sourcegraph {denied}"].startswith("FAILED: ")
    last = strip_log_prefix(run.last_line)
    assert last.startswith(f"1 connection check(s) failed: sourcegraph {denied}: "), last
    assert "denied access" in last
    assert checks_made(sb.requests) == collections.Counter(["augment", *instances])


def test_transient_error_during_a_check_is_retried(tmp_path: Path, sb: Sandbox):
    """A 503 during a check is retried like in a sync, and the check then passes.

    Proves: the connection test uses the same retry policy as a sync (a flaky network does
    not make ``--test`` lie), with one extra request for the retried check only.
    """
    sb.faults.fail_next(1, status=503, retry_after=0, path_prefix=DAU_COUNT)
    run = run_tap(tmp_path, config_for(sb), args=["--test"])
    assert run.returncode == 0, run.explain()
    assert verdicts(run.stderr_lines)["augment"] == "ok"
    assert checks_made(sb.requests) == collections.Counter(
        ["augment", "augment", *sb.sourcegraph_instances]
    )


def test_help_describes_this_tap_s_test_option():
    """``--help`` says what ``--test`` does here: a request per vendor, no sync."""
    (option,) = [p for p in TapAIAnalytics.get_singer_command().params if p.name == "test"]
    assert isinstance(option, click.Option)
    assert option.help is not None
    assert "one cheap request per vendor" in option.help
    assert "sync a single record" not in option.help
