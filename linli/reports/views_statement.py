"""The unit statement (户账) in the console, its Excel export, prepaid deposits at the
counter and paying open bills from the prepaid balance (thin: check scope, permission
and input, call one service or selector, render).

A unit outside the staff member's communities answers 404, like every console page.
Forms that take money carry an idempotency key made when the form is shown, so a double
submit (or a reload of the POST) records the money once.
"""

from __future__ import annotations

import datetime as dt
import io
import re
import uuid

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext, pgettext_lazy
from django.views.decorators.http import require_http_methods, require_POST
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextInputWidget

from linli.billing.selectors import late_fee_due_fen
from linli.core.audit import audit_record
from linli.core.http import client_ip
from linli.core.models import AuditEvent
from linli.core.xlsx import XLSX_CONTENT_TYPE
from linli.estate.models import Occupancy, Unit
from linli.money import MoneyError, fen_to_decimal, format_fen, parse_yuan
from linli.payments.models import COUNTER_CHANNELS, Channel, PrepaidWallet
from linli.payments.services import PaymentError, prepaid_deposit, prepaid_pay_bills
from linli.reports.statement import (
    StatementRow,
    StatementTotals,
    bill_label,
    unit_statement,
    unit_statement_totals,
)
from linli.staff.scope import community_ids_for

STATEMENT_PERMISSION = "billing.view_bill"
DEPOSIT_PERMISSION = "payments.add_payment"
PAY_PERMISSION = "payments.add_payment"
_KEY_RE = re.compile(r"^[0-9a-f]{32}$")


# --- shared --------------------------------------------------------------------------------


def _unit_in_scope(request: HttpRequest, unit_id: int) -> Unit:
    unit = (Unit.objects.filter(pk=unit_id, community_id__in=community_ids_for(request.user))
            .select_related("building", "community").first())
    if unit is None:
        raise Http404("unit not found")
    return unit


def _statement_url(unit: Unit) -> str:
    return reverse("unit:statement", args=[unit.pk])


def _new_key() -> str:
    return uuid.uuid4().hex


class KeyedForm(forms.Form):
    """A form that records money once: its key is made when the form is first shown."""

    key = forms.RegexField(regex=_KEY_RE, widget=forms.HiddenInput)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial.setdefault("key", _new_key())


def current_occupants(unit: Unit, *, today: dt.date) -> list[Occupancy]:
    """Who is linked to the unit today: the payer first, then owners, then the rest."""
    occupancies = (Occupancy.objects.filter(unit=unit, start_date__lte=today)
                   .filter(Q(end_date__isnull=True) | Q(end_date__gte=today))
                   .select_related("person"))
    order = {role: i for i, role in enumerate(Occupancy.Role.values)}
    return sorted(occupancies, key=lambda o: (not o.is_payer, order.get(o.role, 9), o.pk))


# --- the statement ---------------------------------------------------------------------------


@staff_member_required
@permission_required(STATEMENT_PERMISSION, raise_exception=True)
@require_http_methods(["GET"])
def unit_statement_view(request: HttpRequest, unit_id: int) -> HttpResponse:
    unit = _unit_in_scope(request, unit_id)
    today = timezone.localdate()
    rows = unit_statement(unit.pk)
    totals = unit_statement_totals(unit.pk, as_of=today)
    user = request.user
    context = {
        **admin.site.each_context(request),
        "title": _("Statement of %(unit)s") % {"unit": unit},
        "unit": unit,
        "occupants": current_occupants(unit, today=today),
        "totals": totals,
        "figures": _figures(totals),
        "statement_table": _statement_table(rows, user),
        "open_table": _open_bills_table(totals, user),
        "can_deposit": user.has_perm(DEPOSIT_PERMISSION),
        "pay_form": _pay_form(totals) if user.has_perm(PAY_PERMISSION) else None,
    }
    return TemplateResponse(request, "reports/statement.html", context)


def _figures(totals: StatementTotals) -> list[tuple[str, str]]:
    return [
        (_("Owed now"), format_fen(totals.owed_fen)),
        (_("Late fees as of %(day)s") % {"day": totals.as_of}, format_fen(totals.late_fee_fen)),
        (_("To settle everything today"), format_fen(totals.due_now_fen)),
        (_("Prepaid balance"), format_fen(totals.prepaid_fen)),
    ]


def _money_or_blank(amount_fen: int) -> str:
    return format_fen(amount_fen) if amount_fen else ""


def _signed(amount_fen: int) -> str:
    if not amount_fen:
        return ""
    return ("+" if amount_fen > 0 else "") + format_fen(amount_fen)


def _row_link(row: StatementRow, user) -> str:
    if row.refund_application_id and user.has_perm("refunds.view_refundapplication"):
        url = reverse("admin:refunds_refundapplication_change",
                      args=[row.refund_application_id])
    elif row.payment_id and user.has_perm("payments.view_payment"):
        url = reverse("admin:payments_payment_change", args=[row.payment_id])
    elif row.bill_id and user.has_perm("billing.view_bill"):
        url = reverse("admin:billing_bill_change", args=[row.bill_id])
    else:
        return row.description
    return format_html('<a class="text-primary-600 underline" href="{}">{}</a>', url,
                       row.description)


def _statement_table(rows: list[StatementRow], user) -> dict:
    return {
        "headers": [pgettext("statement", "Time"), pgettext("statement", "What"),
                    pgettext("statement", "Charge"), pgettext("statement", "Credit"),
                    pgettext("statement", "Owed after"), pgettext("statement", "Prepaid change"),
                    pgettext("statement", "Prepaid after")],
        "rows": [
            [f"{timezone.localtime(r.at):%Y-%m-%d %H:%M}", _row_link(r, user),
             _money_or_blank(r.charge_fen), _money_or_blank(r.credit_fen),
             format_fen(r.owed_after_fen), _signed(r.prepaid_change_fen),
             format_fen(r.prepaid_after_fen)]
            for r in rows
        ],
    }


def _open_bills_table(totals: StatementTotals, user) -> dict:
    rows = []
    for bill in totals.open_bills:
        label = bill_label(bill)
        if user.has_perm("billing.view_bill"):
            label = format_html('<a class="text-primary-600 underline" href="{}">{}</a>',
                                reverse("admin:billing_bill_change", args=[bill.pk]), label)
        overdue = bill.due_date < totals.as_of
        rows.append([label, bill.due_date, format_fen(bill.amount_fen), format_fen(bill.owed_fen),
                     _money_or_blank(late_fee_due_fen(bill, as_of=totals.as_of)),
                     _("Overdue") if overdue else bill.get_status_display()])
    return {
        "headers": [pgettext("statement", "Bill"), pgettext("statement", "Due"),
                    pgettext("statement", "Amount"), pgettext("statement", "Owed"),
                    _("Late fee today"), pgettext("statement", "Status")],
        "rows": rows,
    }


# --- paying open bills from the prepaid balance ------------------------------------------------


class PayFromPrepaidForm(KeyedForm):
    bills = forms.CharField(widget=forms.HiddenInput)  # the open bills shown, "12,13,20"

    def clean_bills(self) -> list[int]:
        raw = self.cleaned_data["bills"]
        if not re.fullmatch(r"\d+(,\d+)*", raw):
            raise ValidationError(_("Choose the bills to pay."))
        return sorted({int(x) for x in raw.split(",")})


def _pay_form(totals: StatementTotals) -> dict | None:
    """The button, when the balance can pay something: what it would pay today."""
    if totals.prepaid_fen <= 0 or not totals.open_bills:
        return None
    amount_fen = min(totals.prepaid_fen, totals.due_now_fen)
    form = PayFromPrepaidForm(initial={"bills": ",".join(str(b.pk) for b in totals.open_bills)})
    return {"form": form, "amount": format_fen(amount_fen),
            "in_full": amount_fen == totals.due_now_fen}


@staff_member_required
@permission_required(PAY_PERMISSION, raise_exception=True)
@require_POST
def unit_pay_from_prepaid(request: HttpRequest, unit_id: int) -> HttpResponse:
    unit = _unit_in_scope(request, unit_id)
    form = PayFromPrepaidForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("The form was incomplete; nothing was paid. Try again."))
        return HttpResponseRedirect(_statement_url(unit))
    try:
        payment = prepaid_pay_bills(
            acting_user=request.user, unit=unit, bill_ids=form.cleaned_data["bills"],
            idempotency_key=f"prepaid-pay:u{unit.pk}:{form.cleaned_data['key']}",
        )
    except PaymentError as exc:
        messages.error(request, " ".join(exc.messages))
        return HttpResponseRedirect(_statement_url(unit))
    if payment is None:
        messages.warning(request, _("Nothing was paid: the prepaid balance is empty or the "
                                    "bills are settled already."))
    else:
        messages.success(request, _("%(amount)s was paid from the prepaid balance.") % {
            "amount": format_fen(payment.amount_fen)})
    return HttpResponseRedirect(_statement_url(unit))


# --- prepaid deposit at the counter -------------------------------------------------------------

DEPOSIT_CHANNELS = [(c, Channel(c).label) for c in COUNTER_CHANNELS]


class DepositForm(KeyedForm):
    amount = forms.CharField(
        label=gettext_lazy("Amount (yuan)"), max_length=20,
        widget=UnfoldAdminTextInputWidget(attrs={"placeholder": "1000.00", "inputmode": "decimal"}),
    )
    channel = forms.ChoiceField(label=pgettext_lazy("payment", "Channel"),
                                choices=DEPOSIT_CHANNELS, initial=Channel.CASH,
                                widget=UnfoldAdminSelectWidget)
    reference = forms.CharField(
        label=gettext_lazy("Reference"), max_length=64, required=False,
        widget=UnfoldAdminTextInputWidget,
        help_text=gettext_lazy("Transfer or cheque number, POS slip number."),
    )
    payer_name = forms.CharField(label=gettext_lazy("Paid in by"), max_length=50,
                                 required=False, widget=UnfoldAdminTextInputWidget)

    def clean_amount(self) -> int:
        try:
            amount_fen = parse_yuan(self.cleaned_data["amount"])
        except MoneyError as exc:
            raise ValidationError(str(exc)) from None
        if amount_fen <= 0:
            raise ValidationError(_("The amount must be more than zero."))
        return amount_fen

    def clean(self):
        data = super().clean()
        if data.get("channel") in (Channel.TRANSFER, Channel.CHEQUE) and not data.get("reference"):
            self.add_error("reference", _("Give the transfer or cheque number."))
        return data


@staff_member_required
@permission_required(DEPOSIT_PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def unit_deposit(request: HttpRequest, unit_id: int) -> HttpResponse:
    unit = _unit_in_scope(request, unit_id)
    today = timezone.localdate()
    if request.method == "POST":
        form = DepositForm(request.POST)
        if form.is_valid() and (response := _record_deposit(request, unit, form)):
            return response
    else:
        payer = next((o for o in current_occupants(unit, today=today) if o.is_payer), None)
        form = DepositForm(initial={"payer_name": payer.person.name if payer else ""})
    wallet = PrepaidWallet.objects.filter(unit=unit).values_list("balance_fen", flat=True)
    context = {
        **admin.site.each_context(request),
        "title": _("Prepaid deposit for %(unit)s") % {"unit": unit},
        "unit": unit,
        "form": form,
        "balance": format_fen(next(iter(wallet), 0)),
    }
    return TemplateResponse(request, "reports/deposit.html", context)


def _record_deposit(request: HttpRequest, unit: Unit, form: DepositForm) -> HttpResponse | None:
    data = form.cleaned_data
    try:
        payment = prepaid_deposit(
            acting_user=request.user, unit=unit, amount_fen=data["amount"],
            channel=data["channel"], reference=data["reference"].strip(),
            payer_name=data["payer_name"].strip(),
            idempotency_key=f"deposit:u{unit.pk}:{data['key']}",
        )
    except PaymentError as exc:
        form.add_error(None, exc)
        return None
    messages.success(request, _("%(amount)s was added to the prepaid balance of %(unit)s "
                                "(payment #%(id)s).") % {
        "amount": format_fen(payment.amount_fen), "unit": unit, "id": payment.pk})
    return HttpResponseRedirect(_statement_url(unit))


# --- Excel ------------------------------------------------------------------------------------

_YUAN_FORMAT = "#,##0.00"


def _yuan_cell(ws, amount_fen: int | None) -> WriteOnlyCell:
    """Yuan as an exact Decimal built from fen (never a float); blank for none."""
    if amount_fen is None:
        return WriteOnlyCell(ws, value=None)
    cell = WriteOnlyCell(ws, value=fen_to_decimal(amount_fen))
    cell.number_format = _YUAN_FORMAT
    return cell


def _text_cell(ws, text: str, *, bold: bool = False) -> WriteOnlyCell:
    cell = WriteOnlyCell(ws, value=text)
    cell.data_type = "s"  # typed text (a reason such as "=1+1") never becomes a formula
    if bold:
        cell.font = Font(bold=True)
    return cell


def statement_workbook(unit: Unit, rows: list[StatementRow], totals: StatementTotals) -> bytes:
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=pgettext("statement", "Statement")[:31])
    ws.column_dimensions["A"].width = 18
    ws.column_dimensions["B"].width = 60
    for column in "CDEFG":
        ws.column_dimensions[column].width = 14
    ws.append([_text_cell(ws, _("%(community)s %(unit)s statement, as of %(day)s") % {
        "community": unit.community.name, "unit": unit, "day": totals.as_of}, bold=True)])
    ws.append([])
    headers = [pgettext("statement", "Time"), pgettext("statement", "What"),
               _("Charge (yuan)"), _("Credit (yuan)"), _("Owed after (yuan)"),
               _("Prepaid change (yuan)"), _("Prepaid after (yuan)")]
    ws.append([_text_cell(ws, h, bold=True) for h in headers])
    for r in rows:
        time_cell = WriteOnlyCell(ws, value=timezone.localtime(r.at).replace(tzinfo=None))
        time_cell.number_format = "yyyy-mm-dd hh:mm"
        ws.append([
            time_cell, _text_cell(ws, r.description),
            _yuan_cell(ws, r.charge_fen or None), _yuan_cell(ws, r.credit_fen or None),
            _yuan_cell(ws, r.owed_after_fen), _yuan_cell(ws, r.prepaid_change_fen or None),
            _yuan_cell(ws, r.prepaid_after_fen),
        ])
    ws.append([])
    for label, amount_fen in (
        (_("Owed now"), totals.owed_fen),
        (_("Late fees as of %(day)s") % {"day": totals.as_of}, totals.late_fee_fen),
        (_("Prepaid balance"), totals.prepaid_fen),
    ):
        ws.append([None, _text_cell(ws, label, bold=True), None, None, _yuan_cell(ws, amount_fen)])
    buffer = io.BytesIO()
    wb.save(buffer)
    return buffer.getvalue()


@staff_member_required
@permission_required(STATEMENT_PERMISSION, raise_exception=True)
@require_http_methods(["GET"])
def unit_statement_xlsx(request: HttpRequest, unit_id: int) -> HttpResponse:
    unit = _unit_in_scope(request, unit_id)
    rows = unit_statement(unit.pk)
    totals = unit_statement_totals(unit.pk)
    response = HttpResponse(statement_workbook(unit, rows, totals),
                            content_type=XLSX_CONTENT_TYPE)
    filename = f"{unit.community.name}-{unit}-{totals.as_of:%Y%m%d}.xlsx"
    response["Content-Disposition"] = content_disposition_header(as_attachment=True,
                                                                 filename=filename)
    audit_record(actor=request.user, action=AuditEvent.Action.ACTION, obj=unit,
                 summary=f"export statement ({len(rows)} rows)",
                 ip=client_ip(request))
    return response
