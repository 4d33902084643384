"""Console page of receipts: read-only, always (receipts are append-only). Each row
links to its PDF (``receipts:pdf``) and to its payment."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext
from unfold.contrib.filters.admin import ChoicesDropdownFilter

from linli.console.html import link as _link
from linli.console.html import table as _table
from linli.console.html import when as _when
from linli.console.scoping import ReadOnlyAdmin
from linli.money import format_fen
from linli.receipts.capitals import fen_to_capital
from linli.receipts.models import Receipt
from linli.receipts.selectors import receipt_voided


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    unit_path = "unit"
    list_display = ["number", "community", "unit", "total", "channel", "issued", "state",
                    "pdf", "payment_link"]
    list_display_links = ["number"]
    list_filter = ["community", "unit__building", ("channel", ChoicesDropdownFilter), "issued_at"]
    search_fields = ["number", "unit__room_no", "payment__payer_name", "payment__reference"]
    list_select_related = ["community", "unit__building", "void"]
    date_hierarchy = "issued_at"
    fields = ["number", "state", "community", "unit", "issued", "channel", "total",
              "total_in_words", "payer", "handled_by", "items_table", "pdf", "payment_link"]
    readonly_fields = fields

    @admin.display(description=_("state"))
    def state(self, obj):
        void = receipt_voided(obj)
        if void is None:
            return pgettext("receipt", "Valid")
        return format_html('<strong class="text-red-600">{}</strong> {} · {}',
                           pgettext("receipt", "Voided"), _when(void.voided_at), void.reason)

    @admin.display(description=_("issued"), ordering="issued_at")
    def issued(self, obj):
        return _when(obj.issued_at)

    @admin.display(description=_("total"), ordering="total_fen")
    def total(self, obj):
        return format_fen(obj.total_fen)

    @admin.display(description=_("amount in words"))
    def total_in_words(self, obj):
        return fen_to_capital(obj.total_fen)

    @admin.display(description=_("payer"))
    def payer(self, obj):
        return obj.snapshot.get("payer") or "—"

    @admin.display(description=_("cashier or transaction no."))
    def handled_by(self, obj):
        return obj.snapshot.get("transaction_id") or obj.snapshot.get("cashier") or "—"

    @admin.display(description=_("items"))
    def items_table(self, obj):
        rows = [
            (f"{i['fee_item']} {i['space']}".strip(), i["period"], format_fen(i["principal_fen"]),
             format_fen(i["late_fee_fen"]))
            for i in obj.snapshot.get("items", [])
        ]
        if obj.snapshot.get("prepaid_fen"):
            rows.append((pgettext("receipt", "Prepaid deposit"), "", format_fen(obj.snapshot["prepaid_fen"]), ""))
        return _table([pgettext("receipt", "Fee item"), pgettext("receipt", "Period"), pgettext("receipt", "Amount"), pgettext("receipt", "Late fee")], rows)

    @admin.display(description="PDF")
    def pdf(self, obj):
        return _link(reverse("receipts:pdf", args=[obj.pk]), "PDF")

    @admin.display(description=_("payment"))
    def payment_link(self, obj):
        return _link(reverse("admin:payments_payment_change", args=[obj.payment_id]),
                     f"#{obj.payment_id}")
