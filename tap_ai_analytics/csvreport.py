"""Sourcegraph CSV reports → typed records, row by row in constant memory.

The header is read at run time: documented columns are typed by name (whatever their
position), documented columns missing from a report are null, and columns this version
does not know are kept as text in ``extra_columns`` rather than dropped.

This is the hot path of a million-row report: everything that depends only on the header
is planned once per report, and per cell the loop calls at most one builtin (``int``,
``float``, or a dictionary lookup of a date or boolean already converted); the slower,
explaining converters only see the cells those refuse.
"""

from __future__ import annotations

import csv
import datetime as dt
import typing as t

from tap_ai_analytics.errors import DataError
from tap_ai_analytics.schemas import KNOWN_COLUMNS, Column, column_field_name

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

_TRUE = frozenset({"true", "1", "yes", "y", "t"})
_FALSE = frozenset({"false", "0", "no", "n", "f"})


def _integer(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        number = float(value)  # "12.0" is still a whole number
        if not number.is_integer():
            raise
        return int(number)


def _boolean(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ValueError(value)


def _date(value: str) -> str:
    day = value.strip()[:10]
    dt.date.fromisoformat(day)
    return day


def _month(value: str) -> str:
    month = value.strip()[:7]  # "2025-06", "2025-06-01" or "2025-06-01 00:00:00 UTC"
    dt.date.fromisoformat(f"{month}-01")
    return f"{month}-01"


class _Memo(dict[str, t.Any]):
    """Converts cells of a column whose values repeat (dates, booleans) once per value.

    ``memo[cell]`` is a dictionary hit for every repeat; a new value is converted (which
    may raise ValueError) and remembered, up to a bound.
    """

    LIMIT = 4096

    def __init__(self, convert: Callable[[str], t.Any]) -> None:
        super().__init__()
        self.convert = convert

    def __missing__(self, cell: str) -> t.Any:
        value = self.convert(cell)
        if len(self) < self.LIMIT:
            self[cell] = value
        return value


CONVERTERS: dict[str, Callable[[str], t.Any]] = {
    "integer": _integer,
    "number": float,
    "boolean": _boolean,
    "string": str,
    "key_string": str,
    "date": _date,
    "month": _month,
}

KIND_NAMES = {
    "integer": "a whole number",
    "number": "a number",
    "boolean": "true/false",
    "date": "a YYYY-MM-DD date",
    "month": "a YYYY-MM month",
}


class ReportParser:
    """Parses one report's CSV rows into records for a given schema."""

    def __init__(
        self,
        header: list[str],
        *,
        fields: Iterable[str],
        key_columns: tuple[Column, ...],
        constants: dict[str, t.Any],
        where: str,
    ) -> None:
        """Plan the conversion of each column from the header.

        Args:
            header: The CSV header row.
            fields: Every field of the stream's schema.
            key_columns: Columns that must be present (the primary key).
            constants: Values set on every record (e.g. ``instance_url``).
            where: Description of the report for error messages.

        Raises:
            DataError: If a key column is missing from the header.
        """
        self.where = where
        self.header = header
        # Records keep the schema's field order, so output is the same from run to run.
        self.template: dict[str, t.Any] = dict.fromkeys(fields)
        field_names = set(self.template)
        self.template.update(constants)
        # Key strings (client, language) are "" when blank so that keys are never null.
        for name in field_names:
            column = KNOWN_COLUMNS.get(name)
            if column is not None and column.kind == "key_string":
                self.template[name] = ""
        self.columns: dict[str, Column] = {}
        #: Text columns, copied when not blank: (index, field).
        self.texts: list[tuple[int, str]] = []
        #: Typed columns, converted when not blank: (index, field, fast converter).
        self.typed: list[tuple[int, str, Callable[[str], t.Any]]] = []
        self.extra: list[tuple[int, str]] = []
        for index, cell in enumerate(header):
            name = column_field_name(cell)
            column = KNOWN_COLUMNS.get(name)
            if column is None or name not in field_names:
                self.extra.append((index, name or f"column_{index + 1}"))
                continue
            self.columns[name] = column
            if column.kind in {"string", "key_string"}:
                self.texts.append((index, name))
            elif column.kind == "integer":
                self.typed.append((index, name, int))  # "12.0" goes the slow way
            elif column.kind == "number":
                self.typed.append((index, name, float))
            else:
                self.typed.append((index, name, _Memo(CONVERTERS[column.kind]).__getitem__))
        present = set(self.columns)
        missing = [column.header for column in key_columns if column.field not in present]
        if missing:
            msg = (
                f"{where}: the CSV has no {', '.join(repr(m) for m in missing)} column, "
                f"which is part of the key. Header was: {', '.join(header)}"
            )
            raise DataError(msg)

    @property
    def unknown_columns(self) -> list[str]:
        """Headers of the columns kept in ``extra_columns``."""
        return [self.header[index] for index, _ in self.extra]

    def records(self, rows: Iterator[list[str]], line_number: Callable[[], int]) -> Iterator[dict]:
        """Convert rows to records; any malformed row fails the report.

        Args:
            rows: CSV rows after the header.
            line_number: Returns the current line number of the reader.

        Yields:
            One record per non-empty row.

        Raises:
            DataError: On a row with the wrong number of fields or an unparsable value.
        """
        width = len(self.header)
        template, texts, typed, extra = self.template, self.texts, self.typed, self.extra
        for row in rows:
            if len(row) != width:
                if not row:  # a blank line carries no data
                    continue
                msg = (
                    f"{self.where}: line {line_number()} has {len(row)} fields but the header "
                    f"has {width}; refusing to guess which value belongs where."
                )
                raise DataError(msg)
            record = template.copy()
            for index, name in texts:
                value = row[index]
                if value:
                    record[name] = value
            for index, name, convert in typed:
                value = row[index]
                if value:
                    try:
                        record[name] = convert(value)
                    except ValueError:
                        record[name] = self.convert_slowly(name, value, line_number)
            if extra:
                record["extra_columns"] = {name: row[index] for index, name in extra}
            yield record

    def convert_slowly(self, name: str, value: str, line_number: Callable[[], int]) -> t.Any:
        """Convert a cell the fast converter refused, or explain why it is invalid.

        Raises:
            DataError: If the value is not of the column's kind.
        """
        column = self.columns[name]
        try:
            return CONVERTERS[column.kind](value)
        except ValueError:
            msg = (
                f"{self.where}: line {line_number()}: column {column.header!r} "
                f"has {value!r}, which is not {KIND_NAMES.get(column.kind, 'valid')}."
            )
            raise DataError(msg) from None


def read_report(  # noqa: PLR0913 - all keyword-only, documented
    lines: Iterable[str],
    *,
    fields: Iterable[str],
    key_columns: tuple[Column, ...],
    constants: dict[str, t.Any],
    where: str,
    on_unknown_columns: Callable[[list[str]], None] | None = None,
) -> Iterator[dict]:
    """Yield typed records from CSV text lines (an empty body is an empty report).

    Args:
        lines: The CSV text, e.g. an open file.
        fields: Every field of the stream's schema.
        key_columns: Columns that must be present.
        constants: Values set on every record.
        where: Description of the report for error messages.
        on_unknown_columns: Called once with the unknown headers, if there are any.

    Yields:
        Records.
    """
    reader = csv.reader(lines)
    header = next(reader, None)
    if not header:
        return
    parser = ReportParser(
        header, fields=fields, key_columns=key_columns, constants=constants, where=where
    )
    if parser.unknown_columns and on_unknown_columns is not None:
        on_unknown_columns(parser.unknown_columns)
    yield from parser.records(reader, lambda: reader.line_num)
