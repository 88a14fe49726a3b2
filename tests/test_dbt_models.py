"""The dbt package (``dbt_ai_analytics/``) on the sandbox's data in DuckDB and PostgreSQL.

The tap runs in-process against the sandbox with every stream of the catalog selected, its
Singer output is appended to DuckDB (no upserts: see :mod:`tests.warehouse`), and
``dbt build`` runs the models and every package test (keys, accepted values,
relationships, reconciliations with the vendors' own totals). The people marts are then
checked against the raw tables: someone with the same email on both vendors (however each
vendor cases or spaces it) is one person, counted once in the 'all' active people. A
second, incremental run re-reads the lookback days into the same append-only tables; the
marts must give exactly the same answers afterwards.

PostgreSQL runs where dbt-postgres is installed and a server is at hand: the one named by the
``DBT_POSTGRES_*`` variables (CI's service), else a throw-away local cluster (``initdb``).
``AI_ANALYTICS_REQUIRE_POSTGRES=1`` turns a missing PostgreSQL into a failure (CI).
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import importlib.util
import os
import typing as t

import pytest

from tap_ai_analytics.compat import override
from tap_ai_analytics.tap import TapAIAnalytics
from tests.conftest import augment_config, days_before, run_sync, sourcegraph_config
from tests.warehouse import (
    SOURCE_SCHEMA,
    AppendOnlyLoader,
    PostgresServer,
    catalog_selecting_all,
    dbt_executable,
    local_postgres,
    run_dbt,
    write_profile,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from sandbox import Sandbox

duckdb = pytest.importorskip("duckdb", reason="duckdb is in the test dependency group")
if dbt_executable() is None:
    pytest.skip(
        "dbt-duckdb is not installed (the test group installs it on Python < 3.14, which dbt "
        "supports)",
        allow_module_level=True,
    )

MARTS = (
    "ai_analytics_identities",
    "ai_analytics_people",
    "ai_analytics_usage_daily",
    "ai_analytics_active_people",
    "ai_analytics_usage_by_client_language",
    "ai_analytics_credits_daily",
    "ai_analytics_cost_daily",
)
MODELS_SCHEMA = "analytics"
COST_STREAMS = ("augment_credit_usage", "augment_cost")
VENDORS = ("augment", "sourcegraph")
#: The raw tables that name Augment identities, and those whose rows make one active on a day.
AUGMENT_IDENTITY_STREAMS = (
    "augment_daily_active_users",
    "augment_user_activity",
    "augment_user_activity_by_editor_language",
    "augment_credit_usage",
)
AUGMENT_ACTIVITY_STREAMS = ("augment_daily_active_users", "augment_user_activity")
#: The same for Sourcegraph instance users (the user registry names them too).
SOURCEGRAPH_ACTIVITY_REPORTS = (
    "sourcegraph_usage_by_user_day_client_language",
    "sourcegraph_usage_by_user_day",
)
SOURCEGRAPH_USAGE_REPORTS = (
    *SOURCEGRAPH_ACTIVITY_REPORTS,
    "sourcegraph_usage_by_user_month",
    "sourcegraph_usage_by_user",
)
REGISTRY = "sourcegraph_user_registry"


class Warehouse:
    """A DuckDB file the tap's output is appended to and dbt builds the package in."""

    placeholder = "?"

    def __init__(self, tmp_path: Path) -> None:
        """Create the profile for a database under ``tmp_path``."""
        self.workdir = tmp_path / "dbt"
        self.path = tmp_path / "warehouse.duckdb"
        self.profiles_dir = write_profile(self.workdir, self.profile())

    def profile(self) -> dict[str, t.Any]:
        """The dbt output."""
        return {"type": "duckdb", "path": str(self.path), "schema": MODELS_SCHEMA, "threads": 2}

    @contextlib.contextmanager
    def cursor(self, *, read_only: bool = False) -> Iterator[t.Any]:
        """A connection, closed again at exit (dbt needs the DuckDB file to itself)."""
        with duckdb.connect(str(self.path), read_only=read_only) as connection:
            yield connection

    def load(self, messages: list[dict[str, t.Any]], batched_at: str) -> dict[str, int]:
        """Append a run's records."""
        with self.cursor() as cursor:
            return AppendOnlyLoader(cursor, placeholder=self.placeholder).load(messages, batched_at)

    def build(self, variables: dict[str, t.Any] | None = None) -> str:
        """Run ``dbt build``; fail the test with dbt's output if any model or test failed."""
        run = run_dbt(self.workdir, self.profiles_dir, ("build",), variables)
        assert run.returncode == 0, f"dbt build failed:\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
        return run.stdout

    def query(self, sql: str) -> list[tuple[t.Any, ...]]:
        """Rows of a query."""
        with self.cursor(read_only=True) as cursor:
            cursor.execute(sql)
            return [tuple(row) for row in cursor.fetchall()]

    def marts(self) -> dict[str, list[tuple[t.Any, ...]]]:
        """Every mart's rows, sorted: what an analyst would read."""
        return {
            mart: sorted(self.query(f"SELECT * FROM {MODELS_SCHEMA}.{mart}"), key=repr)  # noqa: S608
            for mart in MARTS
        }

    def count(self, relation: str) -> int:
        """Rows of a table or view."""
        return int(self.query(f"SELECT count(*) FROM {relation}")[0][0])  # noqa: S608


class PostgresWarehouse(Warehouse):
    """The same, in a PostgreSQL database (schemas dropped first: the server may be shared)."""

    placeholder = "%s"

    def __init__(self, tmp_path: Path, server: PostgresServer) -> None:
        """Use ``server``'s database, starting from empty schemas."""
        self.server = server
        super().__init__(tmp_path)
        with self.cursor() as cursor:
            for schema in (SOURCE_SCHEMA, MODELS_SCHEMA):
                cursor.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')

    @override
    def profile(self) -> dict[str, t.Any]:
        """The dbt output."""
        return self.server.profile(MODELS_SCHEMA)

    @override
    @contextlib.contextmanager
    def cursor(self, *, read_only: bool = False) -> Iterator[t.Any]:  # noqa: ARG002
        """An autocommit cursor."""
        import psycopg2

        connection = psycopg2.connect(**self.server.connect_kwargs())
        connection.autocommit = True
        try:
            with connection.cursor() as cursor:
                yield cursor
        finally:
            connection.close()


def normalised_email(email: str | None) -> str | None:
    """The README's person key for an email: trimmed and lower-cased; blank is no email."""
    return (email or "").strip(" ").lower() or None


class RawPeople:
    """Who is which person and who was active when, worked out in Python from the raw tables.

    An independent statement of the README's identity rules to check the marts against: a
    person is the normalised email where a vendor gives one, else a vendor-scoped key; service
    accounts are people but never active people.
    """

    def __init__(self, warehouse: Warehouse, streams: t.Collection[str]) -> None:
        """Read the raw (append-only, possibly duplicated) tables of the loaded ``streams``."""
        self._warehouse = warehouse
        self._streams = streams
        self.service_accounts: set[str] = set()
        #: person -> their Sourcegraph emails exactly as the reports sent them
        self.sourcegraph_emails: dict[str, set[str]] = collections.defaultdict(set)
        augment = self._augment_people()
        sourcegraph = self._sourcegraph_people()
        #: person -> (Augment identities, Sourcegraph identities)
        self.identities = {
            person: (list(augment.values()).count(person), list(sourcegraph.values()).count(person))
            for person in {*augment.values(), *sourcegraph.values()}
        }
        #: vendor -> day -> the people active (service accounts left out)
        self.active: dict[str, dict[dt.date, set[str]]] = {
            vendor: collections.defaultdict(set) for vendor in VENDORS
        }
        for stream in AUGMENT_ACTIVITY_STREAMS:
            for day, identity in self._rows(stream, "date, identity"):
                self._add_active("augment", day, augment[identity])
        for report in SOURCEGRAPH_ACTIVITY_REPORTS:
            for day, instance, user_id in self._rows(
                report, "date, instance_url, instance_user_id"
            ):
                self._add_active("sourcegraph", day, sourcegraph[instance, user_id])

    def _rows(self, stream: str, columns: str) -> list[tuple[t.Any, ...]]:
        if stream not in self._streams:
            return []
        return self._warehouse.query(f"SELECT {columns} FROM {SOURCE_SCHEMA}.{stream}")  # noqa: S608

    def _augment_people(self) -> dict[str, str]:
        """Augment identity -> person."""
        people = {}
        for stream in AUGMENT_IDENTITY_STREAMS:
            for identity, kind, email in self._rows(stream, "identity, identity_type, user_email"):
                key = f"augment:{identity}"
                if kind == "service_account":
                    self.service_accounts.add(key)
                people[identity] = (kind == "user" and normalised_email(email or identity)) or key
        return people

    def _sourcegraph_people(self) -> dict[tuple[str, int], str]:
        """(instance, instance user ID) -> person."""
        sent: dict[tuple[str, int], set[str]] = collections.defaultdict(set)
        for report in SOURCEGRAPH_USAGE_REPORTS:
            for instance, user_id, email in self._rows(
                report, "instance_url, instance_user_id, user_email"
            ):
                sent[instance, user_id].update([email] if normalised_email(email) else [])
        columns = "instance_url, instance_user_id, service_account"
        registry = {
            (instance, user_id): service
            for instance, user_id, service in self._rows(REGISTRY, columns)
        }
        people = {}
        for user in {*sent, *registry}:
            emails = sent.get(user, set())
            people[user] = max(
                (normalised_email(email) or "" for email in emails),
                default=f"sourcegraph:{user[0]}:{user[1]}",
            )
            self.sourcegraph_emails[people[user]] |= emails
            if registry.get(user):
                self.service_accounts.add(people[user])
        return people

    def _add_active(self, vendor: str, day: object, person: str) -> None:
        if person not in self.service_accounts:
            self.active[vendor][dt.date.fromisoformat(str(day)[:10])].add(person)

    def shared(self) -> set[str]:
        """The people with an identity on each vendor."""
        return {person for person, counts in self.identities.items() if all(counts)}

    def active_on_both(self, day: dt.date | None = None) -> set[str]:
        """The people active on each vendor on ``day`` (None: on any day of each vendor)."""
        return set.intersection(
            *(
                self.active[vendor].get(day, set())
                if day is not None
                else set().union(*self.active[vendor].values())
                for vendor in VENDORS
            )
        )

    def active_people(self) -> dict[tuple[dt.date, str], tuple[int, int, int]]:
        """Daily, 7-day and 28-day distinct active people per (day, vendor), 'all' included."""
        by_vendor = dict(self.active)
        by_vendor["all"] = collections.defaultdict(set)
        for vendor in VENDORS:
            for day, people in self.active[vendor].items():
                by_vendor["all"][day] |= people
        first, last = min(by_vendor["all"]), max(by_vendor["all"])
        counts = {}
        for offset in range((last - first).days + 1):
            day = first + dt.timedelta(days=offset)
            for vendor, people_by_day in by_vendor.items():
                past = [people_by_day.get(day - dt.timedelta(days=ago), set()) for ago in range(28)]
                daily, weekly, monthly = (len(set().union(*past[:days])) for days in (1, 7, 28))
                counts[day, vendor] = (daily, weekly, monthly)
        return counts


def assert_people_are_matched_across_vendors(
    warehouse: Warehouse, streams: t.Collection[str]
) -> None:
    """The people marts against :class:`RawPeople`: one person per email across vendors."""
    raw = RawPeople(warehouse, streams)
    shared = raw.shared()
    # The sandbox gives some people one email on both vendors, sent differently (case, spaces).
    assert len(shared) >= 2, "the data has people on both vendors"
    assert any(email != person for person in shared for email in raw.sourcegraph_emails[person])

    people = warehouse.query(
        "SELECT person_id, identity_count, sourcegraph_identity_count, active_on "  # noqa: S608
        f"FROM {MODELS_SCHEMA}.ai_analytics_people"
    )
    assert sorted(person for person, *_ in people) == sorted(raw.identities), "a row per person"
    for person, identities, sourcegraph_identities, active_on in people:
        augment_identities = identities - sourcegraph_identities
        assert (augment_identities, sourcegraph_identities) == raw.identities[person], person
        if person in shared:
            assert (active_on == "both") == (person in raw.active_on_both()), person
    assert shared & raw.active_on_both(), "someone shared was active on both vendors"

    active_people = {
        (day, vendor): (daily, weekly, monthly)
        for day, vendor, daily, weekly, monthly in warehouse.query(
            "SELECT activity_date, vendor, daily_active_people, weekly_active_people, "  # noqa: S608
            f"monthly_active_people FROM {MODELS_SCHEMA}.ai_analytics_active_people"
        )
    }
    assert active_people == raw.active_people()
    # Not vacuous: on these days someone counted by each vendor is counted once in 'all'.
    overlap_days = [day for day in raw.active["augment"] if raw.active_on_both(day)]
    assert overlap_days, "someone is active on both vendors on the same day"
    for day in overlap_days:
        for window, people_in_all in enumerate(active_people[day, "all"]):
            summed = sum(active_people[day, vendor][window] for vendor in VENDORS)
            assert people_in_all < summed, (day, window)


@pytest.fixture
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for dbt-postgres, or a skip (a failure in CI) saying why not."""

    def unavailable(reason: str) -> t.NoReturn:
        if os.environ.get("AI_ANALYTICS_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but {reason}")
        pytest.skip(reason)

    if importlib.util.find_spec("dbt.adapters.postgres") is None:
        unavailable("dbt-postgres is not installed (pip install dbt-postgres)")
    server = PostgresServer.from_env()
    if server is not None:
        yield server
        return
    try:
        with local_postgres() as local:
            yield local
    except LookupError as exc:
        unavailable(f"no PostgreSQL server: set DBT_POSTGRES_HOST or install PostgreSQL ({exc})")


@pytest.fixture(params=["duckdb", "postgres"])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    """An empty warehouse of each kind."""
    if request.param == "postgres":
        return PostgresWarehouse(tmp_path, request.getfixturevalue("postgres"))
    return Warehouse(tmp_path)


@pytest.fixture
def config(sandbox: Sandbox) -> dict[str, t.Any]:
    """Both vendors over the last 20 days (two Sourcegraph instances)."""
    return augment_config(sandbox) | sourcegraph_config(sandbox) | {"start_date": days_before(20)}


def test_marts_build_and_survive_an_append_only_lookback_run(
    warehouse: Warehouse, config: dict[str, t.Any]
) -> None:
    catalog = catalog_selecting_all(
        TapAIAnalytics(config=config, parse_env_config=False).catalog_dict
    )
    streams = [entry["tap_stream_id"] for entry in catalog["streams"]]

    first = run_sync(config, catalog=catalog)
    loaded = warehouse.load(first.messages, "2025-10-21T06:00:00Z")
    assert set(loaded) == set(streams), "every selected stream delivered records"
    warehouse.build()
    after_first = warehouse.marts()
    assert_people_are_matched_across_vendors(warehouse, loaded)
    assert after_first["ai_analytics_usage_daily"], "the fact has rows"
    assert after_first["ai_analytics_active_people"], "active people have rows"
    assert after_first["ai_analytics_usage_by_client_language"]
    cost_loaded = all(stream in streams for stream in COST_STREAMS)
    # The cost streams are optional: their marts are exercised when the tap has them.
    assert bool(after_first["ai_analytics_cost_daily"]) == cost_loaded
    assert bool(after_first["ai_analytics_credits_daily"]) == cost_loaded

    second = run_sync(config, state=first.final_state, catalog=catalog)
    reread = warehouse.load(second.messages, "2025-10-21T07:00:00Z")
    assert reread, "the lookback re-read some records"
    fine = "sourcegraph_usage_by_user_day_client_language"
    assert warehouse.count(f"{SOURCE_SCHEMA}.{fine}") > warehouse.count(
        f"{MODELS_SCHEMA}.stg_{fine}"
    ), "the raw table holds duplicate keys that staging must collapse"
    warehouse.build()
    assert warehouse.marts() == after_first


def test_a_vendor_not_loaded_yields_empty_models(tmp_path: Path, config: dict[str, t.Any]) -> None:
    augment_only = {key: value for key, value in config.items() if "sourcegraph" not in key}
    warehouse = Warehouse(tmp_path)
    warehouse.load(run_sync(augment_only).messages, "2025-10-21T06:00:00Z")

    # The Sourcegraph tables do not exist at all: their models are empty, not errors.
    warehouse.build()
    vendors = warehouse.query(
        f"SELECT DISTINCT vendor FROM {MODELS_SCHEMA}.ai_analytics_active_people"  # noqa: S608
    )
    assert sorted(vendors) == [("all",), ("augment",), ("sourcegraph",)]
    assert warehouse.count(f"{MODELS_SCHEMA}.stg_sourcegraph_usage_by_user_day") == 0

    # A loaded stream left out by the vars is empty too.
    warehouse.build({"ai_analytics_vendors": ["sourcegraph"]})
    assert warehouse.count(f"{MODELS_SCHEMA}.stg_augment_dau_count") == 0
    assert warehouse.count(f"{MODELS_SCHEMA}.ai_analytics_usage_daily") == 0
