#!/usr/bin/env python3
"""Augment request efficiency: requests, 429s and wall time of a backfill, then an incremental run.

The fake API (a subprocess on 127.0.0.1) enforces a scaled-up rate limit (600 requests per
minute, burst 20: 60x the real 10 per minute, so minutes become seconds). The tap, told the
same rate, syncs all five Augment streams over 120 days; then, with the state it wrote, it
runs again three days later (the same dates plus three new ones).

Ground truth for "the minimum": the sandbox's deterministic dataset, read in-process. A
per-day endpoint needs ceil(rows / max page size) requests per day with activity, none for
a day without (the daily totals tell); a windowed endpoint needs ceil(days / 90).

Then a large organisation (``--large-users``, 2,000 people): a backfill whose plan (logged
by the tap before its first per-day request) is compared with the requests made, and two
daily runs from the state it wrote: one with no restatement, one after the sandbox restated
a day of the lookback.

Usage: ``python benchmarks/augment_requests.py [--augment-users 12] [--days 120]``
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import datetime as dt
import math
import re
import sys
import tempfile
import time
import typing as t
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _harness

_harness.use_repo_venv()
sys.path.insert(0, str(_harness.ROOT))

from sandbox.augment import PAGE_SIZES  # noqa: E402
from sandbox.data import Dataset  # noqa: E402

PREFIX = "/analytics/v0/"
#: endpoint → tap stream; "windowed" endpoints take 90-day ranges, the others one date.
STREAMS = {
    "dau-count": "augment_dau_count",
    "daily-usage": "augment_daily_usage",
    "dau": "augment_daily_active_users",
    "user-activity": "augment_user_activity",
    "daily-user-activity-by-editor-language": "augment_user_activity_by_editor_language",
}
WINDOWED = {"dau-count", "daily-usage"}
MAX_RANGE_DAYS = 90
WALL_TARGET = 1.10


def minimum_requests(dataset: Dataset, first: dt.date, last: dt.date) -> dict[str, int]:
    """The fewest requests that read every row of every endpoint for ``first..last``."""
    days = [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]
    data = dataset.augment
    rows = {
        "dau": lambda day: len(data.dau_items(day)),
        "user-activity": lambda day: len(data.user_activity_items(day, day)),
        "daily-user-activity-by-editor-language": lambda day: len(data.editor_language_items(day)),
    }
    result = {endpoint: math.ceil(len(days) / MAX_RANGE_DAYS) for endpoint in WINDOWED}
    for endpoint, count in rows.items():
        page = PAGE_SIZES[endpoint][1]  # the documented maximum page size
        result[endpoint] = sum(pages(count(day), page) for day in days)
    return result


def pages(rows: int, page_size: int) -> int:
    """Requests one day takes: none without activity, else ceil(rows / page size)."""
    return math.ceil(rows / page_size)


def per_endpoint(log: list[dict]) -> collections.Counter[str]:
    return collections.Counter(
        entry["path"].removeprefix(PREFIX) for entry in log if entry["path"].startswith(PREFIX)
    )


def report_run(  # noqa: PLR0913
    title: str,
    run: _harness.Measured,
    log: list[dict],
    minimum: dict[str, int],
    *,
    target: dict[str, int],
    target_label: str,
) -> tuple[int, int, bool]:
    counts = per_endpoint(log)
    throttled = sum(1 for entry in log if entry["status"] == 429)
    print(f"\n{title}")
    print(f"  {'stream':<42} {'requests':>8} {'minimum':>8} {target_label:>12}")
    ok = True
    for endpoint, stream in STREAMS.items():
        made, least, limit = counts[endpoint], minimum[endpoint], target[endpoint]
        ok &= made <= limit
        flag = "" if made <= limit else "  <-- over target"
        print(f"  {stream:<42} {made:>8} {least:>8} {limit:>12}{flag}")
    total, least = sum(counts.values()), sum(minimum.values())
    print(f"  {'total':<42} {total:>8} {least:>8}")
    print(f"  HTTP 429 received: {throttled}")
    ordered = run.last_state_offset > run.last_record_offset
    print(f"  final STATE after the last RECORD: {ordered}  ({run.records} records)")
    return total, throttled, ok and ordered


PLAN_LINE = re.compile(
    r"^\s+(augment_\w+): \S+ \(\d+ days\): "
    r"(?:no request|(?:about |at least )?(\d+) requests?(?: \(at least (\d+)\))?)",
    re.MULTILINE,
)
PLAN_TOTALS = re.compile(r"daily totals \(.*\): (\d+) requests")
PLAN_TOTAL = re.compile(r"run total: (about )?(\d+) requests?")
PER_DAY = ("dau", "user-activity", "daily-user-activity-by-editor-language")
#: The per-day streams whose rows per day are the day's active users: planned exactly.
EXACT = {"dau", "user-activity"}
#: A daily run may cost its new days' pages plus this many requests.
DAILY_EXTRA_TARGET = 5


@dataclasses.dataclass
class Plan:
    """What the tap's run plan (its log) predicted."""

    requests: dict[str, int]  # by stream: planned (an estimate when not exact)
    least: dict[str, int]  # by stream: the lower bound
    totals: int  # requests for the daily totals (dau-count, daily-usage)
    total: int
    exact: bool

    @classmethod
    def parse(cls, stderr: str) -> Plan:
        requests, least = {}, {}
        for match in PLAN_LINE.finditer(stderr):
            requests[match[1]] = int(match[2] or 0)  # "no request": served from the totals
            least[match[1]] = int(match[3] or match[2] or 0)
        totals = PLAN_TOTALS.search(stderr)
        total = PLAN_TOTAL.search(stderr)
        if total is None:
            msg = "the tap logged no run plan"
            raise SystemExit(msg)
        return cls(requests, least, int(totals[1]) if totals else 0, int(total[2]), not total[1])


def small_organisation(args: argparse.Namespace) -> list[tuple[str, bool]]:
    """The backfill and an incremental run of a small team (every day fits one page)."""
    options = sandbox_options(args.rate, args.burst, args.augment_users)
    with _harness.sandbox(options, logging=True) as sb, tempfile.TemporaryDirectory() as tmp:
        today = dt.date.fromisoformat(sb.info["today"])
        dataset = Dataset(today, augment_users=args.augment_users)
        yesterday = today - dt.timedelta(days=1)
        end = yesterday - dt.timedelta(days=args.new_days)
        start = end - dt.timedelta(days=args.days - 1)
        config = tap_config(
            sb,
            rate=args.rate,
            burst=args.burst,
            lookback_days=args.lookback_days,
            start=start,
            end=end,
        )
        print(
            f"Augment: {args.days} days {start}..{end}, {args.augment_users} users, "
            f"fake API limit {args.rate:g}/min burst {args.burst}"
        )

        # -- 1. the backfill -------------------------------------------------------------
        full, log, minimum, (requests, throttled, ok_full) = backfill(
            sb, dataset, config, Path(tmp), "Run 1: full sync"
        )
        floor = max(0, requests - args.burst) / (args.rate / 60)
        times = [entry["time"] for entry in log]
        span = max(times) - min(times) if times else 0.0
        ratio = full.wall_seconds / floor if floor else float("inf")
        print(
            f"  wall time {full.wall_seconds:.1f} s (process start to exit; first to last "
            f"request {span:.1f} s) vs floor (requests - burst) / rate = {floor:.1f} s: "
            f"{ratio:.3f}x"
        )

        # -- 2. the incremental run, new_days later -------------------------------------
        # Runs are hours apart in production; here wait until the API's bucket is full again.
        wait_for_full_bucket(args.rate, args.burst)
        config.pop("end_date")
        state = full.final_state
        incremental = _harness.run_measured(_harness.tap_command(config, Path(tmp), state=state))
        incremental.check("the incremental sync")
        log2 = sb.command("log")
        reread_from = end - dt.timedelta(days=args.lookback_days - 1)
        minimum2 = minimum_requests(dataset, reread_from, yesterday)
        _, throttled2, ok_incremental = report_run(
            f"Run 2: incremental, {args.new_days} new days, lookback_days={args.lookback_days}",
            incremental,
            log2,
            minimum2,
            target=minimum2,
            target_label="lookback+new",
        )
    return [
        (f"requests <= minimum ({requests} vs {sum(minimum.values())})", ok_full),
        (f"no 429 ({throttled} in run 1, {throttled2} in run 2)", throttled == throttled2 == 0),
        (f"wall time <= {WALL_TARGET:.2f} x floor ({ratio:.3f}x)", ratio <= WALL_TARGET),
        ("incremental: per-day <= pages of lookback + new days, windowed 1", ok_incremental),
    ]


def sandbox_options(rate: float, burst: int, users: int) -> list[str]:
    """Options of the fake API: its rate limit and the size of the organisation."""
    return [
        "--rate-limit-per-minute", str(rate),
        "--rate-limit-burst", str(burst),
        "--augment-users", str(users),
    ]  # fmt: skip


def tap_config(  # noqa: PLR0913
    sb: _harness.SandboxProcess,
    *,
    rate: float,
    burst: int,
    lookback_days: int,
    start: dt.date,
    end: dt.date,
) -> dict[str, t.Any]:
    """The tap's config: the fake API's Augment, paced at its rate, over ``start..end``."""
    return {
        "augment_api_token": sb.info["augment_token"],
        "augment_api_url": sb.url,
        "augment_rate_limit_per_minute": rate,
        "augment_rate_limit_burst": burst,
        "lookback_days": lookback_days,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
    }


def backfill(
    sb: _harness.SandboxProcess,
    dataset: Dataset,
    config: dict[str, t.Any],
    workdir: Path,
    title: str,
) -> tuple[_harness.Measured, list[dict], dict[str, int], tuple[int, int, bool]]:
    """Run and report a backfill of ``config``'s dates against the minimum."""
    run = _harness.run_measured(_harness.tap_command(config, workdir))
    run.check(title)
    log = sb.command("log")
    first, last = (dt.date.fromisoformat(config[key]) for key in ("start_date", "end_date"))
    minimum = minimum_requests(dataset, first, last)
    report = report_run(title, run, log, minimum, target=minimum, target_label="target")
    return run, log, minimum, report


def wait_for_full_bucket(rate: float, burst: int) -> None:
    """Wait until the fake API's token bucket is full again, as between real runs."""
    time.sleep(burst / (rate / 60) + 0.5)


def large_organisation(args: argparse.Namespace) -> list[tuple[str, bool]]:
    """A large organisation: the plan against the requests, then two daily runs."""
    users, rate = args.large_users, args.large_rate
    checks: list[tuple[str, bool]] = []
    options = sandbox_options(rate, args.burst, users)
    with _harness.sandbox(options, logging=True) as sb, tempfile.TemporaryDirectory() as tmp:
        today = dt.date.fromisoformat(sb.info["today"])
        dataset = Dataset(today, augment_users=users)
        yesterday = today - dt.timedelta(days=1)
        end = yesterday - dt.timedelta(days=1)  # the daily runs add one new day
        start = end - dt.timedelta(days=args.large_days - 1)
        config = tap_config(
            sb, rate=rate, burst=args.burst, lookback_days=args.lookback_days, start=start, end=end
        )
        print(
            f"\nLarge organisation: {users} users, {args.large_days} days {start}..{end}, "
            f"fake API limit {rate:g}/min burst {args.burst}"
        )
        full, log, _, (requests, throttled, ok) = backfill(
            sb, dataset, config, Path(tmp), "Run 1: backfill"
        )
        checks.append((f"large backfill: requests <= minimum ({requests})", ok))
        checks.append((f"large backfill: no 429 ({throttled})", throttled == 0))
        checks.append(("large backfill: plan exact where derivable", report_plan(full, log)))
        print(f"  wall time {full.wall_seconds:.1f} s, tap CPU {full.cpu_seconds:.1f} s")

        config.pop("end_date")
        state = full.final_state
        new_pages = sum(minimum_requests(dataset, yesterday, yesterday)[e] for e in PER_DAY)
        lookback = [end - dt.timedelta(days=n) for n in range(args.lookback_days)]
        restated = next(d for d in lookback if not dataset.augment.is_no_activity_date(d))
        for title, restate in (("no restatement", False), (f"{restated} restated", True)):
            if restate:
                sb.command(f"restate {restated}")
                dataset.augment.restate(restated)
            wait_for_full_bucket(rate, args.burst)
            daily = _harness.run_measured(_harness.tap_command(config, Path(tmp), state=state))
            daily.check(f"the daily run ({title})")
            log = sb.command("log")
            counts = per_endpoint(log)
            made = sum(counts.values())
            reread = sum(minimum_requests(dataset, restated, restated)[e] for e in PER_DAY)
            least = new_pages + 2 + (reread if restate else 0)  # + dau-count, daily-usage
            print(
                f"\nDaily run, 1 new day, lookback_days={args.lookback_days}, {title}: "
                f"{made} requests ({dict(counts)}); new day's pages {new_pages}"
                + (f", restated day's pages {reread}" if restate else "")
            )
            checks.append(
                (f"daily run ({title}): plan exact where derivable", report_plan(daily, log))
            )
            if restate:
                checks.append(
                    (
                        f"daily run with a restated day re-reads it ({made} == {least})",
                        made == least,
                    )
                )
            else:
                target = new_pages + DAILY_EXTRA_TARGET
                checks.append((f"daily run <= new pages + 5 ({made} <= {target})", made <= target))
    return checks


def report_plan(run: _harness.Measured, log: list[dict]) -> bool:
    """Print the plan's predicted requests against the requests made; True when exact."""
    plan = Plan.parse(run.stderr)
    counts = per_endpoint(log)
    print(f"\n  {'stream':<42} {'planned':>8} {'at least':>8} {'made':>8}")
    exact = counts["dau-count"] + counts["daily-usage"] == plan.totals
    print(f"  {'daily totals (dau-count, daily-usage)':<42} {plan.totals:>8} {'':>8} "
          f"{counts['dau-count'] + counts['daily-usage']:>8}")  # fmt: skip
    for endpoint, stream in STREAMS.items():
        planned, least, made = plan.requests[stream], plan.least[stream], counts[endpoint]
        if endpoint in WINDOWED:
            made = 0  # served from the daily totals' responses
        note = "exact" if planned == made else "estimate"
        if endpoint in EXACT or endpoint in WINDOWED:
            exact &= planned == made
        else:
            exact &= least <= made
        print(f"  {stream:<42} {planned:>8} {least:>8} {made:>8}  {note}")
    about = "" if plan.exact else "about "
    print(f"  run total: planned {about}{plan.total}, made {sum(counts.values())}")
    return exact


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--augment-users", type=int, default=12, help="sandbox users (12)")
    parser.add_argument("--days", type=int, default=120, help="days of the backfill (120)")
    parser.add_argument("--new-days", type=int, default=3, help="new days at run 2 (3)")
    parser.add_argument("--lookback-days", type=int, default=3, help="tap lookback_days (3)")
    parser.add_argument("--rate", type=float, default=600, help="requests per minute (600)")
    parser.add_argument("--burst", type=int, default=20, help="server burst (20)")
    parser.add_argument("--large-users", type=int, default=2000, help="large org (2000; 0: skip)")
    parser.add_argument("--large-days", type=int, default=30, help="large backfill days (30)")
    parser.add_argument("--large-rate", type=float, default=1200, help="large org rate (1200)")
    args = parser.parse_args()

    checks = small_organisation(args)
    if args.large_users:
        checks += large_organisation(args)
    print("\nTargets")
    for label, ok in checks:
        print(f"  {_harness.verdict(ok)}  {label}")
    return 0 if all(ok for _, ok in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
