"""Console pages of payments, prepaid balances and online payments.

Payments, prepaid balances, payment orders, gateway notifications and automatic refunds
are read-only, always. Editable: merchant accounts (secrets write-only: never shown
again, blank keeps the stored value; a "test" action), the community payment settings,
and — through their services, never by editing — payment anomalies and automatic
refunds that need staff (``admin_exceptions``). Raw notification bodies and headers are
shown to finance and company admins only.

Money received is recorded only by ``linli.payments.services`` (the counter, prepaid
deposits, the gateways), and nothing financial is ever edited or deleted (DESIGN §3,
§7): these pages list and show; a mistake is corrected by a new document (a refund).
Deposits and payments from the prepaid balance are taken on the unit statement page
(``unit:deposit``, ``unit:statement``).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Sum
from django.urls import reverse
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import ChoicesDropdownFilter

from linli.billing.selectors import bill_label
from linli.console.html import link as _link
from linli.console.html import statement_link
from linli.console.html import table as _table
from linli.console.html import when as _when
from linli.console.scoping import ReadOnlyAdmin, ScopedAdmin
from linli.money import format_fen
from linli.payments import admin_exceptions  # noqa: F401  (registers its pages)
from linli.payments.hooks import receipt_link
from linli.payments.models import (
    CommunityPaymentSettings,
    GatewayNotification,
    MerchantAccount,
    NotificationDropTally,
    Payment,
    PaymentAllocation,
    PaymentOrder,
    PrepaidMovement,
    PrepaidWallet,
)
from linli.staff.models import Role


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    unit_path = "unit"
    list_display = ["id", "received", "community", "unit", "channel", "amount", "cashier",
                    "payer_name", "reference"]
    list_display_links = ["id", "received"]
    list_filter = ["community", "unit__building", ("channel", ChoicesDropdownFilter), "cashier"]
    search_fields = ["unit__room_no", "payer_name", "reference"]
    list_select_related = ["community", "unit__building", "cashier"]
    fields = ["community", "unit", "channel", "amount", "received", "cashier", "payer_name",
              "reference", "note", "receipt_pdf", "refund_link", "allocation_table", "prepaid_table", "statement"]
    readonly_fields = ["amount", "received", "receipt_pdf", "refund_link", "allocation_table", "prepaid_table",
                       "statement"]

    @admin.display(description=_("received"), ordering="received_at")
    def received(self, obj):
        return _when(obj.received_at)

    @admin.display(description=_("amount"), ordering="amount_fen")
    def amount(self, obj):
        return format_fen(obj.amount_fen)

    @admin.display(description=_("bills settled"))
    def allocation_table(self, obj):
        allocations = (PaymentAllocation.objects.filter(payment=obj)
                       .select_related("bill__fee_item", "bill__parking_space")
                       .order_by("bill__due_date", "bill_id"))
        rows = [
            (_link(reverse("admin:billing_bill_change", args=[a.bill_id]), bill_label(a.bill)),
             a.bill.due_date, format_fen(a.principal_fen), format_fen(a.late_fee_fen))
            for a in allocations
        ]
        return _table([gettext("Bill"), gettext("Due"), gettext("Principal"), gettext("Late fee")], rows)

    @admin.display(description=_("prepaid balance"))
    def prepaid_table(self, obj):
        rows = [(m.get_kind_display(), format_fen(m.amount_fen), format_fen(m.balance_after_fen))
                for m in obj.prepaid_movements.order_by("id")]
        return _table([gettext("Kind"), gettext("Amount"), gettext("Balance after")], rows)

    @admin.display(description=_("unit statement"))
    def statement(self, obj):
        return statement_link(obj.unit_id)

    @admin.display(description=_("receipt"))
    def receipt_pdf(self, obj):
        return receipt_link(obj)

    @admin.display(description=_("refund"))
    def refund_link(self, obj):
        return _link(reverse("refunds:apply", args=[obj.pk]), gettext("Apply for a refund"))


@admin.register(PrepaidWallet)
class PrepaidWalletAdmin(ReadOnlyAdmin):
    unit_path = "unit"
    list_display = ["unit", "community", "balance", "movements", "statement"]
    list_filter = ["community", "unit__building"]
    search_fields = ["unit__room_no", "unit__building__name"]
    list_select_related = ["community", "unit__building"]
    ordering = ["community_id", "unit__building_id", "unit__entrance", "unit__floor",
                "unit__room_no"]
    fields = ["community", "unit", "balance", "movements", "statement"]
    readonly_fields = ["balance", "movements", "statement"]

    @admin.display(description=pgettext_lazy("prepaid", "balance"), ordering="balance_fen")
    def balance(self, obj):
        return format_fen(obj.balance_fen)

    @admin.display(description=_("movements"))
    def movements(self, obj):
        url = reverse("admin:payments_prepaidmovement_changelist")
        return _link(f"{url}?wallet__id__exact={obj.pk}", gettext("Movements"))

    @admin.display(description=_("unit statement"))
    def statement(self, obj):
        return statement_link(obj.unit_id)

    def changelist_view(self, request, extra_context=None):
        """The total of the balances listed (the prepaid liability) in the title."""
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            total = changelist.queryset.aggregate(total=Sum("balance_fen"))["total"] or 0
            response.context_data["subtitle"] = gettext("Total %(amount)s") % {
                "amount": format_fen(total)}
        return response


@admin.register(PrepaidMovement)
class PrepaidMovementAdmin(ReadOnlyAdmin):
    unit_path = "wallet__unit"
    community_path = "wallet__community"
    list_display = ["id", "time", "unit", "kind", "amount", "balance_after", "payment_link",
                    "by", "note"]
    list_filter = ["wallet__community", ("kind", ChoicesDropdownFilter)]
    search_fields = ["wallet__unit__room_no", "wallet__unit__building__name", "note"]
    list_select_related = ["wallet__unit__building", "payment", "by"]
    fields = ["time", "unit", "kind", "amount", "balance_after", "payment_link", "by", "note"]
    readonly_fields = fields

    @admin.display(description=_("time"), ordering="at")
    def time(self, obj):
        return _when(obj.at)

    @admin.display(description=_("unit"))
    def unit(self, obj):
        return obj.wallet.unit

    @admin.display(description=_("amount"), ordering="amount_fen")
    def amount(self, obj):
        return format_fen(obj.amount_fen)

    @admin.display(description=_("balance after"))
    def balance_after(self, obj):
        return format_fen(obj.balance_after_fen)

    @admin.display(description=_("payment"))
    def payment_link(self, obj):
        if obj.payment_id is None:
            return "—"
        return _link(reverse("admin:payments_payment_change", args=[obj.payment_id]),
                     f"#{obj.payment_id}")


# --- online payments ---------------------------------------------------------------


def _order_link(order_id):
    if not order_id:
        return "—"
    return _link(reverse("admin:payments_paymentorder_change", args=[order_id]), f"#{order_id}")


def _payment_link(payment_id):
    if not payment_id:
        return "—"
    return _link(reverse("admin:payments_payment_change", args=[payment_id]), f"#{payment_id}")


@admin.register(PaymentOrder)
class PaymentOrderAdmin(ReadOnlyAdmin):
    unit_path = "unit"
    list_display = ["out_trade_no", "created", "community", "unit", "channel", "amount",
                    "status", "payment_link"]
    list_filter = ["community", "unit__building", ("status", ChoicesDropdownFilter),
                   ("channel", ChoicesDropdownFilter)]
    search_fields = ["out_trade_no", "transaction_id", "unit__room_no"]
    list_select_related = ["community", "unit__building"]
    fields = ["out_trade_no", "community", "unit", "channel", "mode", "amount", "status",
              "created", "expires", "finished", "payer", "client_ip", "transaction_id",
              "payment_link", "redirect_url", "code_url", "gateway_error", "close_at_gateway",
              "superseded_by", "last_checked", "line_table", "anomaly_table"]
    readonly_fields = fields

    @admin.display(description=_("created"), ordering="created_at")
    def created(self, obj):
        return _when(obj.created_at)

    @admin.display(description=_("expires"))
    def expires(self, obj):
        return _when(obj.expires_at)

    @admin.display(description=_("finished"))
    def finished(self, obj):
        return _when(obj.finished_at)

    @admin.display(description=_("amount"), ordering="amount_fen")
    def amount(self, obj):
        return format_fen(obj.amount_fen)

    @admin.display(description=_("last checked by the janitor"))
    def last_checked(self, obj):
        return _when(obj.last_checked_at)

    @admin.display(description=_("payment"))
    def payment_link(self, obj):
        return _payment_link(obj.payment_id)

    @admin.display(description=_("bills"))
    def line_table(self, obj):
        rows = [
            (_link(reverse("admin:billing_bill_change", args=[line.bill_id]),
                   bill_label(line.bill)),
             format_fen(line.principal_fen), format_fen(line.late_fee_fen))
            for line in obj.lines.select_related("bill__fee_item", "bill__parking_space")
        ]
        return _table([gettext("Bill"), gettext("Principal"), gettext("Late fee")], rows)

    @admin.display(description=_("anomalies"))
    def anomaly_table(self, obj):
        rows = [(_link(reverse("admin:payments_paymentanomaly_change", args=[a.pk]),
                       a.get_kind_display()), a.get_status_display(), a.detail)
                for a in obj.anomalies.order_by("id")]
        return _table([gettext("Kind"), gettext("Status"), gettext("Detail")], rows)


# The payment page shows its gateway transaction and order too.
PaymentAdmin.list_display = [*PaymentAdmin.list_display, "transaction"]
PaymentAdmin.fields = [*PaymentAdmin.fields, "transaction", "order_link"]
PaymentAdmin.readonly_fields = [*PaymentAdmin.readonly_fields, "transaction", "order_link"]


@admin.display(description=_("transaction id"))
def _payment_transaction(self, obj):
    txn = getattr(obj, "gateway_transaction", None)
    return txn.transaction_id if txn else "—"


@admin.display(description=_("payment order"))
def _payment_order(self, obj):
    txn = getattr(obj, "gateway_transaction", None)
    return _order_link(txn.order_id) if txn else "—"


PaymentAdmin.transaction = _payment_transaction
PaymentAdmin.order_link = _payment_order


def may_see_raw(user) -> bool:
    """Raw notification bodies and headers: finance and company admins only."""
    if user.is_superuser:
        return True
    staff = getattr(user, "staff", None)
    return staff is not None and staff.role in (Role.COMPANY_ADMIN, Role.FINANCE)


@admin.register(GatewayNotification)
class GatewayNotificationAdmin(ReadOnlyAdmin):
    """Every delivery to a notification endpoint: verified ones whole, rejected ones
    (outcome "rejected": filter by outcome) truncated, with size, hash, sender and
    reason, until they are pruned (``payments.notify_limits``)."""

    list_display = ["id", "received", "community", "channel", "outcome", "out_trade_no",
                    "transaction_id", "error", "remote_addr", "size"]
    list_filter = ["community", ("outcome", ChoicesDropdownFilter),
                   ("channel", ChoicesDropdownFilter)]
    search_fields = ["out_trade_no", "transaction_id", "error", "remote_addr"]
    list_select_related = ["community"]
    base_fields = ["channel", "account", "community", "received", "remote_addr", "outcome",
                   "error", "out_trade_no", "transaction_id", "size", "body_sha256",
                   "body_truncated"]
    readonly_fields = [*base_fields, "headers", "body"]

    def get_fields(self, request, obj=None):
        if may_see_raw(request.user):
            return [*self.base_fields, "headers", "body"]
        return self.base_fields

    @admin.display(description=_("received"), ordering="received_at")
    def received(self, obj):
        return _when(obj.received_at)

    @admin.display(description=_("body size (bytes)"), ordering="body_size")
    def size(self, obj):
        return "—" if obj.body_size is None else f"{obj.body_size:,}"


@admin.register(NotificationDropTally)
class NotificationDropTallyAdmin(ReadOnlyAdmin):
    """Rejected deliveries answered but not stored: their sender was over the limit."""

    list_display = ["hour_start", "community", "channel", "account", "remote_addr", "count",
                    "last"]
    list_filter = ["community", ("channel", ChoicesDropdownFilter)]
    search_fields = ["remote_addr"]
    list_select_related = ["community", "account"]
    fields = ["community", "channel", "account", "remote_addr", "hour_start", "count", "last"]
    readonly_fields = fields

    @admin.display(description=_("hour"), ordering="hour")
    def hour_start(self, obj):
        return _when(obj.hour)

    @admin.display(description=_("last delivery"), ordering="last_at")
    def last(self, obj):
        return _when(obj.last_at)


class MerchantAccountForm(forms.ModelForm):
    """Secrets are write-only: never rendered back; left blank, the stored value stays."""

    private_key_pem = forms.CharField(
        label=_("private key (PEM)"), required=False,
        widget=forms.Textarea(attrs={"rows": 3, "autocomplete": "off"}),
        help_text=_("Write-only: leave blank to keep the stored value."))
    api_v3_key = forms.CharField(
        label=_("APIv3 key"), required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("Write-only: leave blank to keep the stored value."))
    sandbox_secret = forms.CharField(
        label=_("sandbox secret"), required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("Write-only: leave blank to keep the stored value."))
    app_secret = forms.CharField(
        label=_("official account AppSecret"), required=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("WeChat only: the AppSecret of the official account (公众号) whose app "
                    "id is above, so the portal can pay inside WeChat (JSAPI). "
                    "Write-only: leave blank to keep the stored value."))

    class Meta:
        model = MerchantAccount
        fields = ["community", "channel", "enabled", "app_id", "merchant_id", "merchant_serial",
                  "platform_public_key_id", "platform_public_key_pem", "notify_base_url",
                  "gateway_url", "private_key_pem", "api_v3_key", "sandbox_secret",
                  "app_secret"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for name in MerchantAccount.SECRET_FIELDS:
            self.initial[name] = ""  # never sent back to the browser

    def clean(self):
        cleaned = super().clean()
        if self.instance.pk:
            stored = MerchantAccount.objects.get(pk=self.instance.pk)
            for name in MerchantAccount.SECRET_FIELDS:
                if not cleaned.get(name):
                    cleaned[name] = getattr(stored, name)
        return cleaned


@admin.register(MerchantAccount)
class MerchantAccountAdmin(ScopedAdmin):
    form = MerchantAccountForm
    list_display = ["community", "channel", "enabled", "app_id", "merchant_id", "secrets_set",
                    "notify_url"]
    list_filter = ["community", ("channel", ChoicesDropdownFilter), "enabled"]
    search_fields = ["app_id", "merchant_id", "community__name"]
    list_select_related = ["community"]
    actions = ["export_xlsx", "test_accounts"]

    def has_delete_permission(self, request, obj=None):
        return False  # orders point at it; disable it instead

    def get_fields(self, request, obj=None):
        # Whoever may only view an account (finance) would be shown every field read-only,
        # values and all: the secrets are left out of that page altogether.
        fields = super().get_fields(request, obj)
        if not self.has_change_permission(request, obj):
            fields = [f for f in fields if f not in MerchantAccount.SECRET_FIELDS]
        return fields

    @admin.display(description=_("secrets stored"))
    def secrets_set(self, obj):
        return ", ".join(str(MerchantAccount._meta.get_field(n).verbose_name)
                         for n in MerchantAccount.SECRET_FIELDS if getattr(obj, n)) or "—"

    @admin.display(description=_("notification URL"))
    def notify_url(self, obj):
        return obj.config().notify_url

    @admin.action(description=_("Test the connection"), permissions=["view"])
    def test_accounts(self, request, queryset):
        from linli.payments.merchants import merchant_account_test

        for account in queryset:
            ok, message = merchant_account_test(account)
            level = messages.SUCCESS if ok else messages.ERROR
            self.message_user(request, f"{account}: {message}", level)


@admin.register(CommunityPaymentSettings)
class CommunityPaymentSettingsAdmin(ScopedAdmin):
    list_display = ["community", "order_expiry_minutes", "excess_handling"]
    list_filter = ["community"]
    search_fields = ["community__name"]
    list_select_related = ["community"]
