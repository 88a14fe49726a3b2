"""The tap: settings → the configured vendors' streams, and the command line."""

from __future__ import annotations

import functools
import json
import logging
import sys
import typing as t
from pathlib import Path

import click
import simplejson
from singer_sdk import Tap
from singer_sdk.exceptions import ConfigValidationError
from singer_sdk.helpers.capabilities import CapabilitiesEnum, PluginCapabilities
from singer_sdk.tap_base import CliTestOptionValue

from tap_ai_analytics.activity import AugmentActivity
from tap_ai_analytics.client import AnalyticsHTTPStream
from tap_ai_analytics.compat import override
from tap_ai_analytics.errors import ConfigError, TapError, redact
from tap_ai_analytics.output import BufferedMsgSpecWriter
from tap_ai_analytics.pacing import RateLimiter
from tap_ai_analytics.sdk_seams import (
    ExitStatusOnSignal,
    OwnConfigValidation,
    StoppedBySignal,
    SyncAllHook,
)
from tap_ai_analytics.settings import CONFIG_SCHEMA, Settings
from tap_ai_analytics.state import NOT_A_STATE, check_state
from tap_ai_analytics.streams import AUGMENT_STREAMS, SOURCEGRAPH_STREAMS, STREAM_NAMES
from tap_ai_analytics.streams.sourcegraph import InstanceAccess

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream

logger = logging.getLogger("tap-ai-analytics")

TEST_OPTION_HELP = (
    "Use --test to check the connection and token with one cheap request per vendor "
    "(per instance for Sourcegraph); it syncs nothing. Use --test=schema to test schema "
    "output without syncing records."
)


class TapAIAnalytics(ExitStatusOnSignal, OwnConfigValidation, SyncAllHook, Tap):
    """Singer tap for Augment Code and Sourcegraph Analytics usage data."""

    name = "tap-ai-analytics"
    package_name = "tap-ai-analytics"
    config_jsonschema = CONFIG_SCHEMA
    # No BATCH: state is committed per completed date window, which is only sound when
    # records are written as they are read (a batch file would hold records back).
    capabilities: t.ClassVar[list[CapabilitiesEnum]] = [
        capability for capability in Tap.capabilities if capability != PluginCapabilities.BATCH
    ]
    # msgspec serialisation, stdout flushed at STATE rather than after every record.
    message_writer_class = BufferedMsgSpecWriter

    def __init__(self, *, validate_config: bool = True, **kwargs: t.Any) -> None:
        """Create the tap; invalid settings raise one ConfigError naming the fix.

        The settings are validated here rather than by the SDK so that every problem,
        schema or cross-field, is reported the same way: one line, no traceback.
        """
        state = kwargs.get("state")
        if state is not None and not isinstance(state, dict) and not Path(str(state)).is_file():
            raise ConfigError(NOT_A_STATE)  # the SDK would take any other value for a path
        #: The run's record of denied Sourcegraph instances, shared by their streams.
        self.instance_access = InstanceAccess()
        super().__init__(validate_config=False, **kwargs)
        if validate_config:
            _ = self.settings

    @functools.cached_property
    def settings(self) -> Settings:
        """The validated settings (raises ConfigError with a fix-it message)."""
        return Settings.from_config(self.config)

    @override
    def discover_streams(self) -> list[Stream]:
        """Return the streams of every configured vendor.

        Each vendor's streams exist only when that vendor is configured; all of one
        vendor's streams share one request budget.
        """
        settings = self.settings
        streams: list[Stream] = []
        if settings.augment is not None:
            pacer = RateLimiter(
                settings.augment.rate_limit_per_minute, settings.augment.rate_limit_burst
            )
            # One per run: the daily totals, the plan and its progress (activity.py).
            activity = AugmentActivity(pacer)
            streams += [
                cls(self, settings, pacer=pacer, activity=activity) for cls in AUGMENT_STREAMS
            ]
        if settings.sourcegraph is not None:
            access = self.instance_access
            streams += [cls(self, settings, access=access) for cls in SOURCEGRAPH_STREAMS]
        return streams

    @override
    def after_sync_all(self) -> None:
        """Fail naming any Sourcegraph instance denied.

        Checked after all streams, so every other instance is synced by every stream
        whatever order the SDK runs them in.
        """
        self.instance_access.check()

    @override
    def load_state(self, state: dict[str, t.Any]) -> None:
        """Check the shape of an incoming state before using it.

        Raises:
            ConfigError: If the state is not a Singer state this tap can resume from.
        """
        check_state(state, STREAM_NAMES)
        super().load_state(state)

    @override
    @classmethod
    def get_singer_command(cls) -> click.Command:
        """The SDK's command line, with ``--test`` described as this tap runs it."""
        command = super().get_singer_command()
        for param in command.params:
            if isinstance(param, click.Option) and param.name == "test":
                param.help = TEST_OPTION_HELP
        return command

    @override
    @classmethod
    def cb_test(cls, ctx: click.Context, param: click.Option, value: str) -> None:
        """``--test``: one cheap request per vendor and instance instead of a dry-run sync.

        ``--test=schema`` keeps the SDK's behaviour.
        """
        if value != CliTestOptionValue.All.value:
            super().cb_test(ctx, param, value)
            return
        config = ctx.params.get("config")
        tap = cls(
            config=getattr(config, "config", None),
            parse_env_config=getattr(config, "parse_env", False),
            setup_mapper=False,
        )
        tap.check_connections()
        ctx.exit()

    def check_connections(self) -> bool:
        """Check each configured vendor and instance with one cheap request.

        Logs "ok" or the fix-it message per vendor and instance.

        Returns:
            True when every check passed.

        Raises:
            TapError: Naming every check that failed.
        """
        failures: list[str] = []
        for label, check in self.connection_checks():
            try:
                check()
            except TapError as exc:  # noqa: PERF203 - a handful of checks, each reported
                failures.append(f"{label}: {exc}")
                self.logger.error("%s: FAILED: %s", label, exc)  # noqa: TRY400
            else:
                self.logger.info("%s: ok", label)
        if failures:
            msg = f"{len(failures)} connection check(s) failed: " + " | ".join(failures)
            raise TapError(msg)
        return True

    def connection_checks(self) -> list[tuple[str, t.Callable[[], object]]]:
        """One cheap request per vendor (per instance for Sourcegraph), from the streams."""
        return [
            check
            for stream in self.streams.values()
            if isinstance(stream, AnalyticsHTTPStream)
            for check in stream.connection_checks()
        ]


def main() -> None:
    """Run the tap's command line; user errors are reported in one line, no traceback."""
    try:
        TapAIAnalytics.cli()
    except StoppedBySignal as exc:
        # Logged here, once the stack has unwound, so that it is the run's last line.
        logger.warning(
            "Stopped by %s before the sync finished; the state of completed windows was "
            "written, so the next run resumes there.",
            exc.signal_name,
        )
        raise
    except ConfigValidationError as exc:
        for error in exc.errors or [str(exc)]:
            logger.error("Invalid configuration: %s", error)  # noqa: TRY400
        sys.exit(1)
    except TapError as exc:
        # Messages are built with secrets redacted; also mask any quoted bearer credential.
        logger.error("%s", redact(str(exc), ()))  # noqa: TRY400 - no traceback for user errors
        sys.exit(1)
    except (json.JSONDecodeError, simplejson.JSONDecodeError) as exc:
        logger.error("A --config, --state or --catalog file is not valid JSON: %s", exc)  # noqa: TRY400
        sys.exit(1)
    except FileNotFoundError as exc:
        logger.error("File not found: %s", exc.filename or exc)  # noqa: TRY400
        sys.exit(1)
