"""Reading receipts, for other pages (the payment's console page, the counter desk)."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.urls import reverse

from linli.console.html import link as _link
from linli.receipts.models import Receipt


def receipt_of(payment) -> Receipt | None:
    try:
        return payment.receipt
    except ObjectDoesNotExist:
        return None


def receipt_pdf_url(receipt: Receipt) -> str:
    """The console URL of the receipt's PDF (staff of its community, payments.view_payment)."""
    return reverse("receipts:pdf", args=[receipt.pk])


def receipt_pdf_link(payment) -> str:
    """HTML: a “PDF 2026-000123” link to the payment's receipt, or “—”."""
    receipt = receipt_of(payment)
    if receipt is None:
        return "—"
    return _link(receipt_pdf_url(receipt), f"PDF {receipt.number}")
