"""Refund pages. Console: the voucher PDF (scoped). Portal (owners, under /m/refunds/):
my applications and what may be refunded, the application form, the voucher PDF.
Views are thin: scope from ``payer_unit_ids``, every write through the services."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from linli.money import MoneyError, parse_yuan
from linli.owners.access import owner_required
from linli.payments.models import Payment
from linli.payments.orders import payer_unit_ids
from linli.refunds.models import RefundApplication, RefundVoucher
from linli.refunds.pdf import voucher_pdf
from linli.refunds.selectors import policy_for, policy_text, refundable_for_payment
from linli.refunds.services import RefundError, refund_apply
from linli.staff.scope import scope_queryset


def _pdf_response(voucher: RefundVoucher) -> HttpResponse:
    response = HttpResponse(voucher_pdf(voucher), content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=False, filename=f"refund-{voucher.number}.pdf")
    return response


@staff_member_required
@permission_required("refunds.view_refundapplication", raise_exception=True)
@require_GET
def console_voucher_pdf(request, pk: int):
    voucher = scope_queryset(RefundVoucher.objects.filter(pk=pk), request.user,
                             "community").first()
    if voucher is None:
        raise Http404("voucher not found")
    return _pdf_response(voucher)


# --- portal ------------------------------------------------------------------------


@owner_required
@require_GET
def portal_index(request):
    unit_ids = payer_unit_ids(request.user)
    applications = (RefundApplication.objects.filter(unit_id__in=unit_ids)
                    .select_related("unit").prefetch_related("payouts__voucher", "lines__bill")
                    .order_by("-created_at")[:50])
    payments = (Payment.objects.filter(unit_id__in=unit_ids).exclude(channel="prepaid")
                .select_related("unit").order_by("-received_at")[:20])
    community_ids = {p.community_id for p in payments}
    return render(request, "refunds/portal_index.html", {
        "applications": applications, "payments": payments, "nav": "history",
        "policies": [policy_text(policy_for(cid, None)) for cid in sorted(community_ids)][:1],
    })


def _apply_form(request, payment: Payment) -> tuple[dict, RefundApplication | None]:
    """The application form for one payment, for owners and staff alike: what may be
    refunded, line by line, with the reasons; on POST, the application (or errors)."""
    options = refundable_for_payment(payment)
    errors, application = [], None
    if request.method == "POST":
        lines, prepaid_fen = {}, 0
        try:
            for option in options.lines:
                text = request.POST.get(f"bill_{option.bill.pk}", "").strip()
                if text and request.POST.get(f"pick_{option.bill.pk}"):
                    lines[option.bill.pk] = parse_yuan(text)
            if request.POST.get("prepaid", "").strip():
                prepaid_fen = parse_yuan(request.POST["prepaid"])
            application = refund_apply(acting_user=request.user, payment=payment,
                                       reason=request.POST.get("reason", ""), lines=lines,
                                       prepaid_fen=prepaid_fen)
        except MoneyError as exc:
            errors.append(str(exc))
        except RefundError as exc:
            errors.extend(exc.messages)
    policies = {}
    for option in options.lines:
        item = option.bill.fee_item
        policies.setdefault(item.name, policy_text(policy_for(payment.community_id, item.pk)))
    return {
        "payment": payment, "options": options, "errors": errors, "policies": policies,
        "reason": request.POST.get("reason", ""),
        "picked": [o.bill.pk for o in options.lines if request.POST.get(f"pick_{o.bill.pk}")],
    }, application


@owner_required
@require_http_methods(["GET", "POST"])
def portal_apply(request, payment_id: int):
    payment = Payment.objects.filter(pk=payment_id,
                                     unit_id__in=payer_unit_ids(request.user)).first()
    if payment is None:
        raise Http404("payment not found")
    context, application = _apply_form(request, payment)
    if application is not None:
        return redirect("refunds_portal:applied", payment_id=payment.pk, pk=application.pk)
    return render(request, "refunds/portal_apply.html", {**context, "nav": "history"})


@staff_member_required
@permission_required("refunds.add_refundapplication", raise_exception=True)
@require_http_methods(["GET", "POST"])
def console_apply(request, payment_id: int):
    """Staff apply for an owner (e.g. at the counter or on the phone)."""
    from django.contrib import admin
    from django.urls import reverse

    payment = scope_queryset(Payment.objects.filter(pk=payment_id), request.user,
                             "community").select_related("unit").first()
    if payment is None:
        raise Http404("payment not found")
    context, application = _apply_form(request, payment)
    if application is not None:
        return redirect(reverse("admin:refunds_refundapplication_change",
                                args=[application.pk]))
    return render(request, "refunds/console_apply.html", {
        **admin.site.each_context(request), **context,
        "title": _("Apply for a refund for the owner"),
        "statement_url": reverse("unit:statement", args=[payment.unit_id]),
    })


@owner_required
@require_GET
def portal_applied(request, payment_id: int, pk: int):
    application = RefundApplication.objects.filter(
        pk=pk, payment_id=payment_id, unit_id__in=payer_unit_ids(request.user)).first()
    if application is None:
        raise Http404("application not found")
    return render(request, "refunds/portal_applied.html",
                  {"application": application, "nav": "history"})


@owner_required
@require_GET
def portal_voucher_pdf(request, pk: int):
    voucher = RefundVoucher.objects.filter(
        pk=pk, payout__application__unit_id__in=payer_unit_ids(request.user)).first()
    if voucher is None:
        raise Http404(_("voucher not found"))
    return _pdf_response(voucher)
