"""Crash safety: a backfill SIGKILLed at random points resumes from its last STATE, gap-free.

The real CLI backfills both vendors (Augment over 120 days, Sourcegraph one download per
instance and day) against a rate-limited sandbox. It is killed with SIGKILL (no chance to
clean up or flush a final STATE) at seeded random records, four times, and restarted each
time with the last STATE line it wrote before dying, as Meltano would. The union of the
records of all runs must equal the API's ground truth, and no STATE of any run may be
ahead of the records delivered so far.
"""

from __future__ import annotations

import collections
import datetime as dt
import random
import signal
import typing as t

import pytest

from sandbox import Sandbox
from tests.conftest import bookmark_of
from tests.e2e import (
    AUGMENT_STREAMS,
    FINE,
    KillableTap,
    StateAuditor,
    assert_complete,
    e2e_config,
    ground_truth,
    utc_today,
    write_json,
)

if t.TYPE_CHECKING:
    from pathlib import Path

    from tests.e2e import CliRun, Truth

SEED = 20251021
KILLS = 4
BACKFILL_DAYS = 120
#: Augment requests per minute spent by the tap's pacer...
RATE = 6000
#: ...and allowed per token by the sandbox: four times as many, as Sourcegraph downloads are
#: not paced by the tap (they rely on 429 + Retry-After) and share the sandbox's limiter.
SANDBOX_RATE = 4 * RATE


def kill_plan(truth: Truth, rng: random.Random) -> list[tuple[str, int]]:
    """Pick where each run dies: the n-th record of a stream, in sync order.

    Three random Augment streams and the Sourcegraph day report (the tap syncs streams in
    name order, Sourcegraph last), each at a random record among those it has to deliver,
    so kills land inside per-day windows, 90-day windows and instance partitions alike.
    """
    counts: collections.Counter[str] = collections.Counter()
    for (stream, _), rows in truth.items():
        counts[stream] += len(rows)
    streams = [*sorted(rng.sample(AUGMENT_STREAMS, KILLS - 1)), FINE]
    # Not in the last tenth: the tap may run up to a pipe buffer (64 KiB) ahead of the
    # reader, and must still be running when the kill is sent.
    return [(stream, rng.randint(1, counts[stream] * 9 // 10)) for stream in streams]


def _kill_at(stream: str, n: int) -> t.Callable[[dict[str, t.Any]], bool]:
    """A ``kill_when`` that fires on the ``n``-th record of ``stream`` in this run.

    Or on the first record of a later stream (streams are synced in name order), should a
    previous run have got further into ``stream`` than planned before it died.
    """
    seen = collections.Counter[str]()

    def kill_when(message: dict[str, t.Any]) -> bool:
        if message["type"] != "RECORD":
            return False
        seen[message["stream"]] += 1
        return message["stream"] > stream or seen[stream] >= n

    return kill_when


def test_sigkill_during_a_backfill_never_loses_a_row(tmp_path: Path):
    """Four SIGKILLs at seeded random records, four restarts from the last STATE.

    Proves: after each kill the tap resumes from the last STATE it managed to write
    (``lookback_days: 0``, so nothing but the bookmark decides where it restarts), no STATE
    of any run is ahead of the records delivered before it, the union of all records is
    exactly the ground truth of both vendors over the whole range (no gap, nothing
    invented; re-sent records are identical copies), and the fifth run ends with every
    bookmark at the last date.
    """
    today = utc_today()
    last = today - dt.timedelta(days=2)
    first = last - dt.timedelta(days=BACKFILL_DAYS - 1)
    rng = random.Random(SEED)  # noqa: S311 - reproducible kill points, not crypto
    with Sandbox(today=today, rate_limit_per_minute=SANDBOX_RATE, rate_limit_burst=20) as sb:
        config = e2e_config(
            sb,
            first,
            last,
            rate_per_minute=RATE,
            sourcegraph_window="day",
            lookback_days=0,
        )
        config_path = write_json(tmp_path / "config.json", config)
        truth = ground_truth(sb, first, last)
        auditor = StateAuditor(truth)
        everything: list[dict[str, t.Any]] = []
        state: dict[str, t.Any] | None = None
        plan = kill_plan(truth, rng)

        for attempt in range(KILLS + 1):
            state_path = None if state is None else write_json(tmp_path / "state.json", state)
            kill_when = _kill_at(*plan[attempt]) if attempt < KILLS else None
            tap = KillableTap(config_path, state_path, tmp_path / f"stderr-{attempt}.txt")
            run, killed = tap.run(kill_when)
            auditor.feed(run.messages)
            everything += run.messages
            state = run.last_state or state  # a run killed before any STATE changes nothing
            if attempt < KILLS:
                assert killed, f"run {attempt} ended before its kill point {plan[attempt]}"
            else:
                assert run.returncode == 0, run.explain()
                assert "Traceback" not in run.stderr

        assert_complete(truth, everything)
        assert state is not None
        for stream, instance in truth:
            assert bookmark_of(state, stream, instance) == last.isoformat(), (stream, instance)
        assert auditor.states_checked > BACKFILL_DAYS
        assert sb.errors == []


def _sigterm_run(
    tmp_path: Path, sig: signal.Signals = signal.SIGTERM
) -> tuple[Sandbox, Truth, CliRun, CliRun]:
    """Sync 30 days, SIGTERM (or ``sig``) it mid-way through a per-day stream, then resume."""
    today = utc_today()
    last = today - dt.timedelta(days=2)
    first = last - dt.timedelta(days=29)
    with Sandbox(today=today) as sb:
        config = e2e_config(sb, first, last, lookback_days=0)
        config_path = write_json(tmp_path / "config.json", config)
        truth = ground_truth(sb, first, last)
        tap = KillableTap(config_path, None, tmp_path / "stderr-term.txt")
        stopped, signalled = tap.run(_kill_at("augment_user_activity", 100), sig)
        assert signalled, "the run ended before the SIGTERM"
        assert stopped.last_state is not None
        state_path = write_json(tmp_path / "state.json", stopped.last_state)
        resumed, _ = KillableTap(config_path, state_path, tmp_path / "stderr-2.txt").run(None)
        assert sb.errors == []
    return sb, truth, stopped, resumed


def test_sigterm_writes_a_final_state_that_is_safe_to_resume_from(tmp_path: Path):
    """SIGTERM (how Meltano or a scheduler cancels a run) stops the tap cleanly.

    Proves: the tap shuts down without a traceback (the SDK re-emits the state on
    termination when it changed), its last STATE, like every STATE before it, is not
    ahead of the delivered records, and a run resumed from it completes the range:
    together the two runs deliver exactly the ground truth.
    """
    _, truth, stopped, resumed = _sigterm_run(tmp_path)
    # The last line says why the run stopped (no metric or log line after it).
    assert "Stopped by SIGTERM" in stopped.stderr.strip().splitlines()[-1]
    assert "Traceback" not in stopped.stderr
    assert resumed.returncode == 0, resumed.explain()
    auditor = StateAuditor(truth)
    auditor.feed(stopped.messages)
    auditor.feed(resumed.messages)
    assert_complete(truth, stopped.messages + resumed.messages)


def test_sigterm_exit_status_says_the_run_did_not_finish(tmp_path: Path):
    """A run stopped by SIGTERM does not claim success.

    Proves: the exit status is non-zero (conventionally 128 + 15 = 143), so
    a scheduler does not record an interrupted backfill as complete.
    """
    _, _, stopped, _ = _sigterm_run(tmp_path)
    assert stopped.returncode == 128 + signal.SIGTERM


def test_sigint_stops_like_sigterm(tmp_path: Path):
    """Ctrl-C (SIGINT) ends the run as SIGTERM does: exit 128 + 2, the stop line last."""
    _, _, stopped, resumed = _sigterm_run(tmp_path, signal.SIGINT)
    assert stopped.returncode == 128 + signal.SIGINT
    assert "Stopped by SIGINT" in stopped.stderr.strip().splitlines()[-1]
    assert "Traceback" not in stopped.stderr
    assert resumed.returncode == 0, resumed.explain()


def test_the_audits_catch_a_gap_a_state_ahead_and_differing_copies():
    """The checks used above are not vacuous: each rejects the failure it is meant to find.

    Proves: :class:`StateAuditor` rejects a STATE bookmarking a date whose record was not
    delivered yet, and :func:`assert_complete` rejects a missing record, a record the API
    never served, and two copies of one key with different values.
    """
    stream = "augment_dau_count"
    truth: Truth = {
        (stream, None): {
            ("2025-01-01",): {"date": "2025-01-01", "user_count": 3},
            ("2025-01-02",): {"date": "2025-01-02", "user_count": 4},
        }
    }

    def record(day: str, count: int) -> dict[str, t.Any]:
        return {"type": "RECORD", "stream": stream, "record": {"date": day, "user_count": count}}

    def state(day: str) -> dict[str, t.Any]:
        bookmark = {"replication_key": "date", "replication_key_value": day}
        return {"type": "STATE", "value": {"bookmarks": {stream: bookmark}}}

    good = [record("2025-01-01", 3), state("2025-01-01"), record("2025-01-02", 4)]
    StateAuditor(truth).feed([*good, state("2025-01-02")])
    assert assert_complete(truth, [*good, record("2025-01-02", 4)]) == 1  # one identical copy

    with pytest.raises(AssertionError, match="were not delivered"):
        StateAuditor(truth).feed([record("2025-01-01", 3), state("2025-01-02")])
    with pytest.raises(AssertionError, match="never delivered"):
        assert_complete(truth, good[:2])
    with pytest.raises(AssertionError, match="not in the API's data"):
        assert_complete(truth, [*good, record("2025-01-03", 1)])
    with pytest.raises(AssertionError, match="differ from the API's"):
        assert_complete(truth, [record("2025-01-01", 9), record("2025-01-02", 4)])
    with pytest.raises(AssertionError, match="copies differ"):
        assert_complete(
            truth,
            [
                *good,
                {
                    **record("2025-01-02", 4),
                    "record": {"date": "2025-01-02", "user_count": 4, "extra": 1},
                },
            ],
        )
