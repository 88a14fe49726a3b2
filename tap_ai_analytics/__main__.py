"""Allow ``python -m tap_ai_analytics``."""

from __future__ import annotations

from tap_ai_analytics.tap import main

main()
