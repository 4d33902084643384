"""Receipts (收据): one per payment, numbered without gaps per community and year.

A receipt is issued inside the transaction that records its payment
(``linli.receipts.services.receipt_issue``). Its number is ``YYYY-NNNNNN``: the year
of issue (Asia/Shanghai) and a counter per community and year that starts at 1 and
has no gap and no duplicate, because it is taken from a ``ReceiptSequence`` row that
is locked (SELECT … FOR UPDATE) until the payment's transaction ends; a rolled-back
payment rolls its number back with it. The counter is unique per community, so two
communities both have a receipt 2026-000001; the verify page and the PDF always name
the community next to the number.

What the receipt shows is frozen in ``snapshot`` when it is issued, so the PDF and the
verify page never change when fee items, units or names are edited later. Receipts
are append-only: no update, no delete (in code, and on PostgreSQL by a trigger).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from linli.ledger.models import AppendOnlyModel
from linli.payments.models import Channel

SNAPSHOT_VERSION = 1


class ReceiptSequence(models.Model):
    """The last number issued for one community in one year. Only
    ``linli.receipts.services`` moves it, under a row lock."""

    community = models.ForeignKey(
        "estate.Community", verbose_name=_("community"), on_delete=models.PROTECT,
        related_name="+",
    )
    year = models.PositiveSmallIntegerField(_("year"))
    last_serial = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("receipt sequence")
        verbose_name_plural = _("receipt sequences")
        constraints = [
            models.UniqueConstraint(fields=["community", "year"], name="receipt_seq_once"),
        ]

    def __str__(self) -> str:
        return f"{self.community_id}/{self.year}: {self.last_serial}"


class Receipt(AppendOnlyModel):
    payment = models.OneToOneField(
        "payments.Payment", verbose_name=_("payment"), on_delete=models.PROTECT,
        related_name="receipt",
    )
    community = models.ForeignKey(
        "estate.Community", verbose_name=_("community"), on_delete=models.PROTECT,
        related_name="receipts",
    )
    unit = models.ForeignKey(
        "estate.Unit", verbose_name=_("unit"), on_delete=models.PROTECT, related_name="+",
    )
    year = models.PositiveSmallIntegerField(_("year"))
    serial = models.PositiveIntegerField(_("serial"))
    number = models.CharField(_("receipt number"), max_length=20)
    issued_at = models.DateTimeField(_("issued"), db_index=True)
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    total_fen = models.BigIntegerField(_("total (fen)"))
    snapshot = models.JSONField(_("as printed"), default=dict)

    class Meta:
        verbose_name = _("receipt")
        verbose_name_plural = _("receipts")
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["community", "number"], name="receipt_number_once"),
            models.UniqueConstraint(fields=["community", "year", "serial"],
                                    name="receipt_serial_once"),
            models.CheckConstraint(condition=models.Q(serial__gte=1), name="receipt_serial_pos"),
        ]

    def __str__(self) -> str:
        return self.number


class ReceiptVoid(AppendOnlyModel):
    """A receipt voided (作废): a new record linked to it, never an edit of the receipt.
    Made when the payment it acknowledges is taken back whole (``PaymentReversal``: a
    bill run's prepaid auto-offset unwound when the run is reversed). The receipt keeps
    its number (numbers never go back); its PDF, verify page and lists say 已作废."""

    receipt = models.OneToOneField(Receipt, verbose_name=_("receipt"), on_delete=models.PROTECT,
                                   related_name="void")
    community = models.ForeignKey("estate.Community", verbose_name=_("community"),
                                  on_delete=models.PROTECT, related_name="+")
    payment_reversal = models.OneToOneField(
        "payments.PaymentReversal", verbose_name=_("payment reversal"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="receipt_void")
    reason = models.CharField(_("reason"), max_length=200)
    voided_at = models.DateTimeField(_("voided"))
    voided_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("voided by"),
                                  null=True, blank=True, on_delete=models.PROTECT,
                                  related_name="+")

    class Meta:
        verbose_name = _("receipt void")
        verbose_name_plural = _("receipt voids")
        ordering = ["-voided_at", "-id"]

    def __str__(self) -> str:
        return f"{self.receipt_id} ✕"


def format_number(year: int, serial: int) -> str:
    """2026, 123 → "2026-000123" (more digits once a year passes 999,999)."""
    return f"{year:04d}-{serial:06d}"
