"""Excel export of what a console list shows (already scoped by the admin)."""

from __future__ import annotations

import io

from django.contrib.admin.utils import label_for_field, lookup_field
from django.http import HttpResponse
from django.utils import timezone
from django.utils.encoding import force_str
from openpyxl import Workbook

from linli.core.audit import audit_record
from linli.core.models import AuditEvent

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def queryset_to_xlsx_response(model_admin, request, queryset) -> HttpResponse:
    fields = [f for f in model_admin.get_list_display(request) if f != "action_checkbox"]
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=force_str(model_admin.model._meta.verbose_name_plural)[:31])
    ws.append([force_str(label_for_field(f, model_admin.model, model_admin)) for f in fields])
    count = 0
    for obj in queryset.iterator(chunk_size=2000):
        row = []
        for name in fields:
            _f, _attr, value = lookup_field(name, obj, model_admin)
            row.append(value if isinstance(value, int | float | str) else force_str(value))
        ws.append(row)
        count += 1
    buffer = io.BytesIO()
    wb.save(buffer)
    audit_record(
        actor=request.user,
        action=AuditEvent.Action.ACTION,
        summary=f"export {model_admin.model._meta.label} ({count} rows)",
        ip=request.META.get("REMOTE_ADDR"),
    )
    name = f"{model_admin.model._meta.model_name}-{timezone.localtime():%Y%m%d-%H%M}.xlsx"
    response = HttpResponse(buffer.getvalue(), content_type=XLSX)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
