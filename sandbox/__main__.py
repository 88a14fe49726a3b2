"""Run the sandbox as a process: ``python -m sandbox``.

Prints one JSON line (URL, tokens, instances, cookie) once it is serving, then serves until
SIGTERM or SIGINT and exits 0.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import signal
import sys
import threading
import typing as t

from .server import Sandbox

if t.TYPE_CHECKING:
    from collections.abc import Sequence
    from types import FrameType


#: The sandbox's default budget per token: Augment's real 10 requests per minute scaled up, so
#: that a tap paced to match (``augment_rate_limit_per_minute``/``augment_rate_limit_burst``, as
#: the demo environment in meltano.yml sets them) syncs 30 days in seconds, not minutes, while
#: pacing and 429 handling are still exercised.
DEFAULT_RATE_LIMIT_PER_MINUTE = 6000.0
DEFAULT_RATE_LIMIT_BURST = 50


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Fake Augment and Sourcegraph Analytics APIs on a local port.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind")
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: any free port)")
    parser.add_argument(
        "--rate-limit-per-minute",
        type=float,
        default=DEFAULT_RATE_LIMIT_PER_MINUTE,
        help=(
            "per-token refill rate (default: %(default)s, Augment's 10 per minute scaled up so "
            "a sandbox run takes seconds; 0: no rate limit)"
        ),
    )
    parser.add_argument(
        "--rate-limit-burst",
        type=int,
        default=DEFAULT_RATE_LIMIT_BURST,
        help="token-bucket capacity (default: %(default)s)",
    )
    parser.add_argument(
        "--sourcegraph-bench-rows",
        type=int,
        default=0,
        help="rows served by the bench.sourcegraph.example instance (0: off)",
    )
    parser.add_argument("--augment-users", type=int, default=12, help="human Augment users")
    parser.add_argument(
        "--today",
        type=dt.date.fromisoformat,
        default=None,
        help="pin 'today' (UTC) as YYYY-MM-DD (default: the real date)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox until SIGTERM/SIGINT.

    Args:
        argv: Command-line arguments (``sys.argv[1:]`` when omitted).

    Returns:
        The exit status.
    """
    args = _parser().parse_args(argv)
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001
        done.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    sandbox = Sandbox(
        today=args.today,
        augment_users=args.augment_users,
        rate_limit_per_minute=args.rate_limit_per_minute or None,
        rate_limit_burst=args.rate_limit_burst,
        sourcegraph_bench_rows=args.sourcegraph_bench_rows,
        host=args.host,
        port=args.port,
    )
    with sandbox:
        ready = {
            "url": sandbox.url,
            "augment_token": sandbox.augment_token,
            "augment_forbidden_token": sandbox.augment_forbidden_token,
            "sourcegraph_token": sandbox.sourcegraph_token,
            "sourcegraph_instances": sandbox.sourcegraph_instances,
            "sourcegraph_unlinked_instance": sandbox.sourcegraph_unlinked_instance,
            "sourcegraph_bench_instance": sandbox.sourcegraph_bench_instance,
            "cas_cookie": sandbox.cas_cookie,
            "today": sandbox.today.isoformat(),
            # The tap's pacing that fits this sandbox's budget (the tap's default is the real
            # API's 10 per minute, which makes a sandbox run take minutes).
            "tap_pacing": {
                "augment_rate_limit_per_minute": int(args.rate_limit_per_minute or 60000),
                "augment_rate_limit_burst": args.rate_limit_burst,
            },
        }
        sys.stdout.write(json.dumps(ready) + "\n")
        sys.stdout.flush()
        # Wake periodically: on some platforms a blocked wait delays signal handlers.
        while not done.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
