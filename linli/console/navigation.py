"""The console's sidebar (django-unfold). Imported by settings: no models here.

The groups are the console's plan: estate, billing, payments, refunds, messages,
reports, system. A domain's pages appear as soon as its admin or view is registered
under the URL name listed here; an item whose URL does not exist yet, or whose
permission the staff member lacks, is left out, and so is a group left empty.
"""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

# (title, material icon, URL name, permission)
GROUPS = [
    (_("Estate"), [
        (_("Communities"), "apartment", "admin:estate_community_changelist", "estate.view_community"),
        (_("Buildings"), "domain", "admin:estate_building_changelist", "estate.view_building"),
        (_("Units"), "door_front", "admin:estate_unit_changelist", "estate.view_unit"),
        (_("Parking spaces"), "local_parking", "admin:estate_parkingspace_changelist", "estate.view_parkingspace"),
        (_("People"), "group", "admin:estate_person_changelist", "estate.view_person"),
        (_("Occupancies"), "badge", "admin:estate_occupancy_changelist", "estate.view_occupancy"),
        (_("Home binding requests"), "how_to_reg", "admin:owners_bindingrequest_changelist", "owners.view_bindingrequest"),
        (_("Import from Excel"), "upload_file", "console:estate-import", "estate.import_estate"),
    ]),
    (_("Billing"), [
        (_("Fee items"), "sell", "admin:billing_feeitem_changelist", "billing.view_feeitem"),
        (_("Charge standards"), "rule", "admin:billing_chargestandard_changelist", "billing.view_chargestandard"),
        (_("Meter readings"), "speed", "admin:billing_meterreading_changelist", "billing.view_meterreading"),
        (_("Import meter readings"), "upload_file", "billing:meter-readings-import", "billing.add_meterreading"),
        (_("Issue bills"), "playlist_add", "billing:bill-runs", "billing.add_billrun"),
        (_("Bill runs"), "playlist_add_check", "admin:billing_billrun_changelist", "billing.view_billrun"),
        (_("Bills"), "receipt_long", "admin:billing_bill_changelist", "billing.view_bill"),
        (_("Adjustments"), "rule_settings", "admin:billing_billadjustment_changelist", "billing.view_billadjustment"),
        (_("Billing settings"), "settings", "admin:billing_billingsettings_changelist", "billing.view_billingsettings"),
    ]),
    (_("Payments"), [
        (_("Counter desk"), "storefront", "counter:desk", "payments.add_payment"),
        (_("Daily takings"), "summarize", "counter:takings", "payments.view_payment"),
        (_("Payment orders"), "payments", "admin:payments_paymentorder_changelist", "payments.view_paymentorder"),
        (_("Payments"), "point_of_sale", "admin:payments_payment_changelist", "payments.view_payment"),
        (_("Receipts"), "receipt", "admin:receipts_receipt_changelist", "receipts.view_receipt"),
        (_("Prepaid balances"), "savings", "admin:payments_prepaidwallet_changelist", "payments.view_prepaidwallet"),
        (_("Prepaid movements"), "swap_vert", "admin:payments_prepaidmovement_changelist", "payments.view_prepaidmovement"),
        (_("Payment anomalies"), "report", "admin:payments_paymentanomaly_changelist", "payments.view_paymentanomaly"),
        (_("Gateway notifications"), "notifications", "admin:payments_gatewaynotification_changelist", "payments.view_gatewaynotification"),
        (_("Unstored rejected notifications"), "block", "admin:payments_notificationdroptally_changelist", "payments.view_notificationdroptally"),
        (_("Automatic refunds"), "undo", "admin:payments_orderrefund_changelist", "payments.view_orderrefund"),
        (_("Merchant accounts"), "store", "admin:payments_merchantaccount_changelist", "payments.view_merchantaccount"),
        (_("Payment settings"), "tune", "admin:payments_communitypaymentsettings_changelist", "payments.view_communitypaymentsettings"),
    ]),
    (_("Refunds"), [
        (_("Refund applications"), "currency_exchange", "admin:refunds_refundapplication_changelist", "refunds.view_refundapplication"),
        (_("Refund payouts"), "undo", "admin:refunds_refundpayout_changelist", "refunds.view_refundpayout"),
        (_("Refund vouchers"), "receipt_long", "admin:refunds_refundvoucher_changelist", "refunds.view_refundvoucher"),
        (_("Refunds paid twice"), "report", "admin:refunds_duplicaterefund_changelist", "refunds.view_duplicaterefund"),
        (_("Refund policies"), "policy", "admin:refunds_refundpolicy_changelist", "refunds.view_refundpolicy"),
    ]),
    (_("Messages"), [
        (_("Message threads"), "forum", "admin:notify_thread_changelist", "notify.view_thread"),
        (_("Announcements"), "campaign", "admin:notify_announcement_changelist", "notify.view_announcement"),
    ]),
    (_("Reports"), [
        (_("Collection rate"), "percent", "reports:collection", "billing.view_bill"),
        (_("Arrears by unit"), "pending_actions", "reports:arrears", "billing.view_bill"),
        (_("Fees summary"), "table_chart", "reports:summary", "billing.view_bill"),
        (_("Takings report"), "monitoring", "dashboard:takings", "payments.view_payment"),
        (_("Journal entries"), "account_balance", "admin:ledger_journalentry_changelist", "ledger.view_journalentry"),
    ]),
    (_("System"), [
        (_("Staff"), "manage_accounts", "admin:staff_staffmember_changelist", "staff.view_staffmember"),
        (_("Audit log"), "history", "admin:core_auditevent_changelist", "core.view_auditevent"),
        # Every staff member's own (no permission needed).
        (_("Two-factor sign-in"), "phonelink_lock", "console:two-factor", None),
    ]),
]


def _url(name: str) -> str | None:
    try:
        return reverse(name)
    except NoReverseMatch:
        return None


def navigation(request) -> list[dict]:
    """The sidebar for this request's user: only pages that exist and they may open."""
    groups = []
    for index, (title, items) in enumerate(GROUPS):
        visible = []
        for item_title, icon, url_name, perm in items:
            link = _url(url_name)
            if link is not None and (perm is None or request.user.has_perm(perm)):
                visible.append({"title": item_title, "icon": icon, "link": link})
        if visible:
            groups.append({"title": title, "collapsible": index > 0, "items": visible})
    return groups


UNFOLD = {
    "SITE_TITLE": _("Linli console"),
    "SITE_HEADER": _("Linli 邻里"),
    "SITE_SUBHEADER": _("Property fees"),
    "SITE_SYMBOL": "apartment",
    "SITE_URL": "/",
    "SHOW_HISTORY": True,
    "SHOW_VIEW_ON_SITE": False,
    "SHOW_LANGUAGES": True,
    # The home page: a dashboard per role (linli/dashboard/home.py; template
    # linli/dashboard/templates_override/admin/index.html).
    "DASHBOARD_CALLBACK": "linli.dashboard.home.dashboard_callback",
    "SIDEBAR": {"show_search": True, "show_all_applications": False, "navigation": navigation},
}
