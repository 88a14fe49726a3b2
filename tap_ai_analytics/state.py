"""The incoming state: checked whole before any stream runs, so a bad file fails fast."""

from __future__ import annotations

import logging
import typing as t

from tap_ai_analytics.dates import parse_date
from tap_ai_analytics.errors import ConfigError

if t.TYPE_CHECKING:
    import datetime as dt

NOT_A_STATE = (
    'The state is not a Singer state object ({"bookmarks": {...}}); pass a state written by '
    "this tap, or none to start from start_date."
)
_FIX = "fix it or clear it (meltano state clear <state-id>)"

logger = logging.getLogger("tap-ai-analytics")


def check_state(state: object, stream_names: t.Collection[str]) -> None:
    """Check that a state is one this tap can resume from.

    Bookmarks of streams this tap does not have (a stream of another version) are ignored
    with one warning naming them; those of its own streams must name ``YYYY-MM-DD`` dates.

    Args:
        state: The decoded state.
        stream_names: This tap's streams.

    Raises:
        ConfigError: Naming the stream and the problem.
    """
    if not isinstance(state, dict) or not isinstance(state.get("bookmarks", {}), dict):
        raise ConfigError(NOT_A_STATE)
    unknown: list[str] = []
    for name, bookmark in state.get("bookmarks", {}).items():
        if not isinstance(bookmark, dict):
            msg = f"The state's bookmark for {name} is not an object: {_FIX}."
            raise ConfigError(msg)
        if name not in stream_names:
            unknown.append(name)
            continue
        partitions = bookmark.get("partitions", [])
        if not isinstance(partitions, list) or not all(
            isinstance(p, dict) and isinstance(p.get("context"), dict) for p in partitions
        ):
            msg = f"The state's partitions for {name} are not a list of {{context: ...}}: {_FIX}."
            raise ConfigError(msg)
        for entry in (bookmark, *partitions):
            value = entry.get("replication_key_value")
            if value is not None:
                bookmark_date(value, name)
    if unknown:
        logger.warning(
            "Ignoring the state's bookmarks for streams this version of the tap does not "
            "have: %s (a state from another version?).",
            ", ".join(sorted(unknown)),
        )


def bookmark_date(value: object, where: str) -> dt.date:
    """Read a bookmark of the incoming state: the one place bookmarks are validated.

    Args:
        value: The bookmark's ``replication_key_value``.
        where: The stream (and instance) it belongs to, for the message.

    Returns:
        The date.

    Raises:
        ConfigError: If it is not a ``YYYY-MM-DD`` date.
    """
    try:
        return parse_date(value if isinstance(value, str) else "")
    except ValueError:
        msg = (
            f"The state's bookmark for {where} is {value!r}, not a YYYY-MM-DD date "
            f"(a state from another tap or version?): {_FIX}."
        )
        raise ConfigError(msg) from None
