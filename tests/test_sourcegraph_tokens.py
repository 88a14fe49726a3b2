"""The Sourcegraph access-token helper, against the sandbox's token-management API."""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys

import pytest
import requests

from sandbox import Sandbox
from tap_ai_analytics import sourcegraph_tokens as tokens

REPORT = "/api/reports/by-user-client-date"


@pytest.fixture(scope="module")
def sb():
    with Sandbox() as sandbox:
        yield sandbox


@pytest.fixture
def cli(sb, monkeypatch, capsys):
    """Run the helper in-process against the sandbox; return (exit code, stdout, stderr)."""
    monkeypatch.setenv(tokens.COOKIE_ENV, sb.cas_cookie)

    def run(*args: str, api_url: str | None = None) -> tuple[int, str, str]:
        code = tokens.main(["--api-url", api_url or sb.url, *args])
        out, err = capsys.readouterr()
        # The session cookie is a full credential: it must never reach the terminal.
        assert sb.cas_cookie not in out + err
        return code, out, err

    return run


def report_status(sb, secret: str) -> int:
    today = dt.datetime.now(dt.timezone.utc).date().isoformat()
    response = requests.get(
        sb.url + REPORT,
        params={
            "instanceURL": sb.sourcegraph_instances[0],
            "granularity": "by_user",
            "startDate": today,
            "endDate": today,
        },
        headers={"Authorization": f"Bearer {secret}"},
        timeout=30,
    )
    return response.status_code


def listed(cli) -> dict[str, str]:
    """Token id -> the table line that lists it."""
    code, out, _ = cli("list")
    assert code == 0
    return {line.split()[0]: line for line in out.splitlines()[1:]}


def test_create_prints_a_working_secret_then_revoke_disables_it(sb, cli):
    code, out, err = cli("create", "--display-name", "warehouse sync", "--expires-at", "2099-12-31")
    assert code == 0
    secret = out.strip()
    assert secret
    assert len(out.splitlines()) == 1  # stdout is the secret alone, for $(...)
    assert "warehouse sync" in err
    assert "2099-12-31T23:59:59Z" in err
    token_id = err.split("Created token ", 1)[1].split()[0]

    assert report_status(sb, secret) == 200

    line = listed(cli)[token_id]
    assert "warehouse sync" in line
    assert "active" in line
    assert secret not in line

    code, _, err = cli("revoke", token_id)
    assert code == 0
    assert token_id in err
    assert report_status(sb, secret) == 401
    assert listed(cli)[token_id].endswith("expired")


def test_create_json_and_list_json(cli):
    code, out, _ = cli("create", "--json")
    assert code == 0
    created = json.loads(out)
    assert {"id", "secret", "createdAt"} <= created.keys()
    assert "expiresAt" not in created  # no expiry requested: never expires

    code, out, _ = cli("list", "--json")
    assert code == 0
    items = {item["id"]: item for item in json.loads(out)}
    assert created["id"] in items
    assert all("secret" not in item for item in items.values())
    assert created["secret"] not in out


def test_list_table_shows_never_for_tokens_without_expiry(cli):
    code, _, err = cli("create")
    assert code == 0
    assert "(expires: never)" in err
    token_id = err.split("Created token ", 1)[1].split()[0]
    _, out, _ = cli("list")
    assert out.splitlines()[0].split() == ["ID", "NAME", "CREATED", "EXPIRES", "STATUS"]
    fields = listed(cli)[token_id].split()
    assert fields[1] == "-"  # no display name
    assert fields[3:] == ["never", "active"]


def test_revoke_unknown_id(cli):
    code, out, err = cli("revoke", "does-not-exist")
    assert code == 1
    assert out == ""
    assert "no such token" in err


@pytest.mark.parametrize("token_id", ["../../api/reports/by-user-client-date", "a/b?c#d"])
def test_revoke_quotes_the_id_into_one_path_segment(cli, token_id):
    code, _, err = cli("revoke", token_id)
    assert code == 1
    assert "no such token" in err


def test_missing_cookie(cli, monkeypatch):
    monkeypatch.delenv(tokens.COOKIE_ENV)
    code, out, err = cli("list")
    assert code == 1
    assert out == ""
    assert tokens.COOKIE_ENV in err
    assert len(err.strip().splitlines()) == 1


def test_rejected_cookie_is_one_line_and_never_echoed(cli, monkeypatch):
    bad = "cas-session-expired-0000"
    monkeypatch.setenv(tokens.COOKIE_ENV, bad)
    code, out, err = cli("create")
    assert code == 1
    assert out == ""
    assert "did not accept the session cookie (HTTP 401)" in err
    assert bad not in err
    assert len(err.strip().splitlines()) == 1


def test_cookie_may_be_pasted_with_its_name(cli, monkeypatch, sb):
    monkeypatch.setenv(tokens.COOKIE_ENV, f"cas={sb.cas_cookie}")
    assert cli("list")[0] == 0


@pytest.mark.parametrize("value", ["cas=a; other=b", "a\nb", "a b"])
def test_cookie_must_be_a_single_value(cli, monkeypatch, value):
    monkeypatch.setenv(tokens.COOKIE_ENV, value)
    code, _, err = cli("list")
    assert code == 1
    assert "only the value" in err


def test_network_error_is_one_line(cli):
    with socket.socket() as sock:  # a port with nothing listening on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    code, out, err = cli("list", api_url=f"http://127.0.0.1:{port}")
    assert code == 1
    assert out == ""
    assert f"could not reach http://127.0.0.1:{port}" in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_server_error_body_is_scrubbed_and_cut(sb, cli, monkeypatch):
    """A server echoing the request (cookie included) must not get it printed."""
    long_echo = f"error: Cookie: cas={sb.cas_cookie} " + "x" * 500

    def fake_request(*_args, **_kwargs):
        response = requests.Response()
        response.status_code = 500
        response._content = long_echo.encode()
        return response

    monkeypatch.setattr(requests.Session, "request", fake_request)
    code, _, err = cli("list")
    assert code == 1
    assert "HTTP 500" in err
    assert "***" in err
    assert len(err) < 600


def test_invalid_api_url(cli):
    code, _, err = cli("list", api_url="analytics.sourcegraph.com")
    assert code == 1
    assert "is not an http(s) URL" in err


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2030-01-31", "2030-01-31T23:59:59Z"),
        ("2030-01-31T12:00:00Z", "2030-01-31T12:00:00Z"),
        ("2030-01-31T12:00:00", "2030-01-31T12:00:00Z"),
        ("2030-01-31T14:00:00+02:00", "2030-01-31T12:00:00Z"),
    ],
)
def test_parse_expiry(value, expected):
    assert tokens.parse_expiry(value) == expected


@pytest.mark.parametrize(
    ("value", "message"), [("2020-01-01", "in the past"), ("soon", "not a date")]
)
def test_parse_expiry_rejects(value, message):
    with pytest.raises(tokens.TokenHelperError, match=message):
        tokens.parse_expiry(value)


@pytest.mark.parametrize("timeout", ["0", "-1", "nan", "soon"])
def test_timeout_must_be_positive(timeout, capsys):
    with pytest.raises(SystemExit) as excinfo:
        tokens.main(["--timeout", timeout, "list"])
    assert excinfo.value.code == 2
    assert "positive number of seconds" in capsys.readouterr().err


def test_console_script_usage_error_exits_2():
    result = subprocess.run(
        [sys.executable, "-m", "tap_ai_analytics.sourcegraph_tokens", "frobnicate"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


@pytest.mark.parametrize("command", [["list"], ["create"], ["revoke", "tok-1"]])
def test_connection_options_are_accepted_after_the_command(command):
    parser = tokens.build_parser()
    after = parser.parse_args([*command, "--api-url", "http://127.0.0.1:9", "--timeout", "7"])
    before = parser.parse_args(["--api-url", "http://127.0.0.1:9", "--timeout", "7", *command])
    assert (after.api_url, after.timeout) == (before.api_url, before.timeout)
    assert (after.api_url, after.timeout) == ("http://127.0.0.1:9", 7.0)
    default = parser.parse_args(command)  # a command's parser does not reset the defaults
    assert (default.api_url, default.timeout) == (
        tokens.DEFAULT_API_URL,
        tokens.DEFAULT_TIMEOUT_SECONDS,
    )


def test_list_with_api_url_after_the_command(sb, monkeypatch, capsys):
    monkeypatch.setenv(tokens.COOKIE_ENV, sb.cas_cookie)
    assert tokens.main(["list", "--api-url", sb.url]) == 0
    assert "ID" in capsys.readouterr().out
