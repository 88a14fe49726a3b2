"""Local fake of the Augment Code and Sourcegraph Analytics APIs, for tests, benchmarks and demos.

Standard library only. Typical use::

    from sandbox import Sandbox

    with Sandbox() as sb:
        ...  # point the tap at sb.url with sb.augment_token / sb.sourcegraph_token
"""

from __future__ import annotations

from .data import Dataset
from .faults import Faults
from .server import RequestRecord, Sandbox

__all__ = ["Dataset", "Faults", "RequestRecord", "Sandbox"]
