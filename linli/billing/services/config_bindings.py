"""Bindings (费用绑定): which units or parking spaces a standard bills, and when. Two
standards of one fee item never cover the same unit or space on the same day (see
``linli.billing.services.config``)."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from linli.billing.models import Binding, ChargeStandard, FeeItem
from linli.billing.services.config_common import (
    SCOPE_TARGET,
    SPACE_SCOPES,
    Action,
    Method,
    Scope,
    _audit,
    _bills_of_standard,
    _scope_misfit,
    _state,
)
from linli.billing.services.planning_targets import _unit_q as units_covered_q
from linli.estate.models import Unit


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
    FeeItem.objects.select_for_update(no_key=True).get(pk=fee_item_id)


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
