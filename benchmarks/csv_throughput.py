#!/usr/bin/env python3
"""Sourcegraph CSV throughput, overlap and memory: the tap vs raw loops, same rows, one run.

The fake API (a subprocess on 127.0.0.1) serves exactly N rows of the
``by_user_day_client_language`` report for its bench instance. Programs, each a child
process measured alone (CPU = user+system via ``os.wait4``, peak RSS = ``ru_maxrss``):

* **tap, parse only**: the tap against ``_file_server.py`` serving the same body saved to
  a file, so that it arrives at memory speed: the parse time P;
* **download, paced** and **tap, paced**: the same server sending the body at
  size / P bytes per second, a download as slow as the parse (the case where parsing
  while downloading matters most): the download time D, read and thrown away
  (``_raw_baseline.py download``), then the tap's wall time with both at once, to compare
  with max(D, P) (spooling the body first would take D + P);
* **tap**: the tap syncing one month (one window, one download) from the fake API, which
  sends the report in a fraction of the parse time (**download**); stdout is drained
  through a pipe and checked (N RECORD messages, final STATE after the last RECORD);
* **raw baselines** (``_raw_baseline.py``): stdlib ``csv`` over the streamed body and
  ``orjson.dumps`` of each row, as an object keyed by the header (the target's basis: the
  least a record is) or as the bare list ``csv.reader`` yields (not a record; reported);
* **tap (small)**: the tap on a smaller report, for memory growth.

Then, in this process, where the tap's CPU goes: ``csv.reader`` alone, typed records,
and encoding them as RECORD lines, over the saved body. Exits 1 when a target is missed.

Usage: ``python benchmarks/csv_throughput.py [--rows 1000000] [--small-rows 100000]``
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import io
import json
import signal
import subprocess
import sys
import tempfile
import time
import typing as t
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness

_harness.use_repo_venv()

import csv  # noqa: E402 - after the re-run with the repository's interpreter

import requests  # noqa: E402

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

GRANULARITY = "by_user_day_client_language"
REPORT_PATH = "/api/reports/by-user-client-date"
CPU_TARGET = 1.5
OVERLAP_TARGET = 1.2
RSS_TARGET_MB = 150.0
RSS_GROWTH_TARGET_MB = 20.0
HERE = Path(__file__).resolve().parent


def last_month(today: dt.date) -> tuple[dt.date, dt.date]:
    """The previous calendar month: one Sourcegraph window, one download."""
    end = today.replace(day=1) - dt.timedelta(days=1)
    return end.replace(day=1), end


def report_params(sb: _harness.SandboxProcess) -> dict[str, str]:
    start, end = last_month(dt.date.fromisoformat(sb.info["today"]))
    return {
        "instanceURL": sb.info["sourcegraph_bench_instance"],
        "granularity": GRANULARITY,
        "startDate": start.isoformat(),
        "endDate": end.isoformat(),
    }


def tap_config(sb: _harness.SandboxProcess, api_url: str) -> dict[str, t.Any]:
    params = report_params(sb)
    return {
        "sourcegraph_access_token": sb.info["sourcegraph_token"],
        "sourcegraph_api_url": api_url,
        "sourcegraph_instance_urls": [params["instanceURL"]],
        "start_date": params["startDate"],
        "end_date": params["endDate"],
    }


@contextlib.contextmanager
def file_server(body: Path, bytes_per_second: float = 0.0) -> Iterator[str]:
    """Serve ``body`` for every GET (``_file_server.py``); yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, str(HERE / "_file_server.py"), str(body), str(bytes_per_second)],
        stdout=subprocess.PIPE,
        text=True,
        env=_harness.child_env(),
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        yield json.loads(line)["url"]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=10)


def save_body(rows: int, destination: Path) -> None:
    """Download the bench report once (not measured), for the parse-only runs."""
    with _harness.sandbox(["--sourcegraph-bench-rows", str(rows)]) as sb:
        headers = {"Authorization": f"Bearer {sb.info['sourcegraph_token']}"}
        url = sb.url + REPORT_PATH
        with (
            requests.get(
                url, params=report_params(sb), headers=headers, stream=True, timeout=300
            ) as response,
            destination.open("wb") as file,
        ):
            response.raise_for_status()
            for chunk in response.iter_content(1 << 20):
                file.write(chunk)


def check_tap(run: _harness.Measured, rows: int, what: str) -> _harness.Measured:
    run.check(what)
    if run.records != rows:
        msg = f"{what} wrote {run.records} RECORD messages, expected {rows}"
        raise SystemExit(msg)
    if not run.last_state_offset > run.last_record_offset:
        msg = f"{what}: the last STATE message does not follow the last RECORD"
        raise SystemExit(msg)
    return run


def run_tap(
    rows: int, body: Path | None = None, bytes_per_second: float = 0.0
) -> _harness.Measured:
    """Sync the bench instance's report for last month (from ``body`` when given)."""
    with contextlib.ExitStack() as stack:
        sb = stack.enter_context(_harness.sandbox(["--sourcegraph-bench-rows", str(rows)]))
        served = None if body is None else file_server(body, bytes_per_second)
        url = sb.url if served is None else stack.enter_context(served)
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        run = _harness.run_measured(_harness.tap_command(tap_config(sb, url), tmp))
    return check_tap(run, rows, f"the tap ({rows} rows{', from a file' if body else ''})")


def run_raw(rows: int, shape: str, paced: tuple[Path, float] | None = None) -> _harness.Measured:
    """A raw loop over the report: ``lists``, ``objects`` or ``download`` only.

    From the fake API, or from ``paced`` = (saved body, bytes per second).
    """
    with contextlib.ExitStack() as stack:
        sb = stack.enter_context(_harness.sandbox(["--sourcegraph-bench-rows", str(rows)]))
        url = sb.url if paced is None else stack.enter_context(file_server(*paced))
        params = report_params(sb)
        command = [
            sys.executable,
            str(HERE / "_raw_baseline.py"),
            shape,
            url + REPORT_PATH,
            sb.info["sourcegraph_token"],
            params["instanceURL"],
            GRANULARITY,
            params["startDate"],
            params["endDate"],
        ]
        run = _harness.run_measured(command)
    run.check(f"the raw loop ({shape}, {rows} rows)")
    return run


def cpu_breakdown(body: Path) -> dict[str, float]:
    """CPU seconds of the tap's parsing steps over the saved body, in this process."""
    from singer_sdk import metrics  # noqa: PLC0415

    from tap_ai_analytics.csvreport import CompletenessCheck, read_report_body  # noqa: PLC0415
    from tap_ai_analytics.output import BufferedMsgSpecWriter, RecordBatches  # noqa: PLC0415
    from tap_ai_analytics.schemas import sourcegraph_schema  # noqa: PLC0415
    from tap_ai_analytics.streams.sourcegraph import (  # noqa: PLC0415
        SourcegraphUsageByUserDayClientLanguageStream as Fine,
    )

    data = body.read_bytes()
    chunks = [data[i : i + (1 << 20)] for i in range(0, len(data), 1 << 20)]
    fields = sourcegraph_schema(Fine.key_columns, Fine.columns)["properties"]

    def records(chunks: Iterable[bytes], attempt: int) -> Iterator[t.Any]:
        return read_report_body(
            chunks,
            attempt,
            CompletenessCheck("bench", 1),
            fields=fields,
            key_columns=Fine.key_columns,
            constants={"instance_url": "bench"},
            where="bench",
            as_structs=True,  # as the tap parses them when it writes records in batches
        )

    def csv_only() -> None:
        for _ in csv.reader(io.TextIOWrapper(io.BytesIO(data), "utf-8-sig", newline="")):
            pass

    def typed() -> None:
        for _ in records(chunks, 1):
            pass

    batches = RecordBatches(
        BufferedMsgSpecWriter(),
        metrics.Counter(metrics.Metric.RECORD_COUNT),
        stream_alias=Fine.name,
        deselected=(),
        version=None,
    )

    def encoded() -> None:
        for _ in batches.encoding(records)(chunks, 1):
            pass

    steps: dict[str, Callable[[], None]] = {
        "csv": csv_only,
        "typed": typed,
        "encoded": encoded,
    }
    seconds = {}
    for label, step in steps.items():
        started = time.process_time()
        step()
        seconds[label] = time.process_time() - started
    return seconds


def describe(label: str, run: _harness.Measured, rows: int) -> str:
    rate = rows / run.wall_seconds / 1000 if run.wall_seconds else 0.0
    return (
        f"  {label:<30} cpu {run.cpu_seconds:6.2f} s  wall {run.wall_seconds:6.2f} s  "
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
        help="rounds of runs, interleaved; each program's least CPU and least wall count (3)",
    )
    args = parser.parse_args()

    print(f"Sourcegraph {GRANULARITY}: {args.rows} and {args.small_rows} rows, one download each")
    with tempfile.TemporaryDirectory() as tmp:
        body = Path(tmp) / "report.csv"
        save_body(args.rows, body)
        pace: list[float] = []  # bytes per second: the body's size / the first parse time

        def parse_only() -> _harness.Measured:
            run = run_tap(args.rows, body)
            pace.append(pace[0] if pace else body.stat().st_size / run.wall_seconds)
            return run

        programs: dict[str, tuple[int, Callable[[], _harness.Measured]]] = {
            "tap, parse only": (args.rows, parse_only),
            "download, paced": (args.rows, lambda: run_raw(args.rows, "download", (body, pace[0]))),
            "tap, paced": (args.rows, lambda: run_tap(args.rows, body, pace[0])),
            "download": (args.rows, lambda: run_raw(args.rows, "download")),
            "tap": (args.rows, lambda: run_tap(args.rows)),
            "raw csv+orjson (lists)": (args.rows, lambda: run_raw(args.rows, "lists")),
            "raw csv+orjson (objects)": (args.rows, lambda: run_raw(args.rows, "objects")),
            "tap (small)": (args.small_rows, lambda: run_tap(args.small_rows)),
        }
        # Rounds of one run of each program, so that load from other processes hits every
        # program alike; each program's least CPU and least wall count (noise only adds).
        tries: dict[str, list[_harness.Measured]] = {label: [] for label in programs}
        for round_number in range(1, max(1, args.repeat) + 1):
            print(f" round {round_number}", flush=True)
            for label, (rows, program) in programs.items():
                run = program()
                tries[label].append(run)
                print(describe(f"{label} {rows // 1000}k", run, rows), flush=True)
        breakdown = cpu_breakdown(body)

    cpu = {label: min(run.cpu_seconds for run in runs) for label, runs in tries.items()}
    wall = {label: min(run.wall_seconds for run in runs) for label, runs in tries.items()}
    rss = {label: min(run.peak_rss_mb for run in runs) for label, runs in tries.items()}
    print(" least CPU / least wall of each")
    for label in programs:
        print(f"  {label:<30} cpu {cpu[label]:6.2f} s  wall {wall[label]:6.2f} s")

    download, parse = wall["download, paced"], wall["tap, parse only"]
    overlap = wall["tap, paced"] / max(download, parse)
    ratio = cpu["tap"] / cpu["raw csv+orjson (objects)"]
    ratio_lists = cpu["tap"] / cpu["raw csv+orjson (lists)"]
    growth = rss["tap"] - rss["tap (small)"]
    per_record_us = (cpu["tap"] - cpu["tap (small)"]) / (args.rows - args.small_rows) * 1e6
    print(
        f"\n  wall: download (paced at {pace[0] / 2**20:.1f} MiB/s) {download:.2f} s, parse"
        f" {parse:.2f} s, sum {download + parse:.2f} s; the tap doing both at once"
        f" {wall['tap, paced']:.2f} s = {overlap:.2f}x the larger"
        f" (from the fake API: download {wall['download']:.2f} s, tap {wall['tap']:.2f} s)"
    )
    print(f"  tap CPU / raw csv+orjson (objects) CPU: {ratio:.2f}x  (the target's basis)")
    print(f"  tap CPU / raw csv+orjson (lists) CPU:   {ratio_lists:.2f}x  (rows, not records)")
    print(f"  tap CPU per record (big - small): {per_record_us:.1f} us")
    print(
        f"  tap CPU, {args.rows} rows, in this process: csv.reader {breakdown['csv']:.2f} s,"
        f" + typed records {breakdown['typed'] - breakdown['csv']:.2f} s,"
        f" + RECORD encoding {breakdown['encoded'] - breakdown['typed']:.2f} s;"
        f" the rest of the tap's {cpu['tap']:.2f} s (HTTP, writes, threads, start-up)"
        f" {cpu['tap'] - breakdown['encoded']:.2f} s"
    )
    print(
        f"  tap peak RSS: {rss['tap (small)']:.1f} MB at {args.small_rows} rows, "
        f"{rss['tap']:.1f} MB at {args.rows} rows ({growth:+.1f} MB)"
    )
    print("\nTargets (every record written, final STATE after the last RECORD: checked)")
    checks = [
        (
            f"wall <= {OVERLAP_TARGET:.1f} x max(download, parse) ({overlap:.2f}x)",
            overlap <= OVERLAP_TARGET,
        ),
        (
            f"CPU <= {CPU_TARGET:.1f} x raw csv+orjson, objects ({ratio:.2f}x)",
            ratio <= CPU_TARGET,
        ),
        (
            f"peak RSS <= {RSS_TARGET_MB:.0f} MB ({rss['tap']:.1f} MB)",
            rss["tap"] <= RSS_TARGET_MB,
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
