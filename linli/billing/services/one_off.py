"""One-off charges (装修押金, a temporary fee) raised for chosen units: one bill each, one
ledger entry issuing them all (see ``linli.billing.services.config``)."""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.billing.calculators.charges import ChargeInput, compute_charge
from linli.billing.models import Bill, BillingSettings, ChargeStandard, StandardRate
from linli.billing.services.bill_run import issue_lines
from linli.billing.services.config_common import ONE_OFF_PREFIX, Action, Method
from linli.billing.services.config_prices import parse_price
from linli.core.audit import audit_record
from linli.core.audit import person_or_none as _user
from linli.estate.models import Unit
from linli.ledger.services import post_entry
from linli.money import fen_to_decimal


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
    settings = BillingSettings.objects.select_for_update(no_key=True).get(pk=settings.pk)
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
