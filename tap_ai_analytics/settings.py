"""Configuration: the public settings schema and its validated, typed form.

The JSON schema (what ``--about`` and Meltano show) and the cross-field rules that a JSON
schema cannot express live together here, so every setting is defined in one place.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import typing as t
from urllib.parse import urlsplit

import pendulum
from jsonschema import Draft202012Validator
from singer_sdk import typing as th

from tap_ai_analytics.dates import parse_date, today_utc
from tap_ai_analytics.errors import ConfigError

if t.TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_AUGMENT_API_URL = "https://api.augmentcode.com"
DEFAULT_SOURCEGRAPH_API_URL = "https://analytics.sourcegraph.com"
#: Without a start_date, the first run covers this many days (one Augment window).
DEFAULT_HISTORY_DAYS = 90
SOURCEGRAPH_WINDOWS = ("month", "day")
#: Default of ``full_lookback_every_days``: a full lookback once a week.
DEFAULT_FULL_LOOKBACK_EVERY_DAYS = 7
DEFAULT_RATE_LIMIT_PER_MINUTE = 10  # the API's documented limit
DEFAULT_RATE_LIMIT_BURST = 20
DEFAULT_LOOKBACK_DAYS = 3
DEFAULT_REQUEST_TIMEOUT_SECONDS = 300
DEFAULT_MAX_REQUEST_ATTEMPTS = 8

CONFIG_SCHEMA = th.PropertiesList(
    th.Property(
        "augment_api_token",
        th.StringType,
        secret=True,
        title="Augment API Token",
        description=(
            "Augment service-account token (sent as a Bearer token). Create one at "
            "app.augmentcode.com/settings/service-accounts (Enterprise administrators). "
            "Setting it enables the augment_* streams."
        ),
    ),
    th.Property(
        "augment_api_url",
        th.StringType,
        default=DEFAULT_AUGMENT_API_URL,
        title="Augment API URL",
        description="Base URL of the Augment Analytics API; point it at a sandbox for tests.",
    ),
    th.Property(
        "augment_rate_limit_per_minute",
        th.NumberType(exclusive_minimum=0),
        default=DEFAULT_RATE_LIMIT_PER_MINUTE,
        title="Augment Rate Limit Per Minute",
        description=(
            "Client-side pacing budget shared by every Augment request (the API allows 10 "
            "requests per minute)."
        ),
    ),
    th.Property(
        "augment_rate_limit_burst",
        th.IntegerType(minimum=1),
        default=DEFAULT_RATE_LIMIT_BURST,
        title="Augment Rate Limit Burst",
        description="Requests that may be sent back to back before pacing applies.",
    ),
    th.Property(
        "sourcegraph_access_token",
        th.StringType,
        secret=True,
        title="Sourcegraph Access Token",
        description=(
            "Sourcegraph Analytics access token (Bearer), created at "
            "https://analytics.sourcegraph.com/access-tokens. Setting it (with "
            "sourcegraph_instance_urls) enables the sourcegraph_* streams."
        ),
    ),
    th.Property(
        "sourcegraph_api_url",
        th.StringType,
        default=DEFAULT_SOURCEGRAPH_API_URL,
        title="Sourcegraph Analytics API URL",
        description="Base URL of the Sourcegraph Analytics API.",
    ),
    th.Property(
        "sourcegraph_instance_urls",
        th.ArrayType(th.StringType),
        title="Sourcegraph Instance URLs",
        description=(
            "Sourcegraph instances to extract, e.g. sourcegraph.example.com. Accepts "
            "https://host/, host or host/path; each is sent as the bare host."
        ),
    ),
    th.Property(
        "sourcegraph_window",
        th.StringType(allowed_values=list(SOURCEGRAPH_WINDOWS)),
        default=SOURCEGRAPH_WINDOWS[0],
        title="Sourcegraph Window",
        description=(
            "Date window of one Sourcegraph day-report download: a calendar month or a "
            "single day. Smaller windows mean smaller downloads and finer checkpoints."
        ),
    ),
    th.Property(
        "start_date",
        th.DateType,
        title="Start Date",
        description=(
            f"First date (UTC, YYYY-MM-DD) to extract. Default: {DEFAULT_HISTORY_DAYS} days "
            "before today. Augment serves at most 2 years of history: an older date is "
            "clamped with a warning. Once state exists, the bookmark decides where a run "
            "starts."
        ),
    ),
    th.Property(
        "end_date",
        th.DateType,
        title="End Date",
        description=(
            "Last date (UTC, inclusive) to extract. Default: the most recent complete data "
            "(yesterday for Augment, today for Sourcegraph, which refreshes hourly). Later "
            "dates are clamped."
        ),
    ),
    th.Property(
        "lookback_days",
        th.IntegerType(minimum=0),
        default=DEFAULT_LOOKBACK_DAYS,
        title="Lookback Days",
        description=(
            "On incremental runs, re-read this many already-synced days up to the bookmark, "
            "to pick up late or restated data."
        ),
    ),
    th.Property(
        "full_lookback_every_days",
        th.IntegerType(minimum=0),
        default=DEFAULT_FULL_LOOKBACK_EVERY_DAYS,
        title="Full Lookback Every Days",
        description=(
            "Augment per-day streams skip a lookback day whose totals (dau-count, "
            "daily-usage) are unchanged since it was synced; every this many days a run "
            "re-reads every lookback day anyway, to catch a restatement that left the "
            "totals unchanged. 0: always re-read every lookback day."
        ),
    ),
    th.Property(
        "request_timeout_seconds",
        th.IntegerType(minimum=1),
        default=DEFAULT_REQUEST_TIMEOUT_SECONDS,
        title="Request Timeout Seconds",
        description="Seconds to wait for a server to connect or send more data.",
    ),
    th.Property(
        "max_request_attempts",
        th.IntegerType(minimum=1),
        default=DEFAULT_MAX_REQUEST_ATTEMPTS,
        title="Max Request Attempts",
        description=(
            "Attempts per request before a transient failure (429, 5xx, timeout, dropped "
            "connection) fails the run."
        ),
    ),
).to_dict()


_SCHEMA_VALIDATOR = Draft202012Validator(CONFIG_SCHEMA)


@dataclasses.dataclass(frozen=True)
class AugmentSettings:
    """Settings of the Augment Analytics API."""

    token: str
    api_url: str
    rate_limit_per_minute: float
    rate_limit_burst: int


@dataclasses.dataclass(frozen=True)
class SourcegraphSettings:
    """Settings of the Sourcegraph Analytics API."""

    token: str
    api_url: str
    instances: tuple[str, ...]
    window: str


@dataclasses.dataclass(frozen=True)
class Settings:
    """The validated configuration: each vendor is None unless it is configured."""

    augment: AugmentSettings | None
    sourcegraph: SourcegraphSettings | None
    #: Today's UTC date when the run started: one "today" for the whole run.
    today: dt.date
    start_date: dt.date
    end_date: dt.date | None
    lookback_days: int
    request_timeout_seconds: int
    max_request_attempts: int
    #: Days between runs that re-read every lookback day (0: every run).
    full_lookback_every_days: int = DEFAULT_FULL_LOOKBACK_EVERY_DAYS

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every configured secret, for redaction."""
        return tuple(
            vendor.token for vendor in (self.augment, self.sourcegraph) if vendor is not None
        )

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any], *, today: dt.date | None = None) -> Settings:
        """Validate ``config`` beyond its JSON schema and return typed settings.

        Args:
            config: The tap configuration (schema defaults already applied).
            today: Today's UTC date (injectable for tests).

        Returns:
            The settings.

        Raises:
            ConfigError: With one message naming the setting and the fix.
        """
        today = today or today_utc()
        config = _numbers_from_text(config)
        for error in _SCHEMA_VALIDATOR.iter_errors(config):
            where = ".".join(str(part) for part in error.absolute_path) or "config"
            msg = f"{where}: {error.message}."
            raise ConfigError(msg)
        start_date = _date(config, "start_date") or today - dt.timedelta(DEFAULT_HISTORY_DAYS)
        end_date = _date(config, "end_date")
        if end_date is not None and end_date < start_date:
            msg = f"end_date {end_date} is before start_date {start_date}: swap or fix them."
            raise ConfigError(msg)
        lookback_days = _integer(config, "lookback_days", minimum=0)
        settings = cls(
            augment=_augment(config),
            sourcegraph=_sourcegraph(config),
            today=today,
            start_date=start_date,
            end_date=end_date,
            lookback_days=lookback_days,
            request_timeout_seconds=_integer(config, "request_timeout_seconds", minimum=1),
            max_request_attempts=_integer(config, "max_request_attempts", minimum=1),
            full_lookback_every_days=_integer(config, "full_lookback_every_days", minimum=0),
        )
        if settings.augment is None and settings.sourcegraph is None:
            msg = (
                "No vendor is configured: set augment_api_token, and/or "
                "sourcegraph_access_token with sourcegraph_instance_urls."
            )
            raise ConfigError(msg)
        return settings


def _numbers_from_text(config: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Read numeric settings given as text (environment variables arrive as strings)."""
    result = dict(config)
    for key, spec in CONFIG_SCHEMA["properties"].items():
        value = result.get(key)
        if isinstance(value, str) and {"number", "integer"} & set(spec.get("type", [])):
            try:
                number = float(value)
            except ValueError:
                continue  # left for the schema check to report
            result[key] = int(number) if number.is_integer() else number
    return result


def _text(config: Mapping[str, t.Any], key: str) -> str | None:
    value = config.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        msg = f"{key} must be a string."
        raise ConfigError(msg)
    return value.strip()


def _date(config: Mapping[str, t.Any], key: str) -> dt.date | None:
    """Read a date setting: ``YYYY-MM-DD``, or an ISO timestamp (its UTC date).

    Timestamps are accepted because Meltano renders relative dates ("30 days ago") and
    ``date_iso8601`` settings as full timestamps.
    """
    value = _text(config, key)
    if not value:
        return None
    try:
        if len(value) == len("YYYY-MM-DD"):
            return parse_date(value)
        moment = pendulum.parse(value)
        if not isinstance(moment, pendulum.DateTime):
            raise ValueError(value)  # noqa: TRY301, TRY004 - reported as a ConfigError below
        return moment.in_timezone("UTC").date()
    except (ValueError, pendulum.parsing.exceptions.ParserError):
        msg = f"{key} {value!r} is not a date: use YYYY-MM-DD, e.g. 2025-01-31."
        raise ConfigError(msg) from None


def _default(key: str) -> t.Any:
    """A setting's default, as the schema declares it (the one place defaults live)."""
    return CONFIG_SCHEMA["properties"][key].get("default")


def _integer(config: Mapping[str, t.Any], key: str, *, minimum: int) -> int:
    value = config.get(key)
    if value is None:
        value = _default(key)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        msg = f"{key} must be a whole number >= {minimum}, got {value!r}."
        raise ConfigError(msg)
    return int(value)


def _url(config: Mapping[str, t.Any], key: str) -> str:
    default = _default(key)
    value = _text(config, key) or default
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        msg = f"{key} {value!r} is not an http(s) URL, e.g. {default}."
        raise ConfigError(msg)
    return value.rstrip("/")


def _token(config: Mapping[str, t.Any], key: str) -> str | None:
    if key not in config or config[key] is None:
        return None
    token = _text(config, key)
    if not token:
        msg = f"{key} is empty: set it to the token, or remove it to disable that vendor."
        raise ConfigError(msg)
    return token


def _augment(config: Mapping[str, t.Any]) -> AugmentSettings | None:
    token = _token(config, "augment_api_token")
    if token is None:
        return None
    rate = config.get("augment_rate_limit_per_minute")
    if rate is None:
        rate = _default("augment_rate_limit_per_minute")
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate <= 0:
        msg = f"augment_rate_limit_per_minute must be a number > 0, got {rate!r}."
        raise ConfigError(msg)
    return AugmentSettings(
        token=token,
        api_url=_url(config, "augment_api_url"),
        rate_limit_per_minute=float(rate),
        rate_limit_burst=_integer(config, "augment_rate_limit_burst", minimum=1),
    )


def normalize_instance(value: str) -> str:
    """Reduce an instance URL (``https://host/``, ``host``, ``host/path``) to its bare host.

    Args:
        value: The instance as the user wrote it.

    Returns:
        The lowercase host (with port, if any), as the API's ``instanceURL`` expects.

    Raises:
        ConfigError: If no host can be found.
    """
    text = value.strip()
    host = urlsplit(text if "://" in text else f"//{text}").netloc.lower()
    host = host.rsplit("@", 1)[-1]  # never send userinfo
    if not host or " " in host:
        msg = (
            f"sourcegraph_instance_urls entry {value!r} is not a host, "
            "e.g. sourcegraph.example.com."
        )
        raise ConfigError(msg)
    return host


def _sourcegraph(config: Mapping[str, t.Any]) -> SourcegraphSettings | None:
    token = _token(config, "sourcegraph_access_token")
    raw_instances = config.get("sourcegraph_instance_urls") or []
    if isinstance(raw_instances, str):  # a single instance given as text
        raw_instances = [raw_instances]
    if token is None:
        if raw_instances:
            msg = "sourcegraph_instance_urls is set but sourcegraph_access_token is missing."
            raise ConfigError(msg)
        return None
    if not raw_instances:
        msg = (
            "sourcegraph_access_token is set but sourcegraph_instance_urls is empty: list the "
            'instances to extract, e.g. ["sourcegraph.example.com"].'
        )
        raise ConfigError(msg)
    if not all(isinstance(item, str) for item in raw_instances):
        msg = "sourcegraph_instance_urls must be a list of strings."
        raise ConfigError(msg)
    instances = tuple(dict.fromkeys(normalize_instance(item) for item in raw_instances))
    window = config.get("sourcegraph_window") or _default("sourcegraph_window")
    if window not in SOURCEGRAPH_WINDOWS:
        msg = f"sourcegraph_window must be one of {', '.join(SOURCEGRAPH_WINDOWS)}."
        raise ConfigError(msg)
    return SourcegraphSettings(
        token=token,
        api_url=_url(config, "sourcegraph_api_url"),
        instances=instances,
        window=window,
    )
