"""Reading an uploaded Excel workbook for an all-or-nothing import.

Every import (the estate, meter readings, …) trusts no cell before the upload passes
the same checks: a real .xlsx (not an old .xls, not something renamed), at most
``LINLI_IMPORT_MAX_BYTES``, not a zip bomb (the members' unpacked sizes are checked
before anything is parsed), read in streaming mode with hard caps that blank rows and
cells count against too — at most ``LINLI_IMPORT_MAX_ROWS`` non-blank rows, twice that
rows in all, ``MAX_CELLS`` cells — and within ``LINLI_IMPORT_MAX_SECONDS``; a sheet whose
first row names a column it does not know is refused with the nearest known one. A sheet is then described by ``Column``s whose parsers turn a raw cell
into a clean value or raise ``CellError`` with a message a person can act on;
``parse_sheet`` collects every problem as a ``RowError`` (sheet, row, column, reason).

The messages are the estate import's (``linli.estate.imports``), word for word, so one
translation serves both imports, which both read, parse and refuse through these helpers
and write their template workbooks with ``write_example_sheet``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import io
import re
import time
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import IO, Any

import openpyxl
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from openpyxl.styles import Font

from linli.core import progress

MAX_COLUMNS = 40
# A 5 MB .xlsx that unpacks to gigabytes is a zip bomb, not data.
MAX_UNPACK_RATIO = 20
# Rows iterated, blank ones included, per non-blank row allowed: a sheet whose few
# cells sit millions of rows apart makes the reader walk every row between them.
ROWS_ITERATED_PER_ROW = 2
# Non-blank cells in all, however they are spread over rows and columns.
MAX_CELLS = 400_000
# The phases an import reports to a page watching it (``linli.core.progress``).
READING, CHECKING, SAVING = "reading", "checking", "saving"
CHECK_TIME_EVERY = 500  # rows
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class ImportRefused(Exception):
    """The upload as a whole is unusable (not .xlsx, too large, no known sheet)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class CellError(Exception):
    """One cell holds nonsense; the message says what to write instead."""


@dataclass(frozen=True)
class RowError:
    sheet: str
    row_number: int
    column: str
    message: str


@dataclass
class RawSheet:
    header: tuple[Any, ...]
    rows: list[tuple[int, tuple[Any, ...]]]  # (row number as Excel shows it, cells)


# --- the upload --------------------------------------------------------------------
def read_upload(file: IO[bytes]) -> bytes:
    """The uploaded bytes, if they can be an .xlsx of an acceptable size."""
    limit = settings.LINLI_IMPORT_MAX_BYTES
    too_large = ImportRefused(
        _("The file is larger than %(limit)s; split it into smaller files.")
        % {"limit": filesizeformat(limit)}
    )
    if (getattr(file, "size", None) or 0) > limit:
        raise too_large
    data = file.read(limit + 1)
    if len(data) > limit:
        raise too_large
    if data.startswith(b"\xd0\xcf\x11\xe0"):
        raise ImportRefused(
            _("This is an old .xls file. Save it as an .xlsx workbook and try again.")
        )
    if not data.startswith(b"PK\x03\x04"):
        raise not_xlsx()
    return data


def not_xlsx() -> ImportRefused:
    return ImportRefused(
        _("This is not an Excel .xlsx file. Save it as an .xlsx workbook and try again.")
    )


def records_changed() -> ImportRefused:
    """Someone else wrote the same records while the import ran (a unique key clashed)."""
    return ImportRefused(
        _("The community's records changed during the import; please import again.")
    )


def read_sheets(
    data: bytes, names: Sequence[str], *, first_if_none: bool = False
) -> dict[str, RawSheet]:
    """The sheets called ``names`` that the workbook has, keyed by name.

    With ``first_if_none``, a workbook that has none of them is read from its first
    sheet, as if that were ``names[0]`` (people rename sheets; a one-sheet import
    should not fail for it).
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            _check_unpacked(archive)
        workbook = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        try:
            wanted = {name: name for name in names if name in workbook.sheetnames}
            if not wanted and first_if_none and workbook.sheetnames:
                wanted = {names[0]: workbook.sheetnames[0]}
            progress.stage(READING)
            sheets = _read(workbook, wanted)
        finally:
            workbook.close()
    except ImportRefused:
        raise
    except Exception as exc:  # openpyxl raises many kinds on a damaged or foreign file
        raise not_xlsx() from exc
    if not sheets:
        raise ImportRefused(
            _("The workbook has none of the sheets %(sheets)s.") % {"sheets": "、".join(names)}
        )
    progress.stage(CHECKING, sum(len(sheet.rows) for sheet in sheets.values()))
    return sheets


def _check_unpacked(archive: zipfile.ZipFile) -> None:
    """Refuse a zip bomb from its directory, before any member is unpacked."""
    limit = MAX_UNPACK_RATIO * settings.LINLI_IMPORT_MAX_BYTES
    members = archive.infolist()
    if len(members) > 1000 or sum(info.file_size for info in members) > limit:
        raise ImportRefused(
            _("The workbook is too large once unpacked; split it into smaller files.")
        )


def _too_many_rows(max_rows: int) -> ImportRefused:
    return ImportRefused(
        _("The workbook has more than %(max)d rows; split it into smaller files.")
        % {"max": max_rows}
    )


def _read(workbook: Any, wanted: dict[str, str]) -> dict[str, RawSheet]:
    """Stream the rows: every row walked counts (blank ones too), and so does time."""
    sheets: dict[str, RawSheet] = {}
    max_rows = settings.LINLI_IMPORT_MAX_ROWS
    max_walked = ROWS_ITERATED_PER_ROW * max_rows
    deadline = time.monotonic() + settings.LINLI_IMPORT_MAX_SECONDS
    row_count = walked = cells_seen = 0
    for name, title in wanted.items():
        worksheet = workbook[title]
        worksheet.reset_dimensions()  # some writers store a wrong size; read what is there
        rows = worksheet.iter_rows(values_only=True, max_col=MAX_COLUMNS)
        sheet = sheets[name] = RawSheet(header=next(rows, ()), rows=[])
        for number, cells in enumerate(rows, start=2):
            walked += 1
            if walked > max_walked:
                raise _too_many_rows(max_rows)
            if walked % CHECK_TIME_EVERY == 0 and time.monotonic() > deadline:
                raise ImportRefused(
                    _("Reading the workbook took too long; split it into smaller files.")
                )
            filled = sum(1 for cell in cells if not is_blank(cell))
            if not filled:
                continue
            row_count += 1
            progress.advance()
            cells_seen += filled
            if row_count > max_rows:
                raise _too_many_rows(max_rows)
            if cells_seen > MAX_CELLS:
                raise ImportRefused(
                    _("The workbook has more than %(max)d filled cells; split it into "
                      "smaller files.") % {"max": MAX_CELLS}
                )
            sheet.rows.append((number, cells))
    return sheets


# --- cell parsers: raw cell value in, clean value out, CellError on nonsense -------
def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def plain_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # Excel keeps 1801 typed in a number cell as 1801.0
    return str(value).strip()


def text(max_length: int) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        result = plain_text(value)
        if len(result) > max_length:
            raise CellError(_("Write at most %(max)d characters.") % {"max": max_length})
        return result

    return parse


def date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        value = value.date()
    elif isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    if not isinstance(value, dt.date) or not 1900 <= value.year <= 2100:
        raise CellError(_("Write the date as YYYY-MM-DD (e.g. 2024-01-31) or as an Excel date."))
    return value


def choice(options: dict[str, str]) -> Callable[[Any], str]:
    """Accept the Chinese label or the English code of a choice."""
    lookup = {label: str(code) for label, code in options.items()}
    lookup |= {str(code): str(code) for code in options.values()}

    def parse(value: Any) -> str:
        code = lookup.get(plain_text(value).lower())
        if code is None:
            raise CellError(_("Write one of: %(choices)s.") % {"choices": "、".join(options)})
        return code

    return parse


_YES = {"是", "y", "yes", "true", "1"}
_NO = {"否", "n", "no", "false", "0"}


def yes_no(value: Any) -> bool:
    result = plain_text(value).lower()
    if result in _YES | _NO:
        return result in _YES
    raise CellError(_("Write 是 (yes) or 否 (no)."))


def decimal_number(*, places: int, below: Decimal, message: str) -> Callable[[Any], Decimal]:
    """A number ≥ 0 below ``below`` with at most ``places`` decimals; ``message`` says
    how to write it. Floats go through ``str`` so 12.3 stays 12.3, not 12.2999…"""

    def parse(value: Any) -> Decimal:
        if isinstance(value, bool | dt.date | dt.time):
            raise CellError(message)
        try:
            number = Decimal(plain_text(value))
        except InvalidOperation:
            raise CellError(message) from None
        if not number.is_finite() or number < 0 or number >= below:
            raise CellError(message)
        if number.normalize().as_tuple().exponent < -places:
            raise CellError(message)
        return number

    return parse


# --- sheets of columns ---------------------------------------------------------------
@dataclass(frozen=True)
class Column:
    key: str
    header: str
    parse: Callable[[Any], Any]
    help: Any
    example: Any
    required: bool = False


@dataclass(frozen=True)
class SheetSpec:
    name: str
    columns: tuple[Column, ...]

    def header(self, key: str) -> str:
        return next(c.header for c in self.columns if c.key == key)


@dataclass
class ParsedRow:
    spec: SheetSpec
    number: int
    values: dict[str, Any] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)

    def fail(self, key: str, message: str) -> None:
        self.errors.append(
            RowError(self.spec.name, self.number, self.spec.header(key), str(message))
        )

    def has(self, *keys: str) -> bool:
        return all(key in self.values for key in keys)

    def failed(self, *keys: str) -> bool:
        """Whether one of these cells was wrong (anything built from it would be too)."""
        headers = {self.spec.header(key) for key in keys}
        return any(error.column in headers for error in self.errors)


def _header_positions(
    spec: SheetSpec, header: Iterable[Any]
) -> tuple[dict[str, int], list[RowError]]:
    found = {plain_text(title): pos for pos, title in enumerate(header) if not is_blank(title)}
    positions, errors = {}, []
    for column in spec.columns:
        pos = found.get(column.header, found.get(column.key))
        if pos is not None:
            positions[column.key] = pos
        elif column.required:
            errors.append(
                RowError(spec.name, 1, column.header, _("This column is missing from the first row."))
            )
    known = {c.header for c in spec.columns} | {c.key for c in spec.columns}
    errors.extend(_unknown_column(spec, title) for title in found if title not in known)
    return positions, errors


def _unknown_column(spec: SheetSpec, title: str) -> RowError:
    """A header no column has: its value would be dropped silently, so it is refused,
    with the nearest known column (a misspelling: 面积 for 建筑面积)."""
    headers = [c.header for c in spec.columns]
    nearest = difflib.get_close_matches(title, headers, n=1, cutoff=0.4)
    if nearest:
        message = _("Unknown column “%(name)s”. Did you mean “%(nearest)s”?") % {
            "name": title, "nearest": nearest[0]}
    else:
        message = _("Unknown column “%(name)s”. The columns are: %(columns)s.") % {
            "name": title, "columns": "、".join(headers)}
    return RowError(spec.name, 1, title[:50], message)


def parse_sheet(spec: SheetSpec, raw: RawSheet) -> tuple[list[ParsedRow], list[RowError]]:
    """Every row parsed cell by cell; a missing required column stops the sheet."""
    positions, errors = _header_positions(spec, raw.header)
    if errors:
        return [], errors
    rows = []
    for number, cells in raw.rows:
        row = ParsedRow(spec, number)
        for column in spec.columns:
            pos = positions.get(column.key)
            value = cells[pos] if pos is not None and pos < len(cells) else None
            if is_blank(value):
                if column.required:
                    row.fail(column.key, _("This cell must not be blank."))
                continue
            try:
                row.values[column.key] = column.parse(value)
            except CellError as exc:
                row.fail(column.key, str(exc))
        rows.append(row)
        progress.advance()
    return rows, errors


# --- the template workbook -------------------------------------------------------------
def write_example_sheet(sheet: Any, spec: SheetSpec) -> None:
    """Fill an empty worksheet with ``spec``'s headers (bold) and its example row."""
    sheet.append([c.header for c in spec.columns])
    sheet.append([c.example for c in spec.columns])
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for cell in sheet[2]:
        if isinstance(cell.value, dt.date):
            cell.number_format = "yyyy-mm-dd"
        elif isinstance(cell.value, str):
            cell.number_format = "@"  # keep 2026-11 and 1801 as typed
        sheet.column_dimensions[cell.column_letter].width = 14


def workbook_bytes(workbook: Any) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
