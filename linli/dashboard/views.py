"""The takings report pages (thin: scope, permission and input checked here; figures from
``dashboard.takings``): the daily or monthly report, the records behind any figure
(drill-down) and the Excel export."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET

from linli.core.audit import audit_record
from linli.core.http import client_ip
from linli.core.models import AuditEvent
from linli.core.xlsx import XLSX_CONTENT_TYPE
from linli.dashboard import drill, report, scope
from linli.dashboard import takings as tk
from linli.dashboard.forms import RowsForm, TakingsForm
from linli.dashboard.xlsx import report_workbook
from linli.money import format_fen
from linli.staff.scope import communities_for, require_community_in_scope

PERMISSION = scope.TAKINGS_PERMISSION


def _report(request: HttpRequest) -> tuple[TakingsForm, report.Report]:
    user = request.user
    communities = communities_for(user)
    require_community_in_scope(request.GET.get("community"), communities)
    form = TakingsForm(request.GET or None, communities=communities)
    period, first, community_id = form.values()
    ids = frozenset([community_id]) if community_id else scope.community_ids(user)
    own = scope.own_cashier(user)
    if period == "month":
        window = tk.month_window(ids, first, cashier_id=own)
        when = f"{first:%Y-%m}"
    else:
        window = tk.day_window(ids, first, cashier_id=own)
        when = first.isoformat()
    sections = [report.by_channel(tk.takings(window), window, community_id),
                report.by_cashier(tk.takings(window, by="cashier"), window, community_id)]
    if period == "month":
        sections.append(report.by_day(tk.takings(window, by="day"), window, community_id))
    community = next((c.name for c in communities if c.pk == community_id), None)
    filters = [
        (_("Report"), _("Monthly takings report") if period == "month" else _("Daily takings report")),
        (pgettext("takings", "Period"), when),
        (_("Communities"), community or _("All my communities")),
    ]
    if own is not None:
        filters.append((_("Cashier"), _("My own takings")))
    title = _("Monthly takings report") if period == "month" else _("Daily takings report")
    return form, report.Report(title, filters, sections, report.definitions())


@staff_member_required
@permission_required(PERMISSION, raise_exception=True)
@require_GET
def takings_report(request: HttpRequest) -> HttpResponse:
    form, rep = _report(request)
    query = request.GET.urlencode()
    context = {**admin.site.each_context(request), "title": rep.title, "form": form,
               "report": rep, "xlsx_url": f"{reverse('dashboard:takings-xlsx')}?{query}"}
    return TemplateResponse(request, "dashboard/takings.html", context)


@staff_member_required
@permission_required(PERMISSION, raise_exception=True)
@require_GET
def takings_xlsx(request: HttpRequest) -> HttpResponse:
    _form, rep = _report(request)
    response = HttpResponse(report_workbook(rep), content_type=XLSX_CONTENT_TYPE)
    filename = f"{rep.title}-{timezone.localtime():%Y%m%d-%H%M}.xlsx"
    response["Content-Disposition"] = content_disposition_header(as_attachment=True,
                                                                 filename=filename)
    audit_record(actor=request.user, action=AuditEvent.Action.ACTION,
                 summary=f"export takings report ({', '.join(v for _k, v in rep.filters)})",
                 ip=client_ip(request))
    return response


@staff_member_required
@permission_required(PERMISSION, raise_exception=True)
@require_GET
def takings_rows(request: HttpRequest) -> HttpResponse:
    """The records behind one figure, and their sum (which is the figure)."""
    user = request.user
    form = RowsForm(request.GET)
    lines, total, count = [], 0, 0
    if form.is_valid():
        data = form.cleaned_data
        ids = scope.community_ids(user)
        if data["community"]:
            if data["community"] not in ids:
                raise Http404("community not found")
            ids = frozenset([data["community"]])
        own = scope.own_cashier(user)
        cashier = data["cashier"]
        if own is not None and cashier not in (None, own):
            raise Http404("cashier not found")
        window = tk.days_window(ids, data["start"], data["end"],
                                cashier_id=own if own is not None else cashier,
                                channel=data["channel"] or None, kind=data["kind"] or None)
        lines = drill.lines(window, user)
        figure = tk.takings(window).total(every=True)
        total, count = figure.amount_fen, figure.count
    context = {**admin.site.each_context(request), "title": _("Records behind the figure"),
               "form": form, "lines": lines, "total": format_fen(total),
               "total_fen": total, "count": count, "shown": len(lines)}
    return TemplateResponse(request, "dashboard/takings_rows.html", context)
