"""The console's sidebar (django-unfold). Imported by settings: no models here.

Each domain adds its group as it lands: estate, billing, payments, refunds, messages,
reports. An item shows only to staff holding its permission.
"""

from __future__ import annotations

from django.urls import reverse_lazy
from django.utils.translation import gettext_lazy as _


def _can(perm: str):
    return lambda request: request.user.has_perm(perm)


def _item(title, icon: str, url_name: str, perm: str) -> dict:
    return {"title": title, "icon": icon, "link": reverse_lazy(url_name), "permission": _can(perm)}


NAVIGATION = [
    {
        "title": _("Estate"),
        "collapsible": False,
        "items": [
            _item(_("Communities"), "apartment", "admin:estate_community_changelist", "estate.view_community"),
            _item(_("Buildings"), "domain", "admin:estate_building_changelist", "estate.view_building"),
            _item(_("Units"), "door_front", "admin:estate_unit_changelist", "estate.view_unit"),
            _item(_("Parking spaces"), "local_parking", "admin:estate_parkingspace_changelist", "estate.view_parkingspace"),
            _item(_("People"), "group", "admin:estate_person_changelist", "estate.view_person"),
            _item(_("Occupancies"), "badge", "admin:estate_occupancy_changelist", "estate.view_occupancy"),
            _item(_("Import from Excel"), "upload_file", "console:estate-import", "estate.import_estate"),
        ],
    },
    {
        "title": _("Finance"),
        "collapsible": True,
        "items": [
            _item(_("Journal entries"), "account_balance", "admin:ledger_journalentry_changelist", "ledger.view_journalentry"),
        ],
    },
    {
        "title": _("System"),
        "collapsible": True,
        "items": [
            _item(_("Staff"), "manage_accounts", "admin:staff_staffmember_changelist", "staff.view_staffmember"),
            _item(_("Audit log"), "history", "admin:core_auditevent_changelist", "core.view_auditevent"),
        ],
    },
]

UNFOLD = {
    "SITE_TITLE": _("Linli console"),
    "SITE_HEADER": _("Linli 邻里"),
    "SITE_SUBHEADER": _("Property fees"),
    "SITE_SYMBOL": "apartment",
    "SITE_URL": "/",
    "SHOW_HISTORY": False,
    "SHOW_VIEW_ON_SITE": False,
    "SHOW_LANGUAGES": True,
    "SIDEBAR": {"show_search": True, "show_all_applications": False, "navigation": NAVIGATION},
}
