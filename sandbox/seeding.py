"""Seeded randomness shared by the synthetic datasets."""

from __future__ import annotations

import datetime as dt
import random
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterator

DEFAULT_SEED = "tap-ai-analytics-sandbox-v1"


def rng_for(*parts: object) -> random.Random:
    """Return a generator seeded by the joined parts (string seeds hash deterministically)."""
    return random.Random("|".join(str(part) for part in parts))  # noqa: S311 - synthetic data


def rand_int(rng: random.Random, low: int, high: int) -> int:
    """Return an integer in ``[low, high]`` (cheaper than ``randint``; bulk generation)."""
    return low + int(rng.random() * (high - low + 1))


def date_range(start: dt.date, end: dt.date) -> Iterator[dt.date]:
    """Yield every date from ``start`` to ``end`` inclusive."""
    day = start
    one = dt.timedelta(days=1)
    while day <= end:
        yield day
        day += one
