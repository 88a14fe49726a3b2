"""The lean RECORD path writes what the SDK would, and STATE never overtakes its records."""

from __future__ import annotations

import contextlib
import copy
import datetime as dt
import io
import json
import re
import sys
import time
import typing as t

import pytest
from singer_sdk.contrib.msgspec import MsgSpecWriter, serialize_jsonl
from singer_sdk.singerlib import RecordMessage, StateMessage
from singer_sdk.streams.core import Stream

from tap_ai_analytics import output
from tap_ai_analytics.compat import override
from tap_ai_analytics.csvreport import read_report
from tap_ai_analytics.output import CLOCK_RESOLUTION, BufferedMsgSpecWriter
from tap_ai_analytics.schemas import CLIENT_NAME, LANGUAGE, TIMESTAMP_DATE, USER_ID
from tap_ai_analytics.streams.sourcegraph import SourcegraphStream
from tap_ai_analytics.tap import TapAIAnalytics
from tests.conftest import days_before, run_sync, sourcegraph_config

if t.TYPE_CHECKING:
    from sandbox import Sandbox

STREAM = "sourcegraph_usage_by_user_day_client_language"
CSV = [
    (
        "Instance user ID,User Email,Username,Active Sourcegraph User,Client Name,"
        "Timestamp Date,Language,Searches,Combined CAR,Deep Search Events\n"
    ),
    "7,a@b.example,ann,true,vscode.cody,2025-10-01,go,3,0.25,2\n",
    "8,,,false,jetbrains.cody,2025-10-01,,,,\n",
]
TIME_EXTRACTED = re.compile(rb',"time_extracted":"[^"]*"')


class Stdout:
    """sys.stdout as a process has it: text over a buffered writer; ``sent`` is what left."""

    def __init__(self) -> None:
        self.raw = io.BytesIO()
        self.text = io.TextIOWrapper(
            io.BufferedWriter(t.cast("io.RawIOBase", self.raw)), encoding="utf-8"
        )

    @property
    def sent(self) -> bytes:
        """The bytes a reading target has received (written through, not buffered)."""
        return self.raw.getvalue()


@contextlib.contextmanager
def captured_stdout() -> t.Iterator[Stdout]:
    """Replace sys.stdout (inside a test's body: pytest swaps it between test phases)."""
    out = Stdout()
    real = sys.stdout
    sys.stdout = out.text
    try:
        yield out
    finally:
        sys.stdout = real


def make_tap(**config: t.Any) -> TapAIAnalytics:
    base = {
        "sourcegraph_access_token": "sgp_test",
        "sourcegraph_api_url": "http://127.0.0.1:9",
        "sourcegraph_instance_urls": ["one.example"],
        "start_date": days_before(3),
    }
    return TapAIAnalytics(config=base | config, parse_env_config=False)


def records(stream: Stream) -> list[dict[str, t.Any]]:
    return list(
        read_report(
            CSV,
            fields=stream.schema["properties"],
            key_columns=(USER_ID, TIMESTAMP_DATE, CLIENT_NAME, LANGUAGE),
            constants={"instance_url": "one.example"},
            where="test",
        )
    )


def sdk_lines(stream: Stream, record: dict[str, t.Any]) -> list[bytes]:
    """The SDK's own RECORD messages for ``record``, encoded as its msgspec writer does."""
    messages = Stream._generate_record_messages(stream, copy.deepcopy(record))
    return [bytes(serialize_jsonl(message.to_dict())) for message in messages]


def tap_lines(
    tap: TapAIAnalytics, stream: Stream, record: dict[str, t.Any], out: Stdout
) -> list[bytes]:
    """What the tap's stream writes for ``record``."""
    before = len(out.sent)
    stream._write_record_message(copy.deepcopy(record))
    tap.message_writer.write_message(StateMessage(value={"flush": True}))
    lines = out.sent[before:].splitlines(keepends=True)
    assert json.loads(lines[-1])["type"] == "STATE"
    return lines[:-1]


def assert_same_as_sdk(tap: TapAIAnalytics, out: Stdout) -> Stream:
    stream = tap.streams[STREAM]
    rows = records(stream)
    assert rows
    for record in rows:
        started = time.time()
        ours = tap_lines(tap, stream, record, out)
        ended = time.time()
        theirs = sdk_lines(stream, record)
        assert ours
        # Byte for byte, but for the extraction time: same fields, order and values.
        assert [TIME_EXTRACTED.sub(b"", line) for line in ours] == [
            TIME_EXTRACTED.sub(b"", line) for line in theirs
        ]
        for line in ours:
            stamp = json.loads(line)["time_extracted"].replace("Z", "+00:00")  # Python 3.10
            extracted = dt.datetime.fromisoformat(stamp)
            assert started - CLOCK_RESOLUTION - 0.01 <= extracted.timestamp() <= ended + 0.01
    return stream


def test_lean_records_equal_the_sdks() -> None:
    tap = make_tap()
    with captured_stdout() as out:
        stream = assert_same_as_sdk(tap, out)
        record = json.loads(tap_lines(tap, stream, records(stream)[0], out)[0])["record"]
    assert stream.__dict__["_lean_record_plan"] is not None  # the lean path was taken
    assert record["extra_columns"] == {"deep_search_events": "2"}
    assert record["username"] == "ann"


def test_a_deselected_property_is_dropped_as_the_sdk_drops_it() -> None:
    tap = make_tap()
    stream = tap.streams[STREAM]
    stream.metadata["properties", "username"].selected = False
    stream._mask = None
    with captured_stdout() as out:
        assert_same_as_sdk(tap, out)
        line = tap_lines(tap, stream, records(stream)[0], out)[0]
    assert stream.__dict__["_lean_record_plan"].deselected == ("username",)
    assert "username" not in json.loads(line)["record"]


def test_stream_maps_take_the_sdks_path() -> None:
    maps = {STREAM: {"searches_twice": "searches * 2 if searches else 0", "user_email": None}}
    tap = make_tap(stream_maps=maps)
    with captured_stdout() as out:
        stream = assert_same_as_sdk(tap, out)
        record = json.loads(tap_lines(tap, stream, records(stream)[0], out)[0])["record"]
    assert stream.__dict__["_lean_record_plan"] is None
    assert record["searches_twice"] == 6
    assert "user_email" not in record


def test_flattening_takes_the_sdks_path() -> None:
    tap = make_tap(flattening_enabled=True, flattening_max_depth=1)
    with captured_stdout() as out:
        stream = assert_same_as_sdk(tap, out)
        record = json.loads(tap_lines(tap, stream, records(stream)[0], out)[0])["record"]
    assert stream.__dict__["_lean_record_plan"] is None
    assert record["extra_columns__deep_search_events"] == "2"


def test_state_never_precedes_the_records_before_it() -> None:
    writer = BufferedMsgSpecWriter()
    prefix = writer.record_prefix("s")
    big = {"text": "x" * 1000}
    expected: list[tuple[str, int]] = []
    with captured_stdout() as out:
        for batch in range(3):
            # Enough records to fill several chunks, by both RECORD paths.
            for number in range(3 * writer.CHUNK_BYTES // 1000):
                if number % 2:
                    writer.write_record(prefix, {"n": number, **big}, None)
                else:
                    writer.write_message(RecordMessage(stream="s", record={"n": number, **big}))
                expected.append(("RECORD", number))
            # Full chunks went out, whole lines only; the last records are still pending.
            assert out.sent.endswith(b"\n")
            assert writer.pending
            writer.write_message(StateMessage(value={"batch": batch}))
            expected.append(("STATE", batch))
            # At a STATE, everything written so far has left the process, in order.
            sent = [json.loads(line) for line in out.sent.splitlines()]
            assert [
                (m["type"], m["record"]["n"] if m["type"] == "RECORD" else m["value"]["batch"])
                for m in sent
            ] == expected


def test_records_wait_for_a_state_or_a_full_chunk_then_exit() -> None:
    writer = BufferedMsgSpecWriter()
    with captured_stdout() as out:
        writer.write_record(writer.record_prefix("s"), {"n": 1}, 5)
        out.text.flush()
        assert out.sent == b""
        output._write_pending_records()  # at exit, before Python flushes stdout
        out.text.flush()
    message = json.loads(out.sent.splitlines()[-1])
    assert message["record"] == {"n": 1}
    assert message["version"] == 5


def test_a_record_that_cannot_be_encoded_leaves_no_partial_line() -> None:
    class Unprintable:
        @override
        def __str__(self) -> str:
            raise RuntimeError

    writer = BufferedMsgSpecWriter()
    prefix = writer.record_prefix("s")
    with captured_stdout() as out:
        writer.write_record(prefix, {"n": 1}, None)
        with pytest.raises(RuntimeError):
            writer.write_record(prefix, {"n": 2, "bad": Unprintable()}, None)
        with pytest.raises(RuntimeError):
            writer.write_message(RecordMessage(stream="s", record={"bad": Unprintable()}))
        writer.write_message(StateMessage(value={}))
    lines = [json.loads(line) for line in out.sent.splitlines()]
    assert [m["type"] for m in lines] == ["RECORD", "STATE"]


def test_a_sync_writes_what_the_sdk_would(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = sourcegraph_config(sandbox, start_date=days_before(3))
    ours = run_sync(config, streams=[STREAM]).messages
    monkeypatch.setattr(TapAIAnalytics, "message_writer_class", MsgSpecWriter)
    monkeypatch.setattr(SourcegraphStream, "_write_record_message", Stream._write_record_message)
    monkeypatch.setattr(
        SourcegraphStream, "generate_child_contexts", Stream.generate_child_contexts
    )
    theirs = run_sync(config, streams=[STREAM]).messages
    for message in ours + theirs:
        message.pop("time_extracted", None)
    assert sum(m["type"] == "RECORD" for m in ours) > 10
    assert ours == theirs
