"""Shared test fixtures: a frozen "today", the sandbox API, and an in-process sync runner."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import sys
import typing as t
from collections import defaultdict

import pytest

from sandbox import Sandbox
from tap_ai_analytics.output import _write_pending_records
from tap_ai_analytics.tap import TapAIAnalytics

#: The date every deterministic test treats as today (UTC).
TODAY = dt.date(2025, 10, 21)
YESTERDAY = TODAY - dt.timedelta(days=1)


def days_before(n: int) -> str:
    return (TODAY - dt.timedelta(days=n)).isoformat()


@pytest.fixture(autouse=True)
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrink the exponential backoff (no Retry-After) so retry tests run in milliseconds."""
    monkeypatch.setattr("tap_ai_analytics.client.INITIAL_BACKOFF_SECONDS", 0.01)


@pytest.fixture
def frozen_today(monkeypatch: pytest.MonkeyPatch) -> dt.date:
    """Make the tap's clock read TODAY (the sandbox is built with the same date)."""
    monkeypatch.setattr("tap_ai_analytics.settings.today_utc", lambda: TODAY)
    return TODAY


@pytest.fixture
def sandbox(frozen_today: dt.date) -> t.Iterator[Sandbox]:
    """A fresh sandbox for one test: its faults and request log are the test's own."""
    with Sandbox(today=frozen_today) as sb:
        yield sb
        assert sb.errors == []


def augment_config(sb: Sandbox, **overrides: t.Any) -> dict[str, t.Any]:
    """Config for the sandbox's Augment API, paced fast enough for tests."""
    return {
        "augment_api_token": sb.augment_token,
        "augment_api_url": sb.url,
        "augment_rate_limit_per_minute": 60000,
        "start_date": days_before(7),
        "request_timeout_seconds": 5,
        **overrides,
    }


def sourcegraph_config(sb: Sandbox, **overrides: t.Any) -> dict[str, t.Any]:
    """Config for the sandbox's Sourcegraph API and its two instances."""
    return {
        "sourcegraph_access_token": sb.sourcegraph_token,
        "sourcegraph_api_url": sb.url,
        "sourcegraph_instance_urls": list(sb.sourcegraph_instances),
        "start_date": days_before(40),
        "request_timeout_seconds": 5,
        **overrides,
    }


@dataclasses.dataclass
class SyncResult:
    """Everything one sync wrote to stdout, decoded."""

    messages: list[dict[str, t.Any]]

    @property
    def records(self) -> dict[str, list[dict[str, t.Any]]]:
        by_stream: dict[str, list[dict[str, t.Any]]] = defaultdict(list)
        for message in self.messages:
            if message["type"] == "RECORD":
                by_stream[message["stream"]].append(message["record"])
        return by_stream

    @property
    def states(self) -> list[dict[str, t.Any]]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def final_state(self) -> dict[str, t.Any]:
        return self.states[-1]

    def bookmark(self, stream: str, instance: str | None = None) -> str | None:
        return bookmark_of(self.final_state, stream, instance)


def bookmark_of(state: dict[str, t.Any], stream: str, instance: str | None = None) -> str | None:
    entry = state.get("bookmarks", {}).get(stream, {})
    if instance is not None:
        entry = next(
            (p for p in entry.get("partitions", []) if p["context"]["instance_url"] == instance),
            {},
        )
    value = entry.get("replication_key_value")
    return None if value is None else str(value)


def run_sync(
    config: dict[str, t.Any],
    *,
    state: dict[str, t.Any] | None = None,
    streams: t.Iterable[str] | None = None,
    parse_float: t.Callable[[str], t.Any] | None = None,
    catalog: dict[str, t.Any] | None = None,
) -> SyncResult:
    """Run a full sync in-process and return its Singer messages.

    Args:
        config: Tap configuration.
        state: Incoming state.
        streams: Streams to select (default: the tap's default selection).
        parse_float: How to decode non-integer JSON numbers (e.g. ``decimal.Decimal``).
        catalog: Input catalog (its selection applies to streams and fields).
    """
    tap = TapAIAnalytics(config=config, state=state, catalog=catalog, parse_env_config=False)
    if streams is not None:
        wanted = set(streams)
        for stream in tap.streams.values():
            stream.selected = stream.name in wanted
    stdout = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    real_stdout, sys.stdout = sys.stdout, stdout
    try:
        tap.sync_all()
        # RECORDs still buffered when no message follows them (a run ending without a new
        # STATE): the CLI writes them at exit; an in-process run must collect them here.
        _write_pending_records()
    finally:
        sys.stdout = real_stdout
    stdout.flush()
    lines = stdout.buffer.getvalue().decode().splitlines()
    return SyncResult([json.loads(line, parse_float=parse_float) for line in lines if line])


def requests_to(sb: Sandbox, path: str) -> list[dict[str, str]]:
    """The query parameters of every request the sandbox received on ``path``."""
    return [r.params for r in sb.requests if r.path == path]
