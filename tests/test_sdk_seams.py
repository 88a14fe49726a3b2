"""The private Singer SDK seams the tap relies on (tap_ai_analytics/sdk_seams.py).

Each test fails loudly if an SDK upgrade renames a seam, changes its signature, or stops
calling it on the path the tap relies on, instead of letting the behaviour silently go.
Also: the SDK's HTTP request metrics, which the tap logs through the SDK's public helpers.
"""

from __future__ import annotations

import datetime as dt
import inspect
import logging
import signal
import typing as t

import pytest
from singer_sdk import Tap, metrics
from singer_sdk.plugin_base import PluginBase
from singer_sdk.streams.core import Stream

from tap_ai_analytics import sdk_seams
from tap_ai_analytics.output import BufferedMsgSpecWriter
from tap_ai_analytics.tap import TapAIAnalytics
from tests.conftest import augment_config, run_sync, sourcegraph_config

if t.TYPE_CHECKING:
    from sandbox import Sandbox

AUGMENT = "augment_dau_count"
SOURCEGRAPH = "sourcegraph_usage_by_user_day_client_language"


def _parameters(function: t.Callable[..., object]) -> list[tuple[str, t.Any]]:
    return [(p.name, p.kind) for p in inspect.signature(function).parameters.values()]


POSITIONAL = inspect.Parameter.POSITIONAL_OR_KEYWORD
KEYWORD = inspect.Parameter.KEYWORD_ONLY


@pytest.mark.parametrize(
    ("function", "expected"),
    [
        (
            Stream._increment_stream_state,
            [("self", POSITIONAL), ("latest_record", POSITIONAL), ("context", KEYWORD)],
        ),
        (
            PluginBase._handle_termination,
            [("self", POSITIONAL), ("signum", POSITIONAL), ("frame", POSITIONAL)],
        ),
        (Tap.sync_all, [("self", POSITIONAL)]),
        (PluginBase._validate_config, [("self", POSITIONAL), ("raise_errors", KEYWORD)]),
    ],
    ids=lambda value: getattr(value, "__qualname__", ""),
)
def test_each_overridden_sdk_method_keeps_its_signature(
    function: t.Callable[..., object], expected: list[tuple[str, t.Any]]
):
    assert _parameters(function) == expected


def _both_vendors(sb: Sandbox) -> dict[str, t.Any]:
    start = sb.today - dt.timedelta(days=2)
    return {**augment_config(sb), **sourcegraph_config(sb), "start_date": start.isoformat()}


def test_every_seam_is_reached_by_a_sync(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch):
    """A small sync of both vendors goes through every seam the tap overrides or reads."""
    calls: dict[str, int] = dict.fromkeys(
        (
            "_increment_stream_state",
            "_stream_version",
            "after_sync_all",
            "_tap",
            "_validate_config",
        ),
        0,
    )

    def counting(owner: type, name: str) -> None:
        original = getattr(owner, name)

        def spy(*args: t.Any, **kwargs: t.Any) -> t.Any:
            calls[name] += 1
            return original(*args, **kwargs)

        monkeypatch.setattr(owner, name, spy)

    counting(sdk_seams.PerWindowState, "_increment_stream_state")
    version_of = sdk_seams.stream_version

    def spy_version(stream: Stream) -> int | None:
        calls["_stream_version"] += 1
        return version_of(stream)

    monkeypatch.setattr("tap_ai_analytics.output.stream_version", spy_version)
    counting(TapAIAnalytics, "after_sync_all")
    counting(sdk_seams.OwnConfigValidation, "_validate_config")
    writer_of = sdk_seams.tap_message_writer

    def spy_writer(stream: Stream) -> t.Any:
        calls["_tap"] += 1
        writer = writer_of(stream)
        assert isinstance(writer, BufferedMsgSpecWriter)  # records go out in batches
        return writer

    monkeypatch.setattr("tap_ai_analytics.output.tap_message_writer", spy_writer)
    result = run_sync(_both_vendors(sandbox), streams=[AUGMENT, SOURCEGRAPH])
    assert result.records[AUGMENT]
    assert result.records[SOURCEGRAPH]
    assert all(count > 0 for count in calls.values()), calls


def test_private_attributes_read_by_batched_records_exist(sandbox: Sandbox):
    tap = TapAIAnalytics(config=sourcegraph_config(sandbox), parse_env_config=False)
    stream = tap.streams[SOURCEGRAPH]
    assert stream._tap is tap
    assert sdk_seams.stream_version(stream) is None  # until a FULL_TABLE sync sets it
    stream._stream_version = 7
    assert sdk_seams.stream_version(stream) == 7


def test_the_signal_handler_is_the_tap_s(sandbox: Sandbox):
    """The SDK installs ``_handle_termination`` for SIGTERM and SIGINT (main thread)."""
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        tap = TapAIAnalytics(config=augment_config(sandbox), parse_env_config=False)
        for signum in previous:
            handler = signal.getsignal(signum)
            assert getattr(handler, "__func__", None) is (
                sdk_seams.ExitStatusOnSignal._handle_termination
            )
            assert getattr(handler, "__self__", None) is tap
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def test_http_request_metrics_for_both_vendors(sandbox: Sandbox, caplog: pytest.LogCaptureFixture):
    """The SDK's http_request_duration and http_request_count points, per vendor."""
    caplog.set_level(logging.INFO, logger=metrics.METRICS_LOGGER_NAME)
    run_sync(_both_vendors(sandbox), streams=[AUGMENT, SOURCEGRAPH])
    points = [
        record.args[0]
        for record in caplog.records
        if record.name == metrics.METRICS_LOGGER_NAME
        and isinstance(record.args, tuple)
        and isinstance(record.args[0], metrics.Point)
    ]
    for stream in (AUGMENT, SOURCEGRAPH):
        mine = [p for p in points if p.tags.get(metrics.Tag.STREAM) == stream]
        durations = [p for p in mine if p.metric == metrics.Metric.HTTP_REQUEST_DURATION]
        counts = [p for p in mine if p.metric == metrics.Metric.HTTP_REQUEST_COUNT]
        assert durations, stream
        assert all(p.tags[metrics.Tag.HTTP_STATUS_CODE] == 200 for p in durations)
        assert all(p.tags[metrics.Tag.ENDPOINT].startswith("/") for p in durations)
        assert sum(p.value for p in counts) == len(durations), stream
