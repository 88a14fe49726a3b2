"""Records written in batches are what the SDK would write, and STATE never overtakes them."""

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
from tap_ai_analytics.output import BatchedRecords, BufferedMsgSpecWriter
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


def records(stream: Stream, **options: t.Any) -> list[t.Any]:
    """The test CSV's records: dicts, or as ``options`` make them (``as_structs``, ``omit``)."""
    return list(
        read_report(
            CSV,
            fields=stream.schema["properties"],
            key_columns=(USER_ID, TIMESTAMP_DATE, CLIENT_NAME, LANGUAGE),
            constants={"instance_url": "one.example"},
            where="test",
            **options,
        )
    )


def sdk_lines(stream: Stream, record: dict[str, t.Any]) -> list[bytes]:
    """The SDK's own RECORD messages for ``record``, encoded as its msgspec writer does."""
    messages = Stream._generate_record_messages(stream, copy.deepcopy(record))
    return [bytes(serialize_jsonl(message.to_dict())) for message in messages]


def batch_lines(stream: BatchedRecords) -> list[bytes]:
    """What the tap's stream writes for the test CSV, in one batch."""
    batches = stream.record_batches()
    assert batches is not None
    rows = records(stream, omit=batches.deselected, as_structs=True)
    lines: bytes = batches.encode(rows)
    return lines.splitlines(keepends=True)


def syncing(tap: TapAIAnalytics) -> BatchedRecords:
    """The test stream, as its sync loop sees it (the SDK has opened its record counter)."""
    stream = tap.streams[STREAM]
    assert isinstance(stream, BatchedRecords)
    stream.get_record_counter()
    return stream


def assert_same_as_sdk(stream: BatchedRecords) -> list[dict[str, t.Any]]:
    """The batch's lines equal the SDK's messages; returns the records written."""
    rows = records(stream)
    assert rows
    started = time.time()
    ours = batch_lines(stream)
    ended = time.time()
    theirs = [line for record in rows for line in sdk_lines(stream, record)]
    assert len(ours) == len(rows)
    # Byte for byte, but for the extraction time: same fields, order and values.
    assert [TIME_EXTRACTED.sub(b"", line) for line in ours] == [
        TIME_EXTRACTED.sub(b"", line) for line in theirs
    ]
    for line in ours:
        stamp = json.loads(line)["time_extracted"].replace("Z", "+00:00")  # Python 3.10
        extracted = dt.datetime.fromisoformat(stamp)
        assert started - 0.01 <= extracted.timestamp() <= ended + 0.01
    return [json.loads(line)["record"] for line in ours]


def test_batched_records_equal_the_sdks() -> None:
    written = assert_same_as_sdk(syncing(make_tap()))
    assert written[0]["extra_columns"] == {"deep_search_events": "2"}
    assert written[0]["username"] == "ann"


def test_the_version_of_a_full_table_stream_is_in_every_record() -> None:
    tap = make_tap(emit_activate_version_messages=True)
    stream = syncing(tap)
    stream._stream_version = 1234  # set by the SDK when a FULL_TABLE sync starts
    lines = batch_lines(stream)
    assert {json.loads(line)["version"] for line in lines} == {1234}
    assert_same_as_sdk(stream)


def test_a_deselected_property_is_dropped_as_the_sdk_drops_it() -> None:
    stream = syncing(make_tap())
    stream.metadata["properties", "username"].selected = False
    stream._mask = None
    written = assert_same_as_sdk(stream)
    batches = stream.record_batches()
    assert batches is not None
    assert batches.deselected == ("username",)
    assert all("username" not in record for record in written)


@pytest.mark.parametrize(
    ("config", "change"),
    [
        ({"stream_maps": {STREAM: {"user_email": None}}}, None),
        ({"flattening_enabled": True, "flattening_max_depth": 1}, None),
        ({"batch_config": {"encoding": {"format": "jsonl"}, "storage": {"root": "file://"}}}, None),
        ({}, "dry run"),
        ({}, "not syncing"),
        ({}, "not selected"),
        ({}, "nested deselected"),
    ],
)
def test_records_the_sdk_must_see_are_yielded_to_it(
    config: dict[str, t.Any], change: str | None
) -> None:
    """Stream maps, flattening, BATCH messages, a record limit... need the SDK's loop."""
    tap = make_tap(**config)
    stream = (
        t.cast("BatchedRecords", tap.streams[STREAM]) if change == "not syncing" else syncing(tap)
    )
    if change == "dry run":
        stream.ABORT_AT_RECORD_COUNT = 1
    elif change == "not selected":
        stream.selected = False
    elif change == "nested deselected":
        stream.metadata["properties", "extra_columns", "properties", "x"] = copy.copy(
            stream.metadata["properties", "username"]
        )
        stream.metadata["properties", "extra_columns", "properties", "x"].selected = False
        stream._mask = None
    assert stream.record_batches() is None


def test_a_batch_is_written_after_the_pending_records_and_counted() -> None:
    tap = make_tap()
    stream = syncing(tap)
    batches = stream.record_batches()
    assert batches is not None
    with captured_stdout() as out:
        tap.message_writer.write_message(RecordMessage(stream="s", record={"n": 0}))
        batches.write(batches.encode(records(stream, as_structs=True)), 2)
        tap.message_writer.write_message(StateMessage(value={}))
    types = [
        json.loads(line)["stream" if b"RECORD" in line else "type"]
        for line in out.sent.splitlines()
    ]
    assert types == ["s", STREAM, STREAM, "STATE"]
    assert batches.counter.value == 2  # the SDK's record_count metric


def test_state_never_precedes_the_records_before_it() -> None:
    writer = BufferedMsgSpecWriter()
    big = "x" * 1000
    expected: list[tuple[str, int]] = []
    with captured_stdout() as out:
        for batch in range(3):
            # Enough records to fill several chunks, by both RECORD paths.
            for number in range(3 * writer.CHUNK_BYTES // 1000):
                record = {"n": number, "text": big}
                if number % 2:
                    writer.write_lines(
                        json.dumps({"type": "RECORD", "record": record}).encode() + b"\n"
                    )
                else:
                    writer.write_message(RecordMessage(stream="s", record=record))
                expected.append(("RECORD", number))
            writer.write_message(RecordMessage(stream="s", record={"n": -1}))
            expected.append(("RECORD", -1))
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
        writer.write_message(RecordMessage(stream="s", record={"n": 1}, version=5))
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
    with captured_stdout() as out:
        writer.write_message(RecordMessage(stream="s", record={"n": 1}))
        with pytest.raises(RuntimeError):
            writer.write_message(RecordMessage(stream="s", record={"bad": Unprintable()}))
        writer.write_message(StateMessage(value={}))
    lines = [json.loads(line) for line in out.sent.splitlines()]
    assert [m["type"] for m in lines] == ["RECORD", "STATE"]


def counting_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of each batch of records written from now on."""
    batches: list[int] = []
    write = output.RecordBatches.write

    def counting(self: output.RecordBatches, lines: bytes, count: int) -> None:
        batches.append(count)
        write(self, lines, count)

    monkeypatch.setattr(output.RecordBatches, "write", counting)
    return batches


def test_a_sync_writes_what_the_sdk_would(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = sourcegraph_config(sandbox, start_date=days_before(3))
    batches = counting_batches(monkeypatch)
    ours = run_sync(config, streams=[STREAM]).messages
    assert sum(batches) == sum(m["type"] == "RECORD" for m in ours)  # all of them in batches
    monkeypatch.setattr(TapAIAnalytics, "message_writer_class", MsgSpecWriter)
    monkeypatch.setattr(
        SourcegraphStream, "generate_child_contexts", Stream.generate_child_contexts
    )
    theirs = run_sync(config, streams=[STREAM]).messages
    for message in ours + theirs:
        message.pop("time_extracted", None)
    assert sum(m["type"] == "RECORD" for m in ours) > 10
    assert ours == theirs


def test_a_full_table_stream_s_records_carry_its_activate_version(sandbox: Sandbox) -> None:
    config = sourcegraph_config(sandbox, emit_activate_version_messages=True)
    messages = run_sync(config, streams=["sourcegraph_user_registry"]).messages
    (activate,) = [m for m in messages if m["type"] == "ACTIVATE_VERSION"]
    versions = {m.get("version") for m in messages if m["type"] == "RECORD"}
    assert versions == {activate["version"]}


def test_a_deselected_property_is_left_out_of_a_sync_as_the_sdk_leaves_it_out(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = sourcegraph_config(sandbox, start_date=days_before(3))
    catalog = TapAIAnalytics(config=config, parse_env_config=False).catalog_dict
    for entry in catalog["streams"]:
        for item in entry["metadata"]:
            if entry["tap_stream_id"] != STREAM:
                item["metadata"]["selected"] = False
            elif item["breadcrumb"] in ([], ["properties", "username"]):
                item["metadata"]["selected"] = item["breadcrumb"] == []
    batches = counting_batches(monkeypatch)
    ours = run_sync(config, catalog=catalog).messages
    rows = [m["record"] for m in ours if m["type"] == "RECORD"]
    assert rows
    assert sum(batches) == len(rows)
    assert all("username" not in row and "user_email" in row for row in rows)
    monkeypatch.setattr(TapAIAnalytics, "message_writer_class", MsgSpecWriter)
    theirs = run_sync(config, catalog=catalog).messages
    for message in ours + theirs:
        message.pop("time_extracted", None)
    assert ours == theirs
