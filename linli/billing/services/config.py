"""Configuring what is billed — fee items (收费项目), charge standards (收费标准), their dated
prices and their bindings (费用绑定) — and raising one-off charges for chosen units.

Every service takes ``acting_user`` and keyword arguments, checks everything before it
writes (a refused call writes nothing) and records an audit row. The console's forms call
the same ``*_validate`` functions from ``clean()`` and save through these services, so a
rule holds alike in code and on screen.

Rules kept here:
- a standard's method suits its fee item (a deposit is one-off, a water fee is metered or
  fixed …); a metered standard names its meter and bills in arrears; one-off standards,
  and only they, have the cycle "once";
- a price is a Decimal ≥ 0 with at most four places. A price a bill has used never changes
  and is never deleted: a new price is a new rate from its own date, so issued bills keep
  what they charged;
- two standards of one fee item never cover the same unit or parking space on the same
  day — the bill run would charge it twice.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.billing.calculators.charges import ChargeInput, compute_charge
from linli.billing.calculators.tiers import Tier
from linli.billing.models import (
    Bill,
    BillingSettings,
    Binding,
    ChargeStandard,
    FeeItem,
    Meter,
    StandardRate,
)
from linli.billing.services.bill_run import issue_lines
from linli.billing.services.planning import SPACE_METHODS
from linli.billing.services.planning import _unit_q as units_covered_q
from linli.core.audit import audit_record, diff, snapshot
from linli.core.audit import person_or_none as _user
from linli.core.models import AuditEvent
from linli.estate.models import Unit
from linli.ledger.services import post_entry
from linli.money import fen_to_decimal

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
    item = FeeItem.objects.select_for_update().get(pk=fee_item.pk)
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
    stored = ChargeStandard.objects.select_for_update().select_related("fee_item").get(
        pk=standard.pk
    )
    return _update(acting_user, stored, changes, STANDARD_FIELDS, standard_validate,
                   stored.fee_item.community_id)


# --- prices ----------------------------------------------------------------------------


def _bills_of_standard(standard: ChargeStandard):
    """Bills issued under a standard, asked by fee item and standard: the bill index
    bill_item_standard_rate leads with the fee item (a standard is of one fee item)."""
    return Bill.objects.filter(fee_item_id=standard.fee_item_id, standard_id=standard.pk)


def used_rate_ids(standard_id: int) -> set[int]:
    """Rates of a standard that issued bills point at (these never change)."""
    fee_item_id = (ChargeStandard.objects.filter(pk=standard_id)
                   .values_list("fee_item_id", flat=True).first())
    return set(
        StandardRate.objects.filter(standard_id=standard_id)
        .filter(Exists(Bill.objects.filter(fee_item_id=fee_item_id, standard_id=standard_id,
                                           rate_id=OuterRef("pk"))))
        .values_list("pk", flat=True)
    )


def _refuse_if_used(rate: StandardRate) -> None:
    if rate.pk and _bills_of_standard(rate.standard).filter(rate_id=rate.pk).exists():
        raise ValidationError(_(
            "Bills have been issued at this price, so it can no longer change. "
            "Add a new price from a later date instead."
        ))


def parse_price(value) -> Decimal:
    """A price in yuan: a Decimal (or its text) ≥ 0 with at most four decimal places."""
    if isinstance(value, float):
        raise TypeError("prices never pass through float")
    if value is None or value == "":
        raise ValidationError(_("Give a price."))
    try:
        price = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationError(_("“%(value)s” is not a price.") % {"value": value}) from None
    if not price.is_finite():
        raise ValidationError(_("“%(value)s” is not a price.") % {"value": value})
    if price < 0:
        raise ValidationError(_("A price must not be negative."))
    if price >= PRICE_LIMIT:
        raise ValidationError(_("This price is too large."))
    if price != price.quantize(PRICE_STEP):
        raise ValidationError(_("A price has at most four decimal places."))
    return price


def _parse_tiers(raw, standard: ChargeStandard) -> list[dict]:
    if not raw:
        return []
    if standard.method != Method.METERED:
        raise ValidationError(_("Only metered charges have tiered prices."))
    if not isinstance(raw, list | tuple) or not all(isinstance(t, dict) for t in raw):
        raise ValidationError(_("Tiers are a list of upper bounds and prices."))
    tiers, last = [], Decimal(0)
    for number, t in enumerate(raw, start=1):
        bound = t.get("up_to")
        try:
            price = parse_price(t.get("price"))
        except ValidationError as exc:
            raise ValidationError(_("Tier %(number)s: %(error)s") % {
                "number": number, "error": " ".join(exc.messages)}) from None
        if bound in (None, ""):
            if number != len(raw):
                raise ValidationError(_(
                    "Tier %(number)s has no upper bound: only the last tier may be open."
                ) % {"number": number})
            tiers.append(Tier(None, price))
            continue
        try:
            up_to = Decimal(str(bound))
        except InvalidOperation:
            raise ValidationError(
                _("“%(value)s” is not a tier bound.") % {"value": bound}
            ) from None
        if not up_to.is_finite() or up_to <= last:
            raise ValidationError(_(
                "Tier %(number)s: its upper bound %(bound)s must be above %(last)s."
            ) % {"number": number, "bound": bound, "last": last})
        tiers.append(Tier(up_to, price))
        last = up_to
    if tiers[-1].up_to is not None:
        raise ValidationError(_(
            "The last tier must have no upper bound: it takes all usage above %(last)s."
        ) % {"last": last})
    return [{"up_to": None if t.up_to is None else str(t.up_to), "price": str(t.price)}
            for t in tiers]


def standard_rate_validate(*, standard: ChargeStandard, effective_from, unit_price, tiers=None,
                           rate: StandardRate | None = None) -> tuple[Decimal, list[dict]]:
    """Check a new price (or a change of ``rate``); return the clean price and tiers."""
    if rate is not None:
        _refuse_if_used(rate)
    errors = {}
    if not isinstance(effective_from, dt.date):
        errors["effective_from"] = _("Give the date the price applies from.")
    elif StandardRate.objects.filter(
        standard_id=standard.pk, effective_from=effective_from
    ).exclude(pk=getattr(rate, "pk", None)).exists():
        errors["effective_from"] = _("This standard already has a price from %(date)s.") % {
            "date": effective_from
        }
    clean_tiers: list[dict] = []
    try:
        clean_tiers = _parse_tiers(tiers, standard)
    except ValidationError as exc:
        errors["tiers"] = exc.messages
    price = None
    no_price = unit_price is None or unit_price == ""
    if no_price and clean_tiers:
        unit_price = clean_tiers[0]["price"]  # shown on bills as the starting price
    try:
        price = parse_price(unit_price)
    except ValidationError as exc:
        if not (no_price and "tiers" in errors):  # the tiers' own error says what to mend
            errors["unit_price"] = exc.messages
    if errors:
        raise ValidationError(errors)
    return price, clean_tiers


def _lock_billing(community_id: int) -> None:
    """Bill runs lock this row for their whole run: a price or binding never changes under
    a run that is reading it."""
    settings, _created = BillingSettings.objects.get_or_create(community_id=community_id)
    BillingSettings.objects.select_for_update().get(pk=settings.pk)


@transaction.atomic
def standard_rate_add(*, acting_user, standard: ChargeStandard, effective_from: dt.date,
                      unit_price, tiers=None) -> StandardRate:
    """A new price from ``effective_from`` on; bills already issued keep theirs."""
    community_id = standard.fee_item.community_id
    _lock_billing(community_id)
    price, clean_tiers = standard_rate_validate(
        standard=standard, effective_from=effective_from, unit_price=unit_price, tiers=tiers
    )
    rate = StandardRate.objects.create(standard=standard, effective_from=effective_from,
                                       unit_price=price, tiers=clean_tiers)
    _audit(acting_user, Action.CREATE, rate, community_id)
    return rate


@transaction.atomic
def standard_rate_change(*, acting_user, rate: StandardRate, effective_from: dt.date,
                         unit_price, tiers=None) -> StandardRate:
    """Correct a price no bill has used yet."""
    stored = StandardRate.objects.select_related("standard__fee_item").get(pk=rate.pk)
    community_id = stored.standard.fee_item.community_id
    _lock_billing(community_id)
    price, clean_tiers = standard_rate_validate(
        standard=stored.standard, effective_from=effective_from, unit_price=unit_price,
        tiers=tiers, rate=stored,
    )
    before = _state(stored)
    stored.effective_from, stored.unit_price, stored.tiers = effective_from, price, clean_tiers
    stored.save()
    _audit(acting_user, Action.CHANGE, stored, community_id, before)
    return stored


def standard_rate_check_deletable(rate: StandardRate) -> None:
    _refuse_if_used(rate)


@transaction.atomic
def standard_rate_delete(*, acting_user, rate: StandardRate) -> None:
    stored = StandardRate.objects.select_related("standard__fee_item").get(pk=rate.pk)
    community_id = stored.standard.fee_item.community_id
    _lock_billing(community_id)
    _refuse_if_used(stored)
    _audit(acting_user, Action.DELETE, stored, community_id, _state(stored))
    stored.delete()


# --- bindings --------------------------------------------------------------------------


def _scope_misfit(method: str, scope: str) -> bool:
    return (scope in SPACE_SCOPES) != (method in SPACE_METHODS)


def _normalise_binding(binding: Binding) -> None:
    """Clear what the scope does not use, so a stale choice never narrows a binding."""
    keep = SCOPE_TARGET.get(binding.scope)
    for name in SCOPE_TARGET.values():
        if name != keep:
            setattr(binding, name, "" if name == "unit_kind" else None)


def _check_target(binding: Binding, community_id: int, errors: dict) -> None:
    target = SCOPE_TARGET.get(binding.scope)
    if target == "unit_kind":
        if binding.unit_kind not in Unit.Kind.values:
            errors["unit_kind"] = _("Choose a unit kind.")
        return
    if target is None:
        return
    obj = getattr(binding, target)
    if obj is None:
        errors[target] = {
            "building": _("Choose a building."), "unit": _("Choose a unit."),
            "parking_space": _("Choose a parking space."),
        }[target]
    elif obj.community_id != community_id:
        errors[target] = _("This is in another community.")


def binding_validate(binding: Binding) -> None:
    standard = binding.standard
    community_id = standard.fee_item.community_id
    _normalise_binding(binding)
    errors: dict[str, str] = {}
    if binding.scope not in Scope.values:
        errors["scope"] = _("Choose what the standard applies to.")
    elif standard.method == Method.ONE_OFF:
        errors["scope"] = _("One-off charges are raised for chosen units; they are not bound.")
    elif _scope_misfit(standard.method, binding.scope):
        errors["scope"] = _(
            "A charge per parking space applies to parking spaces; other charges apply to units."
        )
    else:
        _check_target(binding, community_id, errors)
    if not isinstance(binding.start_date, dt.date):
        errors["start_date"] = _("Give the date the binding starts.")
    elif binding.end_date and binding.end_date < binding.start_date:
        errors["end_date"] = _("The binding ends before it starts.")
    if errors:
        raise ValidationError(errors)
    other = _overlapping_binding(binding, community_id)
    if other is not None:
        raise ValidationError(_(
            "“%(standard)s” already charges %(item)s to some of these units or parking spaces "
            "(%(scope)s, from %(start)s): they would be charged twice. End that binding "
            "first, or choose other dates."
        ) % {"standard": other.standard.name, "item": standard.fee_item.name,
             "scope": other.get_scope_display(), "start": other.start_date})


def _overlapping_binding(binding: Binding, community_id: int) -> Binding | None:
    """A binding of another standard of the same fee item that covers one of the same
    units or spaces on one of the same days."""
    others = (
        Binding.objects.filter(standard__fee_item_id=binding.standard.fee_item_id)
        .exclude(standard_id=binding.standard.pk)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=binding.start_date))
        .select_related("standard")
        .order_by("start_date", "id")
    )
    if binding.end_date:
        others = others.filter(start_date__lte=binding.end_date)
    return next((o for o in others if _covers_same(binding, o, community_id)), None)


def _covers_same(a: Binding, b: Binding, community_id: int) -> bool:
    if (a.scope in SPACE_SCOPES) != (b.scope in SPACE_SCOPES):
        return False  # one bills spaces, the other units: different bills
    if a.scope in SPACE_SCOPES:
        return Scope.ALL_PARKING in (a.scope, b.scope) or a.parking_space_id == b.parking_space_id
    if Scope.COMMUNITY in (a.scope, b.scope):
        return True
    if a.scope == b.scope:
        field = SCOPE_TARGET[a.scope]
        attname = field if field == "unit_kind" else f"{field}_id"
        return getattr(a, attname) == getattr(b, attname)
    # A building and a unit kind, or a unit and either: do they share a unit today?
    return Unit.objects.filter(
        units_covered_q(a), units_covered_q(b), community_id=community_id
    ).exists()


def _lock_fee_item(fee_item_id: int) -> None:
    """Overlap checks of one fee item run one at a time."""
    FeeItem.objects.select_for_update().get(pk=fee_item_id)


@transaction.atomic
def binding_create(*, acting_user, standard: ChargeStandard, scope: str, start_date: dt.date,
                   end_date: dt.date | None = None, building=None, unit_kind: str = "",
                   unit=None, parking_space=None) -> Binding:
    _lock_fee_item(standard.fee_item_id)
    binding = Binding(standard=standard, scope=scope, start_date=start_date, end_date=end_date,
                      building=building, unit_kind=unit_kind or "", unit=unit,
                      parking_space=parking_space)
    binding_validate(binding)
    binding.save()
    _audit(acting_user, Action.CREATE, binding, standard.fee_item.community_id)
    return binding


@transaction.atomic
def binding_end(*, acting_user, binding: Binding, end_date: dt.date | None) -> Binding:
    """Set (or clear) the last day a binding applies. Bills already issued stay."""
    stored = Binding.objects.select_related("standard__fee_item").get(pk=binding.pk)
    _lock_fee_item(stored.standard.fee_item_id)
    before = _state(stored)
    stored.end_date = end_date
    binding_validate(stored)
    stored.save(update_fields=["end_date"])
    _audit(acting_user, Action.CHANGE, stored, stored.standard.fee_item.community_id, before)
    return stored


def binding_check_deletable(binding: Binding) -> None:
    issued = _bills_of_standard(binding.standard).filter(period_end__gte=binding.start_date)
    if binding.end_date:
        issued = issued.filter(period_start__lte=binding.end_date)
    if issued.exists():
        raise ValidationError(_(
            "Bills have been issued while this binding applied; end it instead of deleting it."
        ))


@transaction.atomic
def binding_delete(*, acting_user, binding: Binding) -> None:
    """Only a binding no bill was issued under (a mistake) may go; others are ended."""
    stored = Binding.objects.select_related("standard__fee_item").get(pk=binding.pk)
    _lock_fee_item(stored.standard.fee_item_id)
    binding_check_deletable(stored)
    _audit(acting_user, Action.DELETE, stored, stored.standard.fee_item.community_id,
           _state(stored))
    stored.delete()


# --- one-off charges -------------------------------------------------------------------


def one_off_business_key(period_key: str) -> str:
    """The ledger entry that issued the bills of one one-off charge."""
    return f"oneoff:{period_key}"


def _one_off_price(standard: ChargeStandard, amount_fen, unit_price, today: dt.date):
    if amount_fen is not None and unit_price is not None:
        raise ValidationError(_("Give either an amount or a price, not both."))
    if amount_fen is not None:
        if isinstance(amount_fen, bool) or not isinstance(amount_fen, int) or amount_fen <= 0:
            raise ValidationError(_("The amount must be more than zero."))
        return fen_to_decimal(amount_fen), None
    if unit_price is not None:
        return parse_price(unit_price), None
    rate = (StandardRate.objects.filter(standard=standard, effective_from__lte=today)
            .order_by("-effective_from").first())
    if rate is None:
        raise ValidationError(_("This standard has no price yet; give the amount."))
    return rate.unit_price, rate


def _one_off_units(unit_ids, community_id: int) -> list[Unit]:
    wanted = set(unit_ids or ())
    if not wanted:
        raise ValidationError(_("Choose at least one unit."))
    units = list(Unit.objects.filter(pk__in=wanted, community_id=community_id).order_by("pk"))
    if len(units) != len(wanted):
        raise ValidationError(_("Some of the chosen units are not in this community."))
    return units


def _check_one_off(standard: ChargeStandard, reason: str, due_date, today: dt.date) -> None:
    if standard.method != Method.ONE_OFF:
        raise ValidationError(_(
            "Only one-off standards are charged this way; the bill run bills the others."
        ))
    if not (standard.active and standard.fee_item.active):
        raise ValidationError(_("This standard is not in use."))
    if not reason:
        raise ValidationError(_("Give a reason for the charge."))
    if not isinstance(due_date, dt.date) or due_date < today:
        raise ValidationError(_("The due date cannot be before today."))


@transaction.atomic
def bill_issue_one_off(*, acting_user, standard: ChargeStandard, unit_ids, reason: str,
                       due_date: dt.date, amount_fen: int | None = None, unit_price=None,
                       today: dt.date | None = None) -> list[Bill]:
    """Raise a one-off charge (装修押金, a temporary fee) for the chosen units: one bill
    each, for ``amount_fen``, or ``unit_price`` yuan, or the standard's price of today.

    The charge is named by the audit event that records it: its bills have the period
    ``O-<event id>`` (unique, so every charge is a new bill even for the same units) and
    one ledger entry issues them all.
    """
    today = today or timezone.localdate()
    reason = (reason or "").strip()
    _check_one_off(standard, reason, due_date, today)
    community_id = standard.fee_item.community_id
    price, rate = _one_off_price(standard, amount_fen, unit_price, today)
    units = _one_off_units(unit_ids, community_id)
    line = compute_charge(ChargeInput(method=Method.ONE_OFF, unit_price=price))
    if line.amount_fen <= 0:
        raise ValidationError(_("The amount must be more than zero."))
    settings, _created = BillingSettings.objects.get_or_create(community_id=community_id)
    settings = BillingSettings.objects.select_for_update().get(pk=settings.pk)
    event = audit_record(
        actor=acting_user, action=Action.ACTION, obj=standard, community_id=community_id,
        summary=f"one-off charge: {len(units)} × {line.amount_fen} fen: {reason}",
        changes={"units": [None, [str(u.pk) for u in units]],
                 "amount_fen": [None, line.amount_fen], "due_date": [None, str(due_date)]},
    )
    period_key = f"{ONE_OFF_PREFIX}{event.pk}"
    Bill.objects.bulk_create([
        Bill(community_id=community_id, unit=unit, fee_item_id=standard.fee_item_id,
             standard=standard, rate=rate, period_key=period_key, period_start=today,
             period_end=today, quantity=line.quantity, unit_price=line.unit_price,
             amount_fen=line.amount_fen, detail=line.detail, due_date=due_date,
             late_fee_daily_rate=standard.late_fee_daily_rate if standard.late_fee_enabled
             else None,
             late_fee_grace_days=standard.late_fee_grace_days,
             late_fee_cap_fen=standard.late_fee_cap_fen, note=reason[:200],
             issued_by=_user(acting_user))
        for unit in units
    ])
    bills = list(Bill.objects.filter(fee_item_id=standard.fee_item_id, period_key=period_key)
                 .select_related("unit").order_by("unit_id"))
    post_entry(community_id=community_id, business_key=one_off_business_key(period_key),
               kind="bill_issue", lines=issue_lines(bills), effective_on=today, memo=reason,
               posted_by=acting_user)
    if settings.auto_offset_prepaid:
        _offset_from_prepaid(acting_user, bills, period_key)
    return bills


def _offset_from_prepaid(acting_user, bills: list[Bill], period_key: str) -> None:
    """As after a bill run: pay the new bills from prepaid balances (community setting)."""
    from linli.payments.models import PrepaidWallet
    from linli.payments.services import prepaid_pay_bills

    funded = set(PrepaidWallet.objects.filter(
        unit_id__in=[b.unit_id for b in bills], balance_fen__gt=0
    ).values_list("unit_id", flat=True))
    for bill in bills:
        if bill.unit_id in funded:
            prepaid_pay_bills(acting_user=acting_user, unit=bill.unit, bill_ids=[bill.pk],
                              idempotency_key=f"offset:{period_key}:unit{bill.unit_id}")
