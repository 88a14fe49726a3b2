"""Sourcegraph CSV reports → typed records, row by row in constant memory.

The header is read at run time: documented columns are typed by name (whatever their
position), documented columns missing from a report are null, and columns this version
does not know are kept as text in ``extra_columns`` rather than dropped.
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
        field_names = set(fields)
        self.template: dict[str, t.Any] = dict.fromkeys(field_names)
        self.template.update(constants)
        # Key strings (client, language) are "" when blank so that keys are never null.
        for name in field_names:
            column = KNOWN_COLUMNS.get(name)
            if column is not None and column.kind == "key_string":
                self.template[name] = ""
        self.typed: list[tuple[int, str, Callable[[str], t.Any], Column]] = []
        self.extra: list[tuple[int, str]] = []
        for index, cell in enumerate(header):
            name = column_field_name(cell)
            column = KNOWN_COLUMNS.get(name)
            if column is not None and name in field_names:
                self.typed.append((index, name, CONVERTERS[column.kind], column))
            else:
                self.extra.append((index, name or f"column_{index + 1}"))
        present = {name for _, name, _, _ in self.typed}
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
        template, typed, extra = self.template, self.typed, self.extra
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
            for index, name, convert, column in typed:
                value = row[index]
                if value:
                    try:
                        record[name] = convert(value)
                    except ValueError:
                        msg = (
                            f"{self.where}: line {line_number()}: column {column.header!r} "
                            f"has {value!r}, which is not {KIND_NAMES.get(column.kind, 'valid')}."
                        )
                        raise DataError(msg) from None
            if extra:
                record["extra_columns"] = {name: row[index] for index, name in extra}
            yield record


def read_report(
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
