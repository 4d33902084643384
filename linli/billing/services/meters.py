"""Meters and their monthly readings (抄表).

One set of rules, used by the console form, the admin and the Excel import:

* A reading is a meter's value at the end of a month (``period_key`` YYYY-MM), one per
  meter and month. Months after the current one are refused.
* Readings go in month order: a month earlier than the meter's latest reading is refused,
  because the later reading's usage was computed from the earlier one.
* usage = value − the previous reading (the latest earlier reading not rejected). A value
  below it is refused unless the meter was replaced; then usage = value − ``start_value``
  (the new meter's start reading). The old meter's usage between its last reading and
  the swap is not recorded by this model.
* A meter's first reading: usage = value − ``start_value`` when one is given; otherwise
  the reading is a *baseline* — usage 0, status OK — because nothing is known about the
  month's usage and nothing should be billed on a guess. Onboarding a community is thus
  one month of baselines, then normal months.
* Suspicious jumps are flagged for review, never billed silently (the bill run skips a
  flagged reading and warns): usage above max(3 × usual, usual + a floor per kind), where
  usual is the median of the meter's last 6 billable usages (baselines left out); with no
  history, usage above a ceiling per kind. ``reading_review`` approves or rejects.
* A reading used by a bill never changes. An unbilled reading is not a financial record
  yet: recording the same month again corrects it in place (its flag re-evaluated), with
  an audit row holding before and after. Recording identical values changes nothing.
* Every write takes the community's ``BillingSettings`` row lock — the lock a bill run
  holds while it writes — so a bill never uses a reading that changes under it.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from linli.billing.calculators.periods import PeriodError, parse_month
from linli.billing.models import Bill, BillingSettings, Meter, MeterReading
from linli.core.audit import audit_record, diff, snapshot
from linli.core.audit import person_or_none as _user
from linli.core.models import AuditEvent

Kind = Meter.Kind
Status = MeterReading.Status

HISTORY_MONTHS = 6
JUMP_FACTOR = 3
# Above the usual by at least this much before a jump counts (1 t → 4 t is no alarm).
JUMP_FLOOR = {Kind.WATER: Decimal(10), Kind.ELECTRICITY: Decimal(100), Kind.GAS: Decimal(10)}
# With nothing to compare with: more than this in one month is implausible for a home.
FIRST_CEILING = {Kind.WATER: Decimal(100), Kind.ELECTRICITY: Decimal(3000), Kind.GAS: Decimal(300)}
VALUE_LIMIT = Decimal(10) ** 10  # MeterReading.value: 14 digits, 4 of them decimals
VALUE_PLACES = 4
_AUDITED = ["value", "previous_value", "replaced", "start_value", "usage", "status",
            "flag_reason", "read_on"]


@dataclass(frozen=True)
class ReadingEntry:
    """What a person reads off a meter (typed in or from one Excel row)."""

    period_key: str
    value: Decimal
    replaced: bool = False
    start_value: Decimal | None = None
    read_on: dt.date | None = None


@dataclass(frozen=True)
class KnownReading:
    """A stored reading as the rules see it."""

    pk: int | None
    period_key: str
    value: Decimal
    usage: Decimal
    status: str
    replaced: bool
    start_value: Decimal | None
    previous_value: Decimal | None
    read_on: dt.date | None
    billed: bool

    @property
    def baseline(self) -> bool:
        return self.previous_value is None and self.start_value is None

    @property
    def billable(self) -> bool:
        return self.status in (Status.OK, Status.APPROVED)

    def same_as(self, entry: ReadingEntry) -> bool:
        """Whether recording ``entry`` would change nothing (a blank date keeps ours)."""
        return (
            self.value == entry.value
            and self.replaced == entry.replaced
            and self.start_value == entry.start_value
            and (entry.read_on is None or entry.read_on == self.read_on)
        )


@dataclass(frozen=True)
class Outcome:
    previous_value: Decimal | None
    usage: Decimal
    status: str
    flag_reason: str


# --- the rules (plain Python) ------------------------------------------------------
def _fmt(number: Decimal) -> str:
    return format(number.normalize(), "f")


def _check_number(field: str, number: Decimal | None) -> None:
    if number is None:
        return
    if not number.is_finite() or number < 0 or number >= VALUE_LIMIT:
        raise ValidationError({field: _("Write a reading from 0 to 9999999999.9999.")})
    if number.normalize().as_tuple().exponent < -VALUE_PLACES:
        raise ValidationError({field: _("Write the reading with at most 4 decimal places.")})


def check_entry(entry: ReadingEntry, *, today: dt.date) -> None:
    """Checks that need no history: a real month, not in the future; sane numbers."""
    try:
        month = parse_month(entry.period_key)
    except PeriodError:
        raise ValidationError(
            {"period_key": _("Write the month as YYYY-MM, e.g. 2026-11.")}
        ) from None
    if month > today.replace(day=1):
        raise ValidationError(
            {"period_key": _("%(month)s has not begun yet.") % {"month": entry.period_key}}
        )
    if entry.read_on and entry.read_on > today:
        raise ValidationError({"read_on": _("The reading date is in the future.")})
    _check_number("value", entry.value)
    _check_number("start_value", entry.start_value)
    if entry.replaced and entry.start_value is None:
        raise ValidationError({"start_value": _("Give the new meter's start reading.")})


def plan_reading(
    *, kind: str, history: Sequence[KnownReading], entry: ReadingEntry
) -> Outcome:
    """What a reading for ``entry.period_key`` would store, given the meter's other
    readings in ``history`` (any order; the same month's, if present, is replaced).
    Raises ``ValidationError`` keyed by field when the reading is refused."""
    month = entry.period_key
    same = next((k for k in history if k.period_key == month), None)
    if same is not None and same.billed:
        raise ValidationError(
            {"period_key": _("The reading of %(month)s has been billed and cannot change.")
             % {"month": month}}
        )
    kept = sorted((k for k in history if k.status != Status.REJECTED and k.period_key != month),
                  key=lambda k: k.period_key)
    if kept and kept[-1].period_key > month:
        raise ValidationError(
            {"period_key": _("This meter already has a reading for %(later)s; readings are "
                             "recorded month by month, in order.") % {"later": kept[-1].period_key}}
        )
    previous = kept[-1] if kept else None
    usage = _usage(entry, previous)
    earlier = [k for k in kept if k.billable and not k.baseline]
    usual_from = [k.usage for k in earlier[-HISTORY_MONTHS:]]
    reason = "" if usage is None else _flag_reason(kind, usage, usual_from)
    return Outcome(
        previous_value=previous.value if previous else None,
        usage=usage if usage is not None else Decimal(0),
        status=Status.FLAGGED if reason else Status.OK,
        flag_reason=reason,
    )


def _usage(entry: ReadingEntry, previous: KnownReading | None) -> Decimal | None:
    """The month's usage; ``None`` for a baseline (a first reading with no start)."""
    if entry.start_value is not None and (entry.replaced or previous is None):
        if entry.value < entry.start_value:
            raise ValidationError(
                {"value": _("The reading %(value)s is lower than the start reading %(start)s.")
                 % {"value": _fmt(entry.value), "start": _fmt(entry.start_value)}}
            )
        return entry.value - entry.start_value
    if entry.start_value is not None:
        raise ValidationError(
            {"start_value": _("A start reading is only for a replaced meter or its first "
                              "reading; mark the meter as replaced or leave it blank.")}
        )
    if previous is None:
        return None
    if entry.value < previous.value:
        raise ValidationError(
            {"value": _("The reading %(value)s is lower than the previous reading %(previous)s "
                        "(%(month)s). If the meter was replaced, mark it as replaced and give "
                        "the new meter's start reading.")
             % {"value": _fmt(entry.value), "previous": _fmt(previous.value),
                "month": previous.period_key}}
        )
    return entry.value - previous.value


def _unit_label(kind: str) -> str:
    return {
        Kind.WATER: pgettext("meter unit", "t"),
        Kind.ELECTRICITY: pgettext("meter unit", "kWh"),
        Kind.GAS: pgettext("meter unit", "m³"),
    }.get(kind, "")


def _flag_reason(kind: str, usage: Decimal, usual_from: list[Decimal]) -> str:
    """Why ``usage`` needs a person's look, or "" if it does not. Stored with the
    reading, so written in the site's language whatever the request's."""
    with translation.override(settings.LANGUAGE_CODE):
        if usual_from:
            usual = statistics.median(usual_from)
            limit = max(JUMP_FACTOR * usual, usual + JUMP_FLOOR.get(kind, Decimal(0)))
            if usage <= limit:
                return ""
            reason = _("Usage %(usage)s %(unit)s is far above the usual %(usual)s %(unit)s "
                       "(median of the last %(count)d months); check before billing.") % {
                "usage": _fmt(usage), "usual": _fmt(usual), "unit": _unit_label(kind),
                "count": len(usual_from)}
        else:
            if usage <= FIRST_CEILING.get(kind, Decimal(0)):
                return ""
            reason = _("Usage %(usage)s %(unit)s with no earlier usage to compare is "
                       "implausibly high; check before billing.") % {
                "usage": _fmt(usage), "unit": _unit_label(kind)}
    return reason[:200]


# --- the database side -------------------------------------------------------------
def known(reading: MeterReading, *, billed: bool) -> KnownReading:
    return KnownReading(
        pk=reading.pk, period_key=reading.period_key, value=reading.value, usage=reading.usage,
        status=reading.status, replaced=reading.replaced, start_value=reading.start_value,
        previous_value=reading.previous_value, read_on=reading.read_on, billed=billed,
    )


def reading_is_billed(reading: MeterReading) -> bool:
    return reading.pk is not None and Bill.objects.filter(reading_id=reading.pk).exists()


def meter_history(meter: Meter) -> list[KnownReading]:
    readings = list(MeterReading.objects.filter(meter=meter))
    billed = set(Bill.objects.filter(reading__meter=meter).values_list("reading_id", flat=True))
    return [known(r, billed=r.pk in billed) for r in readings]


def lock_billing(community_id: int) -> None:
    """The lock ``bill_run_commit`` holds while it issues bills (taken the same way)."""
    settings_row, _created = BillingSettings.objects.get_or_create(community_id=community_id)
    BillingSettings.objects.select_for_update(no_key=True).get(pk=settings_row.pk)


def reading_plan(
    *, meter: Meter, entry: ReadingEntry, today: dt.date | None = None
) -> tuple[KnownReading | None, Outcome | None]:
    """What recording ``entry`` would do, writing nothing: the month's stored reading (if
    any) and the outcome, or ``None`` when nothing would change. For form validation."""
    check_entry(entry, today=today or timezone.localdate())
    history = meter_history(meter)
    existing = next((k for k in history if k.period_key == entry.period_key), None)
    if existing is not None and existing.same_as(entry):
        return existing, None
    return existing, plan_reading(kind=meter.kind, history=history, entry=entry)


@transaction.atomic
def reading_record(
    *, acting_user, meter: Meter, period_key: str, value: Decimal, replaced: bool = False,
    start_value: Decimal | None = None, read_on: dt.date | None = None,
    today: dt.date | None = None,
) -> MeterReading:
    """Record (or, while unbilled, correct) ``meter``'s reading for ``period_key``."""
    entry = ReadingEntry(period_key.strip(), _dec(value), bool(replaced),
                         None if start_value is None else _dec(start_value), read_on)
    lock_billing(meter.community_id)
    existing, outcome = reading_plan(meter=meter, entry=entry, today=today)
    if outcome is None:
        return MeterReading.objects.get(pk=existing.pk)
    return reading_write(acting_user=acting_user, meter=meter, entry=entry, outcome=outcome,
                         existing_pk=existing.pk if existing else None)


def reading_write(
    *, acting_user, meter: Meter, entry: ReadingEntry, outcome: Outcome,
    existing_pk: int | None,
) -> MeterReading:
    """Store a planned reading and its audit row. Callers hold ``lock_billing``."""
    if existing_pk is None:
        reading = MeterReading(meter=meter, community_id=meter.community_id,
                               period_key=entry.period_key, entered_by=_user(acting_user))
        before = {}
    else:
        reading = MeterReading.objects.get(pk=existing_pk)
        before = snapshot(reading, fields=_AUDITED)
        entry = entry if entry.read_on else replace(entry, read_on=reading.read_on)
    reading.value, reading.replaced, reading.start_value, reading.read_on = (
        _q(entry.value), entry.replaced, _q(entry.start_value), entry.read_on
    )
    reading.previous_value, reading.usage = _q(outcome.previous_value), _q(outcome.usage)
    reading.status, reading.flag_reason = outcome.status, outcome.flag_reason
    reading.save()
    audit_record(
        actor=acting_user,
        action=AuditEvent.Action.CHANGE if before else AuditEvent.Action.CREATE,
        obj=reading,
        changes=diff(before, snapshot(reading, fields=_AUDITED)),
        summary="corrected before billing" if before else "",
    )
    return reading


@transaction.atomic
def reading_review(*, acting_user, reading: MeterReading, approve: bool, note: str = "") -> MeterReading:
    """Approve a flagged reading (it is billed as it stands) or reject it (it is never
    billed; record the month again to correct it). Deciding twice alike is a no-op."""
    lock_billing(reading.community_id)
    reading = MeterReading.objects.get(pk=reading.pk)
    target = Status.APPROVED if approve else Status.REJECTED
    if reading.status == target:
        return reading
    if reading.status != Status.FLAGGED:
        raise ValidationError(_("Only a reading flagged for review can be approved or rejected."))
    reading.status = target
    reading.save(update_fields=["status"])
    audit_record(
        actor=acting_user, action=AuditEvent.Action.ACTION, obj=reading,
        changes={"status": [Status.FLAGGED.value, target.value]},
        summary=f"{'approved' if approve else 'rejected'}: {note}".strip(": ")[:255],
    )
    return reading


@transaction.atomic
def meter_ensure(*, acting_user, unit, kind: str, serial: str = "") -> Meter:
    """The unit's meter of ``kind``, created if missing; a new ``serial`` is recorded."""
    if kind not in Kind.values:
        raise ValidationError({"kind": _("Unknown meter kind %(kind)s.") % {"kind": kind}})
    meter, created = Meter.objects.get_or_create(
        unit=unit, kind=kind, defaults={"community_id": unit.community_id, "serial": serial}
    )
    if created:
        audit_record(actor=acting_user, action=AuditEvent.Action.CREATE, obj=meter,
                     changes=diff({}, snapshot(meter, fields=["unit", "kind", "serial"])))
    elif serial and meter.serial != serial:
        audit_record(actor=acting_user, action=AuditEvent.Action.CHANGE, obj=meter,
                     changes={"serial": [meter.serial, serial]})
        meter.serial = serial
        meter.save(update_fields=["serial"])
    return meter


def _dec(value) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


def _q(number: Decimal | None) -> Decimal | None:
    """As the database stores it, so that before and after compare alike in the audit."""
    return None if number is None else number.quantize(Decimal(1).scaleb(-VALUE_PLACES))

