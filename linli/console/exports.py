"""Excel export of what a console list shows.

The queryset comes from the admin's action machinery, which starts from the page's
scoped ``get_queryset``: ids of rows outside the staff member's scope that are posted
anyway are simply not there. Cells hold what the list shows (choice labels, masked
personal data), and text is always written as text so that a value such as
``=HYPERLINK(...)`` typed into a name never becomes a formula.

Money is written as numbers: a list column whose display method carries ``export_fen``
(a function of the row giving fen) becomes a numeric cell in yuan with two decimals, so
the sheet sums. A page may add columns only the export has with
``export_extra_columns(request)``: (label, function of the row, "yuan" or "text").
"""

from __future__ import annotations

import datetime as dt
import decimal
import io

from django.contrib.admin.utils import label_for_field, lookup_field
from django.db import models
from django.http import HttpResponse
from django.utils import timezone
from django.utils.encoding import force_str
from django.utils.html import strip_tags
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell

from linli.core.audit import audit_record
from linli.core.http import client_ip
from linli.core.models import AuditEvent
from linli.money import fen_to_decimal

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
YUAN_FORMAT = "0.00"


def _plain_value(field, value):
    """A cell value: numbers and dates stay typed, everything else becomes text."""
    if value is None:
        return ""
    if isinstance(field, models.Field) and field.choices:
        return force_str(dict(field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, int | float | decimal.Decimal):
        return value
    if isinstance(value, dt.datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.replace(tzinfo=None)
    if isinstance(value, dt.date):
        return value
    return strip_tags(force_str(value))


def _cell(ws, value) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=value)
    if isinstance(value, str):
        cell.data_type = "s"  # never a formula
    return cell


def _yuan(ws, amount_fen: int | None) -> WriteOnlyCell:
    if amount_fen is None:
        return WriteOnlyCell(ws, value=None)
    cell = WriteOnlyCell(ws, value=fen_to_decimal(amount_fen))  # exact, never a float
    cell.number_format = YUAN_FORMAT
    return cell


def _column_cell(ws, model_admin, name, obj) -> WriteOnlyCell:
    """``name``: a list_display entry (a field or method name, or a callable)."""
    column = getattr(model_admin, name, None) if isinstance(name, str) else name
    to_fen = getattr(column, "export_fen", None)
    if to_fen is not None:
        return _yuan(ws, to_fen(obj))
    field, _attr, value = lookup_field(name, obj, model_admin)
    return _cell(ws, _plain_value(field, value))


def queryset_to_xlsx_response(model_admin, request, queryset) -> HttpResponse:
    fields = [f for f in model_admin.get_list_display(request) if f != "action_checkbox"]
    extra_columns = getattr(model_admin, "export_extra_columns", None)
    extra = extra_columns(request) if extra_columns else []
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=force_str(model_admin.model._meta.verbose_name_plural)[:31])
    ws.append(
        [_cell(ws, force_str(label_for_field(f, model_admin.model, model_admin))) for f in fields]
        + [_cell(ws, force_str(label)) for label, _fn, _kind in extra]
    )
    count = 0
    for obj in queryset.iterator(chunk_size=2000):
        row = [_column_cell(ws, model_admin, name, obj) for name in fields]
        row += [_yuan(ws, fn(obj)) if kind == "yuan" else _cell(ws, _plain_value(None, fn(obj)))
                for _label, fn, kind in extra]
        ws.append(row)
        count += 1
    buffer = io.BytesIO()
    wb.save(buffer)
    audit_record(
        actor=request.user,
        action=AuditEvent.Action.ACTION,
        summary=f"export {model_admin.model._meta.label} ({count} rows)",
        ip=client_ip(request),
    )
    name = f"{model_admin.model._meta.model_name}-{timezone.localtime():%Y%m%d-%H%M}.xlsx"
    response = HttpResponse(buffer.getvalue(), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
