"""Settings validation: each problem is one ConfigError naming the setting and the fix."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_ai_analytics.errors import ConfigError
from tap_ai_analytics.settings import Settings, normalize_instance

TODAY = dt.date(2025, 10, 21)
AUG = {"augment_api_token": "tok"}
SG = {"sourcegraph_access_token": "sams_at_x", "sourcegraph_instance_urls": ["a.example.com"]}


def settings(**config) -> Settings:
    return Settings.from_config(config, today=TODAY)


def test_defaults():
    s = settings(**AUG)
    assert s.augment is not None
    assert s.augment.api_url == "https://api.augmentcode.com"
    assert (s.augment.rate_limit_per_minute, s.augment.rate_limit_burst) == (10, 20)
    assert s.sourcegraph is None
    assert s.start_date == TODAY - dt.timedelta(days=90)
    assert s.end_date is None
    assert s.lookback_days == 3


def test_each_vendor_alone_and_both():
    assert settings(**SG).augment is None
    both = settings(**AUG, **SG)
    assert both.augment is not None
    assert both.sourcegraph is not None
    assert both.secrets == ("tok", "sams_at_x")


@pytest.mark.parametrize(
    ("config", "phrase"),
    [
        ({}, "No vendor is configured"),
        ({"augment_api_token": ""}, "augment_api_token is empty"),
        ({**AUG, "start_date": "2025-02-30"}, "start_date '2025-02-30' is not a date"),
        ({**AUG, "end_date": "yesterday"}, "end_date 'yesterday' is not a date"),
        ({**AUG, "start_date": "2025-02-01", "end_date": "2025-01-01"}, "is before start_date"),
        ({**AUG, "lookback_days": -1}, "lookback_days: -1 is less than the minimum of 0"),
        ({**AUG, "augment_rate_limit_per_minute": 0}, "augment_rate_limit_per_minute"),
        ({**AUG, "augment_rate_limit_burst": 0}, "augment_rate_limit_burst"),
        ({**AUG, "augment_api_url": "localhost:8080"}, "is not an http(s) URL"),
        ({"sourcegraph_access_token": "x"}, "sourcegraph_instance_urls is empty"),
        ({"sourcegraph_instance_urls": ["a.example.com"]}, "sourcegraph_access_token is missing"),
        ({**SG, "sourcegraph_instance_urls": ["https:///"]}, "is not a host"),
        ({**SG, "sourcegraph_window": "year"}, "sourcegraph_window"),
    ],
)
def test_invalid_settings_fail_with_one_clear_message(config, phrase):
    with pytest.raises(ConfigError) as caught:
        settings(**config)
    assert phrase in str(caught.value)
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-01-01", dt.date(2025, 1, 1)),
        ("2025-01-01T00:00:00Z", dt.date(2025, 1, 1)),  # Meltano's relative dates
        ("2025-01-01T23:00:00-05:00", dt.date(2025, 1, 2)),  # the UTC date
    ],
)
def test_dates_and_timestamps_are_accepted(value, expected):
    assert settings(**AUG, start_date=value).start_date == expected


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        ("https://Sourcegraph.Example.com/", "sourcegraph.example.com"),
        ("sourcegraph.example.com", "sourcegraph.example.com"),
        ("sourcegraph.example.com/some/path", "sourcegraph.example.com"),
        ("http://user@host.example.com:8443/x", "host.example.com:8443"),
    ],
)
def test_instances_are_reduced_to_bare_hosts(raw, host):
    assert normalize_instance(raw) == host


def test_duplicate_instances_are_merged():
    config = {**SG, "sourcegraph_instance_urls": ["a.example.com", "https://a.example.com/"]}
    s = settings(**config)
    assert s.sourcegraph is not None
    assert s.sourcegraph.instances == ("a.example.com",)
