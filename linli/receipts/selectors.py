"""Reading receipts, for other pages (the payment's console page, the counter desk)."""

from __future__ import annotations

from django.core.exceptions import ObjectDoesNotExist
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import pgettext

from linli.receipts.models import Receipt, ReceiptVoid


def receipt_of(payment) -> Receipt | None:
    try:
        return payment.receipt
    except ObjectDoesNotExist:
        return None


def receipt_voided(receipt: Receipt) -> ReceiptVoid | None:
    """The receipt's void record (作废), or None while it stands."""
    try:
        return receipt.void
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
    # The console's link markup (console.html.link); receipts sit below the console.
    link = format_html('<a class="text-primary-600 underline" href="{}">{}</a>',
                       receipt_pdf_url(receipt), f"PDF {receipt.number}")
    if receipt_voided(receipt) is None:
        return link
    return format_html('{} <strong class="text-red-600">{}</strong>', link,
                       pgettext("receipt", "Voided"))
