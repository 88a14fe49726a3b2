"""Sourcegraph CSV reports → typed records, row by row in constant memory.

The header is read at run time: documented columns are typed by name (whatever their
position), documented columns missing from a report are null, and columns this version
does not know are kept as text in ``extra_columns`` rather than dropped.

This is the hot path of a million-row report: everything that depends only on the header
is planned once per report and compiled into one function that builds a record from a
row in a single expression (:meth:`ReportParser._compile`). A typed cell costs one
dictionary lookup of the value its text was converted to before (dates, booleans, counts
and ratios repeat), or, in a column whose values do not repeat enough, one converter
call. A row that function refuses is converted again cell by cell, by the converters
that accept every form a kind allows and otherwise explain the problem with the line
number.

A report is parsed while it downloads (:func:`read_report_body`), and its completeness is
proven rather than assumed: bytes are released to the CSV reader only up to the last line
terminator received, so a row is parsed only once the terminator after it has arrived,
and a body that ends without one, inside a quoted value, or with a short last row is
what a server that stopped mid-export sends. Such an attempt fails as a transient error
(:class:`BodyCutShortError`) and the download is retried; see :class:`CompletenessCheck`
for the one kind of body accepted anyway.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import itertools
import typing as t

import msgspec
from singer_sdk.exceptions import RetriableAPIError

from tap_ai_analytics.compat import override
from tap_ai_analytics.errors import DataError
from tap_ai_analytics.schemas import KNOWN_COLUMNS, Column, column_field_name

if t.TYPE_CHECKING:
    from collections.abc import Callable, Collection, Iterable, Iterator

#: Longest cell accepted, in characters (the ``csv`` module's default is 128 Ki, less than a
#: server may put in one cell). The reader holds a cell in a buffer of 4 bytes per
#: character that doubles as it grows, and the cell also exists as its line, its ``str``
#: and its JSON: about 16 bytes per character at the peak, so 16 Mi characters cost up to
#: ~270 MB for the moment that row is read, the most a tap sharing a small machine with
#: its target should spend on one value. A longer cell is a line-numbered DataError.
#: ``csv.field_size_limit`` is process-wide; nothing else in the tap reads CSV.
MAX_CELL_CHARS = 16 * 1024 * 1024
csv.field_size_limit(MAX_CELL_CHARS)

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


class _Memo:
    """One column's cells, converted once per distinct text.

    The compiled converter indexes :attr:`values`, a plain dict, directly (``m3[c3]``):
    for a repeated cell that is the cheapest conversion there is, a third of the cost of
    ``int``. A cell not seen before raises KeyError there, and the parser learns it
    (:meth:`learn`). A blank cell maps to the field's template value. Dates and booleans
    take a few values per report, counts and ratios mostly repeat too, but not always:
    once the memo holds LIMIT values it stops growing and the parser switches the column
    to its plain converter.
    """

    LIMIT = 4096

    def __init__(self, convert: Callable[[str], t.Any], blank: t.Any) -> None:
        self.convert = convert
        self.values: dict[str, t.Any] = {"": blank}

    def learn(self, cell: str) -> bool:
        """Convert and remember ``cell`` (ValueError if it does not convert).

        Returns:
            False, remembering nothing, once the memo is full.
        """
        if len(self.values) > self.LIMIT:
            return False
        self.values[cell] = self.convert(cell)
        return True


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


def _record_struct(fields: list[str]) -> type[msgspec.Struct]:
    """A msgspec struct that encodes as the record dict with these keys, in this order.

    It encodes as the dict would (same keys, order and values), in half the time. Its
    fields are renamed (f0, f1, ...: any text is a valid key), and it is not tracked by
    the garbage collector: a record refers to no container but the ``extra_columns``
    dict of strings, so it is never part of a reference cycle.
    """
    return msgspec.defstruct(
        "Record",
        [(f"f{position}", t.Any) for position in range(len(fields))],
        rename={f"f{position}": name for position, name in enumerate(fields)},
        gc=False,
    )


def _refuse(row: list[str]) -> dict[str, t.Any]:
    """The row converter when none was compiled: every row takes the checked path."""
    raise ValueError(row)


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

    def __init__(  # noqa: PLR0913 - all keyword-only, documented
        self,
        header: list[str],
        *,
        fields: Iterable[str],
        key_columns: tuple[Column, ...],
        constants: dict[str, t.Any],
        where: str,
        omit: Collection[str] = (),
        as_structs: bool = False,
    ) -> None:
        """Plan the conversion of each column from the header.

        Args:
            header: The CSV header row.
            fields: Every field of the stream's schema.
            key_columns: Columns that must be present (the primary key).
            constants: Values set on every record (e.g. ``instance_url``).
            where: Description of the report for error messages.
            omit: Fields left out of the records (deselected), whatever the CSV holds.
            as_structs: Make records msgspec structs (:attr:`record_type`), not dicts.

        Raises:
            DataError: If a key column is missing from the header.
        """
        self.where = where
        self.header = header
        # Records keep the schema's field order, so output is the same from run to run.
        self.template: dict[str, t.Any] = {name: None for name in fields if name not in omit}
        field_names = set(self.template)
        self.template.update({name: constants[name] for name in constants if name not in omit})
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
        #: The typed columns the compiled converter reads from a memo, by index.
        self.memos: dict[int, _Memo] = {}
        #: Columns kept as text in ``extra_columns``: (index, key).
        self.extra: list[tuple[int, str]] = []
        self._plan_columns(omit)
        if not self.extra:  # omitted, not null: a JSON null would not be SQL NULL in a warehouse
            self.template.pop("extra_columns", None)
        #: The fields of a record, in order.
        self.record_fields = list(self.template)
        if self.extra and "extra_columns" not in self.template:
            self.record_fields.append("extra_columns")
        #: The msgspec struct of a record (``as_structs``; None: records are dicts).
        self.record_type = _record_struct(self.record_fields) if as_structs else None
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

    def _plan_columns(self, omit: Collection[str]) -> None:
        """Sort the header's columns into text, typed and extra ones."""
        fields = set(self.template)
        for index, cell in enumerate(self.header):
            name = column_field_name(cell)
            if name in omit:
                continue
            column = KNOWN_COLUMNS.get(name)
            if column is None or name not in fields:
                if "extra_columns" not in omit:
                    self.extra.append((index, name or f"column_{index + 1}"))
                continue
            self.columns[name] = column
            if column.kind in {"string", "key_string"}:
                self.texts.append((index, name))
                continue
            # int, not _integer: "12.0" is refused and goes the checked way.
            convert = int if column.kind == "integer" else CONVERTERS[column.kind]
            self.typed.append((index, name, convert))
            self.memos[index] = _Memo(convert, self.template[name])

    @property
    def unknown_columns(self) -> list[str]:
        """Headers of the columns kept in ``extra_columns``."""
        return [self.header[index] for index, _ in self.extra]

    def _compile(self) -> Callable[[list[str]], t.Any] | None:
        """Compile the row → record function (see :attr:`source`).

        For a header ``Instance user ID,Username,Timestamp Date,Language,Foo``::

            def convert_row(row):
                c0, c1, c2, c3, c4 = row
                return {
                    'instance_url': v0,
                    'instance_user_id': m0[c0],
                    'username': c1 or v2,
                    'date': f2(c2) if c2 else v3,
                    'language': c3,
                    'extra_columns': {'foo': c4},
                }

        With ``as_structs`` the function returns ``Record(v0, m0[c0], c1 or v2, ...)``
        instead. Unpacking the row checks its width (ValueError); ``mN`` is column N's memo
        (:class:`_Memo`), which raises KeyError for a cell it has not seen yet
        (:meth:`learn`); a column whose memo is full converts every cell with its plain
        converter ``fN`` (here the date column); ``vN`` is the template's value. Header
        text only appears in ``repr`` literals.

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
        names: dict[str, t.Any] = {"Record": self.record_type}
        values = [
            self._value_source(name, position, sources.get(name), names)
            for position, name in enumerate(self.template)
        ]
        if len(values) < len(self.record_fields):
            values.append(self._extras_source())
        unpack = "".join(f"c{index}, " for index in range(len(self.header)))
        if self.record_type is None:
            body = "".join(
                f"        {name!r}: {value},\n"
                for name, value in zip(self.record_fields, values, strict=True)
            )
            record = f"{{\n{body}    }}"
        else:
            record = "Record(\n" + "".join(f"        {value},\n" for value in values) + "    )"
        self.source = f"def convert_row(row):\n    {unpack}= row\n    return {record}\n"
        exec(compile(self.source, f"<row converter: {self.where}>", "exec"), names)  # noqa: S102
        return t.cast("Callable[[list[str]], t.Any]", names["convert_row"])

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
        memo = self.memos.get(index)
        if memo is not None:
            names[f"m{index}"] = memo.values
            return f"m{index}[{cell}]"
        names[f"f{index}"] = convert
        return f"f{index}({cell}) if {cell} else v{position}"

    def learn(self, row: list[str]) -> t.Any:
        """Convert a row with a cell some memo has not seen (the compiled converter's KeyError).

        Every new cell of the row is converted and remembered; a column whose memo is
        full goes back to its plain converter, and the converter is compiled again.

        Returns:
            The record.

        Raises:
            ValueError: If a cell does not convert (the caller takes the checked path).
        """
        full = [
            index
            for index, memo in self.memos.items()
            if row[index] not in memo.values and not memo.learn(row[index])
        ]
        if full:
            for index in full:
                del self.memos[index]
            self.convert_row = self._compile()
        assert self.convert_row is not None  # noqa: S101 - only memos of a compiled converter
        return self.convert_row(row)

    def _extras_source(self) -> str:
        """The expression of ``extra_columns``: unknown columns as text."""
        return "{" + ", ".join(f"{name!r}: c{index}" for index, name in self.extra) + "}"

    def records(
        self,
        rows: Iterator[list[str]],
        line_number: Callable[[], int],
        *,
        lines_ended: list[bool] | None = None,
        cut_short: Callable[[str], None] | None = None,
    ) -> Iterator[t.Any]:
        """Convert rows to records (dicts, or structs: :attr:`record_type`).

        Any malformed row fails the report.

        Args:
            rows: CSV rows after the header.
            line_number: Returns the current line number of the reader.
            lines_ended: Non-empty once the reader has asked for a line after the last
                one: a row it returns after that was closed by the end of the body, not by
                a line terminator (the body ends inside a quoted value).
            cut_short: Called with the problem when the body ends in a way that suggests
                it was cut short (inside a quoted value, or with a short row); it raises.
                Default: the problem is a DataError.

        Yields:
            One record per non-empty row.

        Raises:
            DataError: On a row with the wrong number of fields or an unparsable value.
        """
        ended = [] if lines_ended is None else lines_ended
        convert_row = self.convert_row or _refuse
        for row in rows:
            if ended:  # one list truth test per row: the cheapest check there is
                self.report_cut_short(
                    f"{self.where} ends inside a quoted value (the row ending on line "
                    f"{line_number()} has no closing quote)",
                    cut_short,
                )
            try:
                try:
                    record = convert_row(row)
                except KeyError:  # a cell its column's memo has not seen yet
                    try:
                        record = self.learn(row)
                    finally:
                        convert_row = self.convert_row or _refuse  # recompiled if a memo filled
            except ValueError:  # wrong width, or a cell its converter refused
                record = self.refused(row, rows, line_number, cut_short)
                if record is None:
                    continue
            yield record

    def refused(
        self,
        row: list[str],
        rows: Iterator[list[str]],
        line_number: Callable[[], int],
        cut_short: Callable[[str], None] | None,
    ) -> t.Any:
        """Convert a row the compiled converter refused, or explain what is wrong with it.

        Returns:
            The record (a dict, or a struct: :attr:`record_type`), or None for a blank line.

        Raises:
            DataError: On a row with the wrong number of fields or an unparsable value.
        """
        if row and len(row) < len(self.header):
            line = line_number()
            if next(rows, None) is None:  # the last row is short: cut mid-row?
                self.report_cut_short(self.wrong_width(row, line), cut_short)
            raise DataError(self.wrong_width(row, line)) from None
        record = self.convert_row_checked(row, line_number)
        if record is None or self.record_type is None:
            return record
        return self.record_type(*(record[name] for name in self.record_fields))

    @staticmethod
    def report_cut_short(problem: str, cut_short: Callable[[str], None] | None) -> t.NoReturn:
        """Report a body that ends like one cut short (``cut_short`` raises, or DataError)."""
        if cut_short is not None:
            cut_short(problem)
        raise DataError(problem)

    def wrong_width(self, row: list[str], line: int) -> str:
        """The error message for a row with the wrong number of fields."""
        return (
            f"{self.where}: line {line} has {len(row)} fields but the header has "
            f"{len(self.header)}; refusing to guess which value belongs where."
        )

    def convert_row_checked(
        self, row: list[str], line_number: Callable[[], int]
    ) -> dict[str, t.Any] | None:
        """Convert one row cell by cell, explaining the first problem.

        Returns:
            The record, or None for a blank line.

        Raises:
            DataError: On a row with the wrong number of fields or an unparsable value.
        """
        if len(row) != len(self.header):
            if not row:  # a blank line carries no data
                return None
            raise DataError(self.wrong_width(row, line_number()))
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


class BodyCutShortError(RetriableAPIError):
    """A 200 CSV body that ends like one cut short: the download is tried again."""


class _EndOfLines:
    """An iterator with no items that notes, in ``ended``, that it was asked for one."""

    def __init__(self, ended: list[bool]) -> None:
        self.ended = ended

    def __iter__(self) -> _EndOfLines:
        return self

    def __next__(self) -> str:
        self.ended.append(True)
        raise StopIteration


def read_report(  # noqa: PLR0913 - all keyword-only, documented
    lines: Iterable[str],
    *,
    fields: Iterable[str],
    key_columns: tuple[Column, ...],
    constants: dict[str, t.Any],
    where: str,
    on_unknown_columns: Callable[[list[str]], None] | None = None,
    cut_short: Callable[[str], None] | None = None,
    omit: Collection[str] = (),
    as_structs: bool = False,
) -> Iterator[t.Any]:
    """Yield typed records from CSV text lines (an empty body is an empty report).

    Args:
        lines: The CSV text, e.g. an open file.
        fields: Every field of the stream's schema.
        key_columns: Columns that must be present.
        constants: Values set on every record.
        where: Description of the report for error messages.
        omit: Fields left out of the records (deselected).
        as_structs: Yield msgspec structs that encode as the records (not dicts).
        on_unknown_columns: Called once with the unknown headers, if there are any.
        cut_short: Called (and raises) when the text ends inside a quoted value or with a
            short row, as a body cut short does (default: a DataError).

    Yields:
        Records: dicts, or structs with ``as_structs``.

    Raises:
        DataError: On unreadable CSV (with its line number), or a malformed row.
    """
    ended: list[bool] = []
    reader = csv.reader(itertools.chain(lines, _EndOfLines(ended)))
    try:
        header = next(reader, None)
        if not header:
            return
        if ended:
            ReportParser.report_cut_short(f"{where} ends inside a quoted header", cut_short)
        parser = ReportParser(
            header,
            fields=fields,
            key_columns=key_columns,
            constants=constants,
            where=where,
            omit=omit,
            as_structs=as_structs,
        )
        if parser.unknown_columns and on_unknown_columns is not None:
            on_unknown_columns(parser.unknown_columns)
        yield from parser.records(
            reader, lambda: reader.line_num, lines_ended=ended, cut_short=cut_short
        )
    except csv.Error as exc:
        msg = f"{where}: line {reader.line_num} is not readable CSV: {exc}"
        if "field limit" in str(exc):
            msg += f" (a value longer than {MAX_CELL_CHARS:,} characters is not accepted)"
        raise DataError(msg) from None
    except UnicodeDecodeError as exc:
        # Text is decoded a block at a time: the bad byte is in the lines that follow.
        msg = f"{where}: the text after line {reader.line_num} is not UTF-8 ({exc.reason})."
        raise DataError(msg) from None


class CompletenessCheck:
    """What one download's attempts showed about how its body ends.

    A complete body ends with a line terminator, outside a quoted value, and its last
    row has as many fields as the header. Anything else is what a server that stopped
    mid-export and closed the response normally sends: the attempt fails with
    :class:`BodyCutShortError`, a transient failure, and the download is retried.

    The fallback: a body that ends without a line terminator is accepted when it is
    identical (same length, same SHA-256, computed as it streams: nothing is kept) to
    the previous attempt's and this is the last attempt allowed, i.e. a server that
    simply omits the final newline; ``repeat_proves`` (the same server already did so
    in this run) accepts it on the first repeat. A body cut short differs from one
    download to the next (or arrives complete); one cut at the same byte every time is
    not helped by retrying either. Any other problem at the end of a body that repeats
    is a DataError.
    """

    def __init__(self, where: str, attempts: int, *, repeat_proves: bool = False) -> None:
        """Start before the first attempt.

        Args:
            where: Description of the report for messages.
            attempts: Attempts allowed for the download (``max_request_attempts``).
            repeat_proves: Accept a repeated unterminated body before the last attempt.
        """
        self.where = where
        self.attempts = attempts
        self.repeat_proves = repeat_proves
        self.attempt = 0
        #: True once an unterminated body was accepted (the caller warns).
        self.accepted_unterminated = False
        self._body: ReportBody | None = None
        self._previous: tuple[int, bytes] | None = None
        self._same_in_a_row = 0  # bodies judged, the same as the one before
        self._judged = 0  # the attempt whose body was judged last

    def body(self, chunks: Iterable[bytes], attempt: int) -> ReportBody:
        """The body of attempt number ``attempt``, read from ``chunks`` as they arrive.

        Attempts that failed before a body arrived (a 5xx, a timeout) count too: the
        last attempt allowed is the last one, whatever the earlier ones did.
        """
        self.attempt = attempt
        self._body = ReportBody(chunks, self)
        return self._body

    def _proven(self) -> bool:
        """Whether this attempt's body repeats the previous one's, and that settles it."""
        assert self._body is not None  # noqa: S101 - only called while reading a body
        if self._judged != self.attempt:  # each attempt's body counts once
            self._judged = self.attempt
            fingerprint = self._body.fingerprint
            repeated = fingerprint == self._previous
            self._same_in_a_row = self._same_in_a_row + 1 if repeated else 1
            self._previous = fingerprint
        last_attempt = self.attempt >= self.attempts
        return self._same_in_a_row > 1 and (self.repeat_proves or last_attempt)

    def unterminated(self, tail_bytes: int) -> None:
        """The body ended ``tail_bytes`` after its last line terminator.

        Raises:
            BodyCutShortError: Unless the body is accepted as it is (see the class).
        """
        if self._proven():
            self.accepted_unterminated = True
            return
        msg = (
            f"{self.where} ended {tail_bytes} bytes after its last line terminator, in "
            "the middle of a row (cut short?)"
        )
        raise BodyCutShortError(msg)

    def cut_short(self, problem: str) -> None:
        """The body ended in a way a complete one does not (``problem`` says how).

        Raises:
            BodyCutShortError: To download it again.
            DataError: When the same body came back: it is malformed, not cut short.
        """
        if self._proven():
            msg = f"{problem} (the same in {self._same_in_a_row} downloads)"
            raise DataError(msg)
        msg = f"{problem} (cut short?)"
        raise BodyCutShortError(msg)


class ReportBody(io.BufferedIOBase):
    """One attempt's body bytes, released up to the last line terminator received.

    The text reader above it (and so the CSV reader) never sees bytes after the last
    line terminator that has arrived; a row is parsed only once the terminator after it
    is in. The length and SHA-256 of everything received are kept as it streams.
    """

    def __init__(self, chunks: Iterable[bytes], check: CompletenessCheck) -> None:
        """Read ``chunks`` on demand; ``check`` judges an unterminated end."""
        super().__init__()
        self._chunks = iter(chunks)
        self._check = check
        self._ready = memoryview(b"")  # released, read from ``_offset`` on
        self._offset = 0
        self._held = b""  # received after the last line terminator
        self._sha256 = hashlib.sha256()
        self._size = 0
        self._finished = False

    @property
    def fingerprint(self) -> tuple[int, bytes]:
        """Length and SHA-256 of the body received so far."""
        return self._size, self._sha256.digest()

    @override
    def readable(self) -> bool:
        """Always: the body is read."""
        return True

    @override
    def read1(self, size: int | None = -1) -> bytes:
        """Up to ``size`` released bytes (waiting for the next chunk if none); b"" at the end.

        Raises:
            BodyCutShortError: At the end of a body that is not accepted unterminated.
        """
        while self._offset >= len(self._ready):
            if self._finished:
                return b""
            self._receive()
        end = len(self._ready)
        if size is not None and size >= 0:
            end = min(end, self._offset + size)
        data = self._ready[self._offset : end].tobytes()
        self._offset = end
        return data

    def _receive(self) -> None:
        chunk = next(self._chunks, None)
        if chunk is None:
            self._finished = True
            if self._held:  # no line terminator at the very end
                self._check.unterminated(len(self._held))
                self._release(self._held, len(self._held))
            return
        self._sha256.update(chunk)
        self._size += len(chunk)
        data = self._held + chunk if self._held else chunk
        cut = max(data.rfind(b"\n"), data.rfind(b"\r")) + 1
        self._held = data[cut:]
        self._release(data, cut)

    def _release(self, data: bytes, end: int) -> None:
        self._ready = memoryview(data)[:end]
        self._offset = 0


def read_report_body(
    chunks: Iterable[bytes], attempt: int, check: CompletenessCheck, **report: t.Any
) -> Iterator[t.Any]:
    """One download attempt: records from a UTF-8 CSV body as its chunks arrive.

    The body is read as the records are asked for, not before.

    Args:
        chunks: The body, in chunks as received.
        attempt: The attempt's number (1 for the first, counting every attempt).
        check: The download's completeness check (shared by its attempts).
        **report: :func:`read_report`'s keyword arguments, ``where`` included.

    Returns:
        The records (none from a partial row). Reading them raises BodyCutShortError
        when the body ends like one cut short (a transient failure), DataError on
        malformed CSV.
    """
    body = check.body(chunks, attempt)
    # A buffered binary stream is all TextIOWrapper uses (typeshed wants a concrete one).
    text = io.TextIOWrapper(t.cast("io.BufferedReader", body), encoding="utf-8-sig", newline="")
    return read_report(text, cut_short=check.cut_short, **report)  # not one more generator
