"""The dbt package (``dbt_ai_analytics/``) on the sandbox's data in DuckDB and PostgreSQL.

The tap runs in-process against the sandbox with every stream of the catalog selected, its
Singer output is appended to DuckDB (no upserts: see :mod:`tests.warehouse`), and
``dbt build`` runs the models and every package test (keys, accepted values,
relationships, reconciliations with the vendors' own totals). A second, incremental run
re-reads the lookback days into the same append-only tables; the marts must give exactly
the same answers afterwards.

PostgreSQL runs where dbt-postgres is installed and a server is at hand: the one named by the
``DBT_POSTGRES_*`` variables (CI's service), else a throw-away local cluster (``initdb``).
``AI_ANALYTICS_REQUIRE_POSTGRES=1`` turns a missing PostgreSQL into a failure (CI).
"""

from __future__ import annotations

import contextlib
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
