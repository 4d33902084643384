"""Fee items (收费项目) and charge standards (收费标准): validators the console's forms call
and the services that create and change them (see ``linli.billing.services.config``)."""

from __future__ import annotations

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from linli.billing.models import Bill, ChargeStandard, FeeItem, Meter
from linli.billing.services.config_common import (
    ALLOWED_METHODS,
    FEE_ITEM_FIELDS,
    STANDARD_FIELDS,
    Action,
    Category,
    Cycle,
    Method,
    _audit,
    _bills_of_standard,
    _scope_misfit,
    _update,
)

# --- fee items -------------------------------------------------------------------------


def fee_item_validate(item: FeeItem) -> None:
    errors = {}
    item.name = (item.name or "").strip()
    if not item.name:
        errors["name"] = _("Give the fee item a name.")
    elif FeeItem.objects.filter(community_id=item.community_id, name=item.name).exclude(
        pk=item.pk
    ).exists():
        errors["name"] = _("This community already has a fee item called “%(name)s”.") % {
            "name": item.name
        }
    if item.category not in Category.values:
        errors["category"] = _("Choose a category.")
    elif item.pk and FeeItem.objects.get(pk=item.pk).category != item.category:
        if Bill.objects.filter(fee_item_id=item.pk).exists():
            errors["category"] = _(
                "Bills of this fee item have been issued; its category can no longer change."
            )
        else:
            unfit = [s.name for s in item.standards.all()
                     if s.method not in ALLOWED_METHODS[item.category]]
            if unfit:
                errors["category"] = _(
                    "The standards %(names)s do not suit this category."
                ) % {"names": "、".join(unfit)}
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def fee_item_create(*, acting_user, community, name: str, category: str, active: bool = True,
                    sort_order: int = 0) -> FeeItem:
    item = FeeItem(community=community, name=name, category=category, active=active,
                   sort_order=sort_order)
    fee_item_validate(item)
    item.save()
    _audit(acting_user, Action.CREATE, item, item.community_id)
    return item


@transaction.atomic
def fee_item_update(*, acting_user, fee_item: FeeItem, **changes) -> FeeItem:
    """Change any of ``FEE_ITEM_FIELDS``; a fee item never moves to another community."""
    item = FeeItem.objects.select_for_update(no_key=True).get(pk=fee_item.pk)
    return _update(acting_user, item, changes, FEE_ITEM_FIELDS, fee_item_validate,
                   item.community_id)


# --- charge standards ------------------------------------------------------------------


def standard_validate(standard: ChargeStandard) -> None:
    errors: dict[str, str] = {}
    standard.name = (standard.name or "").strip()
    if not standard.name:
        errors["name"] = _("Give the standard a name.")
    _check_method(standard, errors)
    _check_terms(standard, errors)
    if standard.pk:
        _check_against_stored(standard, errors)
    if errors:
        raise ValidationError(errors)


def _check_method(standard: ChargeStandard, errors: dict) -> None:
    item, method = standard.fee_item, standard.method
    if method not in Method.values:
        errors["method"] = _("Choose how the fee is charged.")
        return
    if method not in ALLOWED_METHODS[item.category]:
        errors["method"] = _("“%(method)s” does not suit a fee item of the kind %(category)s.") % {
            "method": Method(method).label, "category": item.get_category_display()
        }
    if method == Method.METERED:
        if standard.meter_kind not in Meter.Kind.values:
            errors["meter_kind"] = _("Metered charges need the kind of meter they read.")
        elif item.category in Meter.Kind.values and standard.meter_kind != item.category:
            errors["meter_kind"] = _("This fee item reads %(kind)s meters.") % {
                "kind": Meter.Kind(item.category).label
            }
        if standard.timing != ChargeStandard.Timing.ARREARS:
            errors["timing"] = _("Metered usage is billed in arrears, after it is read.")
    elif standard.meter_kind:
        errors["meter_kind"] = _("Only metered charges read a meter.")
    if (method == Method.ONE_OFF) != (standard.cycle == Cycle.ONCE):
        errors["cycle"] = _("One-off charges, and only they, have the cycle “once”.")


def _check_terms(standard: ChargeStandard, errors: dict) -> None:
    vacancy = standard.vacancy_percent
    if vacancy is not None and not Decimal(0) <= Decimal(vacancy) <= Decimal(100):
        errors["vacancy_percent"] = _("Vacant units pay between 0 and 100 percent.")
    if standard.due_rule not in ChargeStandard.DueRule.values:
        errors["due_rule"] = _("Choose how the due date is set.")
    if standard.due_days is None or standard.due_days < 0:
        errors["due_days"] = _("The number of days must not be negative.")
    if standard.due_day_of_month is None or not 1 <= standard.due_day_of_month <= 31:
        errors["due_day_of_month"] = _("A day of the month is from 1 to 31.")
    rate = standard.late_fee_daily_rate
    if rate is None or not Decimal(0) <= Decimal(rate) < 1:
        errors["late_fee_daily_rate"] = _(
            "The daily late-fee rate is a fraction below 1 (0.0005 means 0.05 percent a day)."
        )
    elif standard.late_fee_enabled and Decimal(rate) == 0:
        errors["late_fee_daily_rate"] = _("A late fee needs a daily rate above zero.")
    if standard.late_fee_grace_days is None or standard.late_fee_grace_days < 0:
        errors["late_fee_grace_days"] = _("The number of days must not be negative.")
    cap = standard.late_fee_cap_fen
    if cap is not None and (not isinstance(cap, int) or cap < 0):
        errors["late_fee_cap_fen"] = _("The cap must not be negative.")


def _check_against_stored(standard: ChargeStandard, errors: dict) -> None:
    stored = ChargeStandard.objects.get(pk=standard.pk)
    if stored.fee_item_id != standard.fee_item_id:
        errors["fee_item"] = _("A standard stays with its fee item; create a new standard instead.")
    if stored.cycle != standard.cycle and _bills_of_standard(stored).exists():
        # Bills already cover their periods in the old cycle; a new cycle would cut the
        # year differently from them (bill runs never bill a day twice, so the days
        # between would go unbilled).
        errors["cycle"] = _(
            "Bills have been issued under this standard, so its cycle can no longer change. "
            "Create a new standard instead, bound from the start of its first period."
        )
    if stored.method == standard.method:
        return
    if _bills_of_standard(stored).exists():
        errors["method"] = _(
            "Bills have been issued under this standard, so its method can no longer change. "
            "Create a new standard instead."
        )
    elif any(_scope_misfit(standard.method, b.scope) for b in standard.bindings.all()):
        errors["method"] = _("The standard's bindings do not suit this method; end them first.")


@transaction.atomic
def standard_create(*, acting_user, fee_item: FeeItem, name: str, method: str,
                    **terms) -> ChargeStandard:
    """``terms``: any other of ``STANDARD_FIELDS`` (cycle, timing, due rule, late fee …)."""
    unknown = set(terms) - set(STANDARD_FIELDS)
    if unknown:
        raise TypeError(f"unknown standard fields {sorted(unknown)}")
    standard = ChargeStandard(fee_item=fee_item, name=name, method=method, **terms)
    standard_validate(standard)
    standard.save()
    _audit(acting_user, Action.CREATE, standard, fee_item.community_id)
    return standard


@transaction.atomic
def standard_update(*, acting_user, standard: ChargeStandard, **changes) -> ChargeStandard:
    """Change any of ``STANDARD_FIELDS``. Issued bills keep what they charged: each copied
    its price, quantity and late-fee rule when it was issued."""
    stored = ChargeStandard.objects.select_for_update(no_key=True).select_related("fee_item").get(
        pk=standard.pk
    )
    return _update(acting_user, stored, changes, STANDARD_FIELDS, standard_validate,
                   stored.fee_item.community_id)
