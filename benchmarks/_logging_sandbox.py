"""The sandbox API as a process, plus its request log on demand (for the benchmarks).

Same server and options as ``python -m sandbox``. It prints one JSON
line when it is serving; then each line read on stdin is a command answered with one
JSON line on stdout:

* ``log``: every request received since the previous ``log`` (path, status, params,
  time), and the log is cleared;
* ``restate YYYY-MM-DD``: restate that Augment date (its data is drawn anew);
* ``quit``: stop.

It also stops on SIGTERM, SIGINT or end of stdin.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import sys

from sandbox import Sandbox


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate-limit-per-minute", type=float, default=None)
    parser.add_argument("--rate-limit-burst", type=int, default=20)
    parser.add_argument("--sourcegraph-bench-rows", type=int, default=0)
    parser.add_argument("--augment-users", type=int, default=12)
    parser.add_argument("--today", type=dt.date.fromisoformat, default=None)
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with Sandbox(
        today=args.today,
        augment_users=args.augment_users,
        rate_limit_per_minute=args.rate_limit_per_minute,
        rate_limit_burst=args.rate_limit_burst,
        sourcegraph_bench_rows=args.sourcegraph_bench_rows,
    ) as sandbox:
        ready = {
            "url": sandbox.url,
            "augment_token": sandbox.augment_token,
            "today": sandbox.today.isoformat(),
        }
        print(json.dumps(ready), flush=True)
        for line in sys.stdin:
            command = line.strip()
            if command == "quit":
                break
            if command.startswith("restate "):  # restate YYYY-MM-DD: the vendor corrects a day
                sandbox.data.augment.restate(dt.date.fromisoformat(command.split()[1]))
                print(json.dumps({"restated": command.split()[1]}), flush=True)
            elif command == "log":
                log = [
                    {"path": r.path, "status": r.status, "params": r.params, "time": r.time}
                    for r in sandbox.requests
                ]
                sandbox.reset_log()
                print(json.dumps(log), flush=True)
            else:
                print(json.dumps({"error": f"unknown command {command!r}"}), flush=True)
        if sandbox.errors:
            print(json.dumps({"server_errors": sandbox.errors}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
