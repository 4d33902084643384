"""Every report as an .xlsx: a title, the filters used, the table with numeric cells
(yuan as numbers with two decimals, rates as percentages), and a sheet of the
definitions of the figures shown. Text is always written as text, never a formula."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from django.http import HttpResponse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from linli.core.xlsx import XLSX_CONTENT_TYPE
from linli.money import fen_to_decimal
from linli.reports.definitions import definition_rows

YUAN_FORMAT = "0.00"
RATE_FORMAT = "0.00%"
DATE_FORMAT = "yyyy-mm-dd"


@dataclass(frozen=True)
class Column:
    label: str
    kind: str = "text"    # text | yuan (value in fen) | rate (Decimal fraction) | int | date


def _cell(ws, value, kind: str = "text", bold: bool = False) -> WriteOnlyCell:
    if value is None:
        cell = WriteOnlyCell(ws, value=None)
    elif kind == "yuan":
        cell = WriteOnlyCell(ws, value=fen_to_decimal(value))  # exact, never a float
        cell.number_format = YUAN_FORMAT
    elif kind == "rate":
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = RATE_FORMAT
    elif kind == "int":
        cell = WriteOnlyCell(ws, value=int(value))
    elif kind == "date":
        if isinstance(value, dt.datetime):
            value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
        cell = WriteOnlyCell(ws, value=value)
        cell.number_format = DATE_FORMAT
    else:
        cell = WriteOnlyCell(ws, value=str(value))
        cell.data_type = "s"   # never a formula
    if bold:
        cell.font = Font(bold=True)
    return cell


def report_xlsx(*, title: str, filters: list[tuple[str, str]], columns: list[Column],
                rows, definitions: list[str], filename: str) -> HttpResponse:
    """``rows``: iterables of raw values in the columns' kinds (fen as int)."""
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=title[:31])
    ws.append([_cell(ws, title, bold=True)])
    for label, value in filters:
        ws.append([_cell(ws, label), _cell(ws, value)])
    ws.append([])
    ws.append([_cell(ws, c.label, bold=True) for c in columns])
    for row in rows:
        ws.append([_cell(ws, value, c.kind) for c, value in zip(columns, row, strict=True)])
    sheet = wb.create_sheet(title=_("Definitions")[:31])
    sheet.append([_cell(sheet, _("Figure"), bold=True), _cell(sheet, _("How it is counted"),
                                                               bold=True)])
    for name, text in definition_rows(definitions):
        sheet.append([_cell(sheet, name), _cell(sheet, text)])
    buffer = io.BytesIO()
    wb.save(buffer)
    response = HttpResponse(buffer.getvalue(), content_type=XLSX_CONTENT_TYPE)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True,
                                                                 filename=filename)
    return response
