"""A standard's dated prices (flat or tiered): a price bills have used never changes and is
never deleted; a new price is a new rate from its own date (see
``linli.billing.services.config``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext as _

from linli.billing.calculators.tiers import Tier
from linli.billing.models import Bill, BillingSettings, ChargeStandard, StandardRate
from linli.billing.services.config_common import (
    PRICE_LIMIT,
    PRICE_STEP,
    Action,
    Method,
    _audit,
    _bills_of_standard,
    _state,
)


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
    BillingSettings.objects.select_for_update(no_key=True).get(pk=settings.pk)


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
