"""Owner portal pages: home, bills, history and receipts. Views are thin: they read
through ``portal.selectors`` with the owner's unit ids, so every id in a URL is looked
up inside the owner's own units and anything else answers 404."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from linli.estate.models import Community
from linli.owners.access import owner_required
from linli.portal import selectors
from linli.receipts.models import Receipt
from linli.receipts.pdf import receipt_pdf
from linli.receipts.views import verify_url


def bind_url() -> str:
    """The owners app's "bind a home" page (its URL name is ``owners:bindings``)."""
    try:
        return reverse("owners:bindings")
    except NoReverseMatch:
        return ""


@owner_required
@require_GET
def home(request):
    unit_ids = selectors.owner_unit_ids(request.user)
    today = timezone.localdate()
    summaries = selectors.home_summaries(unit_ids, today=today)
    community = None
    c = request.GET.get("c", "")
    if c.isdigit():  # arrived from a community's poster (扫码缴费)
        community = Community.objects.filter(pk=int(c)).first()
    has_unit_there = community is not None and any(
        s.unit.community_id == community.pk for s in summaries)
    return render(request, "portal/home.html", {
        "summaries": summaries, "today": today, "bind_url": bind_url(),
        "community": community, "has_unit_there": has_unit_there, "nav": "home",
    })


@owner_required
@require_GET
def bills(request):
    unit_ids = selectors.owner_unit_ids(request.user)
    tab = "paid" if request.GET.get("tab") == "paid" else "unpaid"
    page = request.GET.get("page", "1")
    page = int(page) if page.isdigit() and 0 < int(page) < 10_000 else 1
    groups, has_next = selectors.bills_page(unit_ids, tab=tab, page=page,
                                            today=timezone.localdate())
    return render(request, "portal/bills.html", {
        "groups": groups, "tab": tab, "page": page, "has_next": has_next,
        "has_units": bool(unit_ids), "bind_url": bind_url(), "nav": "bills",
    })


@owner_required
@require_GET
def bill(request, pk: int):
    unit_ids = selectors.owner_unit_ids(request.user)
    found = selectors.bill_detail(unit_ids, bill_id=pk, today=timezone.localdate())
    if found is None:
        raise Http404("bill not found")
    return render(request, "portal/bill.html", {"bill": found, "nav": "bills"})


@owner_required
@require_GET
def history(request):
    unit_ids = selectors.owner_unit_ids(request.user)
    summaries = selectors.home_summaries(unit_ids, today=timezone.localdate())
    payments = selectors.owner_payments(unit_ids)
    for payment in payments:
        receipt = getattr(payment, "receipt", None)
        payment.verify = verify_url(request, receipt) if receipt else ""
    return render(request, "portal/history.html", {
        "payments": payments, "movements": selectors.prepaid_movements(unit_ids),
        "summaries": summaries, "nav": "history",
    })


@owner_required
@require_GET
def receipt_pdf_view(request, pk: int):
    unit_ids = selectors.owner_unit_ids(request.user)
    receipt = Receipt.objects.filter(pk=pk, unit_id__in=unit_ids).first()
    if receipt is None:
        raise Http404("receipt not found")
    response = HttpResponse(receipt_pdf(receipt, verify_url=verify_url(request, receipt)),
                            content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"receipt-{receipt.number}.pdf")
    response["Cache-Control"] = "private, no-store"
    return response


@owner_required
@require_GET
def me(request):
    """"我的": the owner's homes and account links (profile, binding, sign-out live in
    the owners app)."""
    unit_ids = selectors.owner_unit_ids(request.user)
    links = []
    for name, label in (("owners:profile", "profile"), ("owners:bindings", "bindings")):
        try:
            links.append((label, reverse(name)))
        except NoReverseMatch:
            pass
    return render(request, "portal/me.html", {
        "units": selectors.owner_units(unit_ids), "links": dict(links), "nav": "me",
    })
