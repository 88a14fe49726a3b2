"""Summarise a DuckDB warehouse loaded by the demo, and chart daily usage.

``python demo/report.py output/demo.duckdb --chart output/demo.png`` prints rows per
table, the last date each stream reached, the top editors and languages, and daily active users
for the last two weeks; ``--chart`` also writes a PNG of daily active users and accepted
completions over time. The tables are the ones target-duckdb creates from this tap's streams;
any that are missing (a vendor not configured, a stream not selected) are skipped.

Needs ``duckdb`` and ``matplotlib``, which are not dependencies of the tap itself:
``python3 scripts/demo.py`` installs them (the ``demo`` dependency group).
"""



from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
import typing as t
from pathlib import Path

if t.TYPE_CHECKING:
    from collections.abc import Sequence

    import duckdb

DEFAULT_SCHEMA = "tap_ai_analytics"
RECENT_DAYS = 14
TOP_N = 5
AUGMENT_EDITOR_LANGUAGE = "augment_user_activity_by_editor_language"
SOURCEGRAPH_CLIENT_LANGUAGE = "sourcegraph_usage_by_user_day_client_language"


@dataclasses.dataclass(frozen=True)
class TableInfo:
    """One warehouse table: its row count and the last date (or month) it holds."""

    name: str
    rows: int
    last_date: dt.date | None


@dataclasses.dataclass(frozen=True)
class DailyUsage:
    """Both vendors' headline numbers for one day (None where a vendor has no table)."""

    date: dt.date
    augment_users: int | None
    sourcegraph_users: int | None
    augment_accepted: int | None
    sourcegraph_accepted: int | None


@dataclasses.dataclass(frozen=True)
class Summary:
    """What the demo prints and charts."""

    tables: list[TableInfo]
    top_editors: list[tuple[str, int, int]]
    top_languages: list[tuple[str, str, int, int]]
    daily: list[DailyUsage]


class Warehouse:
    """Read-only queries against the tap's tables in one DuckDB schema."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, schema: str) -> None:
        """Wrap a connection.

        Args:
            connection: An open DuckDB connection.
            schema: The schema target-duckdb loaded into.
        """
        self._con = connection
        self.schema = schema
        rows = connection.execute(
            "SELECT table_name FROM duckdb_tables() WHERE schema_name = ? ORDER BY table_name",
            [schema],
        ).fetchall()
        self.tables: list[str] = [str(name) for (name,) in rows]
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

    def has(self, table: str, *columns: str) -> bool:
        """Whether ``table`` exists with every one of ``columns``."""
        return table in self._columns and set(columns) <= self._columns[table]

    def _name(self, table: str) -> str:
        # Identifiers come from duckdb_tables() or constants, and are quoted all the same.
        return f'"{self.schema}"."{table}"'

    def _query(self, sql: str, params: Sequence[object] = ()) -> list[tuple[t.Any, ...]]:
        return self._con.execute(sql, list(params)).fetchall()

    def table_info(self) -> list[TableInfo]:
        """Row count and last date of every table."""
        infos = []
        for table in self.tables:
            rows = int(self._query(f"SELECT count(*) FROM {self._name(table)}")[0][0])  # noqa: S608
            key = next((col for col in ("date", "month") if self.has(table, col)), None)
            last = None
            if key is not None:
                # target-duckdb stores JSON-schema dates as text; cast to compare as dates.
                last = self._query(
                    f'SELECT max(TRY_CAST("{key}" AS DATE)) FROM {self._name(table)}'  # noqa: S608
                )[0][0]
            infos.append(TableInfo(table, rows, last))
        return infos

    def top_editors(self, limit: int = TOP_N) -> list[tuple[str, int, int]]:
        """Augment editors by accepted completions: ``(editor, users, accepted)``."""
        if not self.has(AUGMENT_EDITOR_LANGUAGE, "editor", "identity", "completions_accepted"):
            return []
        return [
            (str(editor), int(users), int(accepted or 0))
            for editor, users, accepted in self._query(
                f"""
                SELECT editor, count(DISTINCT identity), sum(completions_accepted) AS accepted
                FROM {self._name(AUGMENT_EDITOR_LANGUAGE)}
                GROUP BY editor ORDER BY accepted DESC NULLS LAST, editor LIMIT ?
                """,  # noqa: S608
                [limit],
            )
        ]

    def top_languages(self, limit: int = TOP_N) -> list[tuple[str, str, int, int]]:
        """Languages per vendor by accepted completions: ``(vendor, language, users, accepted)``."""
        result: list[tuple[str, str, int, int]] = []
        sources = (
            ("Augment", AUGMENT_EDITOR_LANGUAGE, "identity", "completions_accepted"),
            (
                "Sourcegraph",
                SOURCEGRAPH_CLIENT_LANGUAGE,
                "instance_url || '/' || instance_user_id",
                "combined_completion_acceptances",
            ),
        )
        for vendor, table, user, accepted_column in sources:
            if not self.has(table, "language", accepted_column):
                continue
            rows = self._query(
                f"""
                SELECT language, count(DISTINCT {user}), sum({accepted_column}) AS accepted
                FROM {self._name(table)}
                GROUP BY language ORDER BY accepted DESC NULLS LAST, language LIMIT ?
                """,  # noqa: S608
                [limit],
            )
            result += [
                (vendor, str(language or "(blank)"), int(users), int(accepted or 0))
                for language, users, accepted in rows
            ]
        return result

    def _per_day(self, table: str, expression: str, *columns: str) -> dict[dt.date, int]:
        if not self.has(table, "date", *columns):
            return {}
        rows = self._query(
            f"""
            SELECT TRY_CAST(date AS DATE) AS day, {expression}
            FROM {self._name(table)} GROUP BY day HAVING day IS NOT NULL
            """  # noqa: S608
        )
        return {day: int(value or 0) for day, value in rows}

    def daily_usage(self) -> list[DailyUsage]:
        """Daily active users and accepted completions of both vendors, oldest first."""
        augment_users = self._per_day("augment_dau_count", "max(user_count)", "user_count")
        augment_accepted = self._per_day(
            "augment_daily_usage", "sum(completions_accepted)", "completions_accepted"
        )
        sourcegraph_users = self._per_day(
            SOURCEGRAPH_CLIENT_LANGUAGE,
            "count(DISTINCT (instance_url, instance_user_id))",
            "instance_url",
            "instance_user_id",
        )
        sourcegraph_accepted = self._per_day(
            SOURCEGRAPH_CLIENT_LANGUAGE,
            "sum(combined_completion_acceptances)",
            "combined_completion_acceptances",
        )
        series = (augment_users, sourcegraph_users, augment_accepted, sourcegraph_accepted)
        days = sorted(set().union(*series))
        if not days:
            return []

        def value(values: dict[dt.date, int], day: dt.date) -> int | None:
            # Inside a series' own range a missing day had no activity (0); outside it the
            # vendor was not synced for that day (e.g. Augment stops at yesterday): unknown.
            if not values or not min(values) <= day <= max(values):
                return None
            return values.get(day, 0)

        span = (days[-1] - days[0]).days + 1
        calendar = [days[0] + dt.timedelta(days=offset) for offset in range(span)]
        return [DailyUsage(day, *(value(values, day) for values in series)) for day in calendar]

    def summary(self) -> Summary:
        """Everything the demo shows."""
        return Summary(
            tables=self.table_info(),
            top_editors=self.top_editors(),
            top_languages=self.top_languages(),
            daily=self.daily_usage(),
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


def format_summary(summary: Summary, *, recent_days: int = RECENT_DAYS) -> str:
    """Render the summary as text.

    Args:
        summary: What to show.
        recent_days: How many of the latest days the daily table shows.

    Returns:
        The text, sections separated by blank lines.
    """
    sections = [
        "Rows per table (last date loaded)\n"
        + _table(
            ("table", "rows", "last date"),
            [(info.name, info.rows, info.last_date) for info in summary.tables],
        )
    ]
    if summary.top_editors:
        sections.append(
            "Top Augment editors by accepted completions\n"
            + _table(("editor", "users", "accepted"), summary.top_editors)
        )
    if summary.top_languages:
        sections.append(
            "Top languages by accepted completions\n"
            + _table(("vendor", "language", "users", "accepted"), summary.top_languages)
        )
    if summary.daily:
        recent = summary.daily[-recent_days:]
        sections.append(
            f"Daily active users, last {len(recent)} days\n"
            + _table(
                ("date", "augment", "sourcegraph", "augment accepted", "sourcegraph accepted"),
                [
                    (
                        day.date,
                        day.augment_users,
                        day.sourcegraph_users,
                        day.augment_accepted,
                        day.sourcegraph_accepted,
                    )
                    for day in recent
                ],
            )
        )
    return "\n\n".join(sections)


def write_chart(daily: Sequence[DailyUsage], path: Path) -> None:
    """Write a PNG: daily active users (top) and accepted completions (bottom) per vendor.

    Args:
        daily: Days, oldest first.
        path: Where to write the PNG.
    """
    import matplotlib as mpl  # noqa: PLC0415 - optional, heavy dependency

    mpl.use("Agg")  # no display needed
    import matplotlib.pyplot as plt  # noqa: PLC0415

    days = [day.date for day in daily]
    figure, (users_axis, accepted_axis) = plt.subplots(
        2, 1, figsize=(10, 6.5), sharex=True, constrained_layout=True
    )
    panels = (
        (users_axis, "Daily active users", "augment_users", "sourcegraph_users"),
        (accepted_axis, "Accepted completions", "augment_accepted", "sourcegraph_accepted"),
    )
    for axis, title, augment_field, sourcegraph_field in panels:
        for label, field, color in (
            ("Augment Code", augment_field, "#2f6fdf"),
            ("Sourcegraph (Cody)", sourcegraph_field, "#e8590c"),
        ):
            values = [getattr(day, field) for day in daily]
            if any(value is not None for value in values):
                axis.plot(
                    days, values, marker="o", markersize=3, linewidth=1.8, label=label, color=color
                )
        axis.set_title(title, loc="left", fontsize=11)
        axis.grid(visible=True, alpha=0.3)
        axis.set_ylim(bottom=0)
        axis.legend(loc="upper left", fontsize=9, frameon=False)
    figure.suptitle(f"AI coding assistant usage, {days[0]} to {days[-1]} (UTC)", fontsize=13)
    figure.autofmt_xdate()
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
    parser.add_argument("--schema", default=DEFAULT_SCHEMA, help="schema (default: %(default)s)")
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
        warehouse = Warehouse(connection, args.schema)
        if not warehouse.tables:
            print(f"{args.database} has no tables in schema {args.schema!r}.", file=sys.stderr)
            return 1
        summary = warehouse.summary()
    print(f"\nWarehouse {args.database} (schema {args.schema})\n")
    print(format_summary(summary))
    if args.chart is not None:
        if not summary.daily:
            print("No dated rows to chart.", file=sys.stderr)
            return 1
        write_chart(summary.daily, args.chart)
        print(f"\nChart of daily active users and accepted completions: {args.chart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
