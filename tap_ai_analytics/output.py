"""Singer output for millions of records: RECORD messages in chunks, written lean.

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
* :func:`write_lean_record` is ``Stream._write_record_message`` with the
  selection mask and stream maps resolved once per stream instead of once per record,
  and no ``RecordMessage`` object, generator or tap dispatch per record: the line is
  the encoded record between a per-stream prefix and a suffix re-encoded only when the
  clock ticks, byte for byte what encoding the SDK's message gives. Streams whose records already
  match their schema (``TYPE_CONFORMANCE_LEVEL`` NONE) use it; any case it does not
  cover (user stream maps, flattening, deselected nested properties, another writer)
  goes through the SDK's own code unchanged.

``time_extracted`` of a lean RECORD comes from a clock read per record (``time.time``)
but converted to a datetime at most every :data:`CLOCK_RESOLUTION` seconds: a record's
``time_extracted`` is the time it was extracted, up to that much earlier.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import os
import sys
import time
import typing as t
import weakref

import msgspec
from singer_sdk.contrib.msgspec import MsgSpecWriter, enc_hook
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib import RecordMessage

from tap_ai_analytics.compat import override
from tap_ai_analytics.errors import TapError
from tap_ai_analytics.sdk_seams import tap_message_writer

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Record
    from singer_sdk.singerlib.encoding.simple import Message
    from singer_sdk.streams.core import Stream

#: A lean RECORD's ``time_extracted`` is at most this many seconds before the read.
CLOCK_RESOLUTION = 0.1

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


class BufferedMsgSpecWriter(MsgSpecWriter):
    """Write Singer messages with msgspec: RECORDs in chunks, anything else flushed."""

    #: Pending RECORD bytes that trigger a write (a Linux pipe holds 64 KiB).
    CHUNK_BYTES = 1 << 16

    def __init__(self) -> None:
        """Start with nothing pending."""
        self.pending = bytearray()
        # The SDK's encoder settings (serialize_jsonl).
        self.encoder = msgspec.json.Encoder(enc_hook=enc_hook, decimal_format="number")
        self._encode_into = self.encoder.encode_into
        self._version: int | None = None  # the version and time of ``_suffix``
        self._stale_at = 0.0  # time.time() from which ``_suffix`` is too old
        self._suffix = b""
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
                del pending[end:]
                raise
            pending += b"\n"
            if len(pending) >= self.CHUNK_BYTES:
                self.write_pending()
        else:
            self.write_pending()
            _write_stdout(self.format_message(message), flush=True)

    def record_prefix(self, stream: str) -> bytes:
        """The start of every RECORD message of ``stream``, up to the record itself.

        A RECORD line is ``record_prefix(stream)``, the encoded record, then the encoded
        ``version`` (if any) and ``time_extracted`` entries: byte for byte what encoding
        ``RecordMessage.to_dict()`` gives, with one encoder call per record.

        Args:
            stream: The stream's name (alias).

        Returns:
            The bytes ``{"type":"RECORD","stream":...,"record":``.
        """
        head = self.encoder.encode({"type": "RECORD", "stream": stream, "record": None})
        return head.removesuffix(b"null}")

    def write_record(self, prefix: bytes, record: Record, version: int | None) -> None:
        """Append the RECORD message the SDK would write for ``record``, extracted now.

        Args:
            prefix: ``record_prefix`` of the record's stream.
            record: The record.
            version: The stream version, if any.
        """
        now = time.time()
        if now >= self._stale_at or version != self._version:
            self._stale_at = now + CLOCK_RESOLUTION
            self._version = version
            tail: dict[str, t.Any] = {} if version is None else {"version": version}
            tail["time_extracted"] = dt.datetime.fromtimestamp(now, dt.timezone.utc)
            self._suffix = b"," + self.encoder.encode(tail)[1:] + b"\n"
        pending = self.pending
        end = len(pending)
        pending += prefix
        try:
            self._encode_into(record, pending, -1)
        except BaseException:
            del pending[end:]  # never half a message
            raise
        pending += self._suffix
        if len(pending) >= self.CHUNK_BYTES:
            _write_stdout(pending)
            pending.clear()

    def write_pending(self) -> None:
        """Write the pending RECORD messages to stdout (not flushed)."""
        if self.pending:
            try:
                _write_stdout(self.pending)
            finally:
                self.pending.clear()


class _RecordPlan(t.NamedTuple):
    """What every RECORD message of one stream has in common."""

    deselected: tuple[str, ...]  # top-level properties to drop
    prefix: bytes  # the message up to the record (type, stream alias)
    write: t.Callable[[bytes, Record, int | None], None]  # the writer's write_record


def _record_plan(stream: Stream) -> _RecordPlan | None:
    """Resolve, once per stream, what the SDK would otherwise work out per record.

    Returns:
        The plan, or None when the stream needs the SDK's general path.
    """
    writer = tap_message_writer(stream)
    if not isinstance(writer, BufferedMsgSpecWriter):
        return None
    if stream.TYPE_CONFORMANCE_LEVEL != TypeConformanceLevel.NONE:
        return None
    maps = stream.stream_maps
    if len(maps) != 1 or type(maps[0]) is not SameRecordTransform:
        return None  # the user configured stream maps
    if maps[0].flattening_enabled:
        return None
    deselected = []
    for breadcrumb, selected in stream.mask.items():
        if selected:
            continue
        if len(breadcrumb) != 2:  # noqa: PLR2004 - ("properties", name)
            return None  # a nested property (or the stream): the SDK's recursive walk
        deselected.append(breadcrumb[1])
    return _RecordPlan(
        tuple(deselected),
        writer.record_prefix(maps[0].stream_alias),
        writer.write_record,
    )


def write_lean_record(self: Stream, record: Record, version: int | None) -> bool:
    """``Stream._write_record_message``, with the per-stream answers computed once.

    Writes the same RECORD message as the SDK's for a stream whose type conformance is
    NONE and that has no stream maps: deselected properties dropped, the stream's alias
    and version, ``time_extracted`` now (see :data:`CLOCK_RESOLUTION`). Streams use it
    through :class:`~tap_ai_analytics.sdk_seams.LeanRecordMessages`.

    Args:
        self: The stream.
        record: One record (changed in place, as the SDK does).
        version: The stream's ACTIVATE_VERSION, if any.

    Returns:
        False (nothing written) when the stream needs the SDK's general path.
    """
    plan = self.__dict__.get("_lean_record_plan", False)
    if plan is False:
        plan = self.__dict__["_lean_record_plan"] = _record_plan(self)
    if plan is None:
        return False
    for name in plan.deselected:
        record.pop(name, None)
    plan.write(plan.prefix, record, version)
    return True


__all__ = ["BufferedMsgSpecWriter", "write_lean_record"]
