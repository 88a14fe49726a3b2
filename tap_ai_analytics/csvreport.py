"""Sourcegraph CSV reports → typed records, row by row in constant memory.

The header is read at run time: documented columns are typed by name (whatever their
position), documented columns missing from a report are null, and columns this version
does not know are kept as text in ``extra_columns`` rather than dropped.

This is the hot path of a million-row report: everything that depends only on the header
is planned once per report and compiled into one function that builds a record from a
row in a single expression (:meth:`ReportParser._compile`). Per cell it makes at most one
call: ``float``, or a dictionary lookup of a value already converted (dates, booleans,
and counts, which repeat; a count column that does not goes back to ``int``). A row
that function refuses is converted again cell by cell, by the converters that accept
every form a kind allows and otherwise explain the problem with the line number.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
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
    """Converts the cells of one column once per distinct value.

    ``memo[cell]`` is a dictionary hit for every repeat (a third of the cost of ``int``);
    a new value is converted (which may raise ValueError) and remembered. Dates and
    booleans take a few values per report, counts mostly repeat too (0, 1, 2, ...), but
    not always: once the memo holds LIMIT values it stops growing and calls ``on_full``
    once, with which the parser switches the column to its plain converter.
    """

    LIMIT = 4096

    def __init__(
        self, convert: Callable[[str], t.Any], on_full: Callable[[], None] | None = None
    ) -> None:
        super().__init__()
        self.convert = convert
        self.on_full = on_full

    def __call__(self, cell: str) -> t.Any:
        """The converted value of ``cell`` (``memo(cell)`` is ``memo[cell]``)."""
        return self[cell]

    def __missing__(self, cell: str) -> t.Any:
        value = self.convert(cell)
        if len(self) < self.LIMIT:
            self[cell] = value
        elif self.on_full is not None:
            self.on_full()
            self.on_full = None
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
    """Parses one report's CSV rows into records for a given schema.

    Everything that depends only on the header is planned once: which field each column
    feeds and how its cells convert. From that plan the parser compiles one function
    that turns a row into a record in a single expression (:attr:`convert_row`, source in
    :attr:`source`), so a cell costs one builtin call (``float``, ``int``, a dictionary
    lookup) and no loop. A row that function refuses (wrong width, a value the builtin
    does not take) is converted again by :meth:`convert_row_checked`, which accepts what
    the documented kinds allow ("12.0" as 12) and otherwise fails with the line number.
    """

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
                self.typed.append((index, name, _Memo(int)))  # "12.0" goes the slow way
            elif column.kind == "number":
                self.typed.append((index, name, float))
            else:
                self.typed.append((index, name, _Memo(CONVERTERS[column.kind])))
        present = set(self.columns)
        missing = [column.header for column in key_columns if column.field not in present]
        if missing:
            msg = (
                f"{where}: the CSV has no {', '.join(repr(m) for m in missing)} column, "
                f"which is part of the key. Header was: {', '.join(header)}"
            )
            raise DataError(msg)
        #: The compiled row converter's source (None: rows are converted cell by cell).
        self.source: str | None = None
        self.convert_row = self._compile()

    @property
    def unknown_columns(self) -> list[str]:
        """Headers of the columns kept in ``extra_columns``."""
        return [self.header[index] for index, _ in self.extra]

    def _compile(self) -> Callable[[list[str]], dict[str, t.Any]] | None:
        """Compile the row → record function (see :attr:`source`).

        For a header ``Instance user ID,Username,Timestamp Date,Language,Foo``::

            def convert_row(row):
                c0, c1, c2, c3, c4 = row
                return {
                    'instance_url': v0,
                    'instance_user_id': f0(c0) if c0 else v1,
                    'username': c1 or v2,
                    'date': f2(c2) if c2 else v3,
                    'language': c3,
                    'extra_columns': {'foo': c4},
                }

        Unpacking the row checks its width; ``fN`` is ``float`` or a :class:`_Memo`'s
        lookup (an integer column's memo that fills up is replaced by ``int``); ``vN`` is
        the template's value. Header text only appears in ``repr`` literals.

        Returns:
            The function, or None when two columns feed the same field (then every row
            takes :meth:`convert_row_checked`).
        """
        sources: dict[str, tuple[int, Callable[[str], t.Any] | None]] = {
            name: (index, None) for index, name in self.texts
        }
        sources |= {name: (index, convert) for index, name, convert in self.typed}
        if len(sources) != len(self.texts) + len(self.typed):
            return None
        names: dict[str, t.Any] = {}
        items = [
            f"{name!r}: {self._value_source(name, position, sources.get(name), names)}"
            for position, name in enumerate(self.template)
        ]
        if self.extra and "extra_columns" not in self.template:
            items.append(f"'extra_columns': {self._extras_source()}")
        unpack = "".join(f"c{index}, " for index in range(len(self.header)))
        body = "".join(f"        {item},\n" for item in items)
        self.source = f"def convert_row(row):\n    {unpack}= row\n    return {{\n{body}    }}\n"
        exec(compile(self.source, f"<row converter: {self.where}>", "exec"), names)  # noqa: S102
        return t.cast("Callable[[list[str]], dict[str, t.Any]]", names["convert_row"])

    def _value_source(
        self,
        name: str,
        position: int,
        source: tuple[int, Callable[[str], t.Any] | None] | None,
        names: dict[str, t.Any],
    ) -> str:
        """The expression of one field of the record; the names it uses go to ``names``.

        Args:
            name: The field.
            position: The field's position in the template (``vN``: its template value,
                for a blank cell or a missing column).
            source: The field's column index and converter (None: text), if present.
            names: The compiled function's globals.

        Returns:
            The expression.
        """
        default = names[f"v{position}"] = self.template[name]
        if name == "extra_columns" and self.extra:
            return self._extras_source()
        if source is None:  # no such column in this report
            return f"v{position}"
        index, convert = source
        cell = f"c{index}"
        if convert is None:  # text
            if isinstance(default, str) and not default:  # a key string: blank stays ""
                return cell
            return f"{cell} or v{position}"
        if isinstance(convert, _Memo):
            names[f"f{index}"] = convert.__getitem__
            if convert.convert is int:  # a count that does not repeat enough: plain int
                convert.on_full = functools.partial(names.__setitem__, f"f{index}", int)
        else:
            names[f"f{index}"] = convert
        return f"f{index}({cell}) if {cell} else v{position}"

    def _extras_source(self) -> str:
        """The expression of ``extra_columns``: unknown columns as text."""
        return "{" + ", ".join(f"{name!r}: c{index}" for index, name in self.extra) + "}"

    def records(
        self, rows: Iterator[list[str]], line_number: Callable[[], int]
    ) -> Iterator[dict[str, t.Any]]:
        """Convert rows to records; any malformed row fails the report.

        Args:
            rows: CSV rows after the header.
            line_number: Returns the current line number of the reader.

        Yields:
            One record per non-empty row.

        Raises:
            DataError: On a row with the wrong number of fields or an unparsable value.
        """
        convert_row, checked = self.convert_row, self.convert_row_checked
        if convert_row is None:
            for row in rows:
                record = checked(row, line_number)
                if record is not None:
                    yield record
            return
        for row in rows:
            try:
                record = convert_row(row)
            except ValueError:  # wrong width, or a cell int/float/a memo refused
                record = checked(row, line_number)
                if record is None:
                    continue
            yield record

    def convert_row_checked(
        self, row: list[str], line_number: Callable[[], int]
    ) -> dict[str, t.Any] | None:
        """Convert one row cell by cell, explaining the first problem.

        Returns:
            The record, or None for a blank line.

        Raises:
            DataError: On a row with the wrong number of fields or an unparsable value.
        """
        width = len(self.header)
        if len(row) != width:
            if not row:  # a blank line carries no data
                return None
            msg = (
                f"{self.where}: line {line_number()} has {len(row)} fields but the header "
                f"has {width}; refusing to guess which value belongs where."
            )
            raise DataError(msg)
        record = self.template.copy()
        for index, name in self.texts:
            value = row[index]
            if value:
                record[name] = value
        for index, name, convert in self.typed:
            value = row[index]
            if value:
                try:
                    record[name] = convert(value)
                except ValueError:
                    record[name] = self.convert_slowly(name, value, line_number)
        if self.extra:
            record["extra_columns"] = {name: row[index] for index, name in self.extra}
        return record

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
) -> Iterator[dict[str, t.Any]]:
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
