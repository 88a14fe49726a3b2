"""Create, list and revoke Sourcegraph Analytics access tokens from the command line.

Sourcegraph Analytics manages its API tokens through ``/api/service-access-tokens``, which is
authenticated by the browser session cookie ``cas`` rather than by a token. This helper wraps
those three calls so an administrator can mint the token the tap needs without curl::

    export SOURCEGRAPH_ANALYTICS_CAS_COOKIE=...   # value of the "cas" cookie, after signing in
    tap-ai-analytics-sourcegraph-tokens create --display-name "warehouse sync"
    tap-ai-analytics-sourcegraph-tokens list
    tap-ai-analytics-sourcegraph-tokens revoke 4cf96e80-d5f3-4af0-a28d-3c70ba97abb4

The cookie is a full session credential: it is read only from the environment (never from
the command line, where it would land in shell history and process listings) and never
printed; messages built from server responses are scrubbed of it as well.
"""

# ruff: noqa: T201 - a command-line program: printing is its output

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import typing as t
from importlib import metadata
from urllib.parse import quote, urlsplit

import requests

if t.TYPE_CHECKING:
    from collections.abc import Sequence

PROG = "tap-ai-analytics-sourcegraph-tokens"
COOKIE_ENV = "SOURCEGRAPH_ANALYTICS_CAS_COOKIE"
DEFAULT_API_URL = "https://analytics.sourcegraph.com"
TOKENS_PATH = "/api/service-access-tokens"
DEFAULT_TIMEOUT_SECONDS = 30.0
#: Server text longer than this is cut: an HTML error page is noise in a one-line message.
MAX_BODY_CHARS = 200


class TokenHelperError(Exception):
    """A failure worth one line to the user (no traceback)."""


def _version() -> str:
    try:
        return metadata.version("tap-ai-analytics")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def _scrub(text: str, secret: str) -> str:
    """Remove ``secret`` from ``text``, in case a server or proxy echoes request headers."""
    return text.replace(secret, "***") if secret else text


def read_cookie(environ: t.Mapping[str, str]) -> str:
    """Return the ``cas`` cookie value from the environment.

    Accepts the bare value or ``cas=VALUE`` (what browser tools copy).

    Args:
        environ: The environment.

    Returns:
        The cookie value.

    Raises:
        TokenHelperError: If it is missing or is not a single cookie value.
    """
    value = environ.get(COOKIE_ENV, "").strip()
    value = value.removeprefix("cas=")
    if not value:
        msg = (
            f"{COOKIE_ENV} is not set: sign in to Sourcegraph Analytics in a browser, copy the "
            f"value of its 'cas' cookie, and export it as {COOKIE_ENV}."
        )
        raise TokenHelperError(msg)
    if any(char in value for char in ";,\r\n\t ") or not value.isprintable():
        msg = (
            f"{COOKIE_ENV} must hold only the value of the 'cas' cookie, not a whole Cookie "
            "header or several cookies."
        )
        raise TokenHelperError(msg)
    return value


def parse_expiry(value: str, *, now: dt.datetime | None = None) -> str:
    """Normalise an ``--expires-at`` value to the RFC 3339 UTC form the API expects.

    A date alone means the end of that day in UTC; a date-time without an offset is UTC.

    Args:
        value: ``YYYY-MM-DD`` or an ISO 8601 date-time.
        now: The current time (injectable for tests).

    Returns:
        E.g. ``2025-12-31T23:59:59Z``.

    Raises:
        TokenHelperError: If the value is not a date, or is not in the future.
    """
    text = value.strip()
    try:
        if len(text) == len("YYYY-MM-DD"):
            day = dt.date.fromisoformat(text)
            moment = dt.datetime.combine(day, dt.time(23, 59, 59), tzinfo=dt.timezone.utc)
        else:
            moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        msg = f"--expires-at {value!r} is not a date: use e.g. 2026-12-31 or 2026-12-31T18:00:00Z."
        raise TokenHelperError(msg) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)
    moment = moment.astimezone(dt.timezone.utc).replace(microsecond=0)
    if moment <= (now or dt.datetime.now(dt.timezone.utc)):
        msg = f"--expires-at {value!r} is in the past: a token must expire in the future."
        raise TokenHelperError(msg)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class TokenClient:
    """The token-management endpoints of one Sourcegraph Analytics API."""

    def __init__(
        self,
        api_url: str,
        cookie: str,
        *,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        session: requests.Session | None = None,
    ) -> None:
        """Create a client.

        Args:
            api_url: Base URL, e.g. ``https://analytics.sourcegraph.com``.
            cookie: Value of the ``cas`` session cookie.
            timeout: Seconds to wait for connecting and for each read.
            session: HTTP session (a new one by default).

        Raises:
            TokenHelperError: If ``api_url`` is not an http(s) URL.
        """
        parts = urlsplit(api_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            msg = f"--api-url {api_url!r} is not an http(s) URL, e.g. {DEFAULT_API_URL}."
            raise TokenHelperError(msg)
        self.api_url = api_url.rstrip("/")
        self._cookie = cookie
        self._timeout = timeout
        self._session = session or requests.Session()

    def _request(self, method: str, path: str, body: dict[str, str] | None = None) -> t.Any:
        url = f"{self.api_url}{path}"
        headers = {
            # Sent as a raw header rather than through the session's cookie jar, so the
            # credential goes to exactly this URL and is never stored.
            "Cookie": f"cas={self._cookie}",
            "Accept": "application/json",
            "User-Agent": f"{PROG}/{_version()}",
        }
        try:
            response = self._session.request(
                method,
                url,
                headers=headers,
                json=body,
                timeout=self._timeout,
                # A redirect would replay the cookie to wherever it points; an expired session
                # is typically answered with a redirect to the sign-in page anyway.
                allow_redirects=False,
            )
        except requests.Timeout:
            msg = f"{self.api_url} did not answer within {self._timeout:g}s; try again later."
            raise TokenHelperError(msg) from None
        except requests.RequestException as exc:
            reason = type(exc).__name__
            msg = f"could not reach {self.api_url} ({reason}); check the URL and your network."
            raise TokenHelperError(msg) from None
        self._check(response, method)
        if response.status_code == requests.codes.no_content or not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            msg = (
                f"{method} {path} answered {response.status_code} with a body that is not "
                f"JSON: {self._snippet(response)}"
            )
            raise TokenHelperError(msg) from None

    def _snippet(self, response: requests.Response) -> str:
        text = " ".join(response.text.split())
        if len(text) > MAX_BODY_CHARS:
            text = text[:MAX_BODY_CHARS] + "..."
        return _scrub(text, self._cookie) or "(empty body)"

    def _check(self, response: requests.Response, method: str) -> None:
        status = response.status_code
        if status < 300:  # noqa: PLR2004
            return
        if status in {401, 403} or 300 <= status < 400:  # noqa: PLR2004
            msg = (
                f"Sourcegraph Analytics did not accept the session cookie (HTTP {status}): sign "
                f"in again and copy a fresh 'cas' cookie value into {COOKIE_ENV}."
            )
        elif status == 404 and method == "DELETE":  # noqa: PLR2004
            msg = "no such token: run 'list' to see the IDs of your tokens."
        elif status == 404:  # noqa: PLR2004
            msg = f"{self.api_url}{TOKENS_PATH} does not exist (HTTP 404): check --api-url."
        elif status >= 500:  # noqa: PLR2004
            msg = (
                f"Sourcegraph Analytics had a server error (HTTP {status}); try again later: "
                f"{self._snippet(response)}"
            )
        else:
            msg = (
                f"Sourcegraph Analytics refused the request (HTTP {status}): "
                f"{self._snippet(response)}"
            )
        raise TokenHelperError(msg)

    def create(
        self, display_name: str | None = None, expires_at: str | None = None
    ) -> dict[str, t.Any]:
        """Create a token; the response is the only time its secret is shown.

        Args:
            display_name: Optional name shown in the token list.
            expires_at: Optional RFC 3339 expiry; without it the token never expires.

        Returns:
            ``{"id", "secret", "createdAt", ["displayName"], ["expiresAt"]}``.

        Raises:
            TokenHelperError: If the request fails or the answer lacks the secret.
        """
        body: dict[str, str] = {}
        if display_name:
            body["displayName"] = display_name
        if expires_at:
            body["expiresAt"] = expires_at
        created = self._request("POST", TOKENS_PATH, body)
        if not isinstance(created, dict) or not created.get("secret") or not created.get("id"):
            msg = "the create response has no token id or secret; nothing was printed."
            raise TokenHelperError(msg)
        return created

    def list_tokens(self) -> list[dict[str, t.Any]]:
        """Return the tokens of the signed-in account (without secrets).

        Raises:
            TokenHelperError: If the request fails or the answer is not a token list.
        """
        listed = self._request("GET", TOKENS_PATH)
        tokens = listed.get("tokens") if isinstance(listed, dict) else None
        if not isinstance(tokens, list) or not all(isinstance(item, dict) for item in tokens):
            msg = 'the list response is not {"tokens": [...]}.'
            raise TokenHelperError(msg)
        return tokens

    def revoke(self, token_id: str) -> None:
        """Revoke a token (it stays listed, as expired).

        Args:
            token_id: The token's ID, as ``list`` shows it.

        Raises:
            TokenHelperError: If the request fails.
        """
        if not token_id.strip():
            msg = "the token ID is empty: run 'list' to see the IDs of your tokens."
            raise TokenHelperError(msg)
        # quote() with no safe characters keeps an odd ID from addressing another path.
        self._request("DELETE", f"{TOKENS_PATH}/{quote(token_id.strip(), safe='')}")


def format_table(tokens: Sequence[dict[str, t.Any]]) -> str:
    """Render tokens as an aligned text table, oldest first (never includes secrets).

    Args:
        tokens: Items of the list response.

    Returns:
        The table, or a one-line note when there are no tokens.
    """
    if not tokens:
        return "No access tokens."
    header = ("ID", "NAME", "CREATED", "EXPIRES", "STATUS")
    rows = [
        (
            str(token.get("id", "")),
            str(token.get("displayName") or "-"),
            str(token.get("createdAt") or "-"),
            str(token.get("expiresAt") or "never"),
            "expired" if token.get("isExpired") else "active",
        )
        for token in sorted(tokens, key=lambda item: str(item.get("createdAt", "")))
    ]
    widths = [max(len(row[i]) for row in (header, *rows)) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in (header, *rows)
    ]
    return "\n".join(lines)


def _seconds(text: str) -> float:
    """Parse ``--timeout`` (argparse type): a positive number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:  # also rejects NaN
        msg = f"must be a positive number of seconds, got {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the command-line parser."""
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=(
            "Manage Sourcegraph Analytics access tokens (the tap's sourcegraph_access_token). "
            f"Authenticates with your browser session: set {COOKIE_ENV} to the value of the "
            "'cas' cookie of analytics.sourcegraph.com."
        ),
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    _add_connection_options(parser, defaults=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    create = commands.add_parser(
        "create",
        help="Create a token and print its secret (shown only this once).",
        description=(
            "Create a token. The secret is printed alone on standard output (so it can be "
            "captured with $(...)); the ID and expiry go to standard error."
        ),
    )
    create.add_argument("--display-name", help="Name shown in the token list.")
    create.add_argument(
        "--expires-at",
        help=(
            "Expiry: YYYY-MM-DD (end of that day, UTC) or an ISO 8601 date-time (UTC unless "
            "it has an offset). Default: never expires."
        ),
    )
    create.add_argument(
        "--json", action="store_true", help="Print the API's JSON answer (includes the secret)."
    )

    listing = commands.add_parser("list", help="List your tokens (never shows secrets).")
    listing.add_argument("--json", action="store_true", help="Print the tokens as JSON.")

    revoke = commands.add_parser("revoke", help="Revoke a token by ID.")
    revoke.add_argument("token_id", metavar="ID", help="The token's ID, as 'list' shows it.")
    for command in (create, listing, revoke):
        # Also accepted after the command (`list --api-url URL`), where users tend to put them.
        _add_connection_options(command, defaults=False)
    return parser


def _add_connection_options(parser: argparse.ArgumentParser, *, defaults: bool) -> None:
    """Add ``--api-url`` and ``--timeout``.

    Args:
        parser: The main parser or a command's parser.
        defaults: Whether to set the defaults. A command's parser must not: its default would
            overwrite a value given before the command.
    """
    parser.add_argument(
        "--api-url",
        default=DEFAULT_API_URL if defaults else argparse.SUPPRESS,
        help=f"Sourcegraph Analytics base URL (default: {DEFAULT_API_URL}).",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=DEFAULT_TIMEOUT_SECONDS if defaults else argparse.SUPPRESS,
        help=f"Seconds to wait for the server (default: {DEFAULT_TIMEOUT_SECONDS:g}).",
    )


def run(args: argparse.Namespace, environ: t.Mapping[str, str]) -> None:
    """Carry out one parsed command.

    Args:
        args: Parsed arguments.
        environ: The environment (for the cookie).
    """
    expires_at = parse_expiry(args.expires_at) if getattr(args, "expires_at", None) else None
    cookie = read_cookie(environ)
    with requests.Session() as session:
        _dispatch(
            args,
            TokenClient(args.api_url, cookie, timeout=args.timeout, session=session),
            expires_at,
        )


def _dispatch(args: argparse.Namespace, client: TokenClient, expires_at: str | None) -> None:
    if args.command == "create":
        created = client.create(args.display_name, expires_at)
        if args.json:
            print(json.dumps(created, indent=2))
            return
        name = f" {created['displayName']!r}" if created.get("displayName") else ""
        expiry = created.get("expiresAt") or "never"
        print(
            f"Created token {created['id']}{name} (expires: {expiry}). Its secret follows and "
            "is shown only this once: store it now as the tap's sourcegraph_access_token.",
            file=sys.stderr,
        )
        print(created["secret"])
    elif args.command == "list":
        tokens = client.list_tokens()
        # Secrets are never listed by the API; drop the key anyway should that ever change.
        tokens = [{k: v for k, v in token.items() if k != "secret"} for token in tokens]
        print(json.dumps(tokens, indent=2) if args.json else format_table(tokens))
    else:
        client.revoke(args.token_id)
        print(f"Revoked token {args.token_id.strip()}.", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        0 on success, 1 on a failure explained on standard error, 2 on a usage error.
    """
    args = build_parser().parse_args(argv)
    try:
        run(args, os.environ)
    except TokenHelperError as exc:
        cookie = os.environ.get(COOKIE_ENV, "").strip().removeprefix("cas=")
        print(f"{PROG}: error: {_scrub(str(exc), cookie)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
