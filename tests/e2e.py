"""End-to-end helpers: the real CLI as a subprocess, the sandbox's ground truth, and audits.

The reliability suites (``test_faults_e2e``, ``test_crash_resume``, ``test_bad_input``,
``test_secrets``, ``test_connection_check``) run ``python -m tap_ai_analytics`` exactly as a
user or Meltano would, against a :class:`~sandbox.Sandbox` started in the
test process, and judge what the process wrote:

* :func:`run_tap` runs the CLI to completion; :class:`KillableTap` runs it and sends it a
  signal (SIGKILL by default) as soon as it has written a chosen message.
* :func:`ground_truth` computes, from the sandbox's dataset, every record a sync over a date
  range must deliver, keyed by primary key and grouped by state partition.
* :func:`assert_complete` compares delivered records with the ground truth (nothing lost,
  nothing invented, duplicates identical); :class:`StateAuditor` proves that no STATE ever
  bookmarks a date whose records were not all delivered before it.

The subprocess uses the real clock, so tests pin the sandbox's "today" to the real UTC date
and always pass an explicit ``end_date`` two days back: a run crossing midnight UTC still
asks for the same dates.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import typing as t
from functools import cached_property
from pathlib import Path

from tap_ai_analytics.compat import override
from tap_ai_analytics.schemas import AUGMENT_METRICS, KNOWN_COLUMNS, column_field_name
from tests.conftest import bookmark_of

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

    from typing_extensions import Self

    from sandbox import Faults, Sandbox

REPO_ROOT = Path(__file__).resolve().parents[1]
TAP_COMMAND = (sys.executable, "-m", "tap_ai_analytics")
#: Generous bound for one CLI run; every test run is expected to take seconds.
RUN_TIMEOUT_SECONDS = 120.0

AUGMENT_STREAMS = (
    "augment_daily_active_users",
    "augment_daily_usage",
    "augment_dau_count",
    "augment_user_activity",
    "augment_user_activity_by_editor_language",
)
FINE = "sourcegraph_usage_by_user_day_client_language"
#: Streams synced without a catalog (the tap's default selection) for both vendors.
DEFAULT_STREAMS = (*AUGMENT_STREAMS, FINE)
KEY_FIELDS: dict[str, tuple[str, ...]] = {
    "augment_daily_active_users": ("date", "identity"),
    "augment_daily_usage": ("date",),
    "augment_dau_count": ("date",),
    "augment_user_activity": ("date", "identity"),
    "augment_user_activity_by_editor_language": ("date", "identity", "editor", "language"),
    FINE: ("instance_url", "instance_user_id", "date", "client_name", "language"),
    "augment_credit_usage": ("date", "identity", "model_name"),
    "augment_cost": ("date", "resource_type", "resource_display_name"),
}
GRANULARITY = {FINE: "by_user_day_client_language"}

AUGMENT_PATHS = {
    "augment_daily_active_users": "/analytics/v0/dau",
    "augment_daily_usage": "/analytics/v0/daily-usage",
    "augment_dau_count": "/analytics/v0/dau-count",
    "augment_user_activity": "/analytics/v0/user-activity",
    "augment_user_activity_by_editor_language": (
        "/analytics/v0/daily-user-activity-by-editor-language"
    ),
}
REPORT_PATH = "/api/reports/by-user-client-date"

#: (stream, partition): the unit a bookmark is kept for (partition = Sourcegraph instance).
Slot = tuple[str, str | None]
#: Primary-key values of one record.
Key = tuple[t.Any, ...]
#: Expected records per slot, by key: each maps field → value the API implies.
Truth = dict[Slot, dict[Key, dict[str, t.Any]]]


# -- dates ------------------------------------------------------------------------------------


def utc_today() -> dt.date:
    """Today's UTC date: the date the CLI subprocess computes for itself."""
    return dt.datetime.now(dt.timezone.utc).date()


def date_range(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every date from ``first`` to ``last`` inclusive."""
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


# -- configuration ----------------------------------------------------------------------------


def e2e_config(  # noqa: PLR0913 - a configuration surface
    sb: Sandbox,
    first: dt.date,
    last: dt.date,
    *,
    augment: bool = True,
    sourcegraph: bool = True,
    rate_per_minute: float = 60000,
    **overrides: t.Any,
) -> dict[str, t.Any]:
    """A CLI config for the sandbox over ``first..last`` (one or both vendors)."""
    config: dict[str, t.Any] = {
        "start_date": first.isoformat(),
        "end_date": last.isoformat(),
        "request_timeout_seconds": 5,
    }
    if augment:
        config |= {
            "augment_api_token": sb.augment_token,
            "augment_api_url": sb.url,
            "augment_rate_limit_per_minute": rate_per_minute,
        }
    if sourcegraph:
        config |= {
            "sourcegraph_access_token": sb.sourcegraph_token,
            "sourcegraph_api_url": sb.url,
            "sourcegraph_instance_urls": list(sb.sourcegraph_instances),
        }
    return config | overrides


def write_json(path: Path, value: object) -> Path:
    """Write ``value`` as JSON to ``path`` and return the path."""
    path.write_text(json.dumps(value), encoding="utf-8")
    return path


def cli_env(**extra: str) -> dict[str, str]:
    """The environment of a CLI run: this checkout importable, no inherited tap settings."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("TAP_AI_ANALYTICS_") and key not in {"LOGLEVEL", "PYTHONPATH"}
    }
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["PYTHONIOENCODING"] = "utf-8"
    return env | extra


def cli_args(config: Path | None, state: Path | None, args: Sequence[str]) -> list[str]:
    """The command line: ``python -m tap_ai_analytics [--config c] [--state s] args...``."""
    command = list(TAP_COMMAND)
    if config is not None:
        command += ["--config", str(config)]
    if state is not None:
        command += ["--state", str(state)]
    return command + list(args)


# -- running the CLI --------------------------------------------------------------------------


def parse_messages(stdout: str) -> list[dict[str, t.Any]]:
    """Decode Singer messages, one per complete line (a line cut by a kill is dropped)."""
    lines = stdout.split("\n")
    complete = lines[:-1]  # the text after the last newline was never finished
    return [json.loads(line) for line in complete if line.strip()]


@dataclasses.dataclass
class CliRun:
    """What one CLI process wrote, and how it ended."""

    returncode: int
    stdout: str
    stderr: str

    @cached_property
    def messages(self) -> list[dict[str, t.Any]]:
        """Singer messages written to stdout, in order."""
        return parse_messages(self.stdout)

    @property
    def records(self) -> dict[str, list[dict[str, t.Any]]]:
        """Records by stream, in order."""
        by_stream: dict[str, list[dict[str, t.Any]]] = collections.defaultdict(list)
        for message in self.messages:
            if message["type"] == "RECORD":
                by_stream[message["stream"]].append(message["record"])
        return by_stream

    @property
    def states(self) -> list[dict[str, t.Any]]:
        """STATE values, in order."""
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def last_state(self) -> dict[str, t.Any] | None:
        """The last STATE value written, if any."""
        states = self.states
        return states[-1] if states else None

    @property
    def stderr_lines(self) -> list[str]:
        """Non-empty stderr lines."""
        return [line for line in self.stderr.splitlines() if line.strip()]

    @property
    def last_line(self) -> str:
        """The last non-empty stderr line (the CLI's verdict), or "" if none."""
        lines = self.stderr_lines
        return lines[-1] if lines else ""

    @property
    def output(self) -> str:
        """Everything the process wrote (stdout and stderr)."""
        return self.stdout + "\n" + self.stderr

    def explain(self) -> str:
        """A compact description for assertion messages."""
        return f"exit {self.returncode}; stderr tail:\n" + "\n".join(self.stderr_lines[-15:])


def run_tap(  # noqa: PLR0913 - mirrors the CLI's options
    tmp_path: Path,
    config: Mapping[str, t.Any] | None,
    *,
    state: object = None,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    raw_config: str | None = None,
    raw_state: str | None = None,
    name: str = "run",
) -> CliRun:
    """Run the CLI to completion.

    Args:
        tmp_path: Directory for the config and state files.
        config: The config (written to a file); None passes no ``--config``.
        state: The incoming state (written to a file), if any.
        args: Further CLI arguments (``--test``, ``--discover``...).
        env: Extra environment variables.
        raw_config: Config file text to write instead of ``config`` (e.g. invalid JSON).
        raw_state: State file text to write instead of ``state``.
        name: File name prefix, so several runs in one test keep their files apart.

    Returns:
        The exit code and everything written.
    """
    config_path = state_path = None
    if raw_config is not None:
        config_path = tmp_path / f"{name}-config.json"
        config_path.write_text(raw_config, encoding="utf-8")
    elif config is not None:
        config_path = write_json(tmp_path / f"{name}-config.json", config)
    if raw_state is not None:
        state_path = tmp_path / f"{name}-state.json"
        state_path.write_text(raw_state, encoding="utf-8")
    elif state is not None:
        state_path = write_json(tmp_path / f"{name}-state.json", state)
    completed = subprocess.run(
        cli_args(config_path, state_path, args),
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=cli_env(**(env or {})),
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
        cwd=tmp_path,
    )
    return CliRun(completed.returncode, completed.stdout, completed.stderr)


def catalog_selecting(tmp_path: Path, config: Mapping[str, t.Any], streams: Iterable[str]) -> Path:
    """Write the ``--discover`` catalog with exactly ``streams`` selected; return its path."""
    run = run_tap(tmp_path, config, args=["--discover"], name="discover")
    assert run.returncode == 0, run.explain()
    catalog = json.loads(run.stdout)
    wanted = set(streams)
    for entry in catalog["streams"]:
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = entry["tap_stream_id"] in wanted
    return write_json(tmp_path / "catalog.json", catalog)


class KillableTap:
    """A CLI sync that is signalled (SIGKILL by default) once it wrote a chosen message.

    Everything the process flushed before dying is kept (what a Singer target would have
    received); a line cut in the middle by the kill is dropped, as a target would.
    """

    def __init__(self, config: Path, state: Path | None, stderr: Path) -> None:
        """Remember the files of the run."""
        self.config = config
        self.state = state
        self.stderr = stderr

    def run(
        self,
        kill_when: t.Callable[[dict[str, t.Any]], bool] | None,
        sig: signal.Signals = signal.SIGKILL,
    ) -> tuple[CliRun, bool]:
        """Run the sync; send it ``sig`` once ``kill_when`` accepts a message it wrote.

        Args:
            kill_when: Called with each Singer message as it arrives (None: never kill).
            sig: The signal (SIGKILL by default; SIGTERM lets the tap shut down).

        Returns:
            The run, and whether the signal reached it while it was running (for SIGKILL:
            whether it died of it).
        """
        chunks: list[bytes] = []
        killed = False
        with (
            self.stderr.open("w", encoding="utf-8") as err,
            subprocess.Popen(
                cli_args(self.config, self.state, ()),
                stdout=subprocess.PIPE,
                stderr=err,
                env=cli_env(),
            ) as process,
        ):
            watchdog = threading.Timer(RUN_TIMEOUT_SECONDS, process.kill)
            watchdog.start()
            try:
                assert process.stdout is not None
                for line in iter(process.stdout.readline, b""):
                    chunks.append(line)
                    if killed or kill_when is None or not line.endswith(b"\n"):
                        continue
                    if kill_when(json.loads(line)):
                        killed = process.poll() is None
                        if killed:
                            process.send_signal(sig)
                # EOF: the process exited or died; what it flushed before has been read.
                returncode = process.wait(timeout=RUN_TIMEOUT_SECONDS)
            finally:
                watchdog.cancel()
                if process.poll() is None:
                    process.kill()
        stdout = b"".join(chunks).decode("utf-8", errors="replace")
        stderr = self.stderr.read_text(encoding="utf-8", errors="replace")
        died = returncode == -signal.SIGKILL if sig == signal.SIGKILL else True
        return CliRun(returncode, stdout, stderr), killed and died


@contextlib.contextmanager
def serve_text(body: str, content_type: str = "text/csv") -> Iterator[str]:
    """Serve ``body`` with status 200 to every GET on a local port; yield the base URL.

    For inputs the sandbox cannot produce, such as a report without a required column.
    """

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            payload = body.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        @override
        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Keep the test output clean."""

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


# -- ground truth -----------------------------------------------------------------------------


def _login(row: Mapping[str, t.Any]) -> str:
    return str(row.get("user_email") or row["service_account_name"])


def _metrics(row: Mapping[str, t.Any]) -> dict[str, t.Any]:
    metrics = row.get("metrics") or {}
    return {key: metrics.get(key) for key in AUGMENT_METRICS}


def augment_truth(sb: Sandbox, stream: str, days: Iterable[dt.date]) -> dict[Key, dict[str, t.Any]]:
    """The records an Augment stream must deliver for ``days``, with their values."""
    data = sb.data.augment
    rows: dict[Key, dict[str, t.Any]] = {}
    for day in days:
        date = day.isoformat()
        expected: list[dict[str, t.Any]] = []
        if stream == "augment_dau_count":
            expected = [{"date": date, "user_count": data.dau_count(day)}]
        elif stream == "augment_daily_usage":
            usage = data.daily_usage(day)
            expected = [] if usage is None else [{"date": date, **_metrics(usage)}]
        elif stream == "augment_daily_active_users":
            expected = [{"date": date, "identity": _login(u)} for u in data.dau_users(day)]
        elif stream == "augment_user_activity":
            expected = [
                {
                    "date": date,
                    "identity": _login(u),
                    "active_days": u["active_days"],
                    **_metrics(u),
                }
                for u in data.user_activity(day)
            ]
        elif stream == "augment_user_activity_by_editor_language":
            expected = [
                {
                    "date": date,
                    "identity": _login(r),
                    "editor": r["editor"],
                    "language": r["language"],
                    **_metrics(r),
                }
                for r in data.editor_language(day)
            ]
        else:
            msg = f"no ground truth for {stream}"
            raise ValueError(msg)
        for record in expected:
            rows[record_key(stream, record)] = record
    return rows


def _cast(header: str, raw: str) -> t.Any:
    """Independent cast of one CSV cell, as the schema documents it."""
    column = KNOWN_COLUMNS[column_field_name(header)]
    if raw == "":
        return "" if column.kind == "key_string" else None
    casts: dict[str, t.Callable[[str], t.Any]] = {
        "integer": int,
        "number": float,
        "boolean": lambda v: v.lower() in {"true", "1", "yes", "y", "t"},
        "month": lambda v: v[:7] + "-01",
        "date": lambda v: v[:10],
    }
    return casts.get(column.kind, str)(raw)


def sourcegraph_truth(
    sb: Sandbox, stream: str, instance: str, first: dt.date, last: dt.date
) -> dict[Key, dict[str, t.Any]]:
    """The records a Sourcegraph day report must deliver for one instance over a range."""
    header, rows = sb.data.sourcegraph.report(instance, GRANULARITY[stream], first, last)
    known = [(i, cell) for i, cell in enumerate(header) if column_field_name(cell) in KNOWN_COLUMNS]
    expected: dict[Key, dict[str, t.Any]] = {}
    for row in rows:
        record = {"instance_url": instance}
        record |= {column_field_name(cell): _cast(cell, row[i]) for i, cell in known}
        expected[record_key(stream, record)] = record
    return expected


def ground_truth(
    sb: Sandbox,
    first: dt.date,
    last: dt.date,
    streams: Iterable[str] = DEFAULT_STREAMS,
    instances: Iterable[str] | None = None,
) -> Truth:
    """Every record a sync of ``streams`` over ``first..last`` must deliver, by slot and key."""
    days = date_range(first, last)
    truth: Truth = {}
    for stream in streams:
        if stream.startswith("augment_"):
            truth[stream, None] = augment_truth(sb, stream, days)
        else:
            for instance in sb.sourcegraph_instances if instances is None else instances:
                truth[stream, instance] = sourcegraph_truth(sb, stream, instance, first, last)
    return truth


def record_key(stream: str, record: Mapping[str, t.Any]) -> Key:
    """The primary-key values of a record."""
    return tuple(record[field] for field in KEY_FIELDS[stream])


def slot_of(stream: str, record: Mapping[str, t.Any]) -> Slot:
    """The state partition a record belongs to."""
    return stream, record.get("instance_url") if stream.startswith("sourcegraph_") else None


# -- audits -----------------------------------------------------------------------------------


def delivered(
    messages: Iterable[Mapping[str, t.Any]],
) -> dict[Slot, dict[Key, list[dict[str, t.Any]]]]:
    """Records by slot and key; a key delivered more than once lists every copy."""
    found: dict[Slot, dict[Key, list[dict[str, t.Any]]]] = collections.defaultdict(
        lambda: collections.defaultdict(list)
    )
    for message in messages:
        if message["type"] == "RECORD":
            stream, record = message["stream"], message["record"]
            found[slot_of(stream, record)][record_key(stream, record)].append(record)
    return found


def assert_complete(truth: Truth, messages: Iterable[Mapping[str, t.Any]]) -> int:
    """Assert that the messages deliver exactly the ground truth.

    Every expected record was delivered with the expected values, no record outside the
    ground truth was delivered, and any key delivered more than once (a retry or a re-read
    after a restart) has identical copies.

    Returns:
        How many duplicate copies were seen (0 when each key was delivered once).
    """
    found = delivered(messages)
    unexpected_slots = set(found) - set(truth)
    assert not unexpected_slots, f"records of unexpected streams: {sorted(unexpected_slots)}"
    duplicates = 0
    for slot, expected in truth.items():
        got = found.get(slot, {})
        missing = sorted(set(expected) - set(got), key=repr)
        extra = sorted(set(got) - set(expected), key=repr)
        assert not missing, f"{slot}: {len(missing)} records never delivered, e.g. {missing[:3]}"
        assert not extra, f"{slot}: {len(extra)} records not in the API's data, e.g. {extra[:3]}"
        for key, copies in got.items():
            first = copies[0]
            wrong = {f: (first.get(f), v) for f, v in expected[key].items() if first.get(f) != v}
            assert not wrong, f"{slot} {key}: delivered values differ from the API's: {wrong}"
            assert all(copy == first for copy in copies[1:]), f"{slot} {key}: copies differ"
            duplicates += len(copies) - 1
    return duplicates


class StateAuditor:
    """Proves that STATE is never ahead of the records delivered before it.

    Feed it the messages of one or more consecutive runs, in order. Whenever a STATE
    bookmarks date D for a stream (and instance), every ground-truth record of that stream
    and instance dated on or before D must already have been delivered, by this run or an
    earlier run whose state this one resumed from.
    """

    def __init__(self, truth: Truth) -> None:
        """Start with nothing delivered."""
        self.truth = truth
        self.seen: dict[Slot, set[Key]] = collections.defaultdict(set)
        self.states_checked = 0

    def feed(self, messages: Iterable[Mapping[str, t.Any]]) -> None:
        """Audit messages in order (raises AssertionError at the first state ahead)."""
        for message in messages:
            if message["type"] == "RECORD":
                stream, record = message["stream"], message["record"]
                self.seen[slot_of(stream, record)].add(record_key(stream, record))
            elif message["type"] == "STATE":
                self.check(message["value"])

    def check(self, state: Mapping[str, t.Any]) -> None:
        """Check one STATE value against what has been delivered so far."""
        self.states_checked += 1
        for slot, expected in self.truth.items():
            stream, partition = slot
            mark = bookmark_of(dict(state), stream, partition)
            if not mark:
                continue
            seen = self.seen[slot]
            missing = [k for k, row in expected.items() if row["date"] <= mark and k not in seen]
            assert not missing, (
                f"STATE #{self.states_checked} bookmarks {slot} at {mark} but "
                f"{len(missing)} records up to that date were not delivered, e.g. {missing[:3]}"
            )


def assert_synced_everything(
    sb: Sandbox, first: dt.date, last: dt.date, run: CliRun, streams: Sequence[str]
) -> None:
    """A run that succeeded: every record of ``streams`` over ``first..last`` delivered.

    Also: no traceback, no STATE ahead of the records before it, and the final state
    bookmarks ``last`` for each (Augment) stream.
    """
    assert run.returncode == 0, run.explain()
    assert "Traceback" not in run.stderr
    truth = ground_truth(sb, first, last, streams)
    assert_complete(truth, run.messages)
    StateAuditor(truth).feed(run.messages)
    for stream in streams:
        assert bookmark_of(run.states[-1], stream) == last.isoformat(), stream


class FaultSequence:
    """Arms scripted faults one step at a time, each on a later request than the last.

    The sandbox's scripted faults hit the next matching requests, so faults queued
    together land on one request and its retries, whose exponential backoff then adds up
    (1 s, 2 s, 4 s...). To spread them over different requests, each step is armed only
    once the previous step's faults were all consumed and a later request succeeded (the
    retry went through). Which request receives a step depends on timing, but every step
    is consumed by some request of the run, which is what the tests assert.
    """

    def __init__(self, sb: Sandbox, steps: Sequence[t.Callable[[Faults], object]]) -> None:
        """Prepare the steps (enter the context just before the run starts)."""
        self.sb = sb
        self.steps = list(steps)
        self.armed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="fault-sequence")

    def __enter__(self) -> Self:
        """Arm the first step and watch the request log from a thread."""
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop watching."""
        self._stop.set()
        self._thread.join(5)

    @property
    def done(self) -> bool:
        """Whether every step was armed and consumed."""
        return self.armed == len(self.steps) and self.sb.faults.pending == 0

    def _run(self) -> None:
        faults = self.sb.faults
        for step in self.steps:
            step(faults)
            self.armed += 1
            while faults.pending and not self._stop.wait(0.002):
                pass
            hit = len(self.sb.requests) - 1  # the request that consumed the last fault
            while not self._stop.wait(0.002):
                later = self.sb.requests[hit + 1 :]
                if any(r.status == 200 and r.fault is None for r in later):
                    break
            if self._stop.is_set():
                return


def faults_fired(sb: Sandbox) -> collections.Counter[tuple[str, str | None]]:
    """How many requests each injected fault hit, by (fault, status)."""
    return collections.Counter((r.fault, str(r.status)) for r in sb.requests if r.fault)


def strip_log_prefix(line: str) -> str:
    """The message part of an SDK console log line (``time | LEVEL | logger | message``)."""
    parts = line.split(" | ", 3)
    return parts[3] if len(parts) == 4 else line
