"""Taking a payment at the counter (前台收费): what confirming would record, computed by
the server from the bills as they stand (``counter_plan``), and recording it under the
bills' locks after checking again that nothing changed (``counter_pay``). The views call
these; they hold no transaction and take no lock.

Locks: the ticked bills (by id), then whatever ``payment_record`` takes (the wallet for
an excess kept as prepaid balance): the one order of every money path
(``linli.refunds.booking.LOCK_ORDER``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from linli.billing.models import Bill
from linli.billing.services.status import lock_bills
from linli.counter import selectors as sel
from linli.estate.models import Unit
from linli.money import format_fen
from linli.payments.models import Channel, Payment
from linli.payments.services import PaymentError, payment_record


@dataclass
class Change:
    """A ticked bill that costs something else now than when the page was shown."""

    label: str
    seen_fen: int | None
    now_fen: int

    @property
    def text(self) -> str:
        if self.now_fen == 0:
            return _("%(bill)s: settled or cancelled meanwhile, nothing is owed on it now.") % {
                "bill": self.label}
        if self.seen_fen is None:
            return _("%(bill)s: now %(now)s.") % {"bill": self.label,
                                                 "now": format_fen(self.now_fen)}
        return _("%(bill)s: was %(seen)s, now %(now)s.") % {
            "bill": self.label, "seen": format_fen(self.seen_fen), "now": format_fen(self.now_fen)}


class BillsChanged(Exception):
    def __init__(self, changes: list[Change]) -> None:
        super().__init__("bills changed")
        self.changes = changes


@dataclass
class Plan:
    """What confirming would record, as the server computes it."""

    dues: list[sel.BillDue]
    channel: str
    received_fen: int
    due_fen: int
    amount_fen: int  # the payment recorded
    change_fen: int  # cash handed back
    excess_fen: int  # kept as the unit's prepaid balance
    short_fen: int  # still owed on the ticked bills afterwards

    @property
    def bill_ids(self) -> list[int]:
        return [d.bill.pk for d in self.dues]


def make_plan(dues: list[sel.BillDue], *, channel: str, received_fen: int,
              keep_change: bool) -> Plan:
    due_fen = sum(d.due_fen for d in dues)
    if channel == Channel.CASH and received_fen > due_fen and not keep_change:
        amount_fen, change_fen = due_fen, received_fen - due_fen
    else:
        amount_fen, change_fen = received_fen, 0
    return Plan(dues=dues, channel=channel, received_fen=received_fen, due_fen=due_fen,
                amount_fen=amount_fen, change_fen=change_fen,
                excess_fen=max(amount_fen - due_fen, 0), short_fen=max(due_fen - amount_fen, 0))


def _changes(unit: Unit, ids: list[int], now: list[sel.BillDue], seen: dict[int, int]
             ) -> list[Change]:
    now_fen = {d.bill.pk: d.due_fen for d in now}
    labels = {d.bill.pk: d.label for d in now}
    missing = [i for i in ids if i not in labels]
    if missing:
        labels |= sel.bill_labels(unit, missing)
    return [Change(labels.get(i, f"#{i}"), seen.get(i), now_fen.get(i, 0))
            for i in ids if seen.get(i) != now_fen.get(i, 0)]


def counter_plan(unit: Unit, *, bill_ids: list[int], seen_fen: dict[int, int], channel: str,
                 received_fen: int, keep_change: bool, today: dt.date) -> Plan:
    """The plan for the ticked bills as they stand now, or ``BillsChanged`` (a bill
    costs something else than when the page was shown) / ``PaymentError``."""
    ids = bill_ids
    if not ids:
        raise PaymentError(_("Tick at least one bill to pay. To keep money as prepaid balance "
                             "without paying a bill, use the prepaid deposit below."))
    if Bill.objects.filter(pk__in=ids, unit_id=unit.pk).count() != len(ids):
        raise PaymentError(_("Some of the ticked bills are not bills of this unit; "
                             "nothing was recorded."))
    dues = sel.open_bills(unit, as_of=today, bill_ids=ids)
    changes = _changes(unit, ids, dues, seen_fen)
    if changes:
        raise BillsChanged(changes)
    return make_plan(dues, channel=channel, received_fen=received_fen, keep_change=keep_change)


def _recorded(idempotency_key: str) -> Payment | None:
    return Payment.objects.filter(idempotency_key=idempotency_key).first()


def counter_pay(*, acting_user, unit: Unit, idempotency_key: str, bill_ids: list[int],
                seen_fen: dict[int, int], channel: str, received_fen: int, keep_change: bool,
                reference: str, payer_name: str, today: dt.date) -> Payment:
    """Record the payment under the bills' locks, after checking again that nothing
    changed; the same key again returns the payment already recorded."""
    key = idempotency_key
    try:
        with transaction.atomic():
            lock_bills(bill_ids)
            done = _recorded(key)
            if done is not None:
                return done
            plan = counter_plan(unit, bill_ids=bill_ids, seen_fen=seen_fen, channel=channel,
                                received_fen=received_fen, keep_change=keep_change,
                                today=today)
            note = ""
            if plan.change_fen:
                note = _("Received %(received)s in cash, change %(change)s") % {
                    "received": format_fen(plan.received_fen),
                    "change": format_fen(plan.change_fen)}
            return payment_record(
                acting_user=acting_user, unit=unit, channel=plan.channel,
                amount_fen=plan.amount_fen, bill_ids=plan.bill_ids, idempotency_key=key,
                reference=reference, payer_name=payer_name, note=note,
            )
    except IntegrityError:
        done = _recorded(key)  # the same form sent twice at once: the other one recorded it
        if done is None:
            raise
        return done
