"""Singer output for millions of records: buffered stdout, lean RECORD messages.

Two pieces, each replacing per-record work whose answer does not change per record:

* :class:`BufferedMsgSpecWriter` is the SDK's msgspec writer without the flush after
  every message. RECORD messages collect in stdout's buffer; any other message (STATE,
  SCHEMA, ...) flushes it, so a STATE never reaches the target before the records it
  covers, and a killed run loses at most the records written after the last STATE (which
  the next run reads again from that STATE). Python flushes stdout at exit.
* :func:`lean_record_messages` is ``Stream._generate_record_messages`` with the selection
  mask and stream maps resolved once per stream instead of once per record. Streams whose
  records already match their schema (``TYPE_CONFORMANCE_LEVEL`` NONE) use it; any case
  it does not cover (user stream maps, flattening, deselected nested properties) goes
  through the SDK's own code unchanged.
"""

from __future__ import annotations

import sys
import typing as t

from singer_sdk.contrib.msgspec import MsgSpecWriter, serialize_jsonl
from singer_sdk.helpers._util import utc_now
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.mapper import SameRecordTransform
from singer_sdk.singerlib import RecordMessage
from singer_sdk.streams.core import Stream

if t.TYPE_CHECKING:
    from collections.abc import Generator

    from singer_sdk.helpers.types import Record
    from singer_sdk.singerlib.encoding.simple import Message


class BufferedMsgSpecWriter(MsgSpecWriter):
    """Write Singer messages with msgspec; flush stdout at STATE (and every non-RECORD)."""

    def write_message(self, message: Message) -> None:
        """Write a message to stdout; flush unless it is a RECORD.

        Args:
            message: The message to write.
        """
        if isinstance(message, RecordMessage):
            sys.stdout.buffer.write(serialize_jsonl(message.to_dict()))
        else:
            sys.stdout.buffer.write(self.format_message(message))
            sys.stdout.flush()


class _RecordPlan(t.NamedTuple):
    """What every RECORD message of one stream has in common."""

    stream_alias: str
    deselected: tuple[str, ...]  # top-level properties to drop


def _record_plan(stream: Stream) -> _RecordPlan | None:
    """Resolve, once per stream, what the SDK would otherwise work out per record.

    Returns:
        The plan, or None when the stream needs the SDK's general path.
    """
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
    return _RecordPlan(maps[0].stream_alias, tuple(deselected))


def lean_record_messages(self: Stream, record: Record) -> Generator[RecordMessage, None, None]:
    """``Stream._generate_record_messages``, with the per-stream answers computed once.

    The same RECORD message as the SDK's for a stream whose type conformance is NONE and
    that has no stream maps: deselected properties dropped, the stream's alias and
    version, ``time_extracted`` now.

    Args:
        self: The stream.
        record: One record (changed in place, as the SDK does).

    Yields:
        The RECORD message.
    """
    plan = self.__dict__.get("_lean_record_plan", False)
    if plan is False:
        plan = self.__dict__["_lean_record_plan"] = _record_plan(self)
    if plan is None:
        yield from Stream._generate_record_messages(self, record)  # noqa: SLF001
        return
    for name in plan.deselected:
        record.pop(name, None)
    yield RecordMessage(
        stream=plan.stream_alias,
        record=record,
        version=self._stream_version,
        time_extracted=utc_now(),
    )


__all__ = ["BufferedMsgSpecWriter", "lean_record_messages"]
