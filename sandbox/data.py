"""Deterministic synthetic dataset: the ground truth served by the sandbox.

Every value is derived from a seeded random generator keyed by ``(seed, vendor, date, user,
...)``, never from request order, so the data for a given date is the same whenever and however
it is asked for. The only dependence on "today" is what Sourcegraph has already collected for
the current (partial) day.

The accessors return the objects exactly as the APIs serve them, so tests can compute expected
records without re-implementing the generator.
"""

from __future__ import annotations

import typing as t

from .augment_data import AugmentData
from .seeding import DEFAULT_SEED
from .sourcegraph_data import BENCH_INSTANCE, SourcegraphData

if t.TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Callable, Mapping

__all__ = ["BENCH_INSTANCE", "DEFAULT_SEED", "AugmentData", "Dataset", "SourcegraphData"]


class Dataset:
    """Ground truth of both vendors.

    Args:
        today: The current UTC date, or a callable returning it.
        augment_users: Number of human Augment users.
        sourcegraph_bench_rows: Row count of the Sourcegraph benchmark instance (0: disabled).
        seed: Dataset seed.
        styles: Callable returning the live style switches (used by Sourcegraph reports).

    Attributes:
        augment: Augment organisation data.
        sourcegraph: Sourcegraph instances data.
    """

    def __init__(
        self,
        today: dt.date | Callable[[], dt.date],
        augment_users: int = 12,
        sourcegraph_bench_rows: int = 0,
        seed: str = DEFAULT_SEED,
        styles: Callable[[], Mapping[str, object]] | None = None,
    ) -> None:
        """Create the dataset."""
        today_fn: Callable[[], dt.date] = today if callable(today) else (lambda: today)
        self.augment = AugmentData(augment_users, seed)
        self.sourcegraph = SourcegraphData(today_fn, seed, sourcegraph_bench_rows, styles)
