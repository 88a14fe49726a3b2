#!/usr/bin/env python3
"""Sourcegraph CSV throughput and memory: the tap vs a raw csv+json loop, same rows, same server.

The fake API (a subprocess on 127.0.0.1) serves exactly N rows of the
``by_user_day_client_language`` report for its bench instance. The tap syncs one month (one
window, one download) with its stdout drained by this script through a pipe; the raw
baselines (``_raw_baseline.py``: stdlib ``csv`` over the streamed HTTP body, ``json.dumps``
of each row, as the list ``csv.reader`` yields (the target's basis) or as an object) read
the same report from the same kind of server. CPU is user+system time of each child alone
(``os.wait4``); peak RSS is the child's ``ru_maxrss``. Exits 1 when a target is missed.

Usage: ``python benchmarks/csv_throughput.py [--rows 1000000] [--small-rows 100000]``
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness

_harness.use_repo_venv()

GRANULARITY = "by_user_day_client_language"
REPORT_PATH = "/api/reports/by-user-client-date"
CPU_TARGET = 2.0
RSS_TARGET_MB = 150.0
RSS_GROWTH_TARGET_MB = 20.0


def last_month(today: dt.date) -> tuple[dt.date, dt.date]:
    """The previous calendar month: one Sourcegraph window, one download."""
    end = today.replace(day=1) - dt.timedelta(days=1)
    return end.replace(day=1), end


def run_tap(rows: int) -> _harness.Measured:
    """Sync the bench instance's report for last month; check every record came out."""
    with _harness.sandbox(["--sourcegraph-bench-rows", str(rows)]) as sb:
        start, end = last_month(dt.date.fromisoformat(sb.info["today"]))
        config = {
            "sourcegraph_access_token": sb.info["sourcegraph_token"],
            "sourcegraph_api_url": sb.url,
            "sourcegraph_instance_urls": [sb.info["sourcegraph_bench_instance"]],
            "start_date": start.isoformat(),
            "end_date": end.isoformat(),
        }
        with tempfile.TemporaryDirectory() as tmp:
            run = _harness.run_measured(_harness.tap_command(config, Path(tmp)))
    run.check(f"the tap ({rows} rows)")
    if run.records != rows:
        msg = f"the tap wrote {run.records} RECORD messages, expected {rows}"
        raise SystemExit(msg)
    if not run.last_state_offset > run.last_record_offset:
        msg = "the tap's last STATE message does not follow its last RECORD"
        raise SystemExit(msg)
    return run


def run_baseline(rows: int, shape: str) -> _harness.Measured:
    """The raw loop over the same report, rows written as JSON ``objects`` or ``lists``."""
    with _harness.sandbox(["--sourcegraph-bench-rows", str(rows)]) as sb:
        start, end = last_month(dt.date.fromisoformat(sb.info["today"]))
        command = [
            sys.executable,
            str(Path(__file__).with_name("_raw_baseline.py")),
            shape,
            sb.url + REPORT_PATH,
            sb.info["sourcegraph_token"],
            sb.info["sourcegraph_bench_instance"],
            GRANULARITY,
            start.isoformat(),
            end.isoformat(),
        ]
        run = _harness.run_measured(command)
    run.check(f"the raw baseline ({shape}, {rows} rows)")
    return run


def describe(label: str, run: _harness.Measured, rows: int) -> str:
    rate = rows / run.wall_seconds / 1000 if run.wall_seconds else 0.0
    return (
        f"  {label:<28} cpu {run.cpu_seconds:6.2f} s  wall {run.wall_seconds:6.2f} s  "
        f"{rate:5.1f} k rows/s  peak RSS {run.peak_rss_mb:5.1f} MB  "
        f"stdout {run.stdout_bytes / 2**20:5.0f} MB"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="big report (1000000)")
    parser.add_argument("--small-rows", type=int, default=100_000, help="small report (100000)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="rounds of runs, interleaved; each program's run with the least CPU counts (3)",
    )
    args = parser.parse_args()

    print(f"Sourcegraph {GRANULARITY}: {args.rows} and {args.small_rows} rows, one download each")
    programs = {
        "raw baseline (objects)": lambda: run_baseline(args.rows, "objects"),
        "raw baseline (lists)": lambda: run_baseline(args.rows, "lists"),
        "tap": lambda: run_tap(args.rows),
        "tap (small)": lambda: run_tap(args.small_rows),
    }
    # Rounds of one run of each program, so that load from other processes hits every
    # program alike; each program's least-CPU run counts (noise only ever adds CPU).
    tries: dict[str, list[_harness.Measured]] = {label: [] for label in programs}
    for round_number in range(1, max(1, args.repeat) + 1):
        print(f" round {round_number}", flush=True)
        for label, program in programs.items():
            run = program()
            tries[label].append(run)
            rows = args.small_rows if label == "tap (small)" else args.rows
            print(describe(f"{label} {rows // 1000}k", run, rows), flush=True)
    runs = {label: min(tries[label], key=lambda run: run.cpu_seconds) for label in tries}
    print(" least CPU of each")
    for label, run in runs.items():
        rows = args.small_rows if label == "tap (small)" else args.rows
        print(describe(f"{label} {rows // 1000}k", run, rows))

    objects, lists = runs["raw baseline (objects)"], runs["raw baseline (lists)"]
    big, small = runs["tap"], runs["tap (small)"]
    ratio = big.cpu_seconds / lists.cpu_seconds
    ratio_objects = big.cpu_seconds / objects.cpu_seconds
    growth = big.peak_rss_mb - small.peak_rss_mb
    per_record_us = (big.cpu_seconds - small.cpu_seconds) / (args.rows - args.small_rows) * 1e6
    print(f"\n  tap CPU / raw baseline (lists) CPU:   {ratio:.2f}x  (the target)")
    print(f"  tap CPU / raw baseline (objects) CPU: {ratio_objects:.2f}x")
    print(f"  tap CPU per record (big - small): {per_record_us:.1f} us")
    print(
        f"  tap peak RSS: {small.peak_rss_mb:.1f} MB at {args.small_rows} rows, "
        f"{big.peak_rss_mb:.1f} MB at {args.rows} rows ({growth:+.1f} MB)"
    )
    print("\nTargets (every record written, final STATE after the last RECORD: checked)")
    checks = [
        (f"CPU <= {CPU_TARGET:.1f} x raw baseline, lists ({ratio:.2f}x)", ratio <= CPU_TARGET),
        (
            f"CPU <= {CPU_TARGET:.1f} x raw baseline, objects ({ratio_objects:.2f}x)",
            ratio_objects <= CPU_TARGET,
        ),
        (
            f"peak RSS <= {RSS_TARGET_MB:.0f} MB ({big.peak_rss_mb:.1f} MB)",
            big.peak_rss_mb <= RSS_TARGET_MB,
        ),
        (
            (
                f"peak RSS {args.small_rows} vs {args.rows} rows: "
                f"< {RSS_GROWTH_TARGET_MB:.0f} MB apart ({growth:+.1f} MB)"
            ),
            abs(growth) < RSS_GROWTH_TARGET_MB,
        ),
    ]
    for label, ok in checks:
        print(f"  {_harness.verdict(ok)}  {label}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
