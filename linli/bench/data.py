"""Synthetic communities for the benchmarks, written at bulk speed.

One set of builders for every ``linli bench``: the billing bench times a bill run over
``build_community``; the notify bench issues one real bill run and opens an order per
unit (``open_orders``); the portal bench issues one real bill run and copies it to
earlier months (``copy_bills_to_earlier_months``) so a million bills take seconds, not
minutes, and gives units owners who can sign in (``add_owners``).

Everything written here keeps ``linli check`` passing: copied bills are posted to the
ledger exactly as a bill run posts them (``issue_lines`` + ``post_entry``).
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from decimal import Decimal

from django.db import connection, transaction
from django.utils import timezone

from linli.billing.models import (
    Bill,
    BillingSettings,
    BillRun,
    Binding,
    ChargeStandard,
    FeeItem,
    StandardRate,
)
from linli.billing.selectors import late_fee_due_fen, with_balances
from linli.billing.services.bill_run import BILL_FIELDS, ISSUE_KIND, bill_run_commit, issue_lines
from linli.core.bulk import insert_rows
from linli.core.crypto import mobile_index
from linli.estate.models import Building, Community, Company, Occupancy, ParkingSpace, Person, Unit
from linli.ledger.services import post_entry
from linli.owners.models import OwnerAccount
from linli.payments.models import PaymentOrder, PaymentOrderBill
from linli.payments.orders import new_out_trade_no

UNITS_PER_BUILDING = 200
CHUNK = 5000
# Bills a bench community issues per unit and month: by area, fixed, and a parking
# space for every third unit.
BILLS_PER_UNIT_MONTH = Decimal(7) / 3


def build_community(units: int, period_key: str) -> Community:
    """A synthetic community, written in bulk and streamed (never all units in memory)."""
    month = dt.date.fromisoformat(f"{period_key}-01")
    tag = uuid.uuid4().hex[:8]
    with transaction.atomic():
        company = Company.objects.create(name=f"bench-{tag}")
        community = Community.objects.create(company=company, name=f"bench-{tag}", code=tag)
        BillingSettings.objects.create(community=community)
        _fee_items(community, month)
        buildings = Building.objects.bulk_create(
            Building(community=community, name=f"{i + 1}栋", sort_order=i)
            for i in range((units + UNITS_PER_BUILDING - 1) // UNITS_PER_BUILDING)
        )
        building_ids = [b.pk for b in buildings]
        insert_rows(Unit, _UNIT_FIELDS, _unit_rows(community.pk, building_ids, units, month))
        _parking(community.pk)
    return community


def analyze() -> None:
    """Fresh planner statistics after bulk writes, as a live database has (autovacuum
    on PostgreSQL) for data entered long before it is read."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")


def current_period_key() -> str:
    return f"{timezone.localdate():%Y-%m}"


def issue_current_month(community: Community) -> BillRun:
    """One real, committed bill run for this month (bills + receivables)."""
    run, _preview = bill_run_commit(acting_user=None, community_id=community.pk,
                                    period_key=current_period_key())
    return run


def _fee_items(community: Community, month: dt.date) -> None:
    # Prices start two years back, so bills copied to earlier months have a price too.
    since = month.replace(year=month.year - 2)
    plans = [
        ("物业服务费", FeeItem.Category.PROPERTY, ChargeStandard.Method.BUILDING_AREA,
         Decimal("2.5000"), Binding.Scope.COMMUNITY, Decimal(50)),
        ("垃圾清运费", FeeItem.Category.OTHER, ChargeStandard.Method.FIXED_UNIT,
         Decimal("15.0000"), Binding.Scope.COMMUNITY, None),
        ("停车管理费", FeeItem.Category.PARKING, ChargeStandard.Method.FIXED_SPACE,
         Decimal("150.0000"), Binding.Scope.ALL_PARKING, None),
    ]
    for order, (name, category, method, price, scope, vacancy) in enumerate(plans):
        item = FeeItem.objects.create(
            community=community, name=name, category=category, sort_order=order
        )
        standard = ChargeStandard.objects.create(
            fee_item=item, name=name, method=method, vacancy_percent=vacancy,
            late_fee_enabled=True,
        )
        StandardRate.objects.create(standard=standard, effective_from=since, unit_price=price)
        Binding.objects.create(standard=standard, scope=scope, start_date=since)


_UNIT_FIELDS = ("community", "building", "entrance", "floor", "room_no", "building_area",
                "usable_area", "kind", "status", "delivered_on")


def _unit_rows(community_id: int, building_ids: list[int], units: int, month: dt.date):
    delivered = month - dt.timedelta(days=400)
    mid_month = month + dt.timedelta(days=14)
    for i in range(units):
        building, n = divmod(i, UNITS_PER_BUILDING)
        entrance, n = divmod(n, 100)
        floor, room = divmod(n, 4)
        area = Decimal(6000 + (i * 37) % 10000).scaleb(-2)  # 60.00 … 159.99 m²
        yield (
            community_id, building_ids[building], f"{entrance + 1}单元", floor + 1,
            f"{floor + 1}{room + 1:02d}", area, (area * Decimal("0.8")).quantize(area),
            Unit.Kind.RESIDENTIAL,
            Unit.Status.VACANT if i % 10 == 0 else Unit.Status.OCCUPIED,
            mid_month if i % 100 == 1 else delivered,  # 1 % delivered mid-month
        )


def _unit_id_chunks(community_id: int):
    """The community's unit ids in id order, ``CHUNK`` at a time (ids are not assumed)."""
    last_id = 0
    while True:
        ids = list(
            Unit.objects.filter(community_id=community_id, id__gt=last_id)
            .order_by("id").values_list("id", flat=True)[:CHUNK]
        )
        if not ids:
            return
        last_id = ids[-1]
        yield ids


def _parking(community_id: int) -> None:
    """A space for every third unit."""
    number = 0
    for ids in _unit_id_chunks(community_id):
        rows = []
        for unit_id in ids[::3]:
            number += 1
            rows.append((community_id, f"P{number:06d}", "B1", ParkingSpace.Kind.RENTED, unit_id))
        insert_rows(ParkingSpace, ("community", "code", "location", "kind", "unit"), rows)


# --- copying a month's bills to earlier months ------------------------------------------


class _Issued:
    """What ``issue_lines`` reads of a bill."""

    __slots__ = ("unit_id", "fee_item_id", "amount_fen")

    def __init__(self, unit_id: int, fee_item_id: int, amount_fen: int) -> None:
        self.unit_id, self.fee_item_id, self.amount_fen = unit_id, fee_item_id, amount_fen


def copy_bills_to_earlier_months(run: BillRun, months: int) -> int:
    """Issue ``run``'s bills again for each of the ``months`` months before its period,
    each month as a committed run of its own with its receivables posted (so the
    ledger still matches the bills). Returns how many bills were written."""
    start = dt.date.fromisoformat(f"{run.period_key}-01")
    written = 0
    for back in range(1, months + 1):
        month = _months_before(start, back)
        with transaction.atomic():
            written += _copy_run(run, month)
    return written


def _months_before(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 - n
    return dt.date(index // 12, index % 12 + 1, 1)


def _copy_run(template: BillRun, month: dt.date) -> int:
    key = f"{month:%Y-%m}"
    end = _months_before(month, -1) - dt.timedelta(days=1)
    copy = BillRun.objects.create(community_id=template.community_id, period_key=key,
                                  bill_count=template.bill_count, total_fen=template.total_fen)
    columns = [f for f in BILL_FIELDS if f not in ("bill_run", "period_key", "period_start",
                                                     "period_end", "due_date", "issued_at")]
    at = {name: i for i, name in enumerate(columns)}
    issued_at = timezone.now()
    last_id, batch_no = 0, 0
    while True:
        rows = list(Bill.objects.filter(bill_run=template, id__gt=last_id).order_by("id")
                    .values_list("id", "period_start", "due_date", *columns)[:CHUNK])
        if not rows:
            return copy.bill_count
        last_id, batch_no = rows[-1][0], batch_no + 1
        insert_rows(Bill, (*columns, "bill_run", "period_key", "period_start", "period_end",
                           "due_date", "issued_at"),
                    (r[3:] + (copy.pk, key, month, end, month + (r[2] - r[1]), issued_at)
                     for r in rows))
        issued = [_Issued(r[3 + at["unit"]], r[3 + at["fee_item"]], r[3 + at["amount_fen"]])
                  for r in rows]
        post_entry(community_id=copy.community_id,
                   business_key=f"billrun:{copy.pk}:issue:{batch_no}", kind=ISSUE_KIND,
                   lines=issue_lines(issued), effective_on=month,
                   memo=f"Bill run {key} #{copy.pk}, batch {batch_no} (bench copy)")


# --- owners ------------------------------------------------------------------------


def add_owners(community: Community, *, users: int) -> list[int]:
    """Give every unit an owner (a person with a mobile number and a current paying
    occupancy); the first ``users`` of them get a portal account (a Django user whose
    number is on its owner account). Returns those users' ids."""
    from django.contrib.auth import get_user_model

    prefix = _free_mobile_prefix()
    today = timezone.localdate()
    start = today - dt.timedelta(days=365)
    mobiles: list[str] = []
    for ids in _unit_id_chunks(community.pk):
        base = len(mobiles)
        chunk = [f"{prefix}{base + i:05d}" for i in range(len(ids))]
        mobiles += chunk[: max(0, users - base)]
        with transaction.atomic():
            people = [Person(community=community, name=f"业主{base + i + 1}", mobile=m)
                      for i, m in enumerate(chunk)]
            for person in people:
                person.normalise()  # the blind index of the (encrypted) number
            people = Person.objects.bulk_create(people)
            Occupancy.objects.bulk_create(
                Occupancy(unit_id=unit_id, person=p, role=Occupancy.Role.OWNER,
                          start_date=start, is_payer=True)
                for unit_id, p in zip(ids, people, strict=True))
    User = get_user_model()
    created = User.objects.bulk_create(User(username=f"owner-{uuid.uuid4().hex[:16]}", password="!")
                                       for _ in mobiles)
    OwnerAccount.objects.bulk_create(
        OwnerAccount(user=u, mobile=m, mobile_index=mobile_index(m))
        for u, m in zip(created, mobiles, strict=True))
    return [u.pk for u in created]


def _free_mobile_prefix() -> str:
    """"13" + 4 random digits (then 5 for the unit) that no person has yet, so runs in
    one database never share an owner."""
    rng = random.SystemRandom()
    while True:
        prefix = f"13{rng.randrange(10_000):04d}"
        if not Person.objects.filter(mobile_index=mobile_index(f"{prefix}00000")).exists():
            return prefix


# --- payment orders ---------------------------------------------------------------------


def open_orders(community: Community, account) -> list:
    """One open payment order per unit for all of that unit's open bills, amounts
    computed as ``order_create`` computes them (principal owed + late fee as of today),
    written with ``bulk_create``. Returns the orders (with ids)."""

    today, now = timezone.localdate(), timezone.now()
    expires = now + dt.timedelta(hours=2)
    orders: list = []
    for ids in _unit_id_chunks(community.pk):
        lines_by_unit: dict[int, list] = {}
        bills = with_balances(Bill.objects.filter(unit_id__in=ids,
                                                  status__in=Bill.OPEN_STATUSES)).order_by("pk")
        for b in bills:
            owed, late = max(b.owed_fen, 0), late_fee_due_fen(b, as_of=today)
            if owed + late > 0:
                lines_by_unit.setdefault(b.unit_id, []).append((b.pk, owed, late))
        chunk = [
            PaymentOrder(
                community=community, unit_id=unit_id, account=account, channel=account.channel,
                mode="native", out_trade_no=new_out_trade_no(),
                amount_fen=sum(p + f for _b, p, f in lines), description=f"bench {unit_id}",
                idempotency_key=f"bench:{uuid.uuid4().hex}", request_digest="bench",
                created_at=now, expires_at=expires,
            )
            for unit_id, lines in lines_by_unit.items()
        ]
        with transaction.atomic():
            PaymentOrder.objects.bulk_create(chunk, batch_size=1000)
            PaymentOrderBill.objects.bulk_create(
                (PaymentOrderBill(order=o, bill_id=b, principal_fen=p, late_fee_fen=f)
                 for o in chunk for b, p, f in lines_by_unit[o.unit_id]),
                batch_size=2000)
        orders += chunk
    return orders
