"""What the configuration services share: the fields a person edits, which methods suit
which fee item and scope, price limits, and the audit row every change writes. The rules
themselves are described in ``linli.billing.services.config``."""

from __future__ import annotations

from decimal import Decimal

from linli.billing.models import Bill, Binding, ChargeStandard, FeeItem
from linli.billing.services.planning_targets import SPACE_METHODS
from linli.core.audit import audit_record, diff, snapshot
from linli.core.models import AuditEvent

Category, Method, Cycle = FeeItem.Category, ChargeStandard.Method, ChargeStandard.Cycle
Scope = Binding.Scope
Action = AuditEvent.Action

FEE_ITEM_FIELDS = ("name", "category", "active", "sort_order")
STANDARD_FIELDS = (
    "name", "method", "cycle", "timing", "meter_kind", "due_rule", "due_days",
    "due_day_of_month", "vacancy_percent", "late_fee_enabled", "late_fee_daily_rate",
    "late_fee_grace_days", "late_fee_cap_fen", "active",
)
RECURRING_AREA = {Method.FIXED_UNIT, Method.BUILDING_AREA, Method.USABLE_AREA}
UTILITY = {Method.METERED, Method.FIXED_UNIT, Method.ONE_OFF}
ALLOWED_METHODS = {
    Category.PROPERTY: RECURRING_AREA | {Method.ONE_OFF},
    Category.PARKING: {Method.FIXED_SPACE, Method.FIXED_UNIT, Method.ONE_OFF},
    Category.WATER: UTILITY,
    Category.ELECTRICITY: UTILITY,
    Category.GAS: UTILITY,
    Category.SHARED: RECURRING_AREA | {Method.ONE_OFF},
    Category.DEPOSIT: {Method.ONE_OFF},
    Category.OTHER: set(Method.values),
}
SPACE_SCOPES = (Scope.PARKING, Scope.ALL_PARKING)
SCOPE_TARGET = {
    Scope.BUILDING: "building", Scope.UNIT_KIND: "unit_kind", Scope.UNIT: "unit",
    Scope.PARKING: "parking_space",
}
PRICE_STEP = Decimal("0.0001")
PRICE_LIMIT = Decimal(10) ** 10  # StandardRate.unit_price: 14 digits, 4 after the point
ONE_OFF_PREFIX = "O-"


def _state(obj) -> dict:
    """What a person can edit on ``obj``, for the audit diff."""
    return snapshot(obj, fields=[f.name for f in obj._meta.concrete_fields
                                 if f.editable and not f.primary_key])


def _audit(acting_user, action: str, obj, community_id: int, before: dict | None = None,
           summary: str = "") -> None:
    after = {} if action == Action.DELETE else _state(obj)
    audit_record(actor=acting_user, action=action, obj=obj, community_id=community_id,
                 changes=diff(before or {}, after), summary=summary)


def _update(acting_user, obj, changes: dict, allowed: tuple, validate, community_id: int):
    unknown = set(changes) - set(allowed)
    if unknown:
        raise TypeError(f"cannot change {sorted(unknown)} here")
    before = _state(obj)
    for name, value in changes.items():
        setattr(obj, name, value)
    validate(obj)
    if _state(obj) != before:
        obj.save()
        _audit(acting_user, Action.CHANGE, obj, community_id, before)
    return obj


def _bills_of_standard(standard: ChargeStandard):
    """Bills issued under a standard, asked by fee item and standard: the bill index
    bill_item_standard_rate leads with the fee item (a standard is of one fee item)."""
    return Bill.objects.filter(fee_item_id=standard.fee_item_id, standard_id=standard.pk)


def _scope_misfit(method: str, scope: str) -> bool:
    return (scope in SPACE_SCOPES) != (method in SPACE_METHODS)
