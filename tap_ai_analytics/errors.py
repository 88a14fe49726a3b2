"""Errors a user can act on, and the redaction that keeps secrets out of them.

Every error derived from :class:`TapError` is reported by the CLI as one line, without a
traceback: it describes the user's situation (bad config, rejected token, ...), not a bug.
"""

from __future__ import annotations

import re
import typing as t

from singer_sdk.exceptions import FatalAPIError

if t.TYPE_CHECKING:
    from collections.abc import Iterable

#: Longest slice of a server response quoted in an error message.
MAX_QUOTED_BODY = 300

_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")


class TapError(Exception):
    """An error the user can act on; the CLI reports its message in one line."""


class ConfigError(TapError):
    """The configuration (or state) is invalid; nothing was requested."""


class APIRequestError(FatalAPIError, TapError):
    """An API refused a request in a way retrying cannot fix (400, 401, 403, 404...)."""


class APIUnusableError(APIRequestError):
    """The API as a whole cannot be used: unreachable, the token rejected, or not the API at all.

    Every endpoint would fail the same way, so nothing should fall back to another request.
    """


class DataError(TapError):
    """A response could not be turned into records without losing or inventing data."""


def redact(text: str, secrets: Iterable[str | None]) -> str:
    """Return ``text`` with every secret and any bearer credential masked.

    Args:
        text: Text that may echo a credential (an error body, an exception message).
        secrets: The configured secret values.

    Returns:
        The text with secrets replaced by ``***``.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return _BEARER.sub(r"\1***", text)


def quote_body(text: str) -> str:
    """Collapse whitespace and truncate a server response for an error message.

    Args:
        text: The raw response text.

    Returns:
        A single-line excerpt of at most :data:`MAX_QUOTED_BODY` characters.
    """
    text = " ".join(text.split())
    if len(text) > MAX_QUOTED_BODY:
        return text[: MAX_QUOTED_BODY - 1] + "…"
    return text
