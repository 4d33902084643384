"""The receipt PDF (console, scoped) and the public verify page (no login)."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_GET

from linli.core.audit import audit_record
from linli.core.http import client_ip, public_url
from linli.core.models import AuditEvent
from linli.money import format_fen
from linli.receipts.models import Receipt
from linli.receipts.pdf import receipt_pdf
from linli.receipts.selectors import receipt_voided
from linli.receipts.services import mask_name, receipt_for_token, verify_token
from linli.staff.scope import scope_queryset

PDF_PERMISSION = "payments.view_payment"


def verify_url(request: HttpRequest, receipt: Receipt) -> str:
    """The absolute URL of the receipt's public verify page (what its QR code opens)."""
    return public_url(request, reverse("receipts_public:verify", args=[verify_token(receipt)]))


@staff_member_required
@permission_required(PDF_PERMISSION, raise_exception=True)
@require_GET
def pdf_view(request: HttpRequest, pk: int) -> HttpResponse:
    receipt = scope_queryset(Receipt.objects.filter(pk=pk), request.user, "community").first()
    if receipt is None:
        raise Http404("receipt not found")
    response = HttpResponse(receipt_pdf(receipt, verify_url=verify_url(request, receipt)),
                            content_type="application/pdf")
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=False, filename=f"receipt-{receipt.number}.pdf")
    audit_record(actor=request.user, action=AuditEvent.Action.ACTION, obj=receipt,
                 summary=f"print receipt {receipt.number}",
                 ip=client_ip(request))
    return response


@require_GET
def verify_view(request: HttpRequest, token: str) -> HttpResponse:
    """Anyone holding the receipt can check it. Shows no personal data beyond the
    payer's masked name; a forged or altered token answers 404."""
    receipt = receipt_for_token(token)
    if receipt is None:
        return TemplateResponse(request, "receipts/verify.html", {"genuine": False},
                                status=404)
    snapshot = receipt.snapshot
    context = {
        "genuine": True,
        "community": snapshot.get("community") or receipt.community.name,
        "company": snapshot.get("company", ""),
        "number": receipt.number,
        "date": timezone.localtime(receipt.issued_at).date(),
        "total": format_fen(receipt.total_fen),
        "channel": snapshot.get("channel_label") or receipt.get_channel_display(),
        "payer": mask_name(snapshot.get("payer", "")),
        "void": receipt_voided(receipt),
    }
    response = TemplateResponse(request, "receipts/verify.html", context)
    response["Cache-Control"] = "no-store"
    response["X-Robots-Tag"] = "noindex"
    return response
