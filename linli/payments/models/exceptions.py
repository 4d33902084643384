"""Money that did not fit: anomalies, refunds outside Linli, Linli's own channel refunds."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from linli.money import format_fen
from linli.payments.models.money import Channel, Payment
from linli.payments.models.online import GatewayNotification, MerchantAccount, PaymentOrder


class PaymentAnomaly(models.Model):
    """Money that arrived (or left) but did not fit: always recorded, flagged here for
    staff, and closed only by a resolution that posts (``linli.payments.resolutions``).

    ``suspense_fen`` is what the anomaly holds in the suspense account while it is open:
    positive when money came in that nobody can be credited with yet (a wrong amount, an
    unknown order), negative when money went out at the channel that Linli had already
    applied (an outside refund, a refund that succeeded after it was settled another
    way), zero when the money sits where it belongs (a late or duplicate payment whose
    excess is in the prepaid balance). The suspense account equals the sum over open
    anomalies (``linli check``)."""

    class Kind(models.TextChoices):
        LATE = "late", _("Paid after the order ended")
        DUPLICATE = "duplicate", _("Bills already paid")
        AMOUNT_MISMATCH = "amount_mismatch", _("Amount differs from the order")
        UNKNOWN_ORDER = "unknown_order", _("Unknown order")
        REFUNDED_OUTSIDE = "refunded_outside", _("Refunded at the channel outside Linli")
        LATE_REFUND = "late_refund", _("Refund succeeded after it was settled another way")

    class Status(models.TextChoices):
        OPEN = "open", _("Open")
        RESOLVED = "resolved", _("Resolved")

    class Resolution(models.TextChoices):
        APPLY_TO_BILLS = "apply_bills", _("Applied to the unit's bills")
        TO_PREPAID = "to_prepaid", _("Moved to the unit's prepaid balance")
        REFUND = "refund", _("Refunded to the payer through the channel")
        WRITE_OFF = "write_off", _("Written off")
        KEEP = "keep", _("Kept as it is")
        RECOVER_PREPAID = "recover_prepaid", _("Recovered from the prepaid balance")
        RECOVERED_COUNTER = "recovered_counter", _("Paid back at the counter")

    community = models.ForeignKey("estate.Community", verbose_name=_("community"),
                                  on_delete=models.PROTECT, related_name="+")
    key = models.CharField(max_length=120, unique=True)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.OPEN, db_index=True)
    order = models.ForeignKey(PaymentOrder, verbose_name=_("payment order"), null=True,
                              blank=True, on_delete=models.PROTECT, related_name="anomalies")
    payment = models.ForeignKey(Payment, verbose_name=_("payment"), null=True, blank=True,
                                on_delete=models.PROTECT, related_name="anomalies")
    notification = models.ForeignKey(GatewayNotification, verbose_name=_("notification"),
                                     null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    account = models.ForeignKey(MerchantAccount, verbose_name=_("merchant account"),
                                null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    transaction_id = models.CharField(_("transaction id"), max_length=64, blank=True)
    out_trade_no = models.CharField(_("order number at the channel"), max_length=64,
                                    blank=True)
    amount_fen = models.BigIntegerField(_("amount (fen)"), default=0)
    suspense_fen = models.BigIntegerField(_("held in suspense (fen)"), default=0)
    excess_fen = models.BigIntegerField(_("kept as prepaid balance (fen)"), default=0)
    detail = models.CharField(_("detail"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("flagged"), default=timezone.now, db_index=True)
    resolution = models.CharField(_("resolution"), max_length=20, choices=Resolution.choices,
                                  blank=True)
    resolution_unit = models.ForeignKey("estate.Unit", verbose_name=_("unit"), null=True,
                                        blank=True, on_delete=models.PROTECT, related_name="+")
    resolution_payment = models.ForeignKey(
        Payment, verbose_name=_("payment made by the resolution"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+")
    write_off_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("write-off requested by"), null=True,
        blank=True, on_delete=models.PROTECT, related_name="+")
    write_off_requested_at = models.DateTimeField(_("write-off requested"), null=True,
                                                  blank=True)
    write_off_reason = models.CharField(_("write-off reason"), max_length=255, blank=True)
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("resolved by"),
                                    null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    resolution_note = models.CharField(_("resolution note"), max_length=255, blank=True)
    resolution_channel = models.CharField(
        _("paid back by"), max_length=16, choices=Channel.choices, blank=True,
        help_text=_("How money owed back was recovered (cash or transfer at the counter, "
                    "or the prepaid balance): the cashier's handover sheet lists it."))

    class Meta:
        verbose_name = _("payment anomaly")
        verbose_name_plural = _("payment anomalies")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.transaction_id or self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN


class OutsideRefund(models.Model):
    """Money the channel says it refunded on a trade that Linli did not refund (someone on
    the merchant platform did). One row per increase of what was refunded outside Linli
    on the trade (``total_fen``, once each): the increase is posted out of suspense
    (``channel_refunded_outside``). The same total reported again can still be a new
    increase — when a refund counted as Linli's failed meanwhile."""

    community = models.ForeignKey("estate.Community", verbose_name=_("community"),
                                  on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    transaction_id = models.CharField(_("transaction id"), max_length=64)
    order = models.ForeignKey(PaymentOrder, verbose_name=_("payment order"), null=True,
                              blank=True, on_delete=models.PROTECT, related_name="+")
    reported_fen = models.BigIntegerField(_("refunded in all, as the channel reported"))
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    total_fen = models.BigIntegerField(_("refunded outside Linli in all, this one included"))
    anomaly = models.ForeignKey(PaymentAnomaly, verbose_name=_("payment anomaly"),
                                on_delete=models.PROTECT, related_name="outside_refunds")
    observed_at = models.DateTimeField(_("observed"), default=timezone.now)

    class Meta:
        verbose_name = _("refund outside Linli")
        verbose_name_plural = _("refunds outside Linli")
        constraints = [
            models.UniqueConstraint(fields=["channel", "transaction_id", "total_fen"],
                                    name="outside_refund_once"),
            models.CheckConstraint(condition=Q(amount_fen__gt=0),
                                   name="outside_refund_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.transaction_id} −{format_fen(self.amount_fen)}"


class OrderRefund(models.Model):
    """A refund Linli sends through the channel by itself: money the bills no longer
    needed (community setting "refund"), or held money staff chose to refund. Ledger:
    at recording, prepaid (or suspense) → refunds payable (nobody can spend it); when
    the gateway confirms, refunds payable → channel clearing.

    A refund the channel refused needs staff: retried with the same ``out_refund_no``
    (the channel does it at most once), or settled another way — back into the unit's
    prepaid balance or paid at the counter (``linli.payments.auto_refunds``). A channel
    success arriving after that is recorded and flagged, never lost."""

    class Status(models.TextChoices):
        PENDING = "pending", _("To be sent")
        PROCESSING = "processing", _("Processing")
        SUCCESS = "success", _("Refunded")
        FAILED = "failed", _("Failed — needs staff")
        SETTLED = "settled", _("Settled another way")

    # Money still in refunds payable.
    HOLDING = (Status.PENDING, Status.PROCESSING, Status.FAILED)

    class SettledBy(models.TextChoices):
        PREPAID = "prepaid", _("Put back into the prepaid balance")
        CASH = "cash", pgettext_lazy("payment channel", "Cash")
        TRANSFER = "transfer", _("Bank transfer")

    community = models.ForeignKey("estate.Community", verbose_name=_("community"),
                                  on_delete=models.PROTECT, related_name="+")
    order = models.ForeignKey(PaymentOrder, verbose_name=_("payment order"), null=True,
                              blank=True, on_delete=models.PROTECT, related_name="refunds")
    payment = models.OneToOneField(Payment, verbose_name=_("payment"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="auto_refund")
    anomaly = models.ForeignKey(PaymentAnomaly, verbose_name=_("payment anomaly"), null=True,
                                blank=True, on_delete=models.PROTECT, related_name="refunds")
    unit = models.ForeignKey("estate.Unit", verbose_name=_("unit"), null=True, blank=True,
                             on_delete=models.PROTECT, related_name="+")
    account = models.ForeignKey(MerchantAccount, verbose_name=_("merchant account"),
                                null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices,
                               blank=True)
    out_trade_no = models.CharField(_("order number at the channel"), max_length=64,
                                    blank=True)
    trade_fen = models.BigIntegerField(_("amount of the original trade (fen)"), default=0)
    out_refund_no = models.CharField(_("refund number"), max_length=64, unique=True)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    status = models.CharField(_("status"), max_length=12, choices=Status.choices,
                              default=Status.PENDING)
    refund_id = models.CharField(_("gateway refund id"), max_length=64, blank=True)
    error = models.CharField(_("channel's reason"), max_length=255, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    settled_by = models.CharField(_("settled by"), max_length=10, choices=SettledBy.choices,
                                  blank=True)
    settled_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("settled by (staff)"), null=True,
        blank=True, on_delete=models.PROTECT, related_name="+")
    settle_note = models.CharField(_("reason"), max_length=255, blank=True)
    late_success_at = models.DateTimeField(
        _("channel refunded after settling"), null=True, blank=True,
        help_text=_("The channel reported success after it was settled another way."))

    class Meta:
        verbose_name = _("automatic refund")
        verbose_name_plural = _("automatic refunds")
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="order_refund_positive"),
        ]

    def __str__(self) -> str:
        return self.out_refund_no

    @property
    def paid_at_channel(self) -> bool:
        return self.status == self.Status.SUCCESS or self.late_success_at is not None
