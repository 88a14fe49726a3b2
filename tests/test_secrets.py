"""Secrets: no token value ever appears in anything the CLI writes, even at DEBUG level.

Each case runs the real CLI with ``TAP_AI_ANALYTICS_LOGLEVEL=DEBUG`` (the SDK's per-plugin
log level) and greps all of stdout (records, STATE, catalog, about) and stderr (logs,
metrics, retry lines, error messages) for the configured tokens. The sandbox uses tokens
that share a marker, so even a partial leak (a truncated quote) is caught, and in several
cases the fake API echoes the credential back in its error bodies, as misbehaving servers
and proxies do.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import typing as t

import pytest

from sandbox import Sandbox
from tests.e2e import (
    AUGMENT_PATHS,
    REPORT_PATH,
    e2e_config,
    run_tap,
    utc_today,
)

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from sandbox import Faults

#: Every token in this module contains the marker, so any slice of one is easy to find.
MARKER = "Zq7xK"
AUGMENT_TOKEN = f"aug-{MARKER}-4f1c9e27b3"
SOURCEGRAPH_TOKEN = f"sams_at_{MARKER}-8d2a6b40e1"
WRONG_AUGMENT_TOKEN = f"aug-{MARKER}-revoked-77aa"
WRONG_SOURCEGRAPH_TOKEN = f"sams_at_{MARKER}-expired-55bb"
TODAY = utc_today()
FIRST = TODAY - dt.timedelta(days=3)
LAST = TODAY - dt.timedelta(days=2)
DAU = AUGMENT_PATHS["augment_daily_active_users"]
DEBUG = {"TAP_AI_ANALYTICS_LOGLEVEL": "DEBUG"}


def _echo_json(token: str) -> str:
    message = f"upstream rejected Authorization: Bearer {token} (token={token})"
    return json.dumps({"error": {"code": "Internal", "message": message}})


@dataclasses.dataclass(frozen=True)
class Case:
    """One CLI invocation and how it must end."""

    config: Callable[[Sandbox], dict[str, t.Any] | None]
    ok: bool
    args: tuple[str, ...] = ()
    arrange: Callable[[Faults], object] | None = None
    #: Whether the config is passed through environment variables (``--config ENV``).
    env_config: bool = False
    #: Whether the run logs (``--about`` prints and exits before logging is set up).
    logs: bool = True
    #: Text that must appear in stderr (e.g. the redacted echo, proving it was quoted).
    expect: str | None = None


def _env_value(value: object) -> str:
    return json.dumps(value) if isinstance(value, list) else str(value)


def _both(sb: Sandbox, **overrides: t.Any) -> dict[str, t.Any]:
    return e2e_config(sb, FIRST, LAST, **overrides)


def _echo_5xx(faults: Faults) -> None:
    body = _echo_json(AUGMENT_TOKEN)
    faults.fail_next(1, 500, body=body, content_type="application/json", path_prefix=DAU)
    body = f"bad gateway, token={SOURCEGRAPH_TOKEN}"
    faults.fail_next(1, 502, body=body, retry_after=0, path_prefix=REPORT_PATH)


CASES: dict[str, Case] = {
    "successful_sync": Case(_both, ok=True),
    "sync_with_config_from_env": Case(_both, ok=True, env_config=True),
    "5xx_retries_echoing_the_token": Case(
        _both, ok=True, arrange=_echo_5xx, expect="Authorization: Bearer *** (token=***)"
    ),
    "augment_401": Case(lambda sb: _both(sb, augment_api_token=WRONG_AUGMENT_TOKEN), ok=False),
    "augment_401_echoing_the_token": Case(
        lambda sb: _both(sb, augment_api_token=WRONG_AUGMENT_TOKEN),
        ok=False,
        arrange=lambda f: f.fail_next(
            1, 401, body=_echo_json(WRONG_AUGMENT_TOKEN), content_type="application/json"
        ),
        expect="Server said: Internal: upstream rejected Authorization: Bearer *** (token=***)",
    ),
    "augment_403": Case(
        lambda sb: _both(sb, augment_api_token=sb.augment_forbidden_token), ok=False
    ),
    "sourcegraph_401": Case(
        lambda sb: _both(sb, augment=False, sourcegraph_access_token=WRONG_SOURCEGRAPH_TOKEN),
        ok=False,
    ),
    "sourcegraph_403_echoing_the_token": Case(
        lambda sb: _both(sb, augment=False),
        ok=False,
        arrange=lambda f: f.fail_next(
            1,
            403,
            body=f"forbidden for {SOURCEGRAPH_TOKEN}",
            content_type="text/plain",
            path_prefix=REPORT_PATH,
        ),
        expect="forbidden for ***",
    ),
    "connection_test": Case(_both, ok=True, args=("--test",)),
    "connection_test_failing": Case(
        lambda sb: _both(sb, augment_api_token=WRONG_AUGMENT_TOKEN), ok=False, args=("--test",)
    ),
    "discover": Case(_both, ok=True, args=("--discover",)),
    "about": Case(_both, ok=True, args=("--about",), logs=False),
    "about_json": Case(_both, ok=True, args=("--about", "--format", "json"), logs=False),
}


@pytest.fixture(scope="module")
def sb() -> Iterator[Sandbox]:
    """One sandbox whose valid tokens carry the marker."""
    with Sandbox(
        today=TODAY, augment_token=AUGMENT_TOKEN, sourcegraph_token=SOURCEGRAPH_TOKEN
    ) as sandbox:
        yield sandbox


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_no_token_in_anything_the_cli_writes(tmp_path: Path, sb: Sandbox, case: Case):
    """The CLI never writes a token (or part of one), whatever happens during the run.

    Proves it for a successful sync (config from a file and from environment variables),
    retried 5xx responses whose bodies echo the token, 401 and 403 responses (from the
    API and echoing the token), ``--test`` (passing and failing), ``--discover`` and
    ``--about``, all at DEBUG level: not in logs, metrics, error messages, records,
    STATE, catalog or about output.
    """
    sb.faults.clear()
    if case.arrange is not None:
        case.arrange(sb.faults)
    config = case.config(sb)
    assert config is not None
    if case.env_config:
        # A number from the environment is not typed by the SDK (see test_bad_input's
        # test_numeric_setting_from_the_environment): keep the default pacing here.
        config.pop("augment_rate_limit_per_minute", None)
        env = DEBUG | {
            f"TAP_AI_ANALYTICS_{key.upper()}": _env_value(v) for key, v in config.items()
        }
        run = run_tap(tmp_path, None, args=("--config", "ENV", *case.args), env=env)
    else:
        run = run_tap(tmp_path, config, args=case.args, env=DEBUG)

    assert (run.returncode == 0) is case.ok, run.explain()
    assert "Traceback" not in run.stderr, run.explain()
    if case.logs:
        assert "| DEBUG    |" in run.stderr  # DEBUG logging really was on
    if case.expect is not None:
        assert case.expect in run.stderr, run.explain()
    if case.ok and not case.args:
        assert run.records and run.states  # a real sync happened
    assert sb.faults.pending == 0
    output = run.output
    for secret in (AUGMENT_TOKEN, SOURCEGRAPH_TOKEN, WRONG_AUGMENT_TOKEN, WRONG_SOURCEGRAPH_TOKEN):
        assert secret not in output
    leaks = [line for line in output.splitlines() if MARKER in line]
    assert not leaks, f"token fragments written: {leaks[:3]}"


def test_tokens_travel_only_in_the_authorization_header(tmp_path: Path, sb: Sandbox):
    """Each vendor's token is sent only to its API, only as ``Authorization: Bearer``.

    Proves: no token in any URL query string, each request carries its own vendor's token
    (never the other vendor's), and no other header carries a token.
    """
    sb.faults.clear()
    sb.reset_log()
    run = run_tap(tmp_path, _both(sb))
    assert run.returncode == 0, run.explain()
    assert sb.requests
    for request in sb.requests:
        expected = AUGMENT_TOKEN if request.vendor == "augment" else SOURCEGRAPH_TOKEN
        assert request.headers.get("Authorization") == f"Bearer {expected}"
        assert not any(MARKER in value for value in request.params.values())
        others = {k: v for k, v in request.headers.items() if k != "Authorization"}
        assert not any(MARKER in value for value in others.values()), others
