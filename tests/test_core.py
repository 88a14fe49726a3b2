"""The Singer SDK's standard tap tests, run against the sandbox for both vendors."""

from __future__ import annotations

import datetime as dt
import socket
import typing as t

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class

from sandbox import Sandbox
from tap_ai_analytics.compat import override
from tap_ai_analytics.tap import TapAIAnalytics

if t.TYPE_CHECKING:
    from singer_sdk.streams import Stream


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# The standard suite builds its test class at import time from a config, so the config
# names a port chosen now; the sandbox serves on it only while this module's tests run
# (the fixture below), not from import time.
SANDBOX = Sandbox(port=_free_port())
SANDBOX_URL = f"http://127.0.0.1:{SANDBOX.port}"
START = (SANDBOX.today - dt.timedelta(days=10)).isoformat()

SAMPLE_CONFIG = {
    "augment_api_token": SANDBOX.augment_token,
    "augment_api_url": SANDBOX_URL,
    "augment_rate_limit_per_minute": 60000,
    "sourcegraph_access_token": SANDBOX.sourcegraph_token,
    "sourcegraph_api_url": SANDBOX_URL,
    "sourcegraph_instance_urls": list(SANDBOX.sourcegraph_instances),
    "start_date": START,
}


@pytest.fixture(scope="module", autouse=True)
def _serve_sandbox() -> t.Iterator[None]:
    SANDBOX.start()
    assert SANDBOX.url == SANDBOX_URL
    yield
    SANDBOX.stop()


class _SelectEverything(TapAIAnalytics):
    """The tap with its opt-in streams selected too, so the suite covers all ten."""

    @override
    def discover_streams(self) -> list[Stream]:
        streams = super().discover_streams()
        for stream in streams:
            stream.selected = True
        return streams


TestTapAIAnalytics = get_tap_test_class(
    tap_class=_SelectEverything,
    config=SAMPLE_CONFIG,
    parse_env_config=False,
    suite_config=SuiteConfig(max_records_limit=500),
)
