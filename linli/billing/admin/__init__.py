"""Console pages of billing, one module per page or object: fee items and standards with
their prices, bindings and one-off charges (``fees``, ``standard_inlines``), settings,
runs and bills (``bills``), adjustments awaiting approval (``adjustments``) and meters
(``linli.billing.admin_meters``); ``forms`` holds the pieces they share.

Django's admin autodiscovery imports this package: importing the modules registers
every page.
"""

from linli.billing import admin_meters  # noqa: F401  (registers the meter pages)
from linli.billing.admin import adjustments, bills, fees  # noqa: F401  (register the pages)
from linli.billing.admin.bills import bill_journal_entries
from linli.billing.admin.forms import (
    ServiceSavedAdmin,
    YuanField,
    _in_scope,
    add_service_errors,
    daily_rate_text,
    tiers_label,
)

__all__ = [
    "ServiceSavedAdmin", "YuanField", "_in_scope", "add_service_errors",
    "bill_journal_entries", "daily_rate_text", "tiers_label",
]
