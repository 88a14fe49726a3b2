"""Names whose home depends on the Python version."""

from __future__ import annotations

import sys

if sys.version_info >= (3, 12):
    from typing import override
else:  # typing-extensions is a dependency on these versions only
    from typing_extensions import override

__all__ = ["override"]
