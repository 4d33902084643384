"""Reading for the counter desk (前台收费) and the cashier's daily takings (交班).

Every function takes the community ids the staff member may see and never reads outside
them. Amounts are integer fen; what a bill costs today is always derived from the bill
(``with_balances`` + ``late_fee_due_fen``), never stored.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db.models import Q, Sum
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from linli.billing.models import Bill
from linli.billing.selectors import bill_label, late_fee_due_fen, with_balances
from linli.core.crypto import mobile_index
from linli.core.validators import normalise_mobile
from linli.estate.models import Occupancy, Person, Unit
from linli.payments.models import (
    COUNTER_CHANNELS,
    Channel,
    OrderRefund,
    Payment,
    PaymentAnomaly,
    PrepaidWallet,
)
from linli.refunds.models import DuplicateRefund, RefundPayout

SEARCH_LIMIT = 50


# --- finding a unit ----------------------------------------------------------------------------


@dataclass
class UnitHit:
    unit: Unit
    people: list[Occupancy]
    owed_fen: int


def current_occupancy_q(today: dt.date, prefix: str = "") -> Q:
    return Q(**{f"{prefix}start_date__lte": today}) & (
        Q(**{f"{prefix}end_date__isnull": True}) | Q(**{f"{prefix}end_date__gte": today})
    )


def search_units(
    community_ids: Iterable[int], *, community_id: int | None = None, building: str = "",
    room: str = "", name: str = "", phone: str = "", today: dt.date | None = None,
    limit: int = SEARCH_LIMIT,
) -> tuple[list[UnitHit], bool]:
    """Units of ``community_ids`` matching every criterion given (building and room as
    written, a current occupant's name or mobile). Returns the hits (at most ``limit``)
    and whether there were more. No criterion at all finds nothing."""
    building, room, name, phone = (s.strip() for s in (building, room, name, phone))
    if not (building or room or name or phone):
        return [], False
    today = today or timezone.localdate()
    units = Unit.objects.filter(community_id__in=list(community_ids))
    if community_id:
        units = units.filter(community_id=community_id)
    if building:
        units = units.filter(building__name__icontains=building)
    if room:
        units = units.filter(room_no__icontains=room)
    people = Occupancy.objects.filter(current_occupancy_q(today))
    if name:
        units = units.filter(pk__in=people.filter(person__name__icontains=name).values("unit_id"))
    if phone:
        people = people.filter(unit__in=units)
        units = units.filter(pk__in=people.filter(_phone_q(phone, people)).values("unit_id"))
    found = list(units.select_related("community", "building")
                 .order_by("community_id", "building__sort_order", "building_id", "entrance",
                           "floor", "room_no", "id")[: limit + 1])
    more = len(found) > limit
    found = found[:limit]
    ids = [u.pk for u in found]
    occupants: dict[int, list[Occupancy]] = defaultdict(list)
    for occ in (Occupancy.objects.filter(current_occupancy_q(today), unit_id__in=ids)
                .select_related("person").order_by("-is_payer", "role", "id")):
        occupants[occ.unit_id].append(occ)
    owed = owed_by_units(ids)
    return [UnitHit(u, occupants[u.pk], owed.get(u.pk, 0)) for u in found], more


def _phone_q(phone: str, occupancies) -> Q:
    """Occupancies of a person whose mobile number holds these digits. Numbers are
    encrypted: a whole number is found by its blind index, up to four digits by the
    stored last four; other parts are compared with the decrypted numbers of the
    searched units' occupants (one community's worth at most)."""
    digits = normalise_mobile("".join(ch for ch in phone if ch.isdigit() or ch == "+"))
    if not digits.isdigit():
        return Q(pk__in=[])
    if len(digits) == 11:
        return Q(person__mobile_index=mobile_index(digits))
    if len(digits) <= 4:
        return Q(person__mobile_tail__endswith=digits)
    people = Person.objects.filter(pk__in=occupancies.values("person_id")).exclude(mobile="")
    return Q(person_id__in=[p.pk for p in people.only("mobile") if digits in p.mobile])


def owed_by_units(unit_ids: list[int]) -> dict[int, int]:
    if not unit_ids:
        return {}
    rows = (with_balances(Bill.objects.filter(unit_id__in=unit_ids,
                                              status__in=Bill.OPEN_STATUSES))
            .values("unit_id").annotate(total=Sum("owed_fen")).order_by())
    return {r["unit_id"]: r["total"] or 0 for r in rows}


def unit_in_scope(community_ids: Iterable[int], unit_id) -> Unit | None:
    return (Unit.objects.filter(pk=unit_id, community_id__in=list(community_ids))
            .select_related("community", "building").first())


# --- what a unit owes today --------------------------------------------------------------------


@dataclass
class BillDue:
    """An open bill and what settling it costs on ``as_of``."""

    bill: Bill
    as_of: dt.date
    late_fee_fen: int = 0

    @property
    def label(self) -> str:
        return bill_label(self.bill)

    @property
    def owed_fen(self) -> int:
        return max(self.bill.owed_fen, 0)

    @property
    def due_fen(self) -> int:
        return self.owed_fen + self.late_fee_fen

    @property
    def overdue(self) -> bool:
        return self.bill.due_date < self.as_of

    @property
    def due_by_today(self) -> bool:
        """Overdue or due today: ticked when the counter page opens."""
        return self.bill.due_date <= self.as_of


def open_bills(unit: Unit, *, as_of: dt.date, bill_ids: Iterable[int] | None = None
               ) -> list[BillDue]:
    """The unit's open bills that still cost something, earliest due first."""
    bills = with_balances(Bill.objects.filter(unit_id=unit.pk, status__in=Bill.OPEN_STATUSES))
    if bill_ids is not None:
        bills = bills.filter(pk__in=list(bill_ids))
    result = []
    for bill in bills.select_related("fee_item", "parking_space").order_by("due_date", "pk"):
        due = BillDue(bill, as_of, late_fee_due_fen(bill, as_of=as_of))
        if due.due_fen > 0:
            result.append(due)
    return result


def prepaid_balance_fen(unit: Unit) -> int:
    return next(iter(PrepaidWallet.objects.filter(unit=unit)
                     .values_list("balance_fen", flat=True)), 0)


def bill_labels(unit: Unit, bill_ids: Iterable[int]) -> dict[int, str]:
    """Labels of the unit's bills (any status), for saying what changed."""
    bills = Bill.objects.filter(unit_id=unit.pk, pk__in=list(bill_ids)).select_related(
        "fee_item", "parking_space")
    return {b.pk: bill_label(b) for b in bills}


# --- receipts (linli.receipts, while it is being built) -----------------------------------------


def receipts_exist() -> bool:
    try:
        Payment._meta.get_field("receipt")
    except FieldDoesNotExist:
        return False
    return True


def receipt_of(payment: Payment):
    try:
        return payment.receipt
    except (AttributeError, ObjectDoesNotExist):
        return None


def receipt_number(payment: Payment) -> str:
    receipt = receipt_of(payment)
    if receipt is None:
        return ""
    return str(getattr(receipt, "number", "") or getattr(receipt, "no", "") or receipt.pk)


def receipt_pdf_url(payment: Payment) -> str | None:
    receipt = receipt_of(payment)
    if receipt is None:
        return None
    try:
        return reverse("receipts:pdf", args=[receipt.pk])
    except NoReverseMatch:
        return None


# --- a cashier's takings of a day ------------------------------------------------------------------
#
# A shift (交班) is one cashier's day at the counter: the money they took (counter
# payments) and the money they handed out (refunds paid in cash or by transfer, automatic
# refunds the channel refused and the cashier paid instead) or took back (refunds paid
# twice, money an anomaly owed, recovered). Its total per channel is net: cash in − cash
# out is what the drawer must hold. ``refunds.invariants`` checks each shift against the
# ledger with ``shift_records`` / ``shift_movements``.

PAYMENT, REFUND, RECOVERY = "payment", "refund", "recovery"
SETTLED, ANOMALY = "settled", "anomaly"
COUNTER_SETTLEMENTS = (OrderRefund.SettledBy.CASH, OrderRefund.SettledBy.TRANSFER)


@dataclass
class TakingsLine:
    """One line of the sheet; ``amount_fen`` is negative for money handed out."""

    kind: str
    at: dt.datetime
    number: str            # receipt number, refund voucher number, or refund number
    unit_label: str
    payer: str
    channel: str
    amount_fen: int
    reference: str
    payment: Payment | None = None


@dataclass
class Takings:
    payments: list[Payment]
    by_channel: list[tuple[str, str, int, int]]  # (code, label, count, net total fen)
    total_fen: int
    communities: list[str] = field(default_factory=list)
    lines: list[TakingsLine] = field(default_factory=list)
    refunds: list = field(default_factory=list)      # RefundPayout paid out by the cashier
    recoveries: list = field(default_factory=list)   # DuplicateRefund taken back

    @property
    def count(self) -> int:
        return len(self.lines) if self.lines else len(self.payments)

    def _cash(self, sign: int) -> int:
        return sum(line.amount_fen for line in self.lines
                   if line.channel == Channel.CASH and line.amount_fen * sign > 0)

    @property
    def cash_in_fen(self) -> int:
        return self._cash(1)

    @property
    def cash_out_fen(self) -> int:
        return -self._cash(-1)

    @property
    def cash_net_fen(self) -> int:
        return self.cash_in_fen - self.cash_out_fen


def day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The day in the community's time zone (Asia/Shanghai), as [start, end)."""
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(dt.datetime.combine(day, dt.time.min), tz)
    end = timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min), tz)
    return start, end


@dataclass
class ShiftRecords:
    """What shifts are made of, as querysets: counter payments; refunds paid out at the
    counter; refunds paid twice recovered at the counter; automatic refunds the channel
    refused, paid at the counter instead (``settled``); money anomalies owed, paid back
    at the counter (``anomalies``)."""

    payments: object
    refunds: object
    recoveries: object
    settled: object
    anomalies: object


@dataclass(frozen=True)
class ShiftMovement:
    """One movement of a shift: its ledger entry's business key, whose shift it is, and
    the money (+ in, − out) by channel."""

    kind: str
    business_key: str
    community_id: int
    cashier_id: int | None
    at: dt.datetime
    channel: str
    fen: int


def shift_records(community_ids: Iterable[int] | None = None, *, cashier_id: int | None = None,
                  start: dt.datetime | None = None, end: dt.datetime | None = None,
                  unattended: bool = False) -> ShiftRecords:
    """Every record that moved money at a counter (see ``ShiftRecords``), filtered by
    community, cashier and time. ``unattended``: also counter payments nobody took (the
    system's, loaded or imported), which are on no cashier's sheet."""
    payments = Payment.objects.filter(channel__in=COUNTER_CHANNELS)
    records = ShiftRecords(
        payments=payments if unattended else payments.filter(cashier__isnull=False),
        refunds=RefundPayout.objects.filter(status=RefundPayout.Status.SUCCESS,
                                            channel__in=COUNTER_CHANNELS),
        recoveries=DuplicateRefund.objects.filter(status=DuplicateRefund.Status.RECOVERED),
        settled=OrderRefund.objects.filter(status=OrderRefund.Status.SETTLED,
                                           settled_by__in=COUNTER_SETTLEMENTS),
        anomalies=PaymentAnomaly.objects.filter(
            status=PaymentAnomaly.Status.RESOLVED,
            resolution=PaymentAnomaly.Resolution.RECOVERED_COUNTER),
    )
    who = {"payments": "cashier_id", "refunds": "cashier_id", "recoveries": "resolved_by_id",
           "settled": "settled_by_user_id", "anomalies": "resolved_by_id"}
    when = {"payments": "received_at", "refunds": "finished_at", "recoveries": "resolved_at",
            "settled": "finished_at", "anomalies": "resolved_at"}
    for name in who:
        qs = getattr(records, name)
        if community_ids is not None:
            qs = qs.filter(community_id__in=list(community_ids))
        if cashier_id is not None:
            qs = qs.filter(**{who[name]: cashier_id})
        if start is not None:
            qs = qs.filter(**{f"{when[name]}__gte": start, f"{when[name]}__lt": end})
        setattr(records, name, qs)
    return records


def shift_movements(records: ShiftRecords):
    """Every movement of ``records`` (``ShiftMovement``), streamed: what each shift's
    totals and the ledger must agree on."""
    for pk, cid, who, at, channel, fen in records.payments.values_list(
            "pk", "community_id", "cashier_id", "received_at", "channel", "amount_fen"):
        yield ShiftMovement(PAYMENT, f"payment:{pk}", cid, who, at, channel, fen)
    for no, cid, who, at, channel, fen in records.refunds.values_list(
            "out_refund_no", "community_id", "cashier_id", "finished_at", "channel",
            "amount_fen"):
        yield ShiftMovement(REFUND, f"refund:{no}", cid, who, at, channel, -fen)
    for no, cid, who, at, channel, fen in records.recoveries.values_list(
            "payout__out_refund_no", "community_id", "resolved_by_id", "resolved_at",
            "channel", "amount_fen"):
        yield ShiftMovement(RECOVERY, f"refund_duplicate_recovered:{no}", cid, who, at,
                            channel, fen)
    for no, cid, who, at, channel, fen in records.settled.values_list(
            "out_refund_no", "community_id", "settled_by_user_id", "finished_at",
            "settled_by", "amount_fen"):
        yield ShiftMovement(SETTLED, f"auto_refund_settled:{no}", cid, who, at, channel,
                            -fen)
    for pk, cid, who, at, channel, held in records.anomalies.values_list(
            "pk", "community_id", "resolved_by_id", "resolved_at", "resolution_channel",
            "suspense_fen"):
        yield ShiftMovement(ANOMALY, f"anomaly_resolve:{pk}", cid, who, at, channel, -held)


def takings(community_ids: Iterable[int], *, cashier_id: int, day: dt.date,
            community_id: int | None = None) -> Takings:
    """Everything ``cashier_id`` took in and paid out at the counter on ``day`` in these
    communities, in time order, with net totals per channel and in all."""
    start, end = day_bounds(day)
    ids = [community_id] if community_id else list(community_ids)
    if community_id and community_id not in set(community_ids):
        ids = []
    records = shift_records(ids, cashier_id=cashier_id, start=start, end=end)
    related = ["community", "unit__building"]
    if receipts_exist():
        related.append("receipt")
    payments = list(records.payments.select_related(*related).order_by("received_at", "id"))
    refunds = list(records.refunds.select_related("community", "application__unit__building",
                                                  "payment", "voucher")
                   .order_by("finished_at", "id"))
    recoveries = list(records.recoveries.select_related("community", "unit__building", "payout")
                      .order_by("resolved_at", "id"))
    settled = list(records.settled.select_related("community", "unit__building")
                   .order_by("finished_at", "id"))
    anomalies = list(records.anomalies.select_related(
        "community", "resolution_unit__building", "order__unit__building")
        .order_by("resolved_at", "id"))
    lines = ([_payment_line(p) for p in payments] + [_refund_line(r) for r in refunds]
             + [_recovery_line(d) for d in recoveries] + [_settled_line(o) for o in settled]
             + [_anomaly_line(a) for a in anomalies])
    lines.sort(key=lambda line: line.at)
    totals: dict[str, list[int]] = {}
    for line in lines:
        entry = totals.setdefault(line.channel, [0, 0])
        entry[0] += 1
        entry[1] += line.amount_fen
    by_channel = [(c, str(Channel(c).label), *totals[c]) for c in COUNTER_CHANNELS if c in totals]
    names = sorted({x.community.name for x in (*payments, *refunds, *recoveries, *settled,
                                                *anomalies)})
    return Takings(payments, by_channel, sum(line.amount_fen for line in lines), names,
                   lines=lines, refunds=refunds, recoveries=recoveries)


def _payment_line(p: Payment) -> TakingsLine:
    return TakingsLine(PAYMENT, p.received_at, receipt_number(p), f"{p.community.name} {p.unit}",
                       p.payer_name, p.channel, p.amount_fen, p.reference, payment=p)


def _refund_line(r) -> TakingsLine:
    voucher = getattr(r, "voucher", None)
    return TakingsLine(REFUND, r.finished_at, voucher.number if voucher else r.out_refund_no,
                       f"{r.community.name} {r.application.unit}", r.payment.payer_name,
                       r.channel, -r.amount_fen, r.reference)


def _recovery_line(d) -> TakingsLine:
    return TakingsLine(RECOVERY, d.resolved_at, d.payout.out_refund_no,
                       f"{d.community.name} {d.unit}", "", d.channel, d.amount_fen, d.reference)


def _settled_line(o: OrderRefund) -> TakingsLine:
    unit = f" {o.unit}" if o.unit_id else ""
    return TakingsLine(SETTLED, o.finished_at, o.out_refund_no, f"{o.community.name}{unit}",
                       "", o.settled_by, -o.amount_fen, o.settle_note)


def _anomaly_line(a: PaymentAnomaly) -> TakingsLine:
    unit = a.resolution_unit or (a.order.unit if a.order_id else None)
    return TakingsLine(ANOMALY, a.resolved_at, a.transaction_id or f"#{a.pk}",
                       f"{a.community.name} {unit}" if unit else a.community.name, "",
                       a.resolution_channel, -a.suspense_fen, a.resolution_note)
