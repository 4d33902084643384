"""What the owner portal reads. Every function takes the owner's unit ids (from
``owner_unit_ids``) and filters by them first, so a page can never show another
owner's rows; money figures follow the billing selectors (``with_balances``,
``late_fee_due_fen``), never a second copy of their rules: the bills list reads the same
sums for its page's bills in two grouped queries (``page_balances``, compared with
``with_balances`` by the tests) and hands them to ``late_fee_due_fen``.

Speed: the bills list is read by ``unit_id IN (…)`` and status, which the index
``bill_unit_status`` serves, one page at a time (``PAGE_SIZE`` + 1 rows, no COUNT), as
plain values with the fee item, parking space and unit joined in the same query — a page
costs the same with a million bills in the table, and its rows reach the template as
ready strings (``BillRow``): building model instances, the balance subqueries and
per-row template tags cost ~30× the CPU of ``/healthz`` before.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode

from django.db import connection
from django.urls import reverse
from django.utils.translation import pgettext

from linli.billing.models import Bill, BillAdjustment
from linli.billing.selectors import CHARGE_REDUCING, late_fee_due_fen, with_balances
from linli.estate.models import Unit
from linli.money import format_fen
from linli.payments.models import (
    MerchantAccount,
    Payment,
    PaymentOrder,
    PrepaidMovement,
    PrepaidWallet,
)

PAGE_SIZE = 30
HISTORY_SIZE = 50
PAID_TAB_STATUSES = tuple(s for s in Bill.Status.values if s not in Bill.OPEN_STATUSES)


def owner_unit_ids(user) -> frozenset[int]:
    """The units this signed-in owner may see, cached on the request's user.

    The owners app's rule: current occupancies of the owner's mobile number (binding
    requests become occupancies once staff approve them)."""
    from linli.owners.selectors import owner_unit_ids as rule

    cached = getattr(user, "_portal_unit_ids", None)
    if cached is not None:
        return cached
    ids = frozenset(rule(user))
    try:
        user._portal_unit_ids = ids
    except AttributeError:
        pass
    return ids


def owner_units(unit_ids) -> list[Unit]:
    return list(Unit.objects.filter(pk__in=unit_ids).select_related("building", "community")
                .order_by("community_id", "building__name", "room_no"))


@dataclass
class UnitSummary:
    unit: Unit
    owed_fen: int = 0           # principal still owed on open bills
    late_fee_fen: int = 0       # late fees as of today
    open_bills: int = 0
    next_due: dt.date | None = None
    overdue: bool = False
    prepaid_fen: int = 0

    @property
    def total_fen(self) -> int:
        return self.owed_fen + self.late_fee_fen


def open_bills(unit_ids, *, unit_id: int | None = None) -> list[Bill]:
    """Open bills with their balances (fee item joined), earliest due first."""
    qs = Bill.objects.filter(unit_id__in=unit_ids, status__in=Bill.OPEN_STATUSES)
    if unit_id is not None:
        qs = qs.filter(unit_id=unit_id)
    return list(with_balances(qs).select_related("fee_item", "parking_space")
                .order_by("due_date", "period_start", "pk"))


def bill_due_fen(bill: Bill, *, today: dt.date) -> tuple[int, int]:
    """(principal, late fee) settling an open bill costs today."""
    return max(bill.owed_fen, 0), late_fee_due_fen(bill, as_of=today)


def home_summaries(unit_ids, *, today: dt.date) -> list[UnitSummary]:
    """One summary per unit: what is owed now including late fees, the earliest due
    date among bills still owing, and the prepaid balance."""
    units = owner_units(unit_ids)
    summaries = {u.pk: UnitSummary(unit=u) for u in units}
    for bill in open_bills(unit_ids):
        s = summaries[bill.unit_id]
        principal, late = bill_due_fen(bill, today=today)
        if principal + late <= 0:
            continue
        s.owed_fen += principal
        s.late_fee_fen += late
        s.open_bills += 1
        if s.next_due is None or bill.due_date < s.next_due:
            s.next_due = bill.due_date
    for wallet in PrepaidWallet.objects.filter(unit_id__in=unit_ids):
        summaries[wallet.unit_id].prepaid_fen = wallet.balance_fen
    for s in summaries.values():
        s.overdue = s.next_due is not None and s.next_due < today
    return list(summaries.values())


@dataclass(slots=True)
class BillBalance:
    """What ``with_balances`` annotates on a bill, read for a page's bills in one grouped
    query (``page_balances``) instead of four correlated subqueries per row; it carries
    the bill's own late-fee fields too, so ``late_fee_due_fen`` takes it like a bill."""

    status: str
    amount_fen: int
    due_date: dt.date
    late_fee_daily_rate: Decimal | None
    late_fee_grace_days: int
    late_fee_cap_fen: int | None
    adjusted_fen: int = 0
    late_fee_waived_fen: int = 0
    paid_fen: int = 0
    late_fee_paid_fen: int = 0

    @property
    def owed_fen(self) -> int:
        # with_balances' CASE: a cancelled bill owes nothing.
        if self.status == Bill.Status.CANCELLED:
            return 0
        return self.amount_fen - self.adjusted_fen - self.paid_fen


def _in(values) -> str:
    return ", ".join(["%s"] * len(values))


def page_balances(rows: list[dict]) -> dict[int, BillBalance]:
    """Balances of the bills in ``rows`` (dicts carrying the bill's own fields, see
    ``BillBalance``), keyed by bill id: the same sums as ``with_balances`` (approved
    adjustments by kind, allocations), one query for any number of bills."""
    balances = {
        r["pk"]: BillBalance(
            status=r["status"], amount_fen=r["amount_fen"], due_date=r["due_date"],
            late_fee_daily_rate=r["late_fee_daily_rate"],
            late_fee_grace_days=r["late_fee_grace_days"], late_fee_cap_fen=r["late_fee_cap_fen"])
        for r in rows
    }
    if not balances:
        return balances
    ids = list(balances)
    # Plain SQL for the reason given at _PAGE_SQL. SUM of bigint is numeric on
    # PostgreSQL, hence int().
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT bill_id, kind, SUM(amount_fen), 0 FROM billing_billadjustment"
            f" WHERE status = %s AND bill_id IN ({_in(ids)}) GROUP BY bill_id, kind"
            f" UNION ALL SELECT bill_id, '', SUM(principal_fen), SUM(late_fee_fen)"
            f" FROM payments_paymentallocation WHERE bill_id IN ({_in(ids)}) GROUP BY bill_id",
            [BillAdjustment.Status.APPROVED, *ids, *ids])
        for bill_id, kind, first, second in cursor.fetchall():
            balance = balances[bill_id]
            if not kind:  # allocations
                balance.paid_fen, balance.late_fee_paid_fen = int(first), int(second)
            elif kind in CHARGE_REDUCING:
                balance.adjusted_fen += int(first)
            elif kind == BillAdjustment.Kind.LATE_FEE_WAIVER:
                balance.late_fee_waived_fen += int(first)
    return balances


@dataclass(slots=True)
class BillRow:
    """One line of the bills list, every figure and link already made once in Python, so
    the template only prints strings (no tags, filters or includes per row)."""

    pk: int
    url: str
    name: str
    status: str
    status_label: str
    is_overdue: bool
    amount_fen: int
    due_now_fen: int | None   # open bills: principal still owed + late fee as of today
    due_date: dt.date
    amount_text: str          # what the row shows: due now (open) or the bill's amount
    due_text: str             # "YYYY-MM-DD"


@dataclass
class BillGroup:
    unit_id: int
    unit_label: str
    period_key: str
    bills: list[BillRow] = field(default_factory=list)
    pay_url: str = ""

    @property
    def pay_query(self) -> str:
        """``bill=…&bill=…``: the pay page with this group's open bills chosen."""
        return urlencode([("bill", b.pk) for b in self.bills
                          if b.status in Bill.OPEN_STATUSES])


# The bills list's row query. Plain SQL because Django builds and compiles a query like
# this in ~2 ms of CPU per request, more than PostgreSQL takes to run it; the values are
# converted by the columns' own converters (dates and decimals on SQLite), as the ORM
# would. Columns: (key, SQL, Bill field whose converters apply or None).
_PAGE_COLUMNS = (
    ("pk", "b.id", None), ("unit_id", "b.unit_id", None), ("period_key", "b.period_key", None),
    ("status", "b.status", None), ("amount_fen", "b.amount_fen", None),
    ("due_date", "b.due_date", "due_date"),
    ("late_fee_daily_rate", "b.late_fee_daily_rate", "late_fee_daily_rate"),
    ("late_fee_grace_days", "b.late_fee_grace_days", None),
    ("late_fee_cap_fen", "b.late_fee_cap_fen", None),
    ("fee_item_name", "f.name", None), ("parking_code", "p.code", None),
    ("building_name", "bu.name", None), ("entrance", "u.entrance", None),
    ("room_no", "u.room_no", None),
)
_PAGE_SQL = (
    "SELECT " + ", ".join(sql for _key, sql, _field in _PAGE_COLUMNS)
    + " FROM billing_bill b JOIN billing_feeitem f ON f.id = b.fee_item_id"
    " JOIN estate_unit u ON u.id = b.unit_id JOIN estate_building bu ON bu.id = u.building_id"
    " LEFT JOIN estate_parkingspace p ON p.id = b.parking_space_id"
    " WHERE b.unit_id IN ({units}) AND b.status IN ({statuses})"
    " ORDER BY b.period_start DESC, b.unit_id, b.fee_item_id, b.id LIMIT %s OFFSET %s"
)


def _column_converters() -> list:
    converters = []
    for _key, _sql, name in _PAGE_COLUMNS:
        if name is None:
            converters.append(())
            continue
        col = Bill._meta.get_field(name).get_col("b")
        converters.append([(fn, col) for fn in connection.ops.get_db_converters(col)
                           + col.get_db_converters(connection)])
    return converters


def page_rows(unit_ids, *, statuses, offset: int, limit: int) -> list[dict]:
    """Bills of ``unit_ids`` in ``statuses``, newest period first, ``limit`` from
    ``offset``, as dicts keyed like ``_PAGE_COLUMNS`` (index ``bill_unit_status`` and a
    top-N sort; no ``detail`` JSON, no model instances)."""
    units, statuses = sorted(unit_ids), list(statuses)
    if not units or not statuses:
        return []
    with connection.cursor() as cursor:
        cursor.execute(_PAGE_SQL.format(units=_in(units), statuses=_in(statuses)),
                       [*units, *statuses, limit, offset])
        raw = cursor.fetchall()
    keys, converters = [key for key, _sql, _field in _PAGE_COLUMNS], _column_converters()
    rows = []
    for values in raw:
        values = list(values)
        for i, pairs in enumerate(converters):
            for fn, col in pairs:
                values[i] = fn(values[i], col, connection)
        rows.append(dict(zip(keys, values, strict=True)))
    return rows


def _url_pattern(name: str) -> str:
    """A URL with ``{}`` where its one integer argument goes: ``reverse`` once per page,
    not once per row."""
    marker = 987654321
    return reverse(name, args=[marker]).replace(str(marker), "{}")


def bills_page(unit_ids, *, tab: str, page: int, today: dt.date) -> tuple[list[BillGroup], bool]:
    """One page of the bills list, grouped by unit and period, newest period first.
    Returns the groups (of ``BillRow``) and whether there is a next page.

    Two queries: the page's rows (``page_rows``), then balances for its open bills only
    (``page_balances``) — closed bills show their amount, and an open bill's figures are
    exactly ``with_balances`` + ``late_fee_due_fen``.
    """
    statuses = Bill.OPEN_STATUSES if tab == "unpaid" else PAID_TAB_STATUSES
    page = max(page, 1)
    start = (page - 1) * PAGE_SIZE
    rows = page_rows(unit_ids, statuses=statuses, offset=start, limit=PAGE_SIZE + 1)
    has_next = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    balances = page_balances([r for r in rows if r["status"] in Bill.OPEN_STATUSES])
    bill_url, pay_url = _url_pattern("portal:bill"), _url_pattern("portal:pay")
    labels = {s: str(label) for s, label in Bill.Status.choices}
    labels["overdue"] = pgettext("portal", "Overdue")
    groups: dict[tuple[int, str], BillGroup] = {}
    for r in rows:
        groups.setdefault((r["unit_id"], r["period_key"]), BillGroup(
            unit_id=r["unit_id"], period_key=r["period_key"], pay_url=pay_url.format(r["unit_id"]),
            unit_label=f"{r['building_name']}{r['entrance']}{r['room_no']}",  # Unit.__str__
        )).bills.append(_bill_row(r, balances.get(r["pk"]), today=today, labels=labels,
                                  url=bill_url.format(r["pk"])))
    return list(groups.values()), has_next


def _bill_row(r: dict, balance: BillBalance | None, *, today: dt.date, labels: dict[str, str],
              url: str) -> BillRow:
    due_now_fen = None
    if balance is not None:  # an open bill
        due_now_fen = max(balance.owed_fen, 0) + late_fee_due_fen(balance, as_of=today)
    is_overdue = r["status"] in Bill.OPEN_STATUSES and r["due_date"] < today
    name = r["fee_item_name"]
    if r["parking_code"]:
        name = f"{name} {r['parking_code']}"
    return BillRow(
        pk=r["pk"], url=url, name=name, status=r["status"], is_overdue=is_overdue,
        status_label=labels["overdue" if is_overdue else r["status"]],
        amount_fen=r["amount_fen"], due_now_fen=due_now_fen, due_date=r["due_date"],
        amount_text=format_fen(r["amount_fen"] if due_now_fen is None else due_now_fen),
        due_text=r["due_date"].isoformat(),
    )


def bill_detail(unit_ids, *, bill_id: int, today: dt.date) -> Bill | None:
    """A bill of the owner's units with everything its page shows, or None."""
    bill = (with_balances(Bill.objects.filter(pk=bill_id, unit_id__in=unit_ids))
            .select_related("fee_item", "standard", "rate", "reading__meter", "parking_space",
                            "unit__building", "community").first())
    if bill is None:
        return None
    bill.late_fee_now_fen = late_fee_due_fen(bill, as_of=today)
    bill.due_now_fen = max(bill.owed_fen, 0) + bill.late_fee_now_fen
    bill.is_overdue = bill.status in Bill.OPEN_STATUSES and bill.due_date < today
    bill.adjustment_list = list(
        bill.adjustments.filter(status__in=(BillAdjustment.Status.APPROVED,
                                            BillAdjustment.Status.PENDING)).order_by("pk"))
    bill.allocation_list = list(bill.allocations.select_related("payment__receipt")
                                .order_by("payment__received_at"))
    return bill


def payable_bills(unit_ids, *, unit_id: int, today: dt.date) -> list[Bill]:
    """Open bills of one unit that cost something today, with ``due_now_fen`` set."""
    result = []
    for bill in open_bills(unit_ids, unit_id=unit_id):
        principal, late = bill_due_fen(bill, today=today)
        if principal + late > 0:
            bill.late_fee_now_fen, bill.due_now_fen = late, principal + late
            result.append(bill)
    return result


def pay_channels(community_id: int) -> set[str]:
    return set(MerchantAccount.objects.filter(community_id=community_id, enabled=True)
               .values_list("channel", flat=True))


def owner_order(unit_ids, user, *, order_id: int) -> PaymentOrder | None:
    """An order of the owner's units that this owner started (staff orders at the
    counter and other payers' attempts are not theirs to follow)."""
    return (PaymentOrder.objects.filter(pk=order_id, unit_id__in=unit_ids, payer=user)
            .select_related("unit__building", "account", "payment").first())


def owner_payments(unit_ids) -> list[Payment]:
    """The latest payments of the owner's units with their receipts (capped)."""
    return list(Payment.objects.filter(unit_id__in=unit_ids)
                .select_related("receipt", "unit__building")
                .order_by("-received_at", "-pk")[:HISTORY_SIZE])


def owner_payment(unit_ids, *, payment_id: int) -> Payment | None:
    return (Payment.objects.filter(pk=payment_id, unit_id__in=unit_ids)
            .select_related("receipt", "unit__building").first())


def prepaid_movements(unit_ids) -> list[PrepaidMovement]:
    return list(PrepaidMovement.objects.filter(wallet__unit_id__in=unit_ids)
                .select_related("wallet__unit__building", "payment")
                .order_by("-at", "-pk")[:HISTORY_SIZE])

