"""Tests of the bundled fake Augment / Sourcegraph Analytics APIs (the sandbox)."""

from __future__ import annotations

import base64
import csv
import datetime as dt
import email.utils
import io
import json
import os
import signal
import subprocess
import sys
import time
import typing as t
from pathlib import Path

import pytest
import requests

from sandbox import Faults, Sandbox
from sandbox.augment_data import AUGMENT_METRIC_KEYS
from sandbox.sourcegraph_data import SOURCEGRAPH_COLUMNS

TODAY = dt.date(2025, 10, 21)
YESTERDAY = TODAY - dt.timedelta(days=1)
AUG = "/analytics/v0/"
REPORT = "/api/reports/by-user-client-date"
REGISTRY = "/api/reports/user-registry"
TOKENS = "/api/service-access-tokens"
CLOUD = "acme.sourcegraphcloud.com"
SELF_HOSTED = "sourcegraph.acme.example"
BENCH = "bench.sourcegraph.example"


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def login(obj: dict[str, t.Any]) -> str:
    return str(obj.get("user_email") or obj["service_account_name"])


@pytest.fixture(scope="module")
def sb():
    with Sandbox(today=TODAY) as sandbox:
        yield sandbox
        assert sandbox.errors == []  # no unexpected server-side exception


@pytest.fixture(autouse=True)
def _clean(request):
    # Module-scoped sandboxes are shared: every test starts with no faults and an empty log.
    if "sb" in request.fixturenames:
        sandbox = request.getfixturevalue("sb")
        sandbox.faults.clear()
        sandbox.reset_log()


@pytest.fixture
def http():
    with requests.Session() as session:
        yield session


def aug(
    http: requests.Session, sb: Sandbox, endpoint: str, token: str | None = None, **params: t.Any
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or sb.augment_token}"}
    return http.get(sb.url + AUG + endpoint, params=params, headers=headers, timeout=10)


def sg(
    http: requests.Session,
    sb: Sandbox,
    path: str = REPORT,
    token: str | None = None,
    **params: t.Any,
) -> requests.Response:
    headers = {"Authorization": f"Bearer {token or sb.sourcegraph_token}"}
    return http.get(sb.url + path, params=params, headers=headers, timeout=10)


def parse_csv(text: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    return (rows[0], rows[1:]) if rows else ([], [])


def walk(
    http: requests.Session, sb: Sandbox, endpoint: str, key: str, **params: t.Any
) -> tuple[list[t.Any], list[t.Any]]:
    """Follow an Augment cursor to the end; returns (items, page bodies)."""
    items, pages, cursor = [], [], None
    while True:
        query = dict(params)
        if cursor:
            query["cursor"] = cursor
        resp = aug(http, sb, endpoint, **query)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        pages.append(body)
        items += body[key]
        if not body["pagination"]["has_more"]:
            return items, pages
        cursor = body["pagination"]["next_cursor"]
        assert len(pages) < 50


# -- Augment: shapes, defaults, pagination ---------------------------------------------------------


def test_dau_count_shape_and_metadata(sb, http):
    resp = aug(http, sb, "dau-count", start_date="2025-10-15", end_date="2025-10-20")
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert int(resp.headers["Content-Length"]) == len(resp.content)
    body = resp.json()
    assert set(body) == {"daily_active_user_counts", "metadata"}
    assert [e["date"] for e in body["daily_active_user_counts"]] == [
        x.isoformat() for x in days(d("2025-10-15"), d("2025-10-20"))
    ]
    for entry in body["daily_active_user_counts"]:
        assert entry["user_count"] == sb.data.augment.dau_count(d(entry["date"]))
    meta = body["metadata"]
    assert meta["effective_start_date"] == "2025-10-15"
    assert meta["effective_end_date"] == "2025-10-20"
    assert meta["total_days"] == 6
    # Nanosecond precision, on the sandbox's "today".
    assert meta["generated_at"].startswith("2025-10-21T")
    assert len(meta["generated_at"].split(".")[1]) == 10  # 9 digits + "Z"


@pytest.mark.parametrize(
    ("params", "start", "end"),
    [
        ({}, "2025-10-14", "2025-10-20"),
        ({"start_date": "2025-10-01"}, "2025-10-01", "2025-10-07"),
        ({"start_date": "2025-10-18"}, "2025-10-18", "2025-10-20"),  # capped at yesterday
        ({"end_date": "2025-09-30"}, "2025-09-24", "2025-09-30"),
        ({"start_date": "2025-07-23", "end_date": "2025-10-20"}, "2025-07-23", "2025-10-20"),
    ],
)
@pytest.mark.parametrize("endpoint", ["dau-count", "daily-usage", "user-activity"])
def test_date_range_defaults(sb, http, endpoint, params, start, end):  # noqa: PLR0913, PLR0917
    meta = aug(http, sb, endpoint, **params).json()["metadata"]
    assert (meta["effective_start_date"], meta["effective_end_date"]) == (start, end)


def test_single_date_defaults_to_yesterday(sb, http):
    for endpoint in ("dau", "daily-user-activity-by-editor-language"):
        meta = aug(http, sb, endpoint).json()["metadata"]
        assert meta["effective_date"] == YESTERDAY.isoformat()


def test_defaulted_start_is_clamped_to_lookback(sb, http):
    # Only end_date near the 2-year limit: the 7-day window is clamped, not rejected.
    resp = aug(http, sb, "dau-count", end_date="2023-10-23")
    assert resp.status_code == 200
    meta = resp.json()["metadata"]
    assert meta["effective_start_date"] == "2023-10-21"
    assert meta["total_days"] == 3


def test_dau_pagination_walk(sb, http):
    day = d("2025-10-20")
    expected = sb.data.augment.dau_users(day)
    assert len(expected) > 7
    users, pages = walk(http, sb, "dau", "users", date=day.isoformat(), page_size=3)
    assert users == expected
    assert [len(p["users"]) for p in pages[:-1]] == [3] * (len(pages) - 1)  # full pages
    for page in pages:
        assert page["metadata"]["returned_user_count"] == len(page["users"])
        assert page["metadata"]["effective_date"] == day.isoformat()
    assert pages[-1]["pagination"] == {"next_cursor": "", "has_more": False}
    # Opaque cursor: base64 JSON with last_id, bound to the date.
    cursor = json.loads(base64.b64decode(pages[0]["pagination"]["next_cursor"]))
    assert cursor["date"] == day.isoformat()
    assert "last_id" in cursor


def test_editor_language_and_user_activity_walks(sb, http):
    day = d("2025-10-16")
    records, _ = walk(
        http, sb, "daily-user-activity-by-editor-language", "records", date=str(day), page_size=4
    )
    assert records == sb.data.augment.editor_language(day)
    assert {r["editor"] for r in records} <= {"VSCode", "JetBrains", "CLI", "Unknown"}
    assert {r["language"] for r in records} <= {"Python", "TypeScript", "Go", "C#", "Unknown"}
    users, pages = walk(
        http, sb, "user-activity", "users", start_date=str(day), end_date=str(day), page_size=5
    )
    assert users == sb.data.augment.user_activity(day)
    assert all(u["active_days"] == 1 for u in users)
    assert pages[0]["metadata"]["total_days"] == 1


def test_user_activity_multi_day_sums(sb, http):
    start, end = d("2025-10-01"), d("2025-10-10")
    users, _ = walk(http, sb, "user-activity", "users", start_date=str(start), end_date=str(end))
    per_day: dict[str, list[dict[str, t.Any]]] = {}
    for day in days(start, end):
        for u in sb.data.augment.user_activity(day):
            per_day.setdefault(login(u), []).append(u["metrics"])
    assert {login(u) for u in users} == set(per_day)
    for user in users:
        daily = per_day[login(user)]
        assert user["active_days"] == len(daily)
        assert 1 <= user["active_days"] <= 10
        for key, value in user["metrics"].items():
            assert value == sum(m.get(key, 0) for m in daily)


def test_page_size_defaults_maxima_and_clamp():
    with Sandbox(today=TODAY, augment_users=400) as big, requests.Session() as http:
        day = "2025-10-20"  # a Monday: most of the 400 users are active
        n_active = big.data.augment.dau_count(d(day))
        assert n_active > 250
        assert len(aug(http, big, "dau", date=day).json()["users"]) == 100
        assert len(aug(http, big, "dau", date=day, page_size=1000).json()["users"]) == 250
        ua = aug(http, big, "user-activity", start_date=day, end_date=day)
        assert len(ua.json()["users"]) == 50
        ua = aug(http, big, "user-activity", start_date=day, end_date=day, page_size=500)
        assert len(ua.json()["users"]) == 100
        el = "daily-user-activity-by-editor-language"
        assert len(aug(http, big, el, date=day).json()["records"]) == 50
        assert len(aug(http, big, el, date=day, page_size=101).json()["records"]) == 100
        users, _ = walk(http, big, "dau", "users", date=day, page_size=250)
        assert len(users) == n_active


def test_cursor_bound_to_query_and_validated(sb, http):
    first = aug(http, sb, "dau", date="2025-10-20", page_size=2).json()
    cursor = first["pagination"]["next_cursor"]
    assert aug(http, sb, "dau", date="2025-10-20", page_size=2, cursor=cursor).status_code == 200
    for bad in (
        aug(http, sb, "dau", date="2025-10-17", page_size=2, cursor=cursor),  # other date
        aug(http, sb, "dau", date="2025-10-20", cursor="!!!not-base64"),
        aug(http, sb, "dau", date="2025-10-20", cursor=base64.b64encode(b"[1]").decode()),
        aug(http, sb, "daily-user-activity-by-editor-language", date="2025-10-20", cursor=cursor),
    ):
        assert bad.status_code == 400
        assert bad.json()["error"]["code"] == "InvalidArgument"
    ua = aug(http, sb, "user-activity", start_date="2025-10-01", end_date="2025-10-05", page_size=2)
    ua_cursor = ua.json()["pagination"]["next_cursor"]
    moved = aug(
        http, sb, "user-activity", start_date="2025-10-01", end_date="2025-10-06", cursor=ua_cursor
    )
    assert moved.status_code == 400


# -- Augment: validation and auth ------------------------------------------------------------------


def invalid(resp: requests.Response, message: str | None = None) -> str:
    assert resp.status_code == 400
    body = resp.json()
    assert body["error"]["code"] == "InvalidArgument"
    if message is not None:
        assert body == {"error": {"code": "InvalidArgument", "message": message}}
    return str(body["error"]["message"])


@pytest.mark.parametrize("endpoint", ["dau-count", "daily-usage", "user-activity"])
def test_range_validation(sb, http, endpoint):
    msg = "end_date cannot be later than yesterday (UTC)"
    invalid(aug(http, sb, endpoint, end_date=str(TODAY)), msg)
    invalid(aug(http, sb, endpoint, start_date="2025-10-01", end_date="2025-12-01"), msg)
    invalid(aug(http, sb, endpoint, start_date=str(TODAY)))
    for bad in ("2025-1-05", "2025-02-30", "yesterday", "", "2025/10/01"):
        invalid(aug(http, sb, endpoint, start_date=bad, end_date="2025-10-10"))
        invalid(aug(http, sb, endpoint, end_date=bad))
    # Inclusive 90-day maximum.
    assert aug(http, sb, endpoint, start_date="2025-07-01", end_date="2025-09-28").ok
    assert "90" in invalid(aug(http, sb, endpoint, start_date="2025-07-01", end_date="2025-09-29"))
    invalid(aug(http, sb, endpoint, start_date="2025-10-10", end_date="2025-10-09"))
    # Two calendar years of lookback: 2023-10-21 is the earliest allowed date.
    assert aug(http, sb, endpoint, start_date="2023-10-21", end_date="2023-10-22").ok
    assert "2 years" in invalid(aug(http, sb, endpoint, start_date="2023-10-20"))


@pytest.mark.parametrize("endpoint", ["dau", "daily-user-activity-by-editor-language"])
def test_single_date_validation(sb, http, endpoint):
    msg = "date cannot be later than yesterday (UTC)"
    invalid(aug(http, sb, endpoint, date=str(TODAY)), msg)
    invalid(aug(http, sb, endpoint, date="2030-01-01"), msg)
    invalid(aug(http, sb, endpoint, date="20251001"))
    invalid(aug(http, sb, endpoint, date="2025-13-01"))
    assert "2 years" in invalid(aug(http, sb, endpoint, date="2023-10-20"))
    assert aug(http, sb, endpoint, date="2023-10-21").ok
    for bad in ("0", "-5", "abc", "1.5", ""):
        assert "page_size" in invalid(aug(http, sb, endpoint, page_size=bad))


def test_auth_errors(sb, http):
    url = sb.url + AUG + "dau-count"
    unauth = {
        "error": {"code": "Unauthenticated", "message": "missing or invalid authentication token"}
    }
    resp = http.get(url, timeout=5)
    assert resp.status_code == 401
    assert resp.json() == unauth
    assert http.get(url, headers={"Authorization": "Bearer nope"}, timeout=5).json() == unauth
    assert http.get(url, headers={"Authorization": sb.augment_token}, timeout=5).status_code == 401
    resp = aug(http, sb, "dau-count", token=sb.augment_forbidden_token)
    assert resp.status_code == 403
    assert resp.json() == {
        "error": {
            "code": "PermissionDenied",
            "message": "service account lacks analytics permission",
        }
    }
    assert aug(http, sb, "no-such-endpoint").status_code == 404


# -- Augment: dataset realism and consistency ------------------------------------------------------


def test_identity_styles(sb, http):
    day = next(
        x
        for x in days(d("2025-10-01"), YESTERDAY)
        if {"service_account_name": "ci-bot"} in sb.data.augment.dau_users(x)
    )
    users = aug(http, sb, "dau", date=str(day), page_size=250).json()["users"]
    assert {"service_account_name": "ci-bot"} in users
    assert all(len(u) == 1 for u in users)  # the other identity field is absent
    sb.faults.identity_null = True
    users = aug(http, sb, "dau", date=str(day), page_size=250).json()["users"]
    assert {"user_email": None, "service_account_name": "ci-bot"} in users
    assert all(set(u) == {"user_email", "service_account_name"} for u in users)
    assert all((u["user_email"] is None) != (u["service_account_name"] is None) for u in users)
    assert users == sb.data.augment.dau_users(day, identity_null=True)
    records = aug(http, sb, "daily-user-activity-by-editor-language", date=str(day)).json()
    assert all(
        r["user_email"] is None or r["service_account_name"] is None for r in records["records"]
    )


@pytest.mark.parametrize(("style", "expected"), [("null", {"next_cursor": None}), ("absent", {})])
def test_final_cursor_styles(sb, http, style, expected):
    sb.faults.final_cursor = style
    body = aug(http, sb, "dau", date="2025-10-20", page_size=250).json()
    assert body["pagination"] == {**expected, "has_more": False}


def test_consistency_across_endpoints(sb, http):
    start, end = d("2025-08-23"), d("2025-10-20")  # 59 days
    counts = aug(http, sb, "dau-count", start_date=str(start), end_date=str(end)).json()
    usage = aug(http, sb, "daily-usage", start_date=str(start), end_date=str(end)).json()
    usage_by_date = {e["date"]: e["metrics"] for e in usage["daily_usage"]}
    assert usage["metadata"]["total_days"] == len(usage["daily_usage"])
    assert [e["date"] for e in usage["daily_usage"]] == sorted(usage_by_date)
    empty = sb.data.augment.no_activity_dates(start, end)
    assert empty == [day for day in days(start, end) if day.toordinal() % 15 == 0]
    assert len(empty) >= 3
    for entry in counts["daily_active_user_counts"]:
        day = d(entry["date"])
        dau = sb.data.augment.dau_users(day)
        activity = sb.data.augment.user_activity(day)
        assert entry["user_count"] == len({login(u) for u in dau})
        assert [login(u) for u in activity] == [login(u) for u in dau]
        if day in empty:
            assert entry["user_count"] == 0
            assert entry["date"] not in usage_by_date
            assert activity == [] == sb.data.augment.editor_language(day)
            continue
        assert entry["user_count"] > 0
        totals = usage_by_date[entry["date"]]
        assert totals == sb.data.augment.daily_usage(day)["metrics"]
        for key, value in totals.items():
            assert value == sum(u["metrics"].get(key, 0) for u in activity)
        # Per-user rows are the sum of that user's editor/language records.
        records = sb.data.augment.editor_language(day)
        for user in activity:
            mine = [r["metrics"] for r in records if login(r) == login(user)]
            for key, value in user["metrics"].items():
                assert value == sum(m[key] for m in mine)


def test_empty_date_served_as_empty(sb, http):
    day = "2025-10-06"  # ordinal divisible by 15: nobody active
    assert d(day).toordinal() % 15 == 0
    body = aug(http, sb, "dau", date=day).json()
    assert body["users"] == []
    assert body["pagination"] == {"next_cursor": "", "has_more": False}
    assert body["metadata"]["returned_user_count"] == 0
    body = aug(http, sb, "daily-usage", start_date=day, end_date=day).json()
    assert body["daily_usage"] == []
    assert body["metadata"]["total_days"] == 0
    body = aug(http, sb, "user-activity", start_date=day, end_date=day).json()
    assert body["users"] == []
    assert body["metadata"]["total_days"] == 1
    assert aug(http, sb, "dau-count", start_date=day, end_date=day).json()[
        "daily_active_user_counts"
    ] == [{"date": day, "user_count": 0}]


def test_metric_keys_and_omissions(sb, http):
    old = aug(http, sb, "daily-usage", start_date="2025-05-25", end_date="2025-06-03").json()
    for entry in old["daily_usage"]:
        has_suggested = "completions_suggested_lines_of_code" in entry["metrics"]
        assert has_suggested == (entry["date"] >= "2025-06-01")
        assert all(isinstance(v, int) for v in entry["metrics"].values())
    full = set(AUGMENT_METRIC_KEYS)
    assert len(full) == 16
    rows = aug(http, sb, "user-activity", start_date="2025-09-15", end_date="2025-09-15").json()
    missing = [u for u in rows["users"] if "total_tool_calls" not in u["metrics"]]
    assert {login(u) for u in missing} == {
        "user001@acme.example",
        "user009@acme.example",
        "user011@acme.example",
    }
    for user in rows["users"]:
        assert set(user["metrics"]) == (full - {"total_tool_calls"} if user in missing else full)


def test_service_accounts_mostly_cli(sb):
    records = [
        r
        for day in days(d("2025-09-01"), d("2025-09-30"))
        for r in sb.data.augment.editor_language(day)
        if "service_account_name" in r
    ]
    cli = [r for r in records if r["editor"] == "CLI"]
    assert len(cli) / len(records) > 0.8
    assert sb.data.augment.users[-2:] == [
        {"service_account_name": "ci-bot"},
        {"service_account_name": "release-bot"},
    ]
    assert sb.data.augment.users[0] == {"user_email": "user001@acme.example"}
    assert len(sb.data.augment.users) == 14


def test_data_does_not_depend_on_today_or_order():
    with Sandbox(today=TODAY) as one, Sandbox(today=dt.date(2026, 3, 1)) as two:
        day = d("2025-10-02")
        assert one.data.augment.editor_language(day) == two.data.augment.editor_language(day)
        one.data.augment.dau_users(d("2025-10-03"))
        assert one.data.augment.daily_usage(day) == two.data.augment.daily_usage(day)


# -- Rate limiter ----------------------------------------------------------------------------------


def test_rate_limiter_bucket_and_refill():
    with (
        Sandbox(today=TODAY, rate_limit_per_minute=300, rate_limit_burst=3) as limited,
        requests.Session() as http,
    ):
        statuses = [aug(http, limited, "dau-count").status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        resp = aug(http, limited, "dau-count")
        assert resp.status_code == 429
        assert resp.json() == {
            "error": {"code": "ResourceExhausted", "message": "rate limit exceeded"}
        }
        assert resp.headers["Retry-After"] == "1"  # 5 tokens/s: ceil(<0.2 s)
        assert limited.count_429 == 2
        # Per token: the Sourcegraph token has its own bucket.
        assert sg(http, limited, path=REGISTRY, instanceURL=CLOUD).status_code == 200
        time.sleep(0.25)  # refill: a 429 did not consume a token
        assert aug(http, limited, "dau-count").status_code == 200
        assert aug(http, limited, "dau-count").status_code == 429
        limited.faults.retry_after_style = "http-date"
        resp = aug(http, limited, "dau-count")
        assert email.utils.parsedate_to_datetime(resp.headers["Retry-After"]).tzinfo is not None
        limited.faults.retry_after_style = None
        assert "Retry-After" not in aug(http, limited, "dau-count").headers
        assert limited.count_429 == 5
        assert [r.status for r in limited.requests].count(429) == 5


def test_rate_limiter_retry_after_rounds_up():
    with (
        Sandbox(today=TODAY, rate_limit_per_minute=10, rate_limit_burst=1) as limited,
        requests.Session() as http,
    ):
        assert aug(http, limited, "dau-count").ok
        resp = aug(http, limited, "dau-count")
        assert resp.status_code == 429
        assert resp.headers["Retry-After"] == "6"  # 10/min: a token every 6 s


# -- Sourcegraph reports ---------------------------------------------------------------------------

DIMS = list(SOURCEGRAPH_COLUMNS[:4])
METRICS = list(SOURCEGRAPH_COLUMNS[7:])


@pytest.mark.parametrize(
    ("granularity", "dims"),
    [
        ("by_user", DIMS),
        ("by_user_month", [*DIMS, "Timestamp Month"]),
        ("by_user_day", [*DIMS, "Timestamp Date"]),
        ("by_user_day_client_language", [*DIMS, "Client Name", "Timestamp Date", "Language"]),
        (None, [*DIMS, "Client Name", "Timestamp Date", "Language"]),
    ],
)
def test_report_headers_per_granularity(sb, http, granularity, dims):
    params = {"instanceURL": CLOUD, "startDate": "2025-10-01", "endDate": "2025-10-31"}
    if granularity:
        params["granularity"] = granularity
    resp = sg(http, sb, **params)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert resp.headers["Transfer-Encoding"] == "chunked"
    assert "Content-Length" not in resp.headers
    assert not resp.content.startswith(b"\xef\xbb\xbf")
    assert b"\r\n" not in resp.content
    header, rows = parse_csv(resp.text)
    assert header == [*dims, *METRICS, "Deep Search Events"]
    assert len(SOURCEGRAPH_COLUMNS) == 25
    assert rows
    assert all(len(r) == len(header) for r in rows)
    expected_header, expected = sb.data.sourcegraph.report(
        CLOUD, granularity or "by_user_day_client_language", d("2025-10-01"), d("2025-10-31")
    )
    assert header == expected_header
    assert rows == list(expected)


def test_report_all_columns_and_extra_columns(sb, http):
    sb.faults.sourcegraph_all_columns = True
    sb.faults.sourcegraph_extra_columns = []
    resp = sg(http, sb, instanceURL=CLOUD, granularity="by_user", startDate="2025-10-01")
    header, rows = parse_csv(resp.text)
    assert header == list(SOURCEGRAPH_COLUMNS)
    assert all(r[4:7] == ["", "", ""] for r in rows)
    sb.faults.sourcegraph_extra_columns = ["Deep Search Events", "MCP Tool Calls"]
    header, rows = parse_csv(sg(http, sb, instanceURL=CLOUD, granularity="by_user_month").text)
    assert header[5] == "Timestamp Month"
    assert header[:5] + header[6:25] == [c for c in SOURCEGRAPH_COLUMNS if c != "Timestamp Date"]
    assert header[25:] == ["Deep Search Events", "MCP Tool Calls"]
    assert all(r[4] == r[6] == "" for r in rows)
    assert all(v == "" or v.isdigit() for r in rows for v in r[25:])


def test_report_values_quoting_and_blanks(sb, http):
    resp = sg(http, sb, instanceURL=CLOUD, startDate="2025-06-01", endDate="2025-09-30")
    assert '"Smith, Jo"' in resp.text
    assert '"dev""ops"' in resp.text
    header, rows = parse_csv(resp.text)
    col = {name: i for i, name in enumerate(header)}
    assert {r[col["Username"]] for r in rows} >= {"Smith, Jo", 'dev"ops', "zoë"}
    assert {r[col["Client Name"]] for r in rows} == {
        "vscode.cody",
        "jetbrains.cody",
        "server.web",
        "server.svelte-web",
    }
    languages = {r[col["Language"]] for r in rows}
    assert {"", "C#", "C++", "typescript", "python", "go"} <= languages
    assert sum(r[col["Language"]] == "" for r in rows) > len(rows) / 4
    # Documented "active but everything else blank" rows.
    blank = [r for r in rows if all(v == "" for v in r[col["Searches"] :])]
    assert blank
    assert all(r[col["Active Sourcegraph User"]] == "true" for r in blank)
    assert {r[col["Active Sourcegraph User"]] for r in rows} == {"true", "false"}
    for row in rows:
        assert row[col["Timestamp Date"]] >= "2025-06-01"
        for name in ("Combined CAR", "Weighted CAR", "Auto-edit acceptance rate"):
            value = row[col[name]]
            assert value == "" or (len(value.split(".")[1]) == 4 and 0 <= float(value) <= 1)
        pcw = row[col["Percentage of Code Written by Cody"]]
        assert pcw == "" or (len(pcw.split(".")[1]) == 2 and 0 <= float(pcw) <= 100)
        for name in ("Searches", "Combined Completion Suggestions", "Deep Search Events"):
            assert row[col[name]] == "" or row[col[name]].isdigit()
    # Sorted by user, then date (not globally by date).
    keys = [(int(r[0]), r[col["Timestamp Date"]]) for r in rows]
    assert keys == sorted(keys)
    assert [r[col["Timestamp Date"]] for r in rows] != sorted(
        r[col["Timestamp Date"]] for r in rows
    )


def test_self_hosted_instance_without_metadata(sb, http):
    _, rows = parse_csv(sg(http, sb, instanceURL=SELF_HOSTED, granularity="by_user").text)
    assert rows
    assert all(r[1] == "" and r[2] == "" for r in rows)
    assert all(r[0].isdigit() for r in rows)
    _, cloud = parse_csv(sg(http, sb, instanceURL=CLOUD, granularity="by_user").text)
    assert rows != cloud


def test_some_people_use_both_vendors_under_one_email(sb, http):
    augment = {u["user_email"] for u in sb.data.augment.users if "user_email" in u}
    window = {"startDate": "2025-09-01", "endDate": "2025-09-30", "granularity": "by_user"}
    _, rows = parse_csv(sg(http, sb, instanceURL=CLOUD, **window).text)
    shared = {r[1] for r in rows if r[1].strip().lower() in augment}
    # As Augment sends it, in other letter case, with stray spaces: the dbt marts normalise.
    assert shared == {"user002@acme.example", "User005@ACME.example", " user007@acme.example "}
    _, self_hosted = parse_csv(sg(http, sb, instanceURL=SELF_HOSTED, **window).text)
    assert all(r[1] == "" for r in self_hosted), "no email to match on"


def test_report_inclusive_filters_and_aggregation(sb, http):
    day = "2025-09-16"
    _, rows = parse_csv(sg(http, sb, instanceURL=CLOUD, startDate=day, endDate=day).text)
    assert rows
    assert {r[5] for r in rows} == {day}
    window = {"instanceURL": CLOUD, "startDate": "2025-09-01", "endDate": "2025-09-30"}
    header, detail = parse_csv(sg(http, sb, **window).text)
    _, by_user = parse_csv(sg(http, sb, granularity="by_user", **window).text)
    _, by_month = parse_csv(sg(http, sb, granularity="by_user_month", **window).text)
    _, by_day = parse_csv(sg(http, sb, granularity="by_user_day", **window).text)
    assert {r[5] for r in detail} <= {x.isoformat() for x in days(d("2025-09-01"), d("2025-09-30"))}
    assert {r[4] for r in by_month} == {"2025-09"}
    assert [r[0] for r in by_user] == [r[0] for r in by_month]
    searches = header.index("Searches")
    for user in by_user:
        mine = [r for r in detail if r[0] == user[0]]
        expected = sum(int(r[searches]) for r in mine if r[searches])
        assert int(user[searches - 3] or 0) == expected  # by_user has 3 fewer dimensions
    assert len(by_day) == len({(r[0], r[5]) for r in detail})


def test_report_styles(sb, http):
    sb.faults.sourcegraph_bool_style = "10"
    sb.faults.sourcegraph_month_style = "YYYY-MM-01"
    _, rows = parse_csv(
        sg(http, sb, instanceURL=CLOUD, granularity="by_user_month", startDate="2025-08-01").text
    )
    assert {r[3] for r in rows} <= {"1", "0"}
    assert {r[4] for r in rows} == {"2025-08-01", "2025-09-01", "2025-10-01"}
    sb.faults.sourcegraph_bool_style = "yesno"
    _, reg = parse_csv(sg(http, sb, path=REGISTRY, instanceURL=CLOUD).text)
    assert {r[1] for r in reg} == {"yes", "no"}
    with pytest.raises(ValueError, match="sourcegraph_bool_style"):
        sb.faults.sourcegraph_bool_style = "TRUE"


def test_report_empty_range(sb, http):
    resp = sg(http, sb, instanceURL=CLOUD, startDate="2023-01-01", endDate="2023-12-31")
    assert resp.status_code == 200
    assert resp.text == ",".join([*SOURCEGRAPH_COLUMNS, "Deep Search Events"]) + "\n"
    sb.faults.sourcegraph_empty_body = True
    resp = sg(http, sb, instanceURL=CLOUD, startDate="2023-01-01", endDate="2023-12-31")
    assert resp.status_code == 200
    assert resp.content == b""
    # Today is partial but present; the future is empty.
    today_rows = parse_csv(sg(http, sb, instanceURL=CLOUD, startDate=str(TODAY)).text)[1]
    assert {r[5] for r in today_rows} <= {str(TODAY)}


def test_report_errors(sb, http):
    def check(resp: requests.Response, status: int, text: str) -> None:
        assert resp.status_code == status
        assert resp.headers["Content-Type"].startswith("text/plain")
        assert text in resp.text

    check(http.get(sb.url + REPORT, params={"instanceURL": CLOUD}, timeout=5), 401, "unauthorized")
    bogus = "sams_at_" + "bogus"
    check(sg(http, sb, token=bogus, instanceURL=CLOUD), 401, "unauthorized")
    check(sg(http, sb, instanceURL=sb.sourcegraph_unlinked_instance), 403, "forbidden")
    check(sg(http, sb, instanceURL="nope.example.com"), 404, "instance not found")
    check(sg(http, sb), 400, "instanceURL")
    check(sg(http, sb, instanceURL=f"https://{CLOUD}"), 400, "instanceURL")
    check(sg(http, sb, instanceURL=f"{CLOUD}/"), 400, "instanceURL")
    check(sg(http, sb, instanceURL=CLOUD, granularity="by_week"), 400, "granularity")
    check(sg(http, sb, instanceURL=CLOUD, startDate="2025-13-01"), 400, "startDate")
    check(sg(http, sb, instanceURL=CLOUD, endDate="01/02/2025"), 400, "endDate")
    check(sg(http, sb, path=REGISTRY), 400, "instanceURL")
    check(sg(http, sb, path=REGISTRY, instanceURL=sb.sourcegraph_unlinked_instance), 403, "")


def test_registry(sb, http):
    resp = sg(http, sb, path=REGISTRY, instanceURL=CLOUD)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    header, rows = parse_csv(resp.text)
    assert header == ["Instance user ID", "Service Account", "Site Admin"]
    assert (header, rows) == sb.data.sourcegraph.registry(CLOUD)
    assert [int(r[0]) for r in rows] == sorted(int(r[0]) for r in rows)
    assert {r[1] for r in rows} == {r[2] for r in rows} == {"true", "false"}
    # The registry also lists users who were never active.
    _, usage = parse_csv(sg(http, sb, instanceURL=CLOUD, granularity="by_user").text)
    assert {r[0] for r in usage} < {r[0] for r in rows}


def test_token_management_lifecycle():
    with Sandbox(today=TODAY) as box, requests.Session() as http:
        cookies = {"cas": box.cas_cookie}
        url = box.url + TOKENS
        assert http.get(url, timeout=5).status_code == 401
        assert http.get(url, cookies={"cas": "wrong"}, timeout=5).status_code == 401
        listed = http.get(url, cookies=cookies, timeout=5).json()["tokens"]
        assert len(listed) == 1
        assert listed[0]["isExpired"] is False
        assert "secret" not in listed[0]

        plain = http.post(url, cookies=cookies, json={}, timeout=5)
        assert plain.status_code == 201
        created = plain.json()
        assert set(created) == {"id", "secret", "createdAt"}
        assert created["secret"].startswith("sams_at_")
        named = http.post(
            url,
            cookies={"accounts_session_v2": box.cas_cookie},
            json={"displayName": "ci", "expiresAt": "2999-12-31T23:59:59Z"},
            timeout=5,
        ).json()
        assert named["displayName"] == "ci"
        assert named["expiresAt"] == "2999-12-31T23:59:59Z"
        expired = http.post(
            url, cookies=cookies, json={"expiresAt": "2020-01-01T00:00:00Z"}, timeout=5
        ).json()
        assert http.post(url, cookies=cookies, data="not json", timeout=5).status_code == 400

        new_token = created["secret"]
        assert sg(http, box, token=new_token, instanceURL=CLOUD, granularity="by_user").ok
        assert sg(http, box, token=new_token, instanceURL=SELF_HOSTED, granularity="by_user").ok
        assert sg(http, box, token=expired["secret"], instanceURL=CLOUD).status_code == 401

        deleted = http.delete(f"{url}/{created['id']}", cookies=cookies, timeout=5)
        assert deleted.status_code == 204
        assert deleted.content == b""
        assert http.delete(f"{url}/{created['id']}x", cookies=cookies, timeout=5).status_code == 404
        listed = {t["id"]: t for t in http.get(url, cookies=cookies, timeout=5).json()["tokens"]}
        assert len(listed) == 4
        assert listed[created["id"]]["isExpired"] is True
        assert listed[named["id"]]["isExpired"] is False
        assert listed[named["id"]]["displayName"] == "ci"
        assert listed[expired["id"]]["isExpired"] is True
        assert all("secret" not in t for t in listed.values())
        assert sg(http, box, token=new_token, instanceURL=CLOUD).status_code == 401
        assert sg(http, box, token=named["secret"], instanceURL=CLOUD).status_code == 200


# -- Faults ----------------------------------------------------------------------------------------


def test_fail_next_with_path_filter(sb, http):
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    sb.faults.fail_next(2, status=502, path_prefix="/analytics/v0/dau")
    assert aug(http, sb, "dau-count").status_code == 200  # segment-aware prefix
    first = aug(http, sb, "dau")
    assert first.status_code == 502
    assert first.text == html
    assert first.headers["Content-Type"].startswith("text/html")
    assert aug(http, sb, "dau").status_code == 502
    assert aug(http, sb, "dau").status_code == 200
    sb.faults.fail_next(1, status=503, retry_after=7)
    resp = sg(http, sb, path=REGISTRY, instanceURL=CLOUD)
    assert resp.status_code == 503
    assert resp.headers["Retry-After"] == "7"
    sb.faults.fail_next(1, status=500)
    assert aug(http, sb, "dau").json()["error"]["code"] == "Internal"
    sb.faults.fail_next(1, status=418, body='{"oops": true}')
    resp = aug(http, sb, "dau")
    assert (resp.status_code, resp.json()) == (418, {"oops": True})
    log = sb.requests
    assert [(r.path, r.status, r.fault) for r in log[:4]] == [
        ("/analytics/v0/dau-count", 200, None),
        ("/analytics/v0/dau", 502, "fail"),
        ("/analytics/v0/dau", 502, "fail"),
        ("/analytics/v0/dau", 200, None),
    ]
    assert log[4].vendor == "sourcegraph"
    assert log[4].params == {"instanceURL": CLOUD}
    assert log[0].vendor == "augment"
    assert log[0].method == "GET"


def test_rate_limit_next(sb, http):
    sb.faults.rate_limit_next(1, path_prefix="/api/reports")
    resp = sg(http, sb, instanceURL=CLOUD, granularity="by_user")
    assert (resp.status_code, resp.headers["Retry-After"]) == (429, "1")
    sb.faults.rate_limit_next(1, retry_after="http-date", seconds=30)
    resp = aug(http, sb, "dau-count")
    assert resp.status_code == 429
    assert resp.json()["error"]["code"] == "ResourceExhausted"
    when = email.utils.parsedate_to_datetime(resp.headers["Retry-After"])
    assert 20 < (when - dt.datetime.now(dt.timezone.utc)).total_seconds() <= 31
    sb.faults.rate_limit_next(1, retry_after=None)
    assert "Retry-After" not in aug(http, sb, "dau-count").headers
    assert aug(http, sb, "dau-count").status_code == 200
    assert sb.count_429 == 3


def test_random_errors_are_reproducible(sb, http):
    def run() -> list[int]:
        sb.faults.clear()
        sb.faults.random_errors(0.5, statuses=(500, 502, 503), seed=7, path_prefix="/analytics")
        return [aug(http, sb, "dau-count").status_code for _ in range(16)]

    first, second = run(), run()
    assert first == second
    assert {500, 502, 503} & set(first)
    assert 200 in first
    sb.faults.clear()
    sb.faults.random_errors(1.0, statuses=(502,), path_prefix="/analytics")
    assert sg(http, sb, path=REGISTRY, instanceURL=CLOUD).status_code == 200
    assert "502 Bad Gateway" in aug(http, sb, "dau").text


def test_drop_connection_json_and_csv(sb, http):
    sb.faults.drop_connection_next(1, after_bytes=10, path_prefix="/analytics/v0/dau")
    with pytest.raises(requests.exceptions.RequestException):
        aug(http, sb, "dau", date="2025-10-20")
    assert aug(http, sb, "dau", date="2025-10-20").ok
    sb.faults.drop_connection_next(1, after_bytes=5000)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        sg(http, sb, instanceURL=CLOUD).content  # noqa: B018
    # Shorter than after_bytes: still cut (the terminating chunk is never sent).
    sb.faults.drop_connection_next(1, after_bytes=10_000_000)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        sg(http, sb, path=REGISTRY, instanceURL=CLOUD).content  # noqa: B018
    assert sg(http, sb, path=REGISTRY, instanceURL=CLOUD).ok
    assert [r.fault for r in sb.requests] == ["drop", None, "drop", "drop", None]
    assert [r.status for r in sb.requests] == [200] * 5


def test_slow_body(sb, http):
    sb.faults.slow_body_next(1, delay_seconds=0.6, path_prefix="/analytics")
    with pytest.raises(requests.exceptions.RequestException):
        http.get(
            sb.url + AUG + "dau-count",
            headers={"Authorization": f"Bearer {sb.augment_token}"},
            timeout=(2, 0.2),
        )
    sb.faults.slow_body_next(1, delay_seconds=0.3)
    started = time.monotonic()
    resp = sg(http, sb, instanceURL=CLOUD, granularity="by_user")
    assert resp.ok
    assert time.monotonic() - started >= 0.3
    assert parse_csv(resp.text)[1]


def test_repeat_cursor(sb, http):
    sb.faults.repeat_cursor("/analytics/v0/dau")
    first = aug(http, sb, "dau", date="2025-10-20", page_size=2).json()
    cursor = first["pagination"]["next_cursor"]
    second = aug(http, sb, "dau", date="2025-10-20", page_size=2, cursor=cursor).json()
    assert first["pagination"] == second["pagination"] == {"next_cursor": cursor, "has_more": True}
    assert cursor
    tiny = aug(http, sb, "dau", date="2025-10-20", page_size=250).json()
    assert tiny["pagination"]["has_more"] is True
    other = aug(http, sb, "user-activity", page_size=100).json()
    assert other["pagination"]["has_more"] is False


def test_malformed_json_next(sb, http):
    sb.faults.malformed_json_next(1, path_prefix="/analytics/v0/daily-usage")
    assert aug(http, sb, "dau-count").json()
    resp = aug(http, sb, "daily-usage")
    assert resp.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(resp.text)
    assert aug(http, sb, "daily-usage").json()
    assert sb.requests[1].fault == "malformed"


def test_bad_ok_body_next(sb, http):
    for kind in ("error_object", "no_data", "null_data", "html_page"):
        sb.faults.bad_ok_body_next(1, kind, path_prefix="/analytics/v0/dau-count")
    error, no_data, null_data, html = (aug(http, sb, "dau-count") for _ in range(4))
    assert [r.status_code for r in (error, no_data, null_data, html)] == [200] * 4
    assert error.json() == {"error": {"code": "Internal", "message": "transient backend error"}}
    assert "daily_active_user_counts" not in no_data.json()
    assert "metadata" in no_data.json()
    assert null_data.json()["daily_active_user_counts"] is None
    assert html.headers["Content-Type"].startswith("text/html")
    assert "<title>Sign in" in html.text
    assert aug(http, sb, "dau-count").json()["daily_active_user_counts"]  # consumed
    assert [r.fault for r in sb.requests] == [
        "error_object",
        "no_data",
        "null_data",
        "html_page",
        None,
    ]
    with pytest.raises(ValueError, match="kind must be one of"):
        sb.faults.bad_ok_body_next(1, "empty")


def test_faults_validation_and_clear():
    faults = Faults()
    with pytest.raises(ValueError, match="final_cursor"):
        faults.final_cursor = "none"
    with pytest.raises(AttributeError):
        faults.no_such_switch = True
    faults.fail_next(3)
    faults.identity_null = True
    faults.sourcegraph_extra_columns = []
    assert faults.pending == 3
    faults.clear()
    assert faults.pending == 0
    assert faults.identity_null is False
    assert faults.final_cursor == "empty"
    assert faults.retry_after_style == "seconds"
    assert faults.sourcegraph_extra_columns == ["Deep Search Events"]


# -- Streaming, lifecycle, CLI ---------------------------------------------------------------------


def test_bench_report_streams_200k_rows():
    rows = 200_000
    with Sandbox(today=TODAY, sourcegraph_bench_rows=rows) as box, requests.Session() as http:
        started = time.monotonic()
        params = {"instanceURL": BENCH, "startDate": "2025-01-01", "endDate": "2025-06-30"}
        headers = {"Authorization": f"Bearer {box.sourcegraph_token}"}
        with http.get(
            box.url + REPORT, params=params, headers=headers, stream=True, timeout=30
        ) as r:
            assert r.headers["Transfer-Encoding"] == "chunked"
            chunks = r.iter_content(chunk_size=1 << 16)
            first = next(chunks)
            first_byte = time.monotonic() - started
            while first.count(b"\n") < 4:
                first += next(chunks)
            lines = first.count(b"\n") + sum(chunk.count(b"\n") for chunk in chunks)
        elapsed = time.monotonic() - started
        assert lines == rows + 1
        assert first_byte < 0.5  # streamed: the first rows arrive before the rest exist
        assert rows / elapsed > 50_000
        header, expected = box.data.sourcegraph.report(
            BENCH, start=d("2025-01-01"), end=d("2025-06-30")
        )
        served = first.decode().split("\n")
        assert served[0].split(",") == header
        assert [line.split(",") for line in served[1:4]] == [next(expected) for _ in range(3)]
        assert all(v != "" for v in served[1].split(",")[7:])  # every metric cell filled
        assert sum(1 for _ in expected) == rows - 3


def test_stop_is_fast_with_open_and_stalled_connections():
    box = Sandbox(today=TODAY).start()
    http = requests.Session()
    try:
        assert aug(http, box, "dau-count").ok  # leaves a keep-alive connection open
        box.faults.slow_body_next(1, delay_seconds=30)
        with pytest.raises(requests.exceptions.RequestException):
            http.get(
                box.url + AUG + "dau",
                headers={"Authorization": f"Bearer {box.augment_token}"},
                timeout=(2, 0.2),
            )
        started = time.monotonic()
        box.stop()
        assert time.monotonic() - started < 1.5
        box.stop()  # idempotent
        with pytest.raises(RuntimeError):
            _ = box.url
    finally:
        http.close()
        box.stop()


def test_cli_prints_ready_line_and_exits_cleanly():
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    command = [
        sys.executable,
        "-m",
        "sandbox",
        "--port",
        "0",
        "--augment-users",
        "5",
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            assert proc.stderr is not None
            ready = json.loads(proc.stdout.readline())
            assert ready["url"].startswith("http://127.0.0.1:")
            assert ready["augment_token"] == "aug-test-token-5f2b9c"
            assert ready["sourcegraph_token"] == "sams_at_test-token-7d1e4a"
            assert ready["sourcegraph_instances"] == [SELF_HOSTED, CLOUD]
            assert ready["cas_cookie"]
            with requests.Session() as http:
                resp = http.get(
                    ready["url"] + AUG + "dau",
                    headers={"Authorization": f"Bearer {ready['augment_token']}"},
                    params={"page_size": 250},
                    timeout=5,
                )
                assert resp.ok
                assert len(resp.json()["users"]) <= 7
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=5) == 0
            assert proc.stderr.read() == ""
        finally:
            if proc.poll() is None:
                proc.kill()
