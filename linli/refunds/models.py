"""Refunds (退款): policy, owners' applications, approvals, payouts and vouchers.

Application state machine (``RefundApplication.status``), moved only by
``linli.refunds.services`` under the application's row lock::

    submitted ──approve──▶ approved ──execute──▶ paying ──gateway/cashier: money gone──▶ refunded
        │   ╲──approve (needs a second approver)──▶ awaiting_second ──approve──▶ approved
        │                                              │
        ╰──reject──▶ rejected ◀────────────────────────╯
    paying ──gateway: failed / abnormal──▶ attention ──retry (same number)──▶ paying
    approved ──worker: the money to refund is gone──▶ attention
    attention ──paid another way (cash / transfer)──▶ refunded
    attention (nothing in flight), or approved at the counter ──cancel──▶ cancelled

Approving sets the amount aside in refunds payable (``booking.reserve``; a prepaid
refund takes it out of the wallet then, or is refused when the balance is gone); the
payout pays it from there; cancelling reverses the reservation. A channel that reports
success for a payout given up for another way makes a ``DuplicateRefund``.

Nothing is marked refunded (bill lines, ledger, voucher) until a ``RefundPayout`` has
status ``success``: the money has actually gone. A payout's ``out_refund_no`` is fixed
when it is created and reused on every retry of that payout, so a gateway never
refunds it twice; a payout that failed for good is replaced by a new payout (new
number), never re-sent.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from linli.ledger.models import AppendOnlyModel
from linli.money import format_fen
from linli.payments.models import Channel
from linli.staff.models import Role

# Who may approve, weakest first: a role may approve what any weaker role may.
APPROVER_RANK = {
    Role.SERVICE: 0,
    Role.CASHIER: 1,
    Role.FINANCE: 2,
    Role.MANAGER: 2,
    Role.COMPANY_ADMIN: 3,
}
APPROVER_ROLES = [
    (Role.CASHIER, Role.CASHIER.label),
    (Role.FINANCE, Role.FINANCE.label),
    (Role.MANAGER, Role.MANAGER.label),
    (Role.COMPANY_ADMIN, Role.COMPANY_ADMIN.label),
]


class RefundPolicy(models.Model):
    """A community's refund policy (退款政策); a row with a fee item overrides the
    community's default for that item. No row at all: ``DEFAULT_POLICY`` applies."""

    class Approval(models.TextChoices):
        ALWAYS = "always", _("Always")
        ABOVE = "above", _("Above an amount")

    community = models.ForeignKey(
        "estate.Community", verbose_name=_("community"), on_delete=models.PROTECT,
        related_name="refund_policies",
    )
    fee_item = models.ForeignKey(
        "billing.FeeItem", verbose_name=_("fee item"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
        help_text=_("Empty: the community's default for every fee item."),
    )
    refundable = models.BooleanField(_("refundable"), default=True)
    window_days = models.PositiveIntegerField(
        _("apply within (days after payment)"), default=365,
        validators=[MinValueValidator(1), MaxValueValidator(3650)],
    )
    future_periods = models.BooleanField(_("whole periods not yet started"), default=True)
    prorata = models.BooleanField(_("pro rata by days of a period in progress"), default=False)
    prepaid = models.BooleanField(_("prepaid balances and overpayments"), default=True)
    deposits = models.BooleanField(_("deposits on release"), default=True)
    approval = models.CharField(_("approval needed"), max_length=10, choices=Approval.choices,
                                default=Approval.ALWAYS)
    approval_above_fen = models.BigIntegerField(
        _("approval needed above (fen)"), default=0, validators=[MinValueValidator(0)])
    approver_role = models.CharField(_("who may approve"), max_length=16,
                                     choices=APPROVER_ROLES, default=Role.MANAGER)
    second_approval_above_fen = models.BigIntegerField(
        _("second approver above (fen)"), null=True, blank=True,
        validators=[MinValueValidator(0)], help_text=_("Empty: one approver is enough."))
    second_approver_role = models.CharField(_("who gives the second approval"), max_length=16,
                                            choices=APPROVER_ROLES, default=Role.COMPANY_ADMIN)
    finance_approval_above_fen = models.BigIntegerField(
        _("finance approval above (fen)"), null=True, blank=True,
        validators=[MinValueValidator(0)],
        help_text=_("Refunds above this amount must be approved by someone with the finance "
                    "role. Empty: no such rule."))

    class Meta:
        verbose_name = _("refund policy")
        verbose_name_plural = _("refund policies")
        ordering = ["community_id", "fee_item_id"]
        constraints = [
            models.UniqueConstraint(fields=["community", "fee_item"],
                                    condition=Q(fee_item__isnull=False),
                                    name="refund_policy_item_once"),
            models.UniqueConstraint(fields=["community"], condition=Q(fee_item__isnull=True),
                                    name="refund_policy_default_once"),
        ]

    def __str__(self) -> str:
        return f"{self.community} · {self.fee_item or _('default')}"


class RefundApplication(models.Model):
    """One application (退款申请) to refund money of one payment: some of the bill lines
    it paid, or the prepaid balance it brought in."""

    class Kind(models.TextChoices):
        LINES = "lines", _("Bill lines")
        PREPAID = "prepaid", _("Prepaid balance")

    class Status(models.TextChoices):
        SUBMITTED = "submitted", _("Awaiting review")
        AWAITING_SECOND = "awaiting_second", _("Awaiting second approval")
        APPROVED = "approved", _("Approved")
        PAYING = "paying", _("Refund in progress")
        ATTENTION = "attention", _("Refund failed — needs staff")
        REFUNDED = "refunded", _("Refunded")
        REJECTED = "rejected", _("Rejected")
        CANCELLED = "cancelled", _("Cancelled")

    OPEN_STATUSES = (Status.SUBMITTED, Status.AWAITING_SECOND, Status.APPROVED, Status.PAYING,
                     Status.ATTENTION)

    community = models.ForeignKey("estate.Community", verbose_name=_("community"),
                                  on_delete=models.PROTECT, related_name="+")
    unit = models.ForeignKey("estate.Unit", verbose_name=_("unit"), on_delete=models.PROTECT,
                             related_name="refund_applications")
    payment = models.ForeignKey("payments.Payment", verbose_name=_("payment"),
                                on_delete=models.PROTECT, related_name="refund_applications")
    kind = models.CharField(_("what"), max_length=10, choices=Kind.choices, default=Kind.LINES)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    reason = models.CharField(_("reason"), max_length=200)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.SUBMITTED, db_index=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("applied by"),
                                     null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    by_staff = models.BooleanField(_("applied by staff for the owner"), default=False)
    created_at = models.DateTimeField(_("applied"), default=timezone.now, db_index=True)
    first_approver = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("approved by"),
                                       null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="+")
    first_approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    second_approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("second approval by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+")
    second_approved_at = models.DateTimeField(_("second approval"), null=True, blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("decided by"),
                                   null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="+")
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decision_note = models.CharField(_("note to the owner"), max_length=200, blank=True)
    needs_second = models.BooleanField(_("needs a second approver"), default=False)
    approver_role = models.CharField(_("who may approve"), max_length=16, blank=True)
    second_approver_role = models.CharField(_("who gives the second approval"), max_length=16,
                                            blank=True)
    needs_finance = models.BooleanField(_("needs finance approval"), default=False)
    attention_reason = models.CharField(_("why it needs staff"), max_length=255, blank=True)
    refunded_at = models.DateTimeField(_("refunded"), null=True, blank=True)
    cancelled_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("cancelled by"),
                                     null=True, blank=True, on_delete=models.PROTECT,
                                     related_name="+")
    cancelled_at = models.DateTimeField(_("cancelled"), null=True, blank=True)

    class Meta:
        verbose_name = _("refund application")
        verbose_name_plural = _("refund applications")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="refund_app_positive"),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.unit} {format_fen(self.amount_fen)}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class RefundLine(models.Model):
    """A bill line of an application and how much of what the payment paid on it is to
    be refunded (principal only; late fees are not refunded)."""

    class Basis(models.TextChoices):
        FUTURE = "future", _("Period not yet started")
        PRORATA = "prorata", _("Unused days of the current period")
        DEPOSIT = "deposit", _("Deposit released")
        PREPAID = "prepaid", _("Prepaid balance")

    application = models.ForeignKey(RefundApplication, verbose_name=_("application"),
                                    on_delete=models.PROTECT, related_name="lines")
    bill = models.ForeignKey("billing.Bill", verbose_name=_("bill"), null=True, blank=True,
                             on_delete=models.PROTECT, related_name="refund_lines")
    fee_item = models.ForeignKey("billing.FeeItem", verbose_name=_("fee item"), null=True,
                                 blank=True, on_delete=models.PROTECT, related_name="+")
    basis = models.CharField(_("basis"), max_length=10, choices=Basis.choices)
    amount_fen = models.BigIntegerField(_("amount (fen)"))

    class Meta:
        verbose_name = _("refund line")
        verbose_name_plural = _("refund lines")
        ordering = ["application_id", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="refund_line_positive"),
            models.UniqueConstraint(fields=["application", "bill"], name="refund_line_once"),
        ]

    def __str__(self) -> str:
        return f"{self.bill or self.get_basis_display()} {format_fen(self.amount_fen)}"


class RefundPayout(models.Model):
    """Money going back for one application: through the original gateway (by its
    ``out_refund_no``), or in cash / by transfer recorded by a cashier."""

    class Status(models.TextChoices):
        PENDING = "pending", _("To be sent")
        PROCESSING = "processing", _("Processing at the gateway")
        SUCCESS = "success", _("Money returned")
        ABNORMAL = "abnormal", _("Abnormal — needs staff")
        FAILED = "failed", _("Failed — no money returned")
        ABANDONED = "abandoned", _("Given up — paid another way")
        LATE_SUCCESS = "late_success", _("Returned by the channel too, after being paid "
                                         "another way")

    # Payouts that hold part of the payment: money gone, or possibly going.
    HOLDING = (Status.PENDING, Status.PROCESSING, Status.SUCCESS, Status.ABNORMAL)
    IN_FLIGHT = (Status.PENDING, Status.PROCESSING)
    # Money gone out of the channel's account: paid, or paid although given up (twice).
    CHANNEL_PAID = (Status.SUCCESS, Status.LATE_SUCCESS)

    community = models.ForeignKey("estate.Community", verbose_name=_("community"),
                                  on_delete=models.PROTECT, related_name="+")
    application = models.ForeignKey(RefundApplication, verbose_name=_("application"),
                                    on_delete=models.PROTECT, related_name="payouts")
    payment = models.ForeignKey("payments.Payment", verbose_name=_("payment"),
                                on_delete=models.PROTECT, related_name="refund_payouts")
    order = models.ForeignKey("payments.PaymentOrder", verbose_name=_("payment order"),
                              null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(pgettext_lazy("refund", "paid back by"), max_length=16,
                               choices=Channel.choices)
    out_refund_no = models.CharField(_("refund number"), max_length=64, unique=True)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    status = models.CharField(_("status"), max_length=12, choices=Status.choices,
                              default=Status.PENDING, db_index=True)
    refund_id = models.CharField(_("gateway refund id"), max_length=64, blank=True)
    error = models.CharField(_("gateway's reason"), max_length=255, blank=True)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    reference = models.CharField(_("reference"), max_length=64, blank=True,
                                 help_text=_("Transfer number or cash slip."))
    cashier = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("cashier"), null=True,
                                blank=True, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    sent_at = models.DateTimeField(_("last sent"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        verbose_name = _("refund payout")
        verbose_name_plural = _("refund payouts")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="refund_payout_positive"),
            # One live payout per application: a retry after a final failure is a new one.
            models.UniqueConstraint(fields=["application"],
                                    condition=Q(status__in=["pending", "processing",
                                                            "success", "abnormal"]),
                                    name="refund_payout_one_live"),
        ]

    def __str__(self) -> str:
        return self.out_refund_no


class RefundVoucherSequence(models.Model):
    """The last voucher number of one community in one year (moved under a row lock)."""

    community = models.ForeignKey("estate.Community", verbose_name=_("community"),
                                  on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField(_("year"))
    last_serial = models.PositiveIntegerField(_("last number"), default=0)

    class Meta:
        verbose_name = _("refund voucher sequence")
        verbose_name_plural = _("refund voucher sequences")
        constraints = [
            models.UniqueConstraint(fields=["community", "year"], name="refund_voucher_seq_once"),
        ]

    def __str__(self) -> str:
        return f"{self.community_id}/{self.year}: {self.last_serial}"


class RefundVoucher(AppendOnlyModel):
    """The refund voucher (退款凭证): issued when a payout's money has gone, numbered
    ``TK-YYYY-NNNNNN`` per community and year without gaps, linked to the original
    receipt (which is never edited). What it shows is frozen in ``snapshot``."""

    payout = models.OneToOneField(RefundPayout, verbose_name=_("payout"),
                                  on_delete=models.PROTECT, related_name="voucher")
    community = models.ForeignKey("estate.Community", verbose_name=_("community"),
                                  on_delete=models.PROTECT, related_name="+")
    receipt = models.ForeignKey("receipts.Receipt", verbose_name=_("original receipt"),
                                null=True, blank=True, on_delete=models.PROTECT,
                                related_name="refund_vouchers")
    year = models.PositiveSmallIntegerField(_("year"))
    serial = models.PositiveIntegerField(_("serial"))
    number = models.CharField(_("voucher number"), max_length=24)
    issued_at = models.DateTimeField(_("issued"))
    total_fen = models.BigIntegerField(_("total (fen)"))
    snapshot = models.JSONField(_("as printed"), default=dict)

    class Meta:
        verbose_name = _("refund voucher")
        verbose_name_plural = _("refund vouchers")
        ordering = ["-issued_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["community", "number"], name="refund_voucher_once"),
        ]

    def __str__(self) -> str:
        return self.number


class DuplicateRefund(models.Model):
    """A refund paid twice (重复退款): staff paid it another way, then the channel reported
    that its own refund succeeded as well. The second outflow is posted at once (other
    receivables of the unit ← the channel's account) and stays open until a resolution
    posts: recovered at the counter, taken from the prepaid balance, or written off
    (asked by one person, approved by another)."""

    class Status(models.TextChoices):
        OPEN = "open", _("To recover from the owner")
        WRITE_OFF_ASKED = "write_off_asked", _("Write-off awaiting approval")
        RECOVERED = "recovered", _("Recovered at the counter")
        FROM_PREPAID = "from_prepaid", _("Taken from the prepaid balance")
        WRITTEN_OFF = "written_off", _("Written off")

    OPEN_STATUSES = (Status.OPEN, Status.WRITE_OFF_ASKED)

    community = models.ForeignKey("estate.Community", verbose_name=_("community"),
                                  on_delete=models.PROTECT, related_name="+")
    unit = models.ForeignKey("estate.Unit", verbose_name=_("unit"), on_delete=models.PROTECT,
                             related_name="+")
    application = models.ForeignKey(RefundApplication, verbose_name=_("application"),
                                    on_delete=models.PROTECT, related_name="duplicates")
    payout = models.OneToOneField(RefundPayout, verbose_name=_("payout"),
                                  on_delete=models.PROTECT, related_name="duplicate")
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices,
                              default=Status.OPEN, db_index=True)
    created_at = models.DateTimeField(_("found"), default=timezone.now, db_index=True)
    channel = models.CharField(_("recovered by"), max_length=16, choices=Channel.choices,
                               blank=True)
    reference = models.CharField(_("reference"), max_length=64, blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    write_off_asked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("write-off asked by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+")
    resolved_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("resolved by"),
                                    null=True, blank=True, on_delete=models.PROTECT,
                                    related_name="+")
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True, db_index=True)

    class Meta:
        verbose_name = _("refund paid twice")
        verbose_name_plural = _("refunds paid twice")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="refund_dup_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.payout} {format_fen(self.amount_fen)}"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES
