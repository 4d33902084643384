"""Money received: payments, allocations, prepaid balances (see the package docstring)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from linli.ledger import postings
from linli.money import format_fen


class Channel(models.TextChoices):
    CASH = "cash", pgettext_lazy("payment channel", "Cash")
    POS = "pos", _("POS card")
    TRANSFER = "transfer", _("Bank transfer")
    CHEQUE = "cheque", _("Cheque")
    PREPAID = "prepaid", _("Prepaid balance")
    WECHAT = "wechat", _("WeChat Pay")
    ALIPAY = "alipay", _("Alipay")
    SANDBOX = "sandbox", _("Sandbox (not real money)")
    # Money first held in suspense (待查明款项), applied by staff resolving an anomaly:
    # the payment's ledger debit is the suspense account.
    SUSPENSE = "suspense", _("Held money applied by staff")


# Where the money sits once received, per channel: the posting rules' table.
CHANNEL_ACCOUNT = postings.CHANNEL_ACCOUNT
COUNTER_CHANNELS = (Channel.CASH, Channel.POS, Channel.TRANSFER, Channel.CHEQUE)


class Payment(models.Model):
    community = models.ForeignKey(
        "estate.Community", verbose_name=_("community"), on_delete=models.PROTECT,
        related_name="payments",
    )
    unit = models.ForeignKey(
        "estate.Unit", verbose_name=_("unit"), on_delete=models.PROTECT, related_name="payments"
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    received_at = models.DateTimeField(_("received"), db_index=True)
    cashier = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("cashier"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    payer_name = models.CharField(_("payer"), max_length=50, blank=True)
    reference = models.CharField(
        _("reference"), max_length=64, blank=True,
        help_text=_("Transfer or cheque number, POS slip, gateway transaction id."),
    )
    idempotency_key = models.CharField(max_length=80, unique=True)
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        ordering = ["-received_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="payment_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {format_fen(self.amount_fen)} · {self.unit}"


class PaymentAllocation(models.Model):
    payment = models.ForeignKey(
        Payment, verbose_name=_("payment"), on_delete=models.PROTECT, related_name="allocations"
    )
    bill = models.ForeignKey(
        "billing.Bill", verbose_name=_("bill"), on_delete=models.PROTECT,
        related_name="allocations",
    )
    principal_fen = models.BigIntegerField(_("principal (fen)"), default=0)
    late_fee_fen = models.BigIntegerField(_("late fee (fen)"), default=0)

    class Meta:
        verbose_name = _("allocation")
        verbose_name_plural = _("allocations")
        constraints = [
            models.UniqueConstraint(fields=["payment", "bill"], name="allocation_once"),
            models.CheckConstraint(
                condition=Q(principal_fen__gte=0) & Q(late_fee_fen__gte=0)
                & (Q(principal_fen__gt=0) | Q(late_fee_fen__gt=0)),
                name="allocation_positive",
            ),
        ]

    def __str__(self) -> str:
        return (f"{self.payment_id} → {self.bill_id}: {format_fen(self.principal_fen)} + "
                f"{format_fen(self.late_fee_fen)}")


class PrepaidWallet(models.Model):
    """A unit's prepaid balance. ``balance_fen`` changes only with a movement, under a
    row lock, and never below zero (also a database constraint)."""

    unit = models.OneToOneField(
        "estate.Unit", verbose_name=_("unit"), on_delete=models.PROTECT, related_name="wallet"
    )
    community = models.ForeignKey(
        "estate.Community", verbose_name=_("community"), on_delete=models.PROTECT,
        related_name="+",
    )
    balance_fen = models.BigIntegerField(_("balance (fen)"), default=0)

    class Meta:
        verbose_name = _("prepaid balance")
        verbose_name_plural = _("prepaid balances")
        constraints = [
            models.CheckConstraint(condition=Q(balance_fen__gte=0), name="wallet_not_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.unit} {format_fen(self.balance_fen)}"


class PrepaidMovement(models.Model):
    class Kind(models.TextChoices):
        # A top-up of the prepaid balance (预存), never a security deposit (押金).
        DEPOSIT = "deposit", pgettext_lazy("prepaid movement", "Top-up")
        OFFSET = "offset", _("Paid a bill")
        EXCESS = "excess", _("Overpayment kept")
        REFUND = "refund", _("Refunded")
        UNOFFSET = "unoffset", _("Payment from the balance reversed")

    wallet = models.ForeignKey(
        PrepaidWallet, verbose_name=_("prepaid balance"), on_delete=models.PROTECT,
        related_name="movements",
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    amount_fen = models.BigIntegerField(_("amount (fen)"), help_text=_("+ in, − out"))
    balance_after_fen = models.BigIntegerField(_("balance after (fen)"))
    payment = models.ForeignKey(
        Payment, verbose_name=_("payment"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="prepaid_movements",
    )
    at = models.DateTimeField(_("time"), auto_now_add=True, db_index=True)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    note = models.CharField(_("note"), max_length=200, blank=True)
    # The ledger entry that posted this movement, where the payment alone does not say
    # which it was: a refund's set-aside (``refund_reserve:app<id>``) or a refund back to
    # the balance (``refund:<out_refund_no>``). The unit statement places such a movement
    # on its refund's row, at its own time.
    business_key = models.CharField(_("ledger entry"), max_length=120, blank=True)

    class Meta:
        verbose_name = _("prepaid movement")
        verbose_name_plural = _("prepaid movements")
        ordering = ["wallet_id", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {format_fen(self.amount_fen)}"


class PaymentReversal(models.Model):
    """A payment taken back whole, as a new linked record (never an edit or a delete):
    its allocations no longer count as paid (``billing.selectors.with_balances``), the
    money goes back where it came from — for a payment from the prepaid balance, the
    wallet (a ``PrepaidMovement`` of kind ``unoffset``) — and the payment's ledger entry
    is mirrored (``ledger.services.reverse_entry``, key ``business_key``).

    Made when a bill run is reversed whose bills a prepaid auto-offset paid
    (``payments.services.prepaid_offset_reverse``)."""

    payment = models.OneToOneField(Payment, verbose_name=_("payment"), on_delete=models.PROTECT,
                                   related_name="reversal")
    community = models.ForeignKey("estate.Community", verbose_name=_("community"),
                                  on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(_("reason"), max_length=200)
    business_key = models.CharField(_("ledger entry"), max_length=120)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("by"), null=True,
                           blank=True, on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        verbose_name = _("payment reversal")
        verbose_name_plural = _("payment reversals")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.payment} ↩"
