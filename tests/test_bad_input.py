"""Bad input, table-driven: every user mistake ends in one clear line, never a traceback.

Each case runs the real CLI as a subprocess with one mistake: in the config, in the state
file, or answered by the API (401, 403, 400, an instance the token cannot read, a report
without a required column). It asserts the exit code (non-zero when the run cannot
proceed), that the last non-empty stderr line carries the expected key phrase, and that
stderr has no traceback. Mistakes the tap can catch before calling an API make no request.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import typing as t

import pytest

from sandbox import Sandbox
from tap_ai_analytics.dates import years_before
from tests.e2e import (
    AUGMENT_PATHS,
    REPORT_PATH,
    catalog_selecting,
    e2e_config,
    run_tap,
    serve_text,
    strip_log_prefix,
    utc_today,
)

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from sandbox import Faults

TODAY = utc_today()
FIRST = TODAY - dt.timedelta(days=3)
LAST = TODAY - dt.timedelta(days=2)
DAU = AUGMENT_PATHS["augment_daily_active_users"]
#: A day report whose header lacks the key column "Instance user ID".
CSV_WITHOUT_USER_ID = (
    "User Email,Timestamp Date,Client Name,Language,Searches\n"
    f"ada@example.com,{LAST.isoformat()},vscode.cody,Python,3\n"
)
AUGMENT_400_BODY = json.dumps(
    {"error": {"code": "InvalidArgument", "message": "date range cannot exceed 90 days"}}
)


@dataclasses.dataclass(frozen=True)
class Env:
    """What a case can build its input from."""

    sb: Sandbox
    csv_url: str

    def augment(self, **overrides: t.Any) -> dict[str, t.Any]:
        """A valid Augment-only config, with overrides (None removes a key)."""
        return _apply(e2e_config(self.sb, FIRST, LAST, sourcegraph=False), overrides)

    def sourcegraph(self, **overrides: t.Any) -> dict[str, t.Any]:
        """A valid Sourcegraph-only config, with overrides (None removes a key)."""
        return _apply(e2e_config(self.sb, FIRST, LAST, augment=False), overrides)


def _apply(config: dict[str, t.Any], overrides: dict[str, t.Any]) -> dict[str, t.Any]:
    config = config | overrides
    return {key: value for key, value in config.items() if value is not None}


def _bookmarks(value: object) -> dict[str, t.Any]:
    return {"bookmarks": {"augment_dau_count": value}}


@dataclasses.dataclass(frozen=True)
class Case:
    """One bad input and the message it must produce."""

    config: Callable[[Env], dict[str, t.Any] | None]
    phrase: str
    #: Whether the run succeeds anyway (with a warning containing ``phrase``).
    succeeds: bool = False
    #: Whether the mistake is caught before any request is sent.
    offline: bool = True
    state: object = None
    raw_config: str | None = None
    raw_state: str | None = None
    arrange: Callable[[Faults], object] | None = None


CASES: dict[str, Case] = {
    "no_vendor_configured": Case(
        lambda _: {"start_date": FIRST.isoformat()}, "No vendor is configured"
    ),
    "empty_augment_token": Case(
        lambda e: e.augment(augment_api_token=""), "augment_api_token is empty"
    ),
    "blank_sourcegraph_token": Case(
        lambda e: e.sourcegraph(sourcegraph_access_token="   "), "sourcegraph_access_token is empty"
    ),
    "instances_without_token": Case(
        lambda e: e.augment(sourcegraph_instance_urls=["sourcegraph.example.com"]),
        "sourcegraph_access_token is missing",
    ),
    "token_without_instances": Case(
        lambda e: e.sourcegraph(sourcegraph_instance_urls=[]), "sourcegraph_instance_urls is empty"
    ),
    "start_date_month_13": Case(
        lambda e: e.augment(start_date="2025-13-01"), "start_date '2025-13-01' is not a date"
    ),
    "start_date_not_iso": Case(
        lambda e: e.augment(start_date="01/02/2025"), "start_date '01/02/2025' is not a date"
    ),
    "end_date_a_word": Case(
        lambda e: e.augment(end_date="yesterday"), "end_date 'yesterday' is not a date"
    ),
    "start_date_a_number": Case(
        lambda e: e.augment(start_date=20250101), "start_date: 20250101 is not of type"
    ),
    "end_before_start": Case(
        lambda e: e.augment(start_date="2025-03-01", end_date="2025-02-01"),
        "end_date 2025-02-01 is before start_date 2025-03-01",
    ),
    "negative_lookback": Case(
        lambda e: e.augment(lookback_days=-1), "lookback_days: -1 is less than the minimum of 0"
    ),
    "zero_rate_limit": Case(
        lambda e: e.augment(augment_rate_limit_per_minute=0), "augment_rate_limit_per_minute"
    ),
    "augment_url_without_scheme": Case(
        lambda e: e.augment(augment_api_url="api.augmentcode.com"),
        "augment_api_url 'api.augmentcode.com' is not an http(s) URL",
    ),
    "sourcegraph_url_ftp": Case(
        lambda e: e.sourcegraph(sourcegraph_api_url="ftp://analytics.example.com"),
        "sourcegraph_api_url 'ftp://analytics.example.com' is not an http(s) URL",
    ),
    "unknown_window": Case(
        lambda e: e.sourcegraph(sourcegraph_window="week"), "sourcegraph_window: 'week' is not one"
    ),
    "config_not_json": Case(lambda _: None, "not valid JSON", raw_config="{start_date: 2025}"),
    "state_not_json": Case(lambda e: e.augment(), "not valid JSON", raw_state='{"bookmarks": '),
    "state_bookmark_not_a_date": Case(
        lambda e: e.augment(),
        "is 'last tuesday', not a YYYY-MM-DD date",
        state=_bookmarks({"replication_key": "date", "replication_key_value": "last tuesday"}),
        offline=False,  # found when that stream starts: see test_bad_bookmark_stops_...
    ),
    "state_bookmark_a_small_number": Case(
        lambda e: e.augment(),
        "is 5, not a YYYY-MM-DD date",
        state=_bookmarks({"replication_key": "date", "replication_key_value": 5}),
        offline=False,
    ),
    "state_bookmark_a_date_like_number": pytest.param(  # type: ignore[dict-item]
        Case(
            lambda e: e.augment(),
            "is 20250101, not a YYYY-MM-DD date",
            state=_bookmarks({"replication_key": "date", "replication_key_value": 20250101}),
            offline=False,
        ),
    ),
    "state_bookmark_not_an_object": Case(
        lambda e: e.augment(),
        "bookmark for augment_dau_count is not an object",
        state=_bookmarks("2025-01-01"),
    ),
    "state_bookmarks_a_list": Case(
        lambda e: e.augment(), "not a Singer state object", state={"bookmarks": ["2025-01-01"]}
    ),
    "state_a_json_array": Case(
        lambda e: e.augment(), "not a Singer state object", state=[{"bookmarks": {}}]
    ),
    "state_a_json_string": pytest.param(  # type: ignore[dict-item]
        Case(lambda e: e.augment(), "not a Singer state object", raw_state='"bookmarks"'),
    ),
    "state_partitions_not_a_list": pytest.param(  # type: ignore[dict-item]
        Case(
            lambda e: e.sourcegraph(),
            "partitions",
            state={
                "bookmarks": {
                    "sourcegraph_usage_by_user_day_client_language": {
                        "partitions": "sourcegraph.acme.example"
                    }
                }
            },
        ),
    ),
    "config_file_missing": pytest.param(  # type: ignore[dict-item]
        Case(lambda _: None, "was not found", raw_config=None),
    ),
    "start_before_two_year_horizon": Case(
        lambda e: e.augment(
            start_date="2015-01-01",
            end_date=(years_before(TODAY, 2) + dt.timedelta(days=3)).isoformat(),
        ),
        "2015-01-01 is beyond the API's history horizon",
        succeeds=True,
        offline=False,
    ),
    "augment_401": Case(
        lambda e: e.augment(augment_api_token="aug-revoked-token-0000"),
        "HTTP 401 Unauthorized): the token is missing, invalid, expired or revoked",
        offline=False,
    ),
    "augment_403": Case(
        lambda e: e.augment(augment_api_token=e.sb.augment_forbidden_token),
        "HTTP 403 Forbidden): the token lacks permission to read analytics",
        offline=False,
    ),
    "augment_400_quotes_the_api": Case(
        lambda e: e.augment(),
        "HTTP 400 Bad Request): the API rejected the request parameters; check start_date, "
        "end_date and the API URL, and report it if they look right. Server said: "
        "InvalidArgument: date range cannot exceed 90 days",
        offline=False,
        arrange=lambda f: f.fail_next(
            1, status=400, body=AUGMENT_400_BODY, content_type="application/json", path_prefix=DAU
        ),
    ),
    "sourcegraph_400_quotes_the_api": Case(
        lambda e: e.sourcegraph(),
        "HTTP 400 Bad Request): the API rejected the request parameters; check start_date, "
        "end_date and the API URL, and report it if they look right. Server said: "
        "invalid granularity",
        offline=False,
        arrange=lambda f: f.fail_next(
            1,
            status=400,
            body="invalid granularity",
            content_type="text/plain",
            path_prefix=REPORT_PATH,
        ),
    ),
    "sourcegraph_401": Case(
        lambda e: e.sourcegraph(sourcegraph_access_token="sams_at_expired-0000"),
        "create one at https://analytics.sourcegraph.com/access-tokens",
        offline=False,
    ),
    "unknown_sourcegraph_instance": Case(
        lambda e: e.sourcegraph(sourcegraph_instance_urls=["nowhere.example.com"]),
        "Sourcegraph denied access to nowhere.example.com",
        offline=False,
    ),
    "csv_without_required_column": Case(
        lambda e: e.sourcegraph(sourcegraph_api_url=e.csv_url),
        "the CSV has no 'Instance user ID' column, which is part of the key",
        offline=False,
    ),
}


@pytest.fixture(scope="module")
def env() -> Iterator[Env]:
    """One sandbox and one bad-CSV server for the whole table."""
    with Sandbox(today=TODAY) as sb, serve_text(CSV_WITHOUT_USER_ID) as csv_url:
        yield Env(sb, csv_url)


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_ends_in_one_clear_line(tmp_path: Path, env: Env, case: Case):
    """The run ends as expected with the key phrase in its last stderr line, no traceback."""
    env.sb.faults.clear()
    if case.arrange is not None:
        case.arrange(env.sb.faults)
    before = len(env.sb.requests)
    raw_config = case.raw_config
    config = case.config(env)
    if config is None and raw_config is None:  # a --config path that does not exist
        run = run_tap(tmp_path, None, args=["--config", str(tmp_path / "missing.json")])
    else:
        run = run_tap(
            tmp_path, config, state=case.state, raw_config=raw_config, raw_state=case.raw_state
        )

    assert "Traceback" not in run.stderr, run.explain()
    assert "Config validation failed" not in run.stderr  # the tap's own line says it all
    if case.succeeds:
        assert run.returncode == 0, run.explain()
        warnings = [line for line in run.stderr_lines if "WARNING" in line]
        assert any(case.phrase in line for line in warnings), run.explain()
    else:
        assert run.returncode != 0, run.explain()
        assert case.phrase in strip_log_prefix(run.last_line), run.explain()
    if case.offline:
        assert run.stdout == ""  # nothing was synced...
        assert len(env.sb.requests) == before  # ...or even requested
    assert env.sb.faults.pending == 0


def test_horizon_clamp_requests_start_inside_the_two_year_window(tmp_path: Path, env: Env):
    """A start_date beyond the 2-year horizon is clamped to the horizon's first full day.

    Proves: the first request asks for the day after ``today - 2 years`` (the API would
    refuse an older date), no request is refused, and records are delivered.
    """
    env.sb.faults.clear()
    before = len(env.sb.requests)
    horizon = years_before(TODAY, 2) + dt.timedelta(days=1)
    config = env.augment(
        start_date="2015-01-01", end_date=(horizon + dt.timedelta(days=1)).isoformat()
    )
    run = run_tap(tmp_path, config)
    assert run.returncode == 0, run.explain()
    requests = env.sb.requests[before:]
    assert requests and all(r.status == 200 for r in requests)
    first_dates = {r.params.get("date") or r.params.get("start_date") for r in requests}
    assert min(first_dates) == horizon.isoformat()  # type: ignore[type-var]
    assert run.records["augment_dau_count"]


def test_bad_bookmark_stops_the_run_before_any_stream_syncs(tmp_path: Path, env: Env):
    """A state the tap cannot resume from is rejected before anything is requested.

    Proves: a bookmark that is not a date, for the third stream in sync
    order, fails the run with one line before the first two streams are synced.
    """
    env.sb.faults.clear()
    before = len(env.sb.requests)
    state = _bookmarks({"replication_key": "date", "replication_key_value": "last tuesday"})
    run = run_tap(tmp_path, env.augment(), state=state)
    assert run.returncode != 0
    assert "not a YYYY-MM-DD date" in run.last_line
    assert not run.records
    assert len(env.sb.requests) == before


def test_bookmark_in_another_date_format_is_rejected_or_advanced(tmp_path: Path, env: Env):
    """A bookmark written as YYYYMMDD (e.g. by another tool) is refused, not mis-compared.

    Such a bookmark would sort after every YYYY-MM-DD date and never advance again; the
    run refuses it up front with one clear line, before any request.
    """
    env.sb.faults.clear()
    mark = (FIRST - dt.timedelta(days=1)).strftime("%Y%m%d")
    state = _bookmarks({"replication_key": "date", "replication_key_value": mark})
    config = env.augment(start_date=(FIRST - dt.timedelta(days=3)).isoformat(), lookback_days=0)
    before = len(env.sb.requests)
    run = run_tap(tmp_path, config, state=state)
    assert "Traceback" not in run.stderr
    assert run.returncode != 0
    assert f"is '{mark}', not a YYYY-MM-DD date" in run.last_line
    assert len(env.sb.requests) == before


def test_numeric_setting_from_the_environment(tmp_path: Path, env: Env):
    """Settings passed as environment variables (``--config ENV``) are typed like JSON ones.

    Proves: ``augment_rate_limit_per_minute`` from the environment is accepted
    and a sync runs.
    """
    env.sb.faults.clear()
    config = env.augment(augment_rate_limit_per_minute=600)
    variables = {f"TAP_AI_ANALYTICS_{key.upper()}": str(value) for key, value in config.items()}
    run = run_tap(tmp_path, None, args=("--config", "ENV"), env=variables)
    assert run.returncode == 0, run.explain()
    assert run.records


SOURCEGRAPH_STREAMS = (
    "sourcegraph_usage_by_user",
    "sourcegraph_usage_by_user_day",
    "sourcegraph_usage_by_user_day_client_language",
    "sourcegraph_usage_by_user_month",
    "sourcegraph_user_registry",
)


def test_denied_instance_does_not_stop_the_other_sourcegraph_streams(tmp_path: Path, env: Env):
    """One instance the token cannot read fails the run only after every stream ran.

    Proves: with all five Sourcegraph streams selected and one denied
    instance, each stream still delivers the readable instance's records, and the run
    then fails naming the denied instance.
    """
    env.sb.faults.clear()
    denied, good = env.sb.sourcegraph_unlinked_instance, env.sb.sourcegraph_instances[0]
    config = env.sourcegraph(sourcegraph_instance_urls=[denied, good])
    catalog = catalog_selecting(tmp_path, config, SOURCEGRAPH_STREAMS)
    run = run_tap(tmp_path, config, args=["--catalog", str(catalog)])
    assert run.returncode != 0
    assert denied in run.last_line
    assert "Traceback" not in run.stderr
    for stream in SOURCEGRAPH_STREAMS:
        assert {r["instance_url"] for r in run.records[stream]} == {good}, stream
