"""Billing's models, by object: what is billed (``fees``: fee items, standards, prices,
bindings, settings), meters and readings (``meters``), and bill runs, bills and their
adjustments (``bills``, whose docstring draws the bill's state machine).

Each model keeps its app label (billing) and table; importing the modules here registers
them with Django.
"""

from linli.billing.models.bills import Bill, BillAdjustment, BillRun, BillRunJob
from linli.billing.models.fees import (
    BillingSettings,
    Binding,
    ChargeStandard,
    FeeItem,
    StandardRate,
)
from linli.billing.models.meters import Meter, MeterReading

__all__ = [
    "Bill", "BillAdjustment", "BillRun", "BillRunJob", "BillingSettings", "Binding",
    "ChargeStandard", "FeeItem", "Meter", "MeterReading", "StandardRate",
]
