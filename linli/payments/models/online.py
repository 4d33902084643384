"""Online payments: merchant accounts, orders, gateway transactions and notifications."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from linli.core.fields import EncryptedTextField
from linli.payments.gateways.base import MerchantConfig
from linli.payments.models.money import Channel, Payment

# --- online payments: merchant accounts, orders, notifications, anomalies -------------


class MerchantAccount(models.Model):
    """A community's merchant settings for one online channel. Secrets are encrypted at
    rest (``EncryptedTextField``) and never shown again once saved (write-only form
    fields in the console)."""

    community = models.ForeignKey(
        "estate.Community", verbose_name=_("community"), on_delete=models.PROTECT,
        related_name="merchant_accounts",
    )
    channel = models.CharField(_("channel"), max_length=16, choices=[
        (Channel.WECHAT, Channel.WECHAT.label), (Channel.ALIPAY, Channel.ALIPAY.label),
        (Channel.SANDBOX, Channel.SANDBOX.label),
    ])
    enabled = models.BooleanField(_("enabled"), default=True)
    app_id = models.CharField(_("app id"), max_length=64, blank=True)
    merchant_id = models.CharField(_("merchant id"), max_length=64, blank=True)
    merchant_serial = models.CharField(_("merchant certificate serial"), max_length=64,
                                       blank=True)
    platform_public_key_id = models.CharField(_("platform public key id"), max_length=64,
                                              blank=True)
    platform_public_key_pem = models.TextField(_("platform public key (PEM)"), blank=True)
    notify_base_url = models.CharField(
        _("notification base URL"), max_length=200, blank=True,
        help_text=_("Public https address of this site, e.g. https://pay.example.com"),
    )
    gateway_url = models.CharField(_("gateway URL"), max_length=200, blank=True)
    private_key_pem = EncryptedTextField(_("private key (PEM)"), blank=True)
    api_v3_key = EncryptedTextField(_("APIv3 key"), blank=True)
    sandbox_secret = EncryptedTextField(_("sandbox secret"), blank=True)
    # The official account's (公众号) AppSecret: the portal's web authorization (OAuth)
    # needs it to learn a payer's openid for WeChat JSAPI payments.
    app_secret = EncryptedTextField(_("official account AppSecret"), blank=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("merchant account")
        verbose_name_plural = _("merchant accounts")
        ordering = ["community_id", "channel"]
        constraints = [
            models.UniqueConstraint(fields=["community", "channel"],
                                    name="merchant_account_once"),
        ]

    SECRET_FIELDS = ("private_key_pem", "api_v3_key", "sandbox_secret", "app_secret")

    def __str__(self) -> str:
        return f"{self.community} · {self.get_channel_display()}"

    def notify_path(self) -> str:
        from django.urls import reverse

        return reverse("pay:notify", args=[self.channel, self.pk])

    def config(self) -> MerchantConfig:
        return MerchantConfig(
            channel=self.channel, app_id=self.app_id, merchant_id=self.merchant_id,
            private_key_pem=self.private_key_pem or "", merchant_serial=self.merchant_serial,
            platform_public_key_pem=self.platform_public_key_pem,
            platform_public_key_id=self.platform_public_key_id,
            api_v3_key=self.api_v3_key or "", gateway_url=self.gateway_url,
            notify_url=self.notify_base_url.rstrip("/") + self.notify_path(),
            sandbox_secret=self.sandbox_secret or "",
        )


class CommunityPaymentSettings(models.Model):
    class Excess(models.TextChoices):
        PREPAID = "prepaid", _("Keep as prepaid balance")
        REFUND = "refund", _("Refund automatically")

    community = models.OneToOneField(
        "estate.Community", verbose_name=_("community"), on_delete=models.PROTECT,
        related_name="payment_settings",
    )
    order_expiry_minutes = models.PositiveIntegerField(
        _("payment orders expire after (minutes)"), default=15,
        validators=[MinValueValidator(5), MaxValueValidator(24 * 60)],
    )
    excess_handling = models.CharField(
        _("money bills no longer need"), max_length=10, choices=Excess.choices,
        default=Excess.PREPAID,
    )

    class Meta:
        verbose_name = _("payment settings")
        verbose_name_plural = _("payment settings")

    def __str__(self) -> str:
        return str(self.community)

    @classmethod
    def for_community(cls, community_id: int) -> CommunityPaymentSettings:
        found = cls.objects.filter(community_id=community_id).first()
        return found or cls(community_id=community_id)


class PaymentOrder(models.Model):
    """One online payment attempt (支付订单) for some bills of one unit.

    State machine (``status``), moved only by ``linli.payments.orders`` under a row lock::

        created ──gateway order made──▶ pending ──paid (notification/query)──▶ paid
           │                              │ ╲──expired, closed at the gateway──▶ expired
           │                              ╰──superseded / cancelled──▶ closed
           ╰──gateway refused / stuck > 5 min──▶ failed

    Money that does not fit ends the order too (``linli.payments.trades``)::

        pending/closed/expired ──amount differs──▶ mismatch (money held in suspense)
        pending/closed/expired ──paid and refunded at the channel outside Linli──▶ refunded

    ``expired``, ``closed``, ``failed``, ``mismatch`` and ``refunded`` are not final for
    money: a payment that still arrives for them is recorded (and flagged as late), and
    the order becomes ``paid``. The amount is fixed at creation; each attempt has its
    own ``out_trade_no``. ``last_checked_at`` is when the janitor last looked at the
    order: it visits the least recently checked first, so none waits for ever.
    """

    class Status(models.TextChoices):
        CREATED = "created", _("Created")
        PENDING = "pending", _("Awaiting payment")
        PAID = "paid", _("Paid")
        CLOSED = "closed", _("Closed")
        EXPIRED = "expired", _("Expired")
        FAILED = "failed", _("Failed")
        MISMATCH = "mismatch", _("Amount differs — the property office is handling it")
        REFUNDED = "refunded", _("Refunded at the payment channel")

    OPEN_STATUSES = (Status.CREATED, Status.PENDING)

    community = models.ForeignKey(
        "estate.Community", verbose_name=_("community"), on_delete=models.PROTECT,
        related_name="+",
    )
    unit = models.ForeignKey(
        "estate.Unit", verbose_name=_("unit"), on_delete=models.PROTECT,
        related_name="payment_orders",
    )
    account = models.ForeignKey(
        MerchantAccount, verbose_name=_("merchant account"), on_delete=models.PROTECT,
        related_name="orders",
    )
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    mode = models.CharField(_("mode"), max_length=16)
    out_trade_no = models.CharField(_("order number"), max_length=32, unique=True)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    description = models.CharField(_("description"), max_length=127)
    status = models.CharField(_("status"), max_length=10, choices=Status.choices,
                              default=Status.CREATED, db_index=True)
    payer = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("payer"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    idempotency_key = models.CharField(max_length=120, unique=True)
    request_digest = models.CharField(max_length=64)
    client_ip = models.GenericIPAddressField(_("client IP"), null=True, blank=True)
    client_info = models.JSONField(_("client"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    expires_at = models.DateTimeField(_("expires"))
    code_url = models.CharField(_("QR code"), max_length=500, blank=True)
    # A signed Alipay cashier URL with a return_url runs past 1,000 characters.
    redirect_url = models.TextField(_("payment page"), blank=True)
    jsapi_params = models.JSONField(_("JSAPI parameters"), null=True, blank=True)
    gateway_error = models.CharField(_("gateway error"), max_length=255, blank=True)
    close_at_gateway = models.BooleanField(
        _("to be closed at the gateway"), default=False,
        help_text=_("Closed here; the janitor still has to close it at the gateway."),
    )
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    transaction_id = models.CharField(_("transaction id"), max_length=64, blank=True)
    payment = models.ForeignKey(
        Payment, verbose_name=_("payment"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="+",
    )
    superseded_by = models.ForeignKey(
        "self", verbose_name=_("superseded by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    last_checked_at = models.DateTimeField(_("last checked by the janitor"), null=True,
                                           blank=True)

    class Meta:
        verbose_name = _("payment order")
        verbose_name_plural = _("payment orders")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_fen__gt=0), name="order_positive"),
        ]
        indexes = [
            models.Index(fields=["status", "last_checked_at", "id"],
                         name="order_janitor_queue"),
        ]

    def __str__(self) -> str:
        return self.out_trade_no

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES


class PaymentOrderBill(models.Model):
    """A bill an order pays, with what it owed when the order was made. ``open`` mirrors
    the order being open, so the database itself keeps a bill in one open order."""

    order = models.ForeignKey(PaymentOrder, verbose_name=_("payment order"),
                              on_delete=models.PROTECT, related_name="lines")
    bill = models.ForeignKey("billing.Bill", verbose_name=_("bill"), on_delete=models.PROTECT,
                             related_name="order_lines")
    principal_fen = models.BigIntegerField(_("principal (fen)"))
    late_fee_fen = models.BigIntegerField(_("late fee (fen)"), default=0)
    open = models.BooleanField(default=True)

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        constraints = [
            models.UniqueConstraint(fields=["order", "bill"], name="order_line_once"),
            models.UniqueConstraint(fields=["bill"], condition=Q(open=True),
                                    name="bill_in_one_open_order"),
        ]

    def __str__(self) -> str:
        return f"{self.order} → {self.bill_id}"


class GatewayTransaction(models.Model):
    """One gateway transaction id, posted exactly once (the database says so): either as
    a payment, or — when it cannot be matched to its order's amount — to suspense."""

    class Kind(models.TextChoices):
        PAYMENT = "payment", _("Payment")
        SUSPENSE = "suspense", _("Suspense")

    community = models.ForeignKey("estate.Community", verbose_name=_("community"),
                                  on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    transaction_id = models.CharField(_("transaction id"), max_length=64)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind.choices)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    order = models.ForeignKey(PaymentOrder, verbose_name=_("payment order"), null=True,
                              blank=True, on_delete=models.PROTECT, related_name="transactions")
    payment = models.OneToOneField(Payment, verbose_name=_("payment"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="gateway_transaction")
    received_at = models.DateTimeField(_("received"), default=timezone.now)

    class Meta:
        verbose_name = _("gateway transaction")
        verbose_name_plural = _("gateway transactions")
        constraints = [
            models.UniqueConstraint(fields=["channel", "transaction_id"],
                                    name="gateway_transaction_once"),
        ]

    def __str__(self) -> str:
        return f"{self.channel}:{self.transaction_id}"


class GatewayNotification(models.Model):
    """A notification request to our endpoint.

    A verified one is kept as it came (bounded headers, the whole body): it is the
    gateway's evidence for the money it moved, and is kept for ever. A rejected one
    (outcome "rejected") keeps only the start of its body (``body_truncated``), its size,
    its SHA-256 (when it was read whole), the sender and the reason (``error``), and is
    deleted after ``LINLI_NOTIFY_REJECTED_RETENTION_DAYS`` (``payments.notify_limits``).
    """

    class Outcome(models.TextChoices):
        RECEIVED = "received", _("Received")
        APPLIED = "applied", _("Applied")
        DUPLICATE = "duplicate", _("Already applied")
        ANOMALY = "anomaly", _("Recorded, flagged")
        REJECTED = "rejected", _("Rejected")
        UNKNOWN_ORDER = "unknown_order", _("Unknown order")
        IGNORED = "ignored", _("Nothing to do")
        ERROR = "error", _("Error")

    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    account = models.ForeignKey(MerchantAccount, verbose_name=_("merchant account"),
                                on_delete=models.PROTECT, related_name="notifications")
    community = models.ForeignKey("estate.Community", verbose_name=_("community"),
                                  on_delete=models.PROTECT, related_name="+")
    received_at = models.DateTimeField(_("received"), default=timezone.now, db_index=True)
    remote_addr = models.GenericIPAddressField(_("sender address"), null=True, blank=True)
    headers = models.JSONField(_("headers"), default=dict)
    body = models.TextField(_("body"), blank=True)
    outcome = models.CharField(_("outcome"), max_length=16, choices=Outcome.choices,
                               default=Outcome.RECEIVED)
    error = models.CharField(_("error"), max_length=255, blank=True)
    out_trade_no = models.CharField(_("order number"), max_length=64, blank=True)
    transaction_id = models.CharField(_("transaction id"), max_length=64, blank=True)
    body_size = models.PositiveBigIntegerField(
        _("body size (bytes)"), null=True, blank=True,
        help_text=_("As received, or as declared when the body was too large to read."))
    body_sha256 = models.CharField(_("body SHA-256"), max_length=64, blank=True)
    body_truncated = models.BooleanField(_("body truncated"), default=False)

    class Meta:
        verbose_name = _("gateway notification")
        verbose_name_plural = _("gateway notifications")
        ordering = ["-received_at", "-id"]
        indexes = [  # rejected deliveries per sender (rate limit) and by age (pruning)
            models.Index(fields=["outcome", "remote_addr", "received_at"],
                         name="payments_note_reject_ip"),
        ]

    def __str__(self) -> str:
        return f"{self.channel} #{self.pk} {self.get_outcome_display()}"


class NotificationDropTally(models.Model):
    """Rejected notification deliveries answered without being stored, because their
    sender had already sent too many rejected ones (``LINLI_NOTIFY_REJECTS_PER_IP`` in
    ``LINLI_NOTIFY_REJECT_WINDOW_MINUTES``): counted per merchant account, sender and
    hour, and deleted with the rejected deliveries after the retention period."""

    account = models.ForeignKey(MerchantAccount, verbose_name=_("merchant account"),
                                on_delete=models.PROTECT, related_name="+")
    community = models.ForeignKey("estate.Community", verbose_name=_("community"),
                                  on_delete=models.PROTECT, related_name="+")
    channel = models.CharField(_("channel"), max_length=16, choices=Channel.choices)
    remote_addr = models.CharField(_("sender address"), max_length=45, blank=True)
    hour = models.DateTimeField(_("hour"))
    count = models.PositiveIntegerField(_("deliveries not stored"), default=0)
    last_at = models.DateTimeField(_("last delivery"), default=timezone.now)

    class Meta:
        verbose_name = _("unstored rejected notification")
        verbose_name_plural = _("unstored rejected notifications")
        ordering = ["-hour", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "remote_addr", "hour"],
                                    name="payments_drop_tally_once"),
        ]

    def __str__(self) -> str:
        return f"{self.remote_addr or '?'} {self.hour:%Y-%m-%d %H:00} ×{self.count}"


class SandboxTrade(models.Model):
    """The sandbox gateway's own state (it is a gateway: this is "its" database)."""

    account = models.ForeignKey(MerchantAccount, on_delete=models.PROTECT, related_name="+")
    out_trade_no = models.CharField(max_length=32, unique=True)
    amount_fen = models.BigIntegerField()
    description = models.CharField(max_length=127, blank=True)
    expires_at = models.DateTimeField()
    state = models.CharField(max_length=10, default="notpay")
    transaction_id = models.CharField(max_length=64, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    refunded_fen = models.BigIntegerField(default=0)
    refunds = models.JSONField(default=dict, blank=True)

    class Meta:
        verbose_name = _("sandbox trade")
        verbose_name_plural = _("sandbox trades")

    def __str__(self) -> str:
        return self.out_trade_no
