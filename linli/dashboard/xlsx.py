"""The takings report as an Excel workbook: a title, the filters used, each table with
amounts as numbers in yuan (two decimals), and the definitions on a sheet of their own.
Text is always written as text, so nothing typed into a name becomes a formula."""

from __future__ import annotations

import io

from django.utils import timezone
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from linli.dashboard.report import Cell, Report
from linli.money import fen_to_decimal

YUAN_FORMAT = "#,##0.00"


def _text(ws, value, *, bold: bool = False) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=str(value))
    cell.data_type = "s"
    if bold:
        cell.font = Font(bold=True)
    return cell


def _cell(ws, cell: Cell) -> WriteOnlyCell:
    if cell.fen is not None:
        out = WriteOnlyCell(ws, value=fen_to_decimal(cell.fen))  # exact, never a float
        out.number_format = YUAN_FORMAT
    elif cell.count is not None:
        out = WriteOnlyCell(ws, value=cell.count)
    else:
        return _text(ws, cell.text, bold=cell.bold)
    if cell.bold:
        out.font = Font(bold=True)
    return out


def report_workbook(rep: Report) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=rep.title[:31])
    for column, width in zip("ABCDE", (28, 30, 14, 16, 16), strict=True):
        ws.column_dimensions[column].width = width
    ws.append([_text(ws, rep.title, bold=True)])
    for label, value in rep.filters:
        ws.append([_text(ws, label), _text(ws, value)])
    ws.append([_text(ws, _("Exported")),
               _text(ws, f"{timezone.localtime():%Y-%m-%d %H:%M}")])
    for section in rep.sections:
        ws.append([])
        ws.append([_text(ws, section.title, bold=True)])
        ws.append([_text(ws, h, bold=True) for h in section.headers])
        for row in section.rows:
            ws.append([_cell(ws, c) for c in row])
    notes = wb.create_sheet(title=_("Definitions")[:31])
    notes.column_dimensions["A"].width = 120
    notes.append([_text(notes, _("How the figures are counted"), bold=True)])
    for line in rep.definitions:
        notes.append([_text(notes, line)])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()
