"""Augment cost and credits: the two opt-in streams against the sandbox, in and out of process.

Records are compared with the sandbox's own data (its ground truth), money digit for digit.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import logging
import typing as t

import pytest

from sandbox import Sandbox
from sandbox.augment_data import AUGMENT_MODELS
from tap_ai_analytics.errors import APIRequestError, DataError
from tap_ai_analytics.tap import TapAIAnalytics
from tests.conftest import (
    TODAY,
    YESTERDAY,
    augment_config,
    bookmark_of,
    days_before,
    run_sync,
)
from tests.e2e import (
    StateAuditor,
    catalog_selecting,
    e2e_config,
    run_tap,
    strip_log_prefix,
    utc_today,
)

if t.TYPE_CHECKING:
    from pathlib import Path

    from tests.e2e import Truth

CREDITS = "augment_credit_usage"
COST = "augment_cost"
CREDITS_PATH = "/analytics/v0/credit-usage-by-user"
COST_PATH = "/analytics/v0/cost-analytics"
MONEY = ("billed_amount_usd", "estimated_customer_cost_usd", "base_cost_usd")
COUNTS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens")
KEYS = {
    CREDITS: ("date", "identity", "model_name"),
    COST: ("date", "resource_type", "resource_display_name"),
}


def day_list(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def credit_truth(
    sb: Sandbox, first: dt.date, last: dt.date
) -> dict[tuple[t.Any, ...], dict[str, t.Any]]:
    """The credit records the API's rows imply, by key (independent of the tap's code)."""
    truth = {}
    for _, row in sb.data.augment.credit_usage_items(first, last):
        record = {
            "date": row["date"],
            "identity": row.get("user_email") or row["service_account_name"],
            "model_name": row.get("model_name") or "",
            "credits_consumed": int(row["credits_consumed"]),
        }
        truth[tuple(record[k] for k in KEYS[CREDITS])] = record
    return truth


def cost_truth(
    sb: Sandbox, first: dt.date, last: dt.date
) -> dict[tuple[t.Any, ...], dict[str, t.Any]]:
    """The cost records the API's data points imply; money as the API's decimal strings."""
    truth = {}
    for day in day_list(first, last):
        for point in sb.data.augment.cost_points(day):
            metrics = dict(t.cast("dict[str, t.Any]", point["cost_metrics"]))
            groups = t.cast("dict[str, t.Any]", point["group_by_values"])
            record = {
                "date": point["start_date"],
                "end_date": point["end_date"],
                "resource_display_name": groups["resource_display_name"],
                "resource_type": groups["resource_type"],
            }
            for key in (*COUNTS, "credits_consumed"):
                value = metrics.pop(key, None)
                record[key] = None if value is None else int(value)
            for key in MONEY:
                record[key] = metrics.pop(key, None)
            record["extra_metrics"] = metrics or None
            truth[tuple(record[k] for k in KEYS[COST])] = record
    return truth


def by_key(
    stream: str, records: list[dict[str, t.Any]]
) -> dict[tuple[t.Any, ...], dict[str, t.Any]]:
    keyed = {tuple(r[k] for k in KEYS[stream]): r for r in records}
    assert len(keyed) == len(records), f"{stream}: duplicate primary keys"
    return keyed


def exact(record: dict[str, t.Any]) -> dict[str, t.Any]:
    """A cost record with money as text (the digits the tap wrote) for comparison."""
    return {k: str(v) if k in MONEY and v is not None else v for k, v in record.items()}


def bodies(sb: Sandbox, path: str = COST_PATH) -> list[dict[str, t.Any]]:
    return [json.loads(r.body) for r in sb.requests if r.path == path]


def cost_page(*points: dict[str, t.Any], metadata: dict[str, t.Any] | None = None) -> str:
    """A hand-written cost-analytics answer (one page)."""
    page: dict[str, t.Any] = {"data_points": list(points), "pagination": {"has_more": False}}
    if metadata is not None:
        page["metadata"] = metadata
    return json.dumps(page)


def point(day: str, name: str, kind: str | None, **metrics: object) -> dict[str, t.Any]:
    groups = {"resource_display_name": name}
    if kind is not None:
        groups["resource_type"] = kind
    return {"start_date": day, "end_date": day, "cost_metrics": metrics, "group_by_values": groups}


# -- selection --------------------------------------------------------------------------------


def test_absent_from_the_default_selection(sandbox):
    tap = TapAIAnalytics(config=augment_config(sandbox), parse_env_config=False)
    assert not tap.streams[CREDITS].selected
    assert not tap.streams[COST].selected
    run_sync(augment_config(sandbox, start_date=days_before(2)))
    assert not [r for r in sandbox.requests if r.path in {CREDITS_PATH, COST_PATH}]


# -- records against the sandbox's truth ------------------------------------------------------


def test_credit_usage_matches_the_api_exactly(sandbox):
    first = TODAY - dt.timedelta(days=60)
    result = run_sync(augment_config(sandbox, start_date=first.isoformat()), streams=[CREDITS])
    records = result.records[CREDITS]
    delivered = by_key(CREDITS, records)
    truth = credit_truth(sandbox, first, YESTERDAY)
    assert delivered.keys() == truth.keys()
    assert all({k: delivered[key][k] for k in row} == row for key, row in truth.items())
    assert {r["model_name"] for r in records} >= {"", "claude-sonnet-4-5", "gpt-5"}
    assert all(isinstance(r["credits_consumed"], int) for r in records)
    humans = [r for r in records if r["identity_type"] == "user"]
    assert all(
        r["user_email"] == r["identity"] and r["service_account_name"] is None for r in humans
    )
    pages = [r.params for r in sandbox.requests if r.path == CREDITS_PATH]
    assert len(pages) >= 2  # 60 days of rows need more than one page of 500
    for page in pages:
        assert page["start_date"] == first.isoformat()
        assert page["end_date"] == YESTERDAY.isoformat()
        assert (page["by_date"], page["by_model"], page["page_size"]) == ("true", "true", "500")
    assert all("cursor" in page for page in pages[1:])


def test_credits_only_for_identities_active_that_day(sandbox):
    data = sandbox.data.augment
    for day in day_list(TODAY - dt.timedelta(days=20), YESTERDAY):
        active = {u.get("user_email") or u["service_account_name"] for u in data.dau_users(day)}
        rows = [row for _, row in data.credit_usage_items(day, day)]
        spenders = {row.get("user_email") or row["service_account_name"] for row in rows}
        assert spenders == active
        models = {row.get("model_name") for row in rows}
        assert not active or len(models) >= 2


def test_cost_matches_the_api_exactly(sandbox):
    first = TODAY - dt.timedelta(days=30)
    result = run_sync(
        augment_config(sandbox, start_date=first.isoformat()),
        streams=[COST],
        parse_float=decimal.Decimal,
    )
    records = by_key(COST, result.records[COST])
    truth = cost_truth(sandbox, first, YESTERDAY)
    assert {key: exact(record) for key, record in records.items()} == truth
    kinds = {r["resource_type"] for r in records.values()}
    assert kinds == {"COST_ANALYTICS_RESOURCE_TYPE_MODEL", "COST_ANALYTICS_RESOURCE_TYPE_COMPUTE"}
    compute = [r for r in records.values() if r["resource_type"].endswith("COMPUTE")]
    assert compute
    assert all(r["input_tokens"] is None and r["base_cost_usd"] is None for r in compute)
    assert all(r["extra_metrics"] and "compute_seconds" in r["extra_metrics"] for r in compute)
    (request,) = bodies(sandbox)
    assert request == {
        "start_date": first.isoformat(),
        "end_date": YESTERDAY.isoformat(),
        "granularity": "COST_ANALYTICS_TIME_GRANULARITY_DAY",
        "group_by_keys": ["COST_ANALYTICS_GROUP_BY_RESOURCE"],
        "page_size": 1000,
    }
    assert all(not r.params for r in sandbox.requests if r.path == COST_PATH)


def test_credits_agree_between_the_two_endpoints(sandbox):
    data = sandbox.data.augment
    display = {model.name: model.display_name for model in AUGMENT_MODELS}
    for day in day_list(TODAY - dt.timedelta(days=10), YESTERDAY):
        per_model: dict[str, int] = {}
        for _, row in data.credit_usage_items(day, day):
            name = display.get(row.get("model_name") or "", "Agent compute")
            per_model[name] = per_model.get(name, 0) + int(row["credits_consumed"])
        cost = {
            p["group_by_values"]["resource_display_name"]: int(
                p["cost_metrics"]["credits_consumed"]
            )
            for p in data.cost_points(day)
        }
        assert cost == per_model


# -- pagination, today and the 90-day windows ------------------------------------------------------


def test_cost_pages_carry_the_cursor_in_the_body(sandbox):
    sandbox.faults.cap_page_size(40, COST_PATH)
    first = TODAY - dt.timedelta(days=30)
    result = run_sync(
        augment_config(sandbox, start_date=first.isoformat()),
        streams=[COST],
        parse_float=decimal.Decimal,
    )
    pages = bodies(sandbox)
    assert len(pages) >= 3
    assert "cursor" not in pages[0]
    cursors = [page.pop("cursor") for page in pages[1:]]
    assert len(set(cursors)) == len(cursors)
    assert all(page == pages[0] for page in pages[1:])  # same dates and options on every page
    records = by_key(COST, result.records[COST])
    assert {key: exact(record) for key, record in records.items()} == cost_truth(
        sandbox, first, YESTERDAY
    )


def test_windows_of_90_days_and_never_today(sandbox):
    first = TODAY - dt.timedelta(days=200)
    result = run_sync(
        augment_config(sandbox, start_date=first.isoformat()), streams=[CREDITS, COST]
    )
    windows = [
        (page["start_date"], page["end_date"])
        for page in [r.params for r in sandbox.requests if r.path == CREDITS_PATH]
        if "cursor" not in page
    ]
    assert windows == [(b["start_date"], b["end_date"]) for b in bodies(sandbox)]
    assert len(windows) == 3
    spans = [(dt.date.fromisoformat(a), dt.date.fromisoformat(b)) for a, b in windows]
    assert all((last - start).days + 1 <= 90 for start, last in spans)
    assert spans[0][0] == first
    assert spans[-1][1] == YESTERDAY  # the API would serve today, but today is not complete
    assert result.bookmark(CREDITS) == result.bookmark(COST) == YESTERDAY.isoformat()


def test_state_after_each_window_and_resume_with_lookback(sandbox):
    first = TODAY - dt.timedelta(days=200)
    config = augment_config(sandbox, start_date=first.isoformat(), lookback_days=3)
    result = run_sync(config, streams=[CREDITS])
    marks = [bookmark_of(state, CREDITS) for state in result.states]
    window_ends = [
        (first + dt.timedelta(days=89)).isoformat(),
        (first + dt.timedelta(days=179)).isoformat(),
        YESTERDAY.isoformat(),
    ]
    assert [m for i, m in enumerate(marks) if m and m not in marks[:i]] == window_ends
    # Resume from the first window's state: the next run re-reads 3 dates, then goes on.
    sandbox.reset_log()
    state = {
        "bookmarks": {CREDITS: {"replication_key": "date", "replication_key_value": window_ends[0]}}
    }
    resumed = run_sync(config, state=state, streams=[CREDITS])
    starts = [r.params["start_date"] for r in sandbox.requests if "cursor" not in r.params]
    assert starts[0] == (first + dt.timedelta(days=87)).isoformat()
    assert resumed.bookmark(CREDITS) == YESTERDAY.isoformat()
    resume_from = first + dt.timedelta(days=87)
    assert (
        by_key(CREDITS, resumed.records[CREDITS]).keys()
        == credit_truth(sandbox, resume_from, YESTERDAY).keys()
    )


def test_faults_lose_nothing_and_state_never_runs_ahead(sandbox):
    first = TODAY - dt.timedelta(days=200)
    sandbox.faults.cap_page_size(100, COST_PATH)
    sandbox.faults.fail_next(2, status=503, path_prefix=COST_PATH)
    sandbox.faults.rate_limit_next(1, retry_after=None, path_prefix=CREDITS_PATH)
    sandbox.faults.drop_connection_next(1, path_prefix=CREDITS_PATH)
    sandbox.faults.malformed_json_next(1, path_prefix=COST_PATH)
    result = run_sync(
        augment_config(sandbox, start_date=first.isoformat()),
        streams=[CREDITS, COST],
        parse_float=decimal.Decimal,
    )
    assert sandbox.faults.pending == 0
    truth: Truth = {
        (CREDITS, None): credit_truth(sandbox, first, YESTERDAY),
        (COST, None): cost_truth(sandbox, first, YESTERDAY),
    }
    auditor = StateAuditor(truth)
    auditor.feed(result.messages)
    assert auditor.states_checked >= 6  # three windows per stream
    assert by_key(CREDITS, result.records[CREDITS]).keys() == truth[CREDITS, None].keys()
    delivered = {k: exact(r) for k, r in by_key(COST, result.records[COST]).items()}
    assert delivered == truth[COST, None]


# -- tolerant parsing -------------------------------------------------------------------------


def test_decimal_strings_stay_exact_and_counts_accept_strings(sandbox):
    day = YESTERDAY.isoformat()
    sandbox.faults.fail_next(
        1,
        status=200,
        path_prefix=COST_PATH,
        body=cost_page(
            point(
                day,
                "Claude Sonnet 4.5",
                "COST_ANALYTICS_RESOURCE_TYPE_MODEL",
                input_tokens="123456789012",
                output_tokens=7,
                cache_read_tokens="0",
                credits_consumed="959232",
                billed_amount_usd="0.10",
                estimated_customer_cost_usd="12345678901.123456789",
                base_cost_usd="0.20",
                reasoning_tokens="42",
            ),
            point(day, "Other", None, billed_amount_usd="1.5"),
        ),
    )
    result = run_sync(
        augment_config(sandbox, start_date=day), streams=[COST], parse_float=decimal.Decimal
    )
    model, other = result.records[COST]
    assert model["billed_amount_usd"] + model["base_cost_usd"] == decimal.Decimal("0.30")
    assert str(model["billed_amount_usd"]) == "0.10"
    assert str(model["estimated_customer_cost_usd"]) == "12345678901.123456789"
    assert model["input_tokens"] == 123456789012
    assert model["cache_read_tokens"] == 0
    assert model["credits_consumed"] == 959232
    assert model["cache_write_tokens"] is None  # missing: null, never 0
    assert model["extra_metrics"] == {"reasoning_tokens": "42"}
    assert other["resource_type"] == ""
    assert other["input_tokens"] is None
    assert other["estimated_customer_cost_usd"] is None
    assert other["end_date"] == day
    assert other["extra_metrics"] is None


def test_money_is_written_as_its_exact_digits(sandbox, capsys):
    day = YESTERDAY.isoformat()
    body = cost_page(point(day, "GPT-5", "M", billed_amount_usd="12345678901.123456789"))
    sandbox.faults.fail_next(1, status=200, path_prefix=COST_PATH, body=body)
    tap = TapAIAnalytics(config=augment_config(sandbox, start_date=day), parse_env_config=False)
    for stream in tap.streams.values():
        stream.selected = stream.name == COST
    tap.sync_all()
    line = next(x for x in capsys.readouterr().out.splitlines() if '"RECORD"' in x)
    assert '"billed_amount_usd":12345678901.123456789' in line
    schema = tap.streams[COST].schema["properties"]["billed_amount_usd"]
    assert schema["type"] == ["number", "null"]


@pytest.mark.parametrize(
    ("metrics", "field", "value"),
    [
        ({"billed_amount_usd": "12,34"}, "billed_amount_usd", "'12,34'"),
        ({"base_cost_usd": "NaN"}, "base_cost_usd", "'NaN'"),
        ({"input_tokens": "12.5"}, "input_tokens", "'12.5'"),
        ({"credits_consumed": True}, "credits_consumed", "True"),
    ],
)
def test_a_value_that_does_not_parse_fails_the_window(sandbox, metrics, field, value):
    day = days_before(2)
    body = cost_page(point(day, "GPT-5", "M", **metrics))
    sandbox.faults.fail_next(1, status=200, path_prefix=COST_PATH, body=body)
    with pytest.raises(DataError) as caught:
        run_sync(augment_config(sandbox, start_date=day), streams=[COST])
    message = str(caught.value)
    assert field in message
    assert value in message
    assert day in message


def test_credit_rows_tolerate_strings_and_missing_models(sandbox):
    day = YESTERDAY.isoformat()
    rows = [
        {
            "date": day,
            "user_email": "a@acme.example",
            "model_name": "gpt-5",
            "credits_consumed": "12",
        },
        {"date": day, "user_email": "a@acme.example", "credits_consumed": 3},
        {
            "date": day,
            "service_account_name": "ci-bot",
            "model_name": None,
            "credits_consumed": 1.0,
        },
    ]
    page = json.dumps({"records": rows, "pagination": {"has_more": False, "next_cursor": ""}})
    sandbox.faults.fail_next(1, status=200, path_prefix=CREDITS_PATH, body=page)
    result = run_sync(augment_config(sandbox, start_date=day), streams=[CREDITS])
    assert [
        (r["identity"], r["model_name"], r["credits_consumed"]) for r in result.records[CREDITS]
    ] == [
        ("a@acme.example", "gpt-5", 12),
        ("a@acme.example", "", 3),
        ("ci-bot", "", 1),
    ]


# -- clamped ranges ---------------------------------------------------------------------------


def test_a_clamped_range_is_logged_and_holds_the_bookmark(sandbox, caplog):
    caplog.set_level(logging.WARNING)
    first = TODAY - dt.timedelta(days=10)
    served_until = TODAY - dt.timedelta(days=4)
    sandbox.faults.clamp_dates(COST_PATH, latest=served_until)
    config = augment_config(sandbox, start_date=first.isoformat(), lookback_days=1)
    result = run_sync(config, streams=[COST], parse_float=decimal.Decimal)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert COST in warnings[0]
    assert f"{first}..{YESTERDAY}" in warnings[0]
    assert f"{first}..{served_until}" in warnings[0]
    assert result.bookmark(COST) == served_until.isoformat()
    assert max(r["date"] for r in result.records[COST]) <= served_until.isoformat()
    # Once the API serves the rest, the next run picks up from the held bookmark.
    sandbox.faults.clear()
    later = run_sync(config, state=result.final_state, streams=[COST], parse_float=decimal.Decimal)
    assert later.bookmark(COST) == YESTERDAY.isoformat()
    records = {**by_key(COST, result.records[COST]), **by_key(COST, later.records[COST])}
    assert {k: exact(r) for k, r in records.items()} == cost_truth(sandbox, first, YESTERDAY)


def test_a_window_served_not_at_all_bookmarks_nothing_of_it(sandbox, caplog):
    caplog.set_level(logging.WARNING)
    first = TODAY - dt.timedelta(days=3)
    sandbox.faults.clamp_dates(COST_PATH, latest=first - dt.timedelta(days=5))
    result = run_sync(augment_config(sandbox, start_date=first.isoformat()), streams=[COST])
    assert not result.records[COST]
    assert "answered for" in caplog.text
    mark = result.bookmark(COST)
    assert mark is None or mark < first.isoformat()


def test_a_clamped_start_is_logged_but_does_not_hold_the_bookmark(sandbox, caplog):
    caplog.set_level(logging.WARNING)
    first = TODAY - dt.timedelta(days=10)
    sandbox.faults.clamp_dates(CREDITS_PATH, earliest=TODAY - dt.timedelta(days=5))
    result = run_sync(augment_config(sandbox, start_date=first.isoformat()), streams=[CREDITS])
    assert "effective_start_date" in caplog.text
    assert result.bookmark(CREDITS) == YESTERDAY.isoformat()


# -- organisations without the endpoints ------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (404, None),
        (403, "cost analytics is not available on your plan"),
        (400, "FAILED_PRECONDITION: credit usage reporting is not enabled for this organization"),
    ],
)
def test_an_organisation_without_the_endpoints_skips_them(sandbox, caplog, status, message):
    caplog.set_level(logging.WARNING)
    sandbox.faults.endpoint_unavailable(COST_PATH, status, message)
    sandbox.faults.endpoint_unavailable(CREDITS_PATH, status, message)
    result = run_sync(
        augment_config(sandbox, start_date=days_before(3)),
        streams=["augment_dau_count", CREDITS, COST],
    )
    assert len(result.records["augment_dau_count"]) == 3
    assert not result.records[CREDITS]
    assert not result.records[COST]
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2
    for stream, path in ((CREDITS, CREDITS_PATH), (COST, COST_PATH)):
        (warning,) = [w for w in warnings if w.startswith(f"{stream}: skipped")]
        assert path in warning
        assert f"HTTP {status}" in warning
    assert bookmark_of(result.final_state, COST) is None


def test_a_permission_error_still_fails_the_run(sandbox):
    config = augment_config(sandbox, augment_api_token=sandbox.augment_forbidden_token)
    with pytest.raises(APIRequestError, match="HTTP 403"):
        run_sync(config, streams=[COST])


def test_cli_without_the_endpoints_exits_0_with_one_warning(tmp_path: Path):
    today = utc_today()
    last = today - dt.timedelta(days=2)
    with Sandbox(today=today) as sb:
        sb.faults.endpoint_unavailable(COST_PATH)
        config = e2e_config(sb, last - dt.timedelta(days=3), last, sourcegraph=False)
        catalog = catalog_selecting(tmp_path, config, ["augment_dau_count", COST, CREDITS])
        run = run_tap(tmp_path, config, args=["--catalog", str(catalog)])
        assert run.returncode == 0, run.explain()
        warnings = [
            strip_log_prefix(x)
            for x in run.stderr_lines
            # (the SDK warns about the interpreter itself on Python versions near end of life)
            if "WARNING" in x and "SingerSDKPythonEOLWarning" not in x
        ]
        assert len(warnings) == 1, warnings
        assert warnings[0].startswith(f"{COST}: skipped")
        assert run.records["augment_dau_count"]
        assert run.records[CREDITS]
        assert bookmark_of(run.states[-1], CREDITS) == last.isoformat()


def test_cli_with_a_bad_token_still_fails(tmp_path: Path):
    today = utc_today()
    last = today - dt.timedelta(days=2)
    with Sandbox(today=today) as sb:
        config = e2e_config(sb, last, last, sourcegraph=False)
        catalog = catalog_selecting(tmp_path, config, [COST])
        config["augment_api_token"] = "not-a-valid-token"
        run = run_tap(tmp_path, config, args=["--catalog", str(catalog)], name="bad")
        assert run.returncode == 1, run.explain()
        assert "HTTP 401" in run.last_line
        assert COST_PATH in run.last_line
        assert "Traceback" not in run.stderr


# -- the sandbox itself -----------------------------------------------------------------------


def test_sandbox_cost_endpoint_rules(sandbox):
    import requests

    headers = {"Authorization": f"Bearer {sandbox.augment_token}"}
    url = sandbox.url + COST_PATH
    assert requests.get(url, headers=headers, timeout=5).status_code == 405
    today = {"start_date": TODAY.isoformat(), "end_date": TODAY.isoformat()}
    assert requests.post(url, json=today, headers=headers, timeout=5).status_code == 200
    tomorrow = (TODAY + dt.timedelta(days=1)).isoformat()
    future = requests.post(url, json={**today, "end_date": tomorrow}, headers=headers, timeout=5)
    assert future.status_code == 400
    stranger = {"filters": {"user_emails": ["x@nowhere.example"]}}
    refused = requests.post(url, json=stranger, headers=headers, timeout=5)
    assert refused.json()["error"]["message"] == (
        "user_email(s) not found on this organization: x@nowhere.example"
    )
    week = {"start_date": days_before(7), "end_date": days_before(1)}
    total = requests.post(
        url,
        json={**week, "granularity": "COST_ANALYTICS_TIME_GRANULARITY_TOTAL"},
        headers=headers,
        timeout=5,
    ).json()["data_points"]
    assert len(total) == 1
    daily = [
        p
        for d in day_list(TODAY - dt.timedelta(7), YESTERDAY)
        for p in sandbox.data.augment.cost_points(d)
    ]
    assert decimal.Decimal(total[0]["cost_metrics"]["estimated_customer_cost_usd"]) == sum(
        decimal.Decimal(p["cost_metrics"]["estimated_customer_cost_usd"]) for p in daily
    )
    sandbox.faults.endpoint_unavailable(COST_PATH)
    assert requests.post(url, json=week, timeout=5).status_code == 401  # auth comes first
    assert requests.post(url, json=week, headers=headers, timeout=5).status_code == 404


def test_sandbox_credit_usage_without_by_model_sums_models(sandbox):
    import requests

    headers = {"Authorization": f"Bearer {sandbox.augment_token}"}
    day = days_before(1)
    params: dict[str, str | int] = {
        "start_date": day,
        "end_date": day,
        "by_date": "true",
        "page_size": 500,
    }
    rows = requests.get(sandbox.url + CREDITS_PATH, params=params, headers=headers, timeout=5)
    summed = {
        (r.get("user_email") or r["service_account_name"]): r["credits_consumed"]
        for r in rows.json()["records"]
    }
    expected: dict[str, int] = {}
    for _, row in sandbox.data.augment.credit_usage_items(YESTERDAY, YESTERDAY):
        login = row.get("user_email") or row["service_account_name"]
        expected[login] = expected.get(login, 0) + int(row["credits_consumed"])
    assert summed == expected
