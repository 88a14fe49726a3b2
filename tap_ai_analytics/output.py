"""Singer output for millions of records: RECORD messages in chunks, encoded in batches.

Two pieces, each replacing per-record work whose answer does not change per record:

* :class:`BufferedMsgSpecWriter` is the SDK's msgspec writer, except that RECORD
  messages collect in a buffer written to stdout in chunks of :attr:`CHUNK_BYTES`
  instead of being flushed one by one. (Even unflushed, stdout's own 8 KiB buffer makes
  a system call, and wakes the reading target, every few records: 2.2 s of system CPU
  per million records through a pipe, against 0.6 s in 64 KiB chunks.) Any other
  message (STATE, SCHEMA, ...) first writes the pending records and is then flushed,
  so a STATE never reaches the target before the records it covers; pending
  records are also written at exit. A killed run loses at most the records written
  after the last STATE, which the next run reads again from that STATE. A target that
  stops reading (a broken pipe) ends the run with :class:`TargetStoppedReadingError`.
* :class:`RecordBatches` writes a stream's records a batch at a time: one msgspec call
  encodes a batch into its RECORD lines, byte for byte what the SDK writes for each
  record, and the batch reaches stdout in one write. A stream that uses it
  (:class:`BatchedRecords`) hands its records to it instead of yielding them to the
  SDK, whose loop otherwise spends several microseconds on each record (a message
  object, the selection mask, stream maps, type conformance, metrics, child contexts):
  most of the CPU of a million-row report. It applies only when that loop would do
  nothing else with the records (:meth:`BatchedRecords.record_batches` checks);
  otherwise the stream yields its records as usual.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import itertools
import os
import sys
import typing as t
import weakref

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecWriter, enc_hook
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.metrics import DEFAULT_LOG_INTERVAL
from singer_sdk.singerlib import RecordMessage
from singer_sdk.streams.core import Stream

from tap_ai_analytics.compat import override
from tap_ai_analytics.errors import TapError
from tap_ai_analytics.sdk_seams import stream_version, tap_message_writer

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from singer_sdk import metrics
    from singer_sdk.singerlib.encoding.simple import Message

    _P = t.ParamSpec("_P")

#: Records encoded per msgspec call: about 60 KB of RECORD lines (a pipe holds 64 KiB)
#: for the widest Sourcegraph report, so each batch is one write.
BATCH_RECORDS = 64

_writers: weakref.WeakSet[BufferedMsgSpecWriter] = weakref.WeakSet()


#: The one line reported when the target closes its end of the pipe (``tap | head -1``).
TARGET_STOPPED_READING = (
    "The target stopped reading (the tap's output pipe was closed), so the sync stopped; "
    "the next run resumes from the last STATE the target received."
)


class TargetStoppedReadingError(TapError):
    """stdout is a pipe whose reader, the Singer target, has gone away."""


@atexit.register
def _write_pending_records() -> None:
    """At exit, write what any writer still holds (Python then flushes stdout).

    A target that stopped reading was reported already, or no longer cares.
    """
    with contextlib.suppress(TargetStoppedReadingError):
        for writer in list(_writers):
            writer.write_pending()


def _write_stdout(data: bytes | bytearray, *, flush: bool = False) -> None:
    """Write bytes to stdout; a reader that went away becomes one clear error.

    Raises:
        TargetStoppedReadingError: If the pipe is broken. stdout then goes to the null
            device, so that nothing written later (a final STATE, the buffered bytes
            Python flushes at exit) fails again with a traceback.
    """
    try:
        sys.stdout.buffer.write(data)
        if flush:
            sys.stdout.flush()
    except BrokenPipeError:
        _discard_stdout()
        raise TargetStoppedReadingError(TARGET_STOPPED_READING) from None


def _discard_stdout() -> None:
    with contextlib.suppress(OSError, ValueError):  # not a real file: nothing to redirect
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)


def _encoder() -> msgspec.json.Encoder:
    """An encoder with the SDK's settings (``serialize_jsonl``)."""
    return msgspec.json.Encoder(enc_hook=enc_hook, decimal_format="number")


class BufferedMsgSpecWriter(MsgSpecWriter):
    """Write Singer messages with msgspec: RECORDs in chunks, anything else flushed."""

    #: Pending RECORD bytes that trigger a write (a Linux pipe holds 64 KiB).
    CHUNK_BYTES = 1 << 16

    def __init__(self) -> None:
        """Start with nothing pending."""
        self.pending = bytearray()
        self._encode_into = _encoder().encode_into
        _writers.add(self)

    @override
    def write_message(self, message: Message) -> None:
        """Write a message: a RECORD to the pending chunk, anything else at once.

        Args:
            message: The message to write.
        """
        if isinstance(message, RecordMessage):
            pending = self.pending
            end = len(pending)
            try:
                self._encode_into(message.to_dict(), pending, -1)
            except BaseException:
                del pending[end:]  # never half a message
                raise
            pending += b"\n"
            if len(pending) >= self.CHUNK_BYTES:
                self.write_pending()
        else:
            self.write_pending()
            _write_stdout(self.format_message(message), flush=True)

    def write_lines(self, lines: bytes | bytearray) -> None:
        """Write whole RECORD lines encoded elsewhere, after the pending ones (not flushed).

        Args:
            lines: Complete messages, each ending with a newline.
        """
        self.write_pending()
        _write_stdout(lines)

    def write_pending(self) -> None:
        """Write the pending RECORD messages to stdout (not flushed)."""
        if self.pending:
            try:
                _write_stdout(self.pending)
            finally:
                self.pending.clear()


class _RecordMessage(msgspec.Struct, tag_field="type", tag="RECORD", omit_defaults=True, gc=False):
    """A RECORD message as ``RecordMessage.to_dict()`` has it: same keys, same order."""

    stream: str
    record: t.Any  # a dict, or a struct that encodes as one
    version: int | None = None
    time_extracted: dt.datetime | None = None


class RecordBatches:
    """One stream's records, encoded and written a batch at a time.

    :meth:`encode` (in any one thread, e.g. a download's) turns a batch of records into
    their RECORD lines; :meth:`write` (in the stream's thread) writes them and counts them
    in the SDK's ``record_count`` metric. Each line is byte for byte what the SDK's
    msgspec writer writes for the record, except ``time_extracted``: the time the batch
    was encoded, at most one batch's parsing time after the record was read.
    """

    def __init__(
        self,
        writer: BufferedMsgSpecWriter,
        counter: metrics.Counter,
        *,
        stream_alias: str,
        deselected: tuple[str, ...],
        version: int | None,
    ) -> None:
        """Resolve what every RECORD message of the stream has in common.

        Args:
            writer: The tap's writer.
            counter: The stream's record counter (the SDK's ``record_count`` metric).
            stream_alias: The stream name in the messages.
            deselected: The stream's deselected top-level properties (the records given
                to :meth:`encode` must leave them out).
            version: The stream's ACTIVATE_VERSION, if any.
        """
        self.writer = writer
        self.counter = counter
        self.stream_alias = stream_alias
        self.deselected = deselected
        self.version = version
        self._encode_lines = _encoder().encode_lines

    def encode(self, records: list[t.Any]) -> bytes:
        """The RECORD lines of ``records``.

        Args:
            records: Records (dicts, or msgspec structs that encode as the dicts), without
                the :attr:`deselected` properties.
        """
        return self._encode_lines(
            list(
                map(
                    _RecordMessage,
                    itertools.repeat(self.stream_alias),
                    records,
                    itertools.repeat(self.version),
                    itertools.repeat(dt.datetime.now(dt.timezone.utc)),
                )
            )
        )

    def encoding(
        self, make_records: Callable[_P, Iterable[t.Any]]
    ) -> Callable[_P, Iterator[tuple[bytes, int]]]:
        """``make_records``, made to return batches of RECORD lines and their sizes."""

        def batches(*args: _P.args, **kwargs: _P.kwargs) -> Iterator[tuple[bytes, int]]:
            records = iter(make_records(*args, **kwargs))
            while batch := list(itertools.islice(records, BATCH_RECORDS)):
                yield self.encode(batch), len(batch)

        return batches

    def write(self, lines: bytes | bytearray, count: int) -> None:
        """Write a batch's RECORD lines and count its ``count`` records."""
        self.writer.write_lines(lines)
        self.counter.increment(count)


class BatchedRecords(Stream):
    """A stream that may write its records in batches (:meth:`record_batches`)."""

    _record_counter: metrics.Counter | None = None

    @override
    def get_record_counter(
        self, *, endpoint: str | None = None, log_interval: float = DEFAULT_LOG_INTERVAL
    ) -> metrics.Counter:
        """The SDK's record counter, kept for :class:`RecordBatches` to count into.

        Args:
            endpoint: The endpoint name to include in metrics.
            log_interval: The interval at which to log the count.

        Returns:
            The counter the SDK's sync loop opens for this stream.
        """
        self._record_counter = super().get_record_counter(
            endpoint=endpoint, log_interval=log_interval
        )
        return self._record_counter

    def record_batches(self) -> RecordBatches | None:
        """How to write this sync's records in batches, when the SDK's loop adds nothing.

        Called from ``get_records``. The SDK's per-record work is all skipped, so this
        holds only when none of it applies: the stream is selected and syncing through
        the SDK's loop (not a dry run with a record limit, not BATCH messages), its
        records already match its schema (type conformance NONE) and need no post
        processing, it has no child streams, no stream maps, no flattening, and any
        deselected property is top-level.

        Returns:
            The batch writer, or None: yield the records to the SDK as usual.
        """
        writer = tap_message_writer(self)
        counter = self._record_counter
        if (
            not isinstance(writer, BufferedMsgSpecWriter)
            or counter is None
            or not self.selected
            or self.ABORT_AT_RECORD_COUNT is not None
            or self.get_batch_config(self.config)
            or self.TYPE_CONFORMANCE_LEVEL != TypeConformanceLevel.NONE
            or type(self).post_process is not Stream.post_process
            or self.child_streams
        ):
            return None
        maps = self.stream_maps
        if len(maps) != 1 or type(maps[0]) is not SameRecordTransform:
            return None  # the user configured stream maps
        if maps[0].flattening_enabled:
            return None
        deselected = []
        for breadcrumb, selected in self.mask.items():
            if selected:
                continue
            if len(breadcrumb) != 2:  # noqa: PLR2004 - ("properties", name)
                return None  # a nested property (or the stream): the SDK's recursive walk
            deselected.append(breadcrumb[1])
        return RecordBatches(
            writer,
            counter,
            stream_alias=maps[0].stream_alias,
            deselected=tuple(deselected),
            version=stream_version(self),
        )


__all__ = ["BatchedRecords", "BufferedMsgSpecWriter", "RecordBatches"]
