#!/usr/bin/env python3
"""Run every benchmark, one after the other: ``python benchmarks/run_all.py``.

Exits non-zero when any benchmark misses a target (CSV: wall over 1.2 x the larger of
download and parse time, CPU over 1.5 x the raw csv+orjson loop writing each row as a
JSON object, or a memory target).
About ten minutes on 2 cores.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness

_harness.use_repo_venv()

BENCHMARKS = ("augment_requests.py", "csv_throughput.py")


def main() -> int:
    failed = []
    for name in BENCHMARKS:
        print(f"\n=== {name}", flush=True)
        code = subprocess.call([sys.executable, str(Path(__file__).with_name(name))])
        if code != 0:
            failed.append(name)
    print(f"\n{len(BENCHMARKS) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
