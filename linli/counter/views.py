"""The counter desk (前台收费) in the console (the daily takings are ``counter.takings``) (thin:
check scope, permission and input, call one service or selector, render).

Counter: find a unit → its open bills with what each costs today → tick, choose the
channel, type what was received → review (the server's figures, change or prepaid
excess said plainly) → confirm → the payment and "Print receipt". Every form carries an
idempotency key made when it is shown, so a double click or a reload records once; the
confirmation also carries what each bill cost when shown, and nothing is recorded if a
bill changed meanwhile (the page then says what changed).

A unit, bill, payment, cashier or community outside the staff member's communities
answers 404 (or, for a foreign bill posted with an in-scope unit, a refusal), like every
console page.
"""

from __future__ import annotations

import datetime as dt

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.db import IntegrityError
from django.db.models import Sum
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from linli.billing.selectors import bill_label
from linli.counter import selectors as sel
from linli.counter.forms import (
    KEY_RE,
    CounterDepositForm,
    CounterPayForm,
    SearchForm,
)
from linli.counter.scan import scan_channels
from linli.counter.services import (
    BillsChanged,
    Change,
    Plan,
    counter_pay,
    counter_plan,
)
from linli.counter.takings import user_label
from linli.estate.models import Unit
from linli.money import format_fen
from linli.payments.models import Channel, Payment, PaymentAllocation
from linli.payments.orders import orders_close_for_bills
from linli.payments.services import PaymentError, prepaid_deposit
from linli.staff.models import Role
from linli.staff.scope import communities_for, community_ids_for, require_community_in_scope

PAY_PERMISSION = "payments.add_payment"
TAKINGS_PERMISSION = "payments.view_payment"
# Roles that may look at any cashier's takings in their communities (a cashier sees their own).
SUPERVISING_ROLES = (Role.COMPANY_ADMIN, Role.MANAGER, Role.FINANCE)


# --- shared ---------------------------------------------------------------------------------


def _unit_or_404(request: HttpRequest, unit_id: int) -> Unit:
    unit = sel.unit_in_scope(community_ids_for(request.user), unit_id)
    if unit is None:
        raise Http404("unit not found")
    return unit


def _pay_key(unit: Unit, key: str) -> str:
    return f"counter:u{unit.pk}:{key}"


def _deposit_key(unit: Unit, key: str) -> str:
    return f"deposit:u{unit.pk}:{key}"


def _recorded(idempotency_key: str) -> Payment | None:
    return Payment.objects.filter(idempotency_key=idempotency_key).first()


def _result_url(payment: Payment) -> str:
    return reverse("counter:payment", args=[payment.pk])


def _unit_url(unit: Unit) -> str:
    return reverse("counter:unit", args=[unit.pk])


def _link(url: str, text) -> str:
    return format_html('<a class="text-primary-600 underline" href="{}">{}</a>', url, text)


# --- finding a unit ----------------------------------------------------------------------------


@staff_member_required
@permission_required(PAY_PERMISSION, raise_exception=True)
@require_GET
def desk(request: HttpRequest) -> HttpResponse:
    communities = communities_for(request.user)
    require_community_in_scope(request.GET.get("community"), communities)
    form = SearchForm(request.GET or None, communities=communities)
    hits, more, searched = [], False, False
    if form.is_bound and form.is_valid() and form.searched():
        data = form.cleaned_data
        searched = True
        hits, more = sel.search_units(
            community_ids_for(request.user),
            community_id=data["community"].pk if data["community"] else None,
            building=data["building"], room=data["room"], name=data["name"], phone=data["phone"],
        )
    context = {
        **admin.site.each_context(request),
        "title": _("Counter desk"),
        "form": form,
        "searched": searched,
        "more": more,
        "limit": sel.SEARCH_LIMIT,
        "results_table": _results_table(hits),
        "takings_url": reverse("counter:takings"),
    }
    return TemplateResponse(request, "counter/desk.html", context)


def _people(hit: sel.UnitHit) -> str:
    if not hit.people:
        return "—"
    return format_html_join(
        "", "<div>{} · {}{}</div>",
        ((o.person.name, o.get_role_display(),
          f" · {o.person.mobile_masked}" if o.person.mobile else "") for o in hit.people),
    )


def _results_table(hits: list[sel.UnitHit]) -> dict:
    return {
        "headers": [pgettext("counter", "Community"), _("Unit"), _("People"), _("Owed now"), ""],
        "rows": [
            [h.unit.community.name, _link(_unit_url(h.unit), h.unit), _people(h),
             format_fen(h.owed_fen),
             _link(_unit_url(h.unit), _("Take payment"))]
            for h in hits
        ],
    }


# --- the unit: what it owes, paying, depositing -------------------------------------------------


def _check(unit: Unit, form: CounterPayForm, today: dt.date) -> Plan:
    """The plan for the posted form, or ``BillsChanged``/``PaymentError``."""
    data = form.cleaned_data
    return counter_plan(unit, bill_ids=data["bills"], seen_fen=form.seen_fen(),
                        channel=data["channel"], received_fen=data["received"],
                        keep_change=data["keep_change"], today=today)


def _record(request: HttpRequest, unit: Unit, form: CounterPayForm, today: dt.date
            ) -> Payment:
    data = form.cleaned_data
    return counter_pay(
        acting_user=request.user, unit=unit, idempotency_key=_pay_key(unit, data["key"]),
        bill_ids=data["bills"], seen_fen=form.seen_fen(), channel=data["channel"],
        received_fen=data["received"], keep_change=data["keep_change"],
        reference=data["reference"], payer_name=data["payer_name"], today=today)


def _payer_name(unit: Unit, today: dt.date) -> str:
    occupancies = (unit.occupancies.filter(sel.current_occupancy_q(today))
                   .select_related("person").order_by("-is_payer", "role", "id"))
    first = occupancies.first()
    return first.person.name if first else ""


@staff_member_required
@permission_required(PAY_PERMISSION, raise_exception=True)
@require_http_methods(["GET", "POST"])
def unit_page(request: HttpRequest, unit_id: int) -> HttpResponse:
    unit = _unit_or_404(request, unit_id)
    today = timezone.localdate()
    review, changes = None, []
    if request.method == "POST":
        key = request.POST.get("key", "")
        if KEY_RE.match(key) and (done := _recorded(_pay_key(unit, key))) is not None:
            return HttpResponseRedirect(_result_url(done))  # sent again: already recorded
        form = CounterPayForm(request.POST)
        if form.is_valid():
            try:
                if request.POST.get("action") == "confirm":
                    payment = _record(request, unit, form, today)
                    # An owner's QR code or phone payment for these bills must not
                    # take the money a second time.
                    orders_close_for_bills(form.cleaned_data["bills"], acting_user=request.user)
                    return HttpResponseRedirect(_result_url(payment))
                review = _check(unit, form, today)
            except BillsChanged as exc:
                changes = exc.changes
                form.add_error(None, _("Nothing was recorded: some ticked bills changed since "
                                       "the page was shown. Check the figures below and "
                                       "send again."))
            except PaymentError as exc:
                form.add_error(None, exc)
        else:
            _surface_hidden_errors(form)
    else:
        form = CounterPayForm(initial={"payer_name": _payer_name(unit, today)})
    return _render_unit(request, unit, today, form=form, review=review, changes=changes)


def _surface_hidden_errors(form) -> None:
    """Errors of fields the page does not show as inputs (the key, the figures seen, the
    ticked bills) are said at the top of the form."""
    for message in form.errors.get("bills", []):
        form.add_error(None, message)
    if "key" in form.errors or "seen" in form.errors:
        form.add_error(None, _("The form was incomplete; nothing was recorded. Try again."))


def _render_unit(request: HttpRequest, unit: Unit, today: dt.date, *, form: CounterPayForm,
                 deposit_form: CounterDepositForm | None = None, review: Plan | None = None,
                 changes: list[Change] | None = None) -> HttpResponse:
    dues = sel.open_bills(unit, as_of=today)
    if form.is_bound:
        ticked = set(getattr(form, "cleaned_data", {}).get("bills") or [])
    else:
        ticked = {d.bill.pk for d in dues if d.due_by_today}
    if deposit_form is None:
        deposit_form = CounterDepositForm(prefix="deposit",
                                          initial={"payer_name": _payer_name(unit, today)})
    due_ticked = sum(d.due_fen for d in dues if d.bill.pk in ticked)
    if not form.is_bound:
        form.initial.setdefault("received", format_fen(due_ticked, symbol=False,
                                                        grouping=False) if due_ticked else "")
    context = {
        **admin.site.each_context(request),
        "title": _("Counter: %(community)s %(unit)s") % {"community": unit.community.name,
                                                         "unit": unit},
        "unit": unit,
        "today": today,
        "occupants": _occupants(unit, today),
        "prepaid": format_fen(sel.prepaid_balance_fen(unit)),
        "dues": [{"due": d, "ticked": d.bill.pk in ticked,
                  "owed": format_fen(d.owed_fen), "amount": format_fen(d.bill.amount_fen),
                  "paid": format_fen(d.bill.paid_fen),
                  "late": format_fen(d.late_fee_fen) if d.late_fee_fen else "",
                  "due_now": format_fen(d.due_fen)} for d in dues],
        "total_due": format_fen(sum(d.due_fen for d in dues)),
        "ticked_total": format_fen(due_ticked),
        "seen": ",".join(f"{d.bill.pk}:{d.due_fen}" for d in dues),
        "form": form,
        "deposit_form": deposit_form,
        "review": _review_context(review) if review else None,
        "changes": changes or [],
        "cash": Channel.CASH,
        "statement_url": reverse("unit:statement", args=[unit.pk])
        if request.user.has_perm("billing.view_bill") else None,
        "desk_url": reverse("counter:desk"),
        "scan_channels": scan_channels(unit.community_id) if dues else [],
    }
    return TemplateResponse(request, "counter/unit.html", context)


def _occupants(unit: Unit, today: dt.date):
    return list(unit.occupancies.filter(sel.current_occupancy_q(today))
                .select_related("person").order_by("-is_payer", "role", "id"))


def _review_context(plan: Plan) -> dict:
    return {
        "plan": plan,
        "channel": Channel(plan.channel).label,
        "bills_table": {
            "headers": [pgettext("counter", "Bill"), pgettext("counter", "Due"),
                        pgettext("counter", "Owed"), _("Late fee today"), _("To pay")],
            "rows": [[d.label, d.bill.due_date.isoformat(), format_fen(d.owed_fen),
                      format_fen(d.late_fee_fen) if d.late_fee_fen else "",
                      format_fen(d.due_fen)] for d in plan.dues],
        },
        "due": format_fen(plan.due_fen),
        "received": format_fen(plan.received_fen),
        "received_yuan": format_fen(plan.received_fen, symbol=False, grouping=False),
        "amount": format_fen(plan.amount_fen),
        "change": format_fen(plan.change_fen) if plan.change_fen else "",
        "excess": format_fen(plan.excess_fen) if plan.excess_fen else "",
        "short": format_fen(plan.short_fen) if plan.short_fen else "",
        "seen": ",".join(f"{d.bill.pk}:{d.due_fen}" for d in plan.dues),
    }


@staff_member_required
@permission_required(PAY_PERMISSION, raise_exception=True)
@require_POST
def unit_deposit(request: HttpRequest, unit_id: int) -> HttpResponse:
    unit = _unit_or_404(request, unit_id)
    today = timezone.localdate()
    form = CounterDepositForm(request.POST, prefix="deposit")
    raw_key = request.POST.get("deposit-key", "")
    if KEY_RE.match(raw_key) and (done := _recorded(_deposit_key(unit, raw_key))) is not None:
        return HttpResponseRedirect(_result_url(done))
    if form.is_valid():
        data = form.cleaned_data
        key = _deposit_key(unit, data["key"])
        try:
            payment = prepaid_deposit(
                acting_user=request.user, unit=unit, amount_fen=data["amount"],
                channel=data["channel"], reference=data["reference"],
                payer_name=data["payer_name"], idempotency_key=key,
            )
        except PaymentError as exc:
            form.add_error(None, exc)
        except IntegrityError:
            payment = _recorded(key)
            if payment is None:
                raise
            return HttpResponseRedirect(_result_url(payment))
        else:
            return HttpResponseRedirect(_result_url(payment))
    else:
        _surface_hidden_errors(form)
    pay_form = CounterPayForm(initial={"payer_name": _payer_name(unit, today)})
    return _render_unit(request, unit, today, form=pay_form, deposit_form=form)


# --- the result ---------------------------------------------------------------------------------


@staff_member_required
@permission_required(PAY_PERMISSION, raise_exception=True)
@require_GET
def payment_page(request: HttpRequest, pk: int) -> HttpResponse:
    payment = (Payment.objects.filter(pk=pk, community_id__in=community_ids_for(request.user))
               .select_related("community", "unit__building", "cashier").first())
    if payment is None:
        raise Http404("payment not found")
    allocations = list(PaymentAllocation.objects.filter(payment=payment)
                       .select_related("bill__fee_item", "bill__parking_space")
                       .order_by("bill__due_date", "bill_id"))
    kept_fen = payment.prepaid_movements.filter(amount_fen__gt=0).aggregate(
        total=Sum("amount_fen"))["total"] or 0
    context = {
        **admin.site.each_context(request),
        "title": _("Payment #%(id)s recorded") % {"id": payment.pk},
        "payment": payment,
        "amount": format_fen(payment.amount_fen),
        "channel": payment.get_channel_display(),
        "received": timezone.localtime(payment.received_at),
        "cashier": user_label(payment.cashier) if payment.cashier else "—",
        "kept": format_fen(kept_fen) if kept_fen else "",
        "allocations_table": {
            "headers": [pgettext("counter", "Bill"), pgettext("counter", "Due"),
                        _("Principal"), _("Late fee"), _("Total")],
            "rows": [[bill_label(a.bill), a.bill.due_date.isoformat(), format_fen(a.principal_fen), format_fen(a.late_fee_fen),
                      format_fen(a.principal_fen + a.late_fee_fen)] for a in allocations],
        },
        "receipt_url": sel.receipt_pdf_url(payment),
        "receipt_number": sel.receipt_number(payment),
        "unit_url": _unit_url(payment.unit),
        "desk_url": reverse("counter:desk"),
    }
    return TemplateResponse(request, "counter/payment.html", context)
