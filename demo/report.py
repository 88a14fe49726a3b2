"""Summarise the demo's warehouse from the dbt marts, and chart weekly active people.

``python demo/report.py output/demo.duckdb --chart output/demo.png`` prints rows per loaded
table, then, from the marts of the dbt package (``dbt_ai_analytics/``, built by the demo):
weekly active people per vendor and across both (distinct people, service accounts
excluded), the acceptance rate by editor/client, and the cost per week when the cost streams
were loaded. ``--chart`` also writes a PNG of 7-day active people over time and the
acceptance rate by editor.

Needs ``duckdb`` and ``matplotlib``, which are not dependencies of the tap itself:
``python3 scripts/demo.py`` installs them (the ``demo`` dependency group).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    import datetime as dt
    from collections.abc import Sequence

    import duckdb

DEFAULT_SCHEMA = "tap_ai_analytics"
#: Where the demo's dbt profile builds the package's models.
DEFAULT_MARTS_SCHEMA = "analytics"
RECENT_WEEKS = 6
TOP_N = 8
VENDORS = ("augment", "sourcegraph", "all")


@dataclasses.dataclass(frozen=True)
class TableInfo:
    """One loaded table: its row count and the last date (or month) it holds."""

    name: str
    rows: int
    last_date: dt.date | None


@dataclasses.dataclass(frozen=True)
class ActivePeople:
    """Active people of one period per vendor and across both ("all": distinct people)."""

    start: dt.date
    augment: int
    sourcegraph: int
    all: int


@dataclasses.dataclass(frozen=True)
class EditorAcceptance:
    """Suggestions shown and accepted in one vendor's editor or client."""

    vendor: str
    client: str
    shown: int
    accepted: int

    @property
    def rate(self) -> float | None:
        """Accepted / shown (None when nothing was shown)."""
        return self.accepted / self.shown if self.shown else None


@dataclasses.dataclass(frozen=True)
class WeeklyCost:
    """Augment cost of one week (Monday start)."""

    week: dt.date
    billed_usd: float
    estimated_usd: float
    credits: float


@dataclasses.dataclass(frozen=True)
class ResourceCost:
    """Augment cost of one model or resource over the loaded range."""

    resource: str
    billed_usd: float
    estimated_usd: float
    credits: float


@dataclasses.dataclass(frozen=True)
class Summary:
    """What the demo prints and charts."""

    tables: list[TableInfo]
    weekly: list[ActivePeople]
    rolling: list[ActivePeople]
    editors: list[EditorAcceptance]
    cost: list[WeeklyCost]
    cost_by_resource: list[ResourceCost]


class Warehouse:
    """Read-only queries: the loaded tables (one schema) and the dbt marts (another)."""

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        schema: str,
        marts_schema: str = DEFAULT_MARTS_SCHEMA,
    ) -> None:
        """Wrap a connection.

        Args:
            connection: An open DuckDB connection.
            schema: The schema the loader wrote the tap's tables to.
            marts_schema: The schema dbt built the package's models in.
        """
        self._con = connection
        self.schema = schema
        self.marts_schema = marts_schema
        self.tables = self._relations(schema)
        self.marts = set(self._relations(marts_schema))
        self._columns = {
            table: {
                str(column)
                for (column,) in connection.execute(
                    "SELECT column_name FROM duckdb_columns() "
                    "WHERE schema_name = ? AND table_name = ?",
                    [schema, table],
                ).fetchall()
            }
            for table in self.tables
        }

    def _relations(self, schema: str) -> list[str]:
        rows = self._con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? "
            "UNION SELECT view_name FROM duckdb_views() WHERE schema_name = ? ORDER BY 1",
            [schema, schema],
        ).fetchall()
        return [str(name) for (name,) in rows]

    def has(self, table: str, *columns: str) -> bool:
        """Whether the loaded ``table`` exists with every one of ``columns``."""
        return table in self._columns and set(columns) <= self._columns[table]

    def _name(self, table: str) -> str:
        # Identifiers come from duckdb_tables() or constants, and are quoted all the same.
        return f'"{self.schema}"."{table}"'

    def _mart(self, mart: str) -> str:
        return f'"{self.marts_schema}"."{mart}"'

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[t.Any, ...]]:
        return self._con.execute(sql, list(params)).fetchall()

    def table_info(self) -> list[TableInfo]:
        """Row count and last date of every loaded table."""
        infos = []
        for table in self.tables:
            rows = int(self._query(f"SELECT count(*) FROM {self._name(table)}")[0][0])  # noqa: S608
            key = next((col for col in ("date", "month") if self.has(table, col)), None)
            last = None
            if key is not None:
                # Loaders may store JSON-schema dates as text; cast to compare as dates.
                last = self._query(
                    f'SELECT max(TRY_CAST("{key}" AS DATE)) FROM {self._name(table)}'  # noqa: S608
                )[0][0]
            infos.append(TableInfo(table, rows, last))
        return infos

    def weekly_active_people(self) -> list[ActivePeople]:
        """Distinct people active in each calendar week (Monday start), oldest first."""
        if "ai_analytics_usage_daily" not in self.marts:
            return []
        rows = self._query(
            f"""
            WITH people AS (
                SELECT date_trunc('week', activity_date)::DATE AS week, vendor, person_id
                FROM {self._mart("ai_analytics_usage_daily")}
                WHERE NOT is_service_account
            )
            SELECT
                week,
                count(DISTINCT person_id) FILTER (WHERE vendor = 'augment'),
                count(DISTINCT person_id) FILTER (WHERE vendor = 'sourcegraph'),
                count(DISTINCT person_id)
            FROM people GROUP BY week ORDER BY week
            """  # noqa: S608
        )
        return [ActivePeople(week, int(a), int(s), int(both)) for week, a, s, both in rows]

    def rolling_active_people(self) -> list[ActivePeople]:
        """7-day active people per day (ai_analytics_active_people), oldest first."""
        if "ai_analytics_active_people" not in self.marts:
            return []
        rows = self._query(
            f"""
            SELECT
                activity_date,
                coalesce(max(weekly_active_people) FILTER (WHERE vendor = 'augment'), 0),
                coalesce(max(weekly_active_people) FILTER (WHERE vendor = 'sourcegraph'), 0),
                coalesce(max(weekly_active_people) FILTER (WHERE vendor = 'all'), 0)
            FROM {self._mart("ai_analytics_active_people")}
            GROUP BY activity_date ORDER BY activity_date
            """  # noqa: S608
        )
        return [ActivePeople(day, int(a), int(s), int(both)) for day, a, s, both in rows]

    def editor_acceptance(self, limit: int = TOP_N) -> list[EditorAcceptance]:
        """Editors/clients with suggestions, by suggestions shown (most first)."""
        if "ai_analytics_usage_by_client_language" not in self.marts:
            return []
        rows = self._query(
            f"""
            SELECT vendor, client_name, sum(suggestions_shown) AS shown,
                sum(suggestions_accepted)
            FROM {self._mart("ai_analytics_usage_by_client_language")}
            GROUP BY vendor, client_name HAVING sum(suggestions_shown) > 0
            ORDER BY shown DESC, vendor, client_name LIMIT ?
            """,  # noqa: S608
            [limit],
        )
        return [
            EditorAcceptance(vendor, client or "(blank)", int(shown), int(accepted or 0))
            for vendor, client, shown, accepted in rows
        ]

    def weekly_cost(self) -> list[WeeklyCost]:
        """Augment cost per calendar week, when the cost streams were loaded."""
        if "ai_analytics_cost_daily" not in self.marts:
            return []
        rows = self._query(
            f"""
            SELECT date_trunc('week', activity_date)::DATE AS week,
                coalesce(sum(billed_amount_usd), 0), coalesce(sum(estimated_customer_cost_usd), 0),
                coalesce(sum(credits_consumed), 0)
            FROM {self._mart("ai_analytics_cost_daily")}
            GROUP BY week ORDER BY week
            """  # noqa: S608
        )
        return [
            WeeklyCost(week, float(billed), float(estimated), float(consumed))
            for week, billed, estimated, consumed in rows
        ]

    def cost_by_resource(self, limit: int = TOP_N) -> list[ResourceCost]:
        """Augment cost per model or resource, most billed first."""
        if "ai_analytics_cost_daily" not in self.marts:
            return []
        rows = self._query(
            f"""
            SELECT resource_display_name,
                coalesce(sum(billed_amount_usd), 0) AS billed,
                coalesce(sum(estimated_customer_cost_usd), 0), coalesce(sum(credits_consumed), 0)
            FROM {self._mart("ai_analytics_cost_daily")}
            GROUP BY resource_display_name ORDER BY billed DESC, resource_display_name LIMIT ?
            """,  # noqa: S608
            [limit],
        )
        return [
            ResourceCost(str(name), float(billed), float(estimated), float(consumed))
            for name, billed, estimated, consumed in rows
        ]

    def summary(self) -> Summary:
        """Everything the demo shows."""
        return Summary(
            tables=self.table_info(),
            weekly=self.weekly_active_people(),
            rolling=self.rolling_active_people(),
            editors=self.editor_acceptance(),
            cost=self.weekly_cost(),
            cost_by_resource=self.cost_by_resource(),
        )


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Format rows as an aligned text table (numbers right-aligned)."""
    cells = [[("-" if cell is None else str(cell)) for cell in row] for row in rows]
    widths = [max(len(str(h)), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    numeric = [
        all(isinstance(row[i], int) or row[i] is None for row in rows) for i in range(len(headers))
    ]

    def line(values: Sequence[str]) -> str:
        return "  ".join(
            value.rjust(width) if is_number else value.ljust(width)
            for value, width, is_number in zip(values, widths, numeric, strict=True)
        ).rstrip()

    return "\n".join(["  " + line(headers), *("  " + line(row) for row in cells)])


def format_summary(summary: Summary, *, recent_weeks: int = RECENT_WEEKS) -> str:
    """Render the summary as text.

    Args:
        summary: What to show.
        recent_weeks: How many of the latest weeks the weekly tables show.

    Returns:
        The text, sections separated by blank lines.
    """
    sections = [
        "Rows per loaded table (last date loaded)\n"
        + _table(
            ("table", "rows", "last date"),
            [(info.name, info.rows, info.last_date) for info in summary.tables],
        )
    ]
    if summary.weekly:
        sections.append(
            "Weekly active people (distinct people per calendar week; service accounts excluded)\n"
            + _table(
                ("week of", "augment", "sourcegraph", "either (distinct)"),
                [
                    (week.start, week.augment, week.sourcegraph, week.all)
                    for week in summary.weekly[-recent_weeks:]
                ],
            )
        )
    if summary.editors:
        sections.append(
            "Acceptance rate by editor/client\n"
            + _table(
                ("vendor", "editor/client", "shown", "accepted", "rate"),
                [
                    (
                        e.vendor,
                        e.client,
                        e.shown,
                        e.accepted,
                        "-" if e.rate is None else f"{e.rate:.1%}",
                    )
                    for e in summary.editors
                ],
            )
        )
    if summary.cost:
        sections.append(
            "Augment cost per week\n"
            + _table(
                ("week of", "billed USD", "estimated USD", "credits"),
                [
                    (c.week, f"{c.billed_usd:,.2f}", f"{c.estimated_usd:,.2f}", f"{c.credits:,.0f}")
                    for c in summary.cost[-recent_weeks:]
                ],
            )
        )
    if summary.cost_by_resource:
        sections.append(
            "Augment cost per model or resource\n"
            + _table(
                ("resource", "billed USD", "estimated USD", "credits"),
                [
                    (
                        r.resource,
                        f"{r.billed_usd:,.2f}",
                        f"{r.estimated_usd:,.2f}",
                        f"{r.credits:,.0f}",
                    )
                    for r in summary.cost_by_resource
                ],
            )
        )
    return "\n\n".join(sections)


def write_chart(summary: Summary, path: Path) -> None:
    """Write a PNG: 7-day active people per vendor and combined, and acceptance by editor.

    Args:
        summary: What to chart (``rolling`` must not be empty).
        path: Where to write the PNG.
    """
    import matplotlib as mpl  # noqa: PLC0415 - optional, heavy dependency

    mpl.use("Agg")  # no display needed
    import matplotlib.pyplot as plt  # noqa: PLC0415

    days = [day.start for day in summary.rolling]
    figure, (people_axis, editor_axis) = plt.subplots(
        2, 1, figsize=(10, 7.5), constrained_layout=True
    )
    for label, field, color in (
        ("Augment Code", "augment", "#2f6fdf"),
        ("Sourcegraph (Cody)", "sourcegraph", "#e8590c"),
        ("Either (distinct people)", "all", "#2b8a3e"),
    ):
        values = [getattr(day, field) for day in summary.rolling]
        people_axis.plot(
            days, values, marker="o", markersize=3, linewidth=1.8, label=label, color=color
        )
    people_axis.set_title(
        "7-day active people (service accounts excluded)", loc="left", fontsize=11
    )
    people_axis.set_ylim(bottom=0)
    people_axis.legend(loc="upper left", fontsize=9, frameon=False)
    people_axis.grid(visible=True, alpha=0.3)
    for label in people_axis.get_xticklabels():
        label.set_rotation(30)
        label.set_horizontalalignment("right")

    rated = [e for e in summary.editors if e.rate is not None]
    colors = {"augment": "#2f6fdf", "sourcegraph": "#e8590c"}
    editor_axis.barh(
        [f"{e.vendor}: {e.client}" for e in rated],
        [100 * (e.rate or 0) for e in rated],
        color=[colors.get(e.vendor, "#868e96") for e in rated],
    )
    editor_axis.invert_yaxis()
    editor_axis.set_title(
        "Suggestion acceptance rate by editor/client (%)", loc="left", fontsize=11
    )
    editor_axis.grid(visible=True, axis="x", alpha=0.3)
    figure.suptitle(f"AI coding assistant adoption, {days[0]} to {days[-1]} (UTC)", fontsize=13)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv: Sequence[str] | None = None) -> int:
    """Print the summary of a warehouse and optionally write the chart.

    Args:
        argv: Arguments (default: ``sys.argv[1:]``).

    Returns:
        0 on success, 1 if the warehouse is missing or has no tables of this tap.
    """
    parser = argparse.ArgumentParser(
        prog="python demo/report.py", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("database", type=Path, help="DuckDB file written by target-duckdb")
    parser.add_argument(
        "--schema", default=DEFAULT_SCHEMA, help="loaded tables' schema (default: %(default)s)"
    )
    parser.add_argument(
        "--marts-schema",
        default=DEFAULT_MARTS_SCHEMA,
        help="schema of the dbt models (default: %(default)s)",
    )
    parser.add_argument("--chart", type=Path, help="also write a PNG chart here")
    args = parser.parse_args(argv)
    try:
        import duckdb  # noqa: PLC0415 - optional dependency
    except ImportError:
        print(
            "The demo summary needs duckdb and matplotlib: pip install duckdb matplotlib",
            file=sys.stderr,
        )
        return 1
    if not args.database.is_file():
        print(f"No DuckDB file at {args.database}.", file=sys.stderr)
        return 1
    with duckdb.connect(str(args.database), read_only=True) as connection:
        warehouse = Warehouse(connection, args.schema, args.marts_schema)
        if not warehouse.tables:
            print(f"{args.database} has no tables in schema {args.schema!r}.", file=sys.stderr)
            return 1
        summary = warehouse.summary()
    print(f"\nWarehouse {args.database} (schema {args.schema})\n")
    print(format_summary(summary))
    if args.chart is not None:
        if not summary.rolling:
            print(
                f"No active people to chart: are the dbt marts in schema {args.marts_schema!r}?",
                file=sys.stderr,
            )
            return 1
        write_chart(summary, args.chart)
        print(f"\nChart of active people and acceptance by editor: {args.chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
