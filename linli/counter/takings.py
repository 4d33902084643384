"""The cashier's daily takings (交班表) in the console: on screen, printed, and exported to
Excel (thin: scope, permission and input checked here, figures from
``counter.selectors.takings``).

A shift lists the money the cashier took at the counter and the money they handed out
there (refunds paid in cash or by transfer, automatic refunds the channel refused and the
cashier paid instead, as negative lines), or took back (refunds paid twice, money an
anomaly owed, recovered); its totals per channel are net, so the cash total is what the
drawer must hold.
"""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import permission_required
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header, urlencode
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font

from linli.core.audit import audit_record
from linli.core.http import client_ip
from linli.core.models import AuditEvent
from linli.core.xlsx import XLSX_CONTENT_TYPE
from linli.counter import selectors as sel
from linli.counter.forms import TakingsForm
from linli.money import fen_to_decimal, format_fen
from linli.payments.models import COUNTER_CHANNELS, Channel, Payment
from linli.refunds.models import RefundPayout
from linli.staff.models import Role
from linli.staff.scope import communities_for, community_ids_for, require_community_in_scope

TAKINGS_PERMISSION = "payments.view_payment"
# Roles that may look at any cashier's takings in their communities (a cashier sees their own).
SUPERVISING_ROLES = (Role.COMPANY_ADMIN, Role.MANAGER, Role.FINANCE)


def user_label(user) -> str:
    staff = getattr(user, "staff", None)
    name = staff.display_name if staff is not None else (user.get_full_name() or "")
    return f"{name} ({user.get_username()})" if name else user.get_username()


def may_choose_cashier(user) -> bool:
    if user.is_superuser:
        return True
    staff = getattr(user, "staff", None)
    return staff is not None and staff.role in SUPERVISING_ROLES


def cashier_choices(user, community_ids: frozenset[int]) -> list[tuple[int, str]]:
    """Whose takings ``user`` may see: their own; a manager, finance or company admin also
    every cashier of their communities and anyone who took or paid out money at their
    counters."""
    if not may_choose_cashier(user):
        return [(user.pk, user_label(user))]
    ids = list(community_ids)
    takers = (Payment.objects.filter(community_id__in=ids, channel__in=COUNTER_CHANNELS,
                                     cashier__isnull=False)
              .values("cashier_id").distinct().order_by())
    payers = (RefundPayout.objects.filter(community_id__in=ids, cashier__isnull=False)
              .values("cashier_id").distinct().order_by())
    records = sel.shift_records(ids)
    settlers = records.settled.values("settled_by_user_id").distinct().order_by()
    recoverers = records.anomalies.values("resolved_by_id").distinct().order_by()
    users = (get_user_model().objects
             .filter(Q(pk=user.pk) | Q(pk__in=takers) | Q(pk__in=payers)
                     | Q(pk__in=settlers) | Q(pk__in=recoverers)
                     | Q(staff__role=Role.CASHIER, staff__communities__in=ids))
             .select_related("staff").distinct().order_by("username"))
    choices = [(u.pk, user_label(u)) for u in users]
    choices.sort(key=lambda c: (c[0] != user.pk, c[1]))
    return choices


@dataclass
class TakingsQuery:
    form: TakingsForm
    cashier: object
    cashier_label: str
    day: dt.date
    community: object | None
    takings: sel.Takings

    def params(self) -> str:
        query = {"cashier": self.cashier.pk, "day": self.day.isoformat()}
        if self.community is not None:
            query["community"] = self.community.pk
        return urlencode(query)


def _takings_query(request: HttpRequest) -> TakingsQuery:
    user = request.user
    communities = communities_for(user)
    ids = community_ids_for(user)
    choices = cashier_choices(user, ids)
    raw = request.GET.get("cashier")
    if raw and (not raw.isdigit() or int(raw) not in {c[0] for c in choices}):
        raise Http404("cashier not found")
    require_community_in_scope(request.GET.get("community"), communities)
    form = TakingsForm(request.GET or None, cashiers=choices, communities=communities)
    cashier_id, day, community = user.pk, timezone.localdate(), None
    if form.is_bound:
        form.is_valid()  # a day written wrong is said on the page; the rest still applies
        cashier_id = form.cleaned_data.get("cashier") or user.pk
        day = form.cleaned_data.get("day") or day
        community = form.cleaned_data.get("community")
    cashier = get_user_model().objects.select_related("staff").get(pk=cashier_id)
    result = sel.takings(ids, cashier_id=cashier_id, day=day,
                         community_id=community.pk if community else None)
    return TakingsQuery(form, cashier, user_label(cashier), day, community, result)


def channel_text(line: sel.TakingsLine) -> str:
    label = str(Channel(line.channel).label)
    if line.kind == sel.REFUND:
        return _("%(channel)s, refund paid out") % {"channel": label}
    if line.kind == sel.RECOVERY:
        return _("%(channel)s, refund paid twice recovered") % {"channel": label}
    if line.kind == sel.SETTLED:
        return _("%(channel)s, automatic refund paid at the counter") % {"channel": label}
    if line.kind == sel.ANOMALY:
        return _("%(channel)s, money an anomaly owed recovered") % {"channel": label}
    return label


def _takings_rows(result: sel.Takings) -> list[list]:
    return [
        [f"{timezone.localtime(line.at):%H:%M}", line.number or "—", line.unit_label,
         line.payer or "—", channel_text(line), format_fen(line.amount_fen),
         line.reference or "—"]
        for line in result.lines
    ]


def _takings_headers() -> list[str]:
    return [pgettext("takings", "Time"), _("Receipt no."), _("Unit"), _("Payer"),
            pgettext("payment", "Channel"), _("Amount"), _("Reference")]


def _takings_context(request: HttpRequest, q: TakingsQuery) -> dict:
    result = q.takings
    return {
        "title": _("Cashier's daily takings"),
        "query": q,
        "form": q.form,
        "community_label": q.community.name if q.community else
        ("、".join(result.communities) or _("All my communities")),
        "headers": _takings_headers(),
        "rows": _takings_rows(result),
        "channels": [(label, count, format_fen(total))
                     for _code, label, count, total in result.by_channel],
        "grand_total": format_fen(result.total_fen),
        "count": result.count,
        "cash": {"in": format_fen(result.cash_in_fen), "out": format_fen(result.cash_out_fen),
                 "net": format_fen(result.cash_net_fen)} if result.cash_out_fen else None,
        "print_url": f"{reverse('counter:takings-print')}?{q.params()}",
        "xlsx_url": f"{reverse('counter:takings-xlsx')}?{q.params()}",
        "printed_at": timezone.localtime(),
    }


@staff_member_required
@permission_required(TAKINGS_PERMISSION, raise_exception=True)
@require_GET
def takings(request: HttpRequest) -> HttpResponse:
    q = _takings_query(request)
    context = {**admin.site.each_context(request), **_takings_context(request, q)}
    context["table"] = {"headers": context["headers"], "rows": context["rows"]}
    return TemplateResponse(request, "counter/takings.html", context)


@staff_member_required
@permission_required(TAKINGS_PERMISSION, raise_exception=True)
@require_GET
def takings_print(request: HttpRequest) -> HttpResponse:
    q = _takings_query(request)
    return TemplateResponse(request, "counter/takings_print.html",
                            _takings_context(request, q))


_YUAN_FORMAT = "#,##0.00"


def _text(ws, value, *, bold: bool = False) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=str(value))
    cell.data_type = "s"  # typed text (a payer name such as "=1+1") never becomes a formula
    if bold:
        cell.font = Font(bold=True)
    return cell


def _yuan(ws, amount_fen: int, *, bold: bool = False) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=fen_to_decimal(amount_fen))  # exact, never a float
    cell.number_format = _YUAN_FORMAT
    if bold:
        cell.font = Font(bold=True)
    return cell


def takings_workbook(q: TakingsQuery, community_label: str) -> bytes:
    result = q.takings
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=_("Cashier handover sheet")[:31])
    for column, width in zip("ABCDEFG", (18, 16, 28, 14, 18, 14, 24), strict=True):
        ws.column_dimensions[column].width = width
    ws.append([_text(ws, _("Cashier handover sheet"), bold=True)])
    ws.append([_text(ws, _("Cashier")), _text(ws, q.cashier_label)])
    ws.append([_text(ws, pgettext("takings", "Day")), _text(ws, q.day.isoformat())])
    ws.append([_text(ws, pgettext("counter", "Community")), _text(ws, community_label)])
    ws.append([])
    headers = [pgettext("takings", "Time"), _("Receipt no."), _("Unit"), _("Payer"),
               pgettext("payment", "Channel"), _("Amount (yuan)"), _("Reference")]
    ws.append([_text(ws, h, bold=True) for h in headers])
    for line in result.lines:
        time_cell = WriteOnlyCell(ws, value=timezone.localtime(line.at).replace(tzinfo=None))
        time_cell.number_format = "yyyy-mm-dd hh:mm"
        ws.append([time_cell, _text(ws, line.number), _text(ws, line.unit_label),
                   _text(ws, line.payer), _text(ws, channel_text(line)),
                   _yuan(ws, line.amount_fen), _text(ws, line.reference)])
    ws.append([])
    for _code, label, count, total in result.by_channel:
        ws.append([None, None, None, None, _text(ws, label, bold=True), _yuan(ws, total),
                   _text(ws, _("%(count)s line(s)") % {"count": count})])
    ws.append([None, None, None, None, _text(ws, _("Grand total"), bold=True),
               _yuan(ws, result.total_fen, bold=True),
               _text(ws, _("%(count)s line(s)") % {"count": result.count})])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


@staff_member_required
@permission_required(TAKINGS_PERMISSION, raise_exception=True)
@require_GET
def takings_xlsx(request: HttpRequest) -> HttpResponse:
    q = _takings_query(request)
    context = _takings_context(request, q)
    response = HttpResponse(takings_workbook(q, context["community_label"]),
                            content_type=XLSX_CONTENT_TYPE)
    filename = f"{_('Cashier handover sheet')}-{q.cashier.get_username()}-{q.day:%Y%m%d}.xlsx"
    response["Content-Disposition"] = content_disposition_header(as_attachment=True,
                                                                 filename=filename)
    audit_record(actor=request.user, action=AuditEvent.Action.ACTION, obj=q.community,
                 summary=f"export takings of {q.cashier.get_username()} on {q.day} "
                         f"({q.takings.count} lines)",
                 ip=client_ip(request))
    return response
