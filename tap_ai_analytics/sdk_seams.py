"""Every private Singer SDK seam this tap relies on, in one place.

The SDK offers no public hook for these behaviours, so the tap overrides or reads a
private name. Each seam below says why it is needed; ``tests/test_sdk_seams.py``
checks that every one still exists with the expected signature and is still reached
on the path the tap relies on, so an SDK upgrade that moves one fails the tests loudly
instead of silently switching a behaviour off. Nothing outside this module touches a
private SDK name.
"""

from __future__ import annotations

import signal
import typing as t

from singer_sdk import Tap
from singer_sdk.streams.core import Stream

from tap_ai_analytics.compat import override

if t.TYPE_CHECKING:
    from types import FrameType

    from singer_sdk.helpers.types import Context, Record
    from singer_sdk.io_base import GenericSingerWriter


class PerWindowState(Stream):
    """Seam ``Stream._increment_stream_state``: bookmarks move per window, not per record.

    The SDK sets the bookmark to each record's replication key as it is written. A date
    can span several pages, so a STATE emitted then (every ``STATE_MSG_FREQUENCY``
    records, or on SIGTERM) would name a date whose later pages are still unread: state
    ahead of the delivered records. The date-window engine commits the bookmark itself
    once a window is delivered (``DateWindowStream.commit_bookmark``).
    """

    @override
    def _increment_stream_state(
        self, latest_record: Record, *, context: Context | None = None
    ) -> None:
        """Leave the bookmark alone: the engine commits it per completed window."""


def stream_version(stream: Stream) -> int | None:
    """Seam ``Stream._stream_version``: the version of a stream's RECORD messages.

    Records written in batches (output.py) carry the stream's ACTIVATE_VERSION, as the
    SDK's own RECORD messages do; the SDK keeps it in a private attribute, set when the
    stream's sync starts.
    """
    return stream._stream_version  # noqa: SLF001


def tap_message_writer(stream: Stream) -> GenericSingerWriter[t.Any, t.Any]:
    """Seam ``Stream._tap``: the writer a stream's messages go through.

    Records are written in batches only through this tap's buffered writer (output.py);
    the SDK reaches the tap's writer through the private ``_tap``.
    """
    return stream._tap.message_writer  # noqa: SLF001


class StoppedBySignal(SystemExit):
    """A SIGTERM or SIGINT ended the run; the exit status is 128 + the signal number."""

    def __init__(self, signum: int) -> None:
        """Remember the signal.

        Args:
            signum: The signal's number.
        """
        super().__init__(128 + signum)
        self.signal_name = signal.Signals(signum).name


class ExitStatusOnSignal(Tap):
    """Seam ``PluginBase._handle_termination``: a cancelled run must not exit 0.

    The SDK's handler writes the state and exits 0, which tells a scheduler that a
    cancelled run succeeded. This one writes the state too, then raises
    :class:`StoppedBySignal`: the stack unwinds (the SDK's metric counters log their
    last points) and ``main()`` reports the stop as the run's last line.
    """

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:  # noqa: ARG002
        """Write the state of completed windows, then stop with 128 + the signal."""
        try:
            self.state_writer.write_state(self.state)
        finally:
            _stop(signum)


class SyncAllHook(Tap):
    """Seam ``Tap.sync_all`` (declared final): a check once every stream has synced.

    A run-wide outcome (a Sourcegraph instance the token may not read) must be reported
    after every stream has synced the other instances, whatever order the SDK runs the
    streams in; the SDK has no hook after its loop over the streams.
    """

    @override  # type: ignore[misc]  # final in the SDK: see the class docstring
    def sync_all(self) -> None:
        """Sync every selected stream (the SDK's loop), then :meth:`after_sync_all`."""
        super().sync_all()
        self.after_sync_all()

    def after_sync_all(self) -> None:
        """Run after every selected stream has synced (nothing by default)."""


class OwnConfigValidation(Tap):
    """Seam ``PluginBase._validate_config``: the tap validates its settings itself.

    ``Settings.from_config`` reports every invalid setting in one line naming the fix.
    The SDK's own check would first log "Config validation failed" (a warning that
    explains nothing) whenever the tap's check is about to fail.
    """

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:  # noqa: ARG002
        """Only add the SDK's built-in settings to the schema, as its check does."""
        self.append_builtin_config(self.config_jsonschema)
        self.logger.debug("Settings are validated by the tap's own checks (settings.py).")
        return []


def _stop(signum: int) -> t.NoReturn:
    raise StoppedBySignal(signum)


__all__ = [
    "ExitStatusOnSignal",
    "OwnConfigValidation",
    "PerWindowState",
    "StoppedBySignal",
    "SyncAllHook",
    "stream_version",
    "tap_message_writer",
]
