"""Stream classes: one per Augment endpoint and per Sourcegraph report."""

from __future__ import annotations

from tap_ai_analytics.streams.augment import AUGMENT_STREAMS
from tap_ai_analytics.streams.sourcegraph import SOURCEGRAPH_STREAMS

#: Every stream name this tap can have (whatever the configuration).
STREAM_NAMES: frozenset[str] = frozenset(
    cls.name  # type: ignore[misc,unused-ignore]  # a class attribute on every stream class
    for cls in (*AUGMENT_STREAMS, *SOURCEGRAPH_STREAMS)
)

__all__ = ["AUGMENT_STREAMS", "SOURCEGRAPH_STREAMS", "STREAM_NAMES"]
