"""Console pages of payments and prepaid balances: read-only, always.

Money received is recorded only by ``linli.payments.services`` (the counter, prepaid
deposits, the gateways), and nothing financial is ever edited or deleted (DESIGN §3,
§7): these pages list and show; a mistake is corrected by a new document (a refund).
Deposits and payments from the prepaid balance are taken on the unit statement page
(``billing:unit-deposit``, ``billing:unit-statement``).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Sum
from django.urls import reverse
from django.utils.translation import gettext as _t
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy
from unfold.contrib.filters.admin import ChoicesDropdownFilter

from linli.billing.statement import bill_label
from linli.console.html import link as _link
from linli.console.html import table as _table
from linli.console.html import when as _when
from linli.console.scoping import ScopedAdmin
from linli.money import format_fen
from linli.payments.models import Payment, PaymentAllocation, PrepaidMovement, PrepaidWallet


class ReadOnlyAdmin(ScopedAdmin):
    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False




def statement_link(unit_id: int) -> str:
    return _link(reverse("billing:unit-statement", args=[unit_id]), _t("Statement"))


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["id", "received", "community", "unit", "channel", "amount", "cashier",
                    "payer_name", "reference"]
    list_display_links = ["id", "received"]
    list_filter = ["community", "unit__building", ("channel", ChoicesDropdownFilter), "cashier"]
    search_fields = ["unit__room_no", "payer_name", "reference"]
    list_select_related = ["community", "unit__building", "cashier"]
    fields = ["community", "unit", "channel", "amount", "received", "cashier", "payer_name",
              "reference", "note", "allocation_table", "prepaid_table", "statement"]
    readonly_fields = ["amount", "received", "allocation_table", "prepaid_table", "statement"]

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
        return _table([_t("Bill"), _t("Due"), _t("Principal"), _t("Late fee")], rows)

    @admin.display(description=_("prepaid balance"))
    def prepaid_table(self, obj):
        rows = [(m.get_kind_display(), format_fen(m.amount_fen), format_fen(m.balance_after_fen))
                for m in obj.prepaid_movements.order_by("id")]
        return _table([_t("Kind"), _t("Amount"), _t("Balance after")], rows)

    @admin.display(description=_("unit statement"))
    def statement(self, obj):
        return statement_link(obj.unit_id)


@admin.register(PrepaidWallet)
class PrepaidWalletAdmin(ReadOnlyAdmin):
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
        return _link(f"{url}?wallet__id__exact={obj.pk}", _t("Movements"))

    @admin.display(description=_("unit statement"))
    def statement(self, obj):
        return statement_link(obj.unit_id)

    def changelist_view(self, request, extra_context=None):
        """The total of the balances listed (the prepaid liability) in the title."""
        response = super().changelist_view(request, extra_context)
        changelist = getattr(response, "context_data", {}).get("cl")
        if changelist is not None:
            total = changelist.queryset.aggregate(total=Sum("balance_fen"))["total"] or 0
            response.context_data["subtitle"] = _t("Total %(amount)s") % {
                "amount": format_fen(total)}
        return response


@admin.register(PrepaidMovement)
class PrepaidMovementAdmin(ReadOnlyAdmin):
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
