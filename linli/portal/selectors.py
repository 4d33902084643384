"""What the owner portal reads. Every function takes the owner's unit ids (from
``owner_unit_ids``) and filters by them first, so a page can never show another
owner's rows; money figures follow the billing selectors (``with_balances``,
``late_fee_due_fen``), never a second copy of their rules: the bills list reads the same
sums for its page's bills in one query of grouped sums (``page_balances``, compared with
``with_balances`` by the tests) and hands them to ``late_fee_due_fen``.

Speed: the bills list is read by ``unit_id IN (…)`` and status, which the index
``bill_unit_status`` serves, one page at a time (``PAGE_SIZE`` + 1 rows, no COUNT), as
plain values of the bill's own columns; a second query brings the balances and the names
the page shows (``page_details``) — a page costs the same with a million bills in the
table, and it reaches the template as ready, escaped HTML per group (``BillGroup.html``):
building model instances, the balance subqueries, joins that PostgreSQL spends longer
planning than running, and per-row template tags cost many times the CPU of ``/healthz``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from html import escape

from django.db import connection
from django.urls import get_script_prefix, get_urlconf, reverse
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, pgettext

from linli.billing.models import Bill, BillAdjustment
from linli.billing.selectors import CHARGE_REDUCING, late_fee_due_fen, with_balances
from linli.estate.models import Unit
from linli.money import format_fen
from linli.owners.selectors import owner_access
from linli.payments.models import (
    MerchantAccount,
    Payment,
    PaymentOrder,
    PrepaidMovement,
    PrepaidWallet,
)

PAGE_SIZE = 20  # bills per page of the list: a few months of one home on a phone's screen
HISTORY_SIZE = 50
PAID_TAB_STATUSES = tuple(s for s in Bill.Status.values if s not in Bill.OPEN_STATUSES)


def owner_unit_ids(user) -> frozenset[int]:
    """The units this signed-in owner may see (empty for anyone else), cached on the
    request's user: the owners app's rule (``owner_access``: current occupancies of the
    owner's mobile number; binding requests become occupancies once staff approve them),
    read once per request together with ``owner_required``'s "is this an owner"."""
    return owner_access(user) or frozenset()


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
    return page_details(rows, balance_rows=rows)[0]


@dataclass
class PageNames:
    """What the bills list shows by name, for one page's bills."""

    fee_items: dict[int, str] = field(default_factory=dict)
    parking_spaces: dict[int, str] = field(default_factory=dict)
    units: dict[int, str] = field(default_factory=dict)  # as Unit.__str__


def page_details(rows: list[dict], *, balance_rows: list[dict]
                 ) -> tuple[dict[int, BillBalance], PageNames]:
    """For a page of ``page_rows``: the balances of ``balance_rows`` (as ``page_balances``)
    and the names of the page's fee items, parking spaces and units, in one query: plain
    SELECTs by key joined by UNION ALL (joining the names to the rows' own query costs
    PostgreSQL more planning than both queries take to run). Each result row is
    (kind, id, text, text, text, number, number); SUM of bigint is numeric on
    PostgreSQL, hence int()."""
    balances = {
        r["pk"]: BillBalance(
            status=r["status"], amount_fen=r["amount_fen"], due_date=r["due_date"],
            late_fee_daily_rate=r["late_fee_daily_rate"],
            late_fee_grace_days=r["late_fee_grace_days"], late_fee_cap_fen=r["late_fee_cap_fen"])
        for r in balance_rows
    }
    names = PageNames()
    parts: list[str] = []
    params: list = []
    if balances:
        ids = list(balances)
        parts += [
            f"SELECT 'a', bill_id, kind, NULL, NULL, SUM(amount_fen), 0"
            f" FROM billing_billadjustment WHERE status = %s AND bill_id IN ({_in(ids)})"
            f" GROUP BY bill_id, kind",
            f"SELECT 'p', bill_id, NULL, NULL, NULL, SUM(principal_fen), SUM(late_fee_fen)"
            f" FROM payments_paymentallocation a WHERE bill_id IN ({_in(ids)})"
            # A payment taken back (a reversed run's prepaid offset) no longer pays.
            f" AND NOT EXISTS (SELECT 1 FROM payments_paymentreversal r"
            f" WHERE r.payment_id = a.payment_id) GROUP BY bill_id",
        ]
        params += [BillAdjustment.Status.APPROVED, *ids, *ids]
    for sql, ids in (
        ("SELECT 'f', id, name, NULL, NULL, 0, 0 FROM billing_feeitem WHERE id IN ({})",
         {r["fee_item_id"] for r in rows}),
        ("SELECT 's', id, code, NULL, NULL, 0, 0 FROM estate_parkingspace WHERE id IN ({})",
         {r["parking_space_id"] for r in rows} - {None}),
        ("SELECT 'u', u.id, (SELECT bu.name FROM estate_building bu WHERE bu.id = u.building_id),"
         " u.entrance, u.room_no, 0, 0 FROM estate_unit u WHERE u.id IN ({})",
         {r["unit_id"] for r in rows}),
    ):
        if ids:
            parts.append(sql.format(_in(ids)))
            params += sorted(ids)
    if not parts:
        return balances, names
    with connection.cursor() as cursor:
        cursor.execute(" UNION ALL ".join(parts), params)
        result = cursor.fetchall()
    for kind, key, text, entrance, room_no, first, second in result:
        if kind == "a":
            balance = balances[key]
            if text in CHARGE_REDUCING:
                balance.adjusted_fen += int(first)
            elif text == BillAdjustment.Kind.LATE_FEE_WAIVER:
                balance.late_fee_waived_fen += int(first)
        elif kind == "p":
            balances[key].paid_fen, balances[key].late_fee_paid_fen = int(first), int(second)
        elif kind == "f":
            names.fee_items[key] = text
        elif kind == "s":
            names.parking_spaces[key] = text
        else:
            names.units[key] = f"{text}{entrance}{room_no}"  # Unit.__str__
    return balances, names


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
    html: str = ""            # the row's <li> (``_ROW_HTML``), escaped


# The bills list's markup for one group (portal/bills.html prints it as it is), made here
# with ``escape`` once per page: a page of rows in template variables and tags costs more
# CPU than the rest of the page. Classes and structure are portal.css's.
_ROW_HTML = (
    '<li class="list-item bill"><a href="{url}">\n'
    '<span class="name">{name}</span>\n'
    '<span class="amount">{amount}</span>\n'
    '<span class="meta"><span class="badge badge-{status}{overdue}">{label}</span>{due}</span>\n'
    '</a></li>\n'
)
_DUE_HTML = '\n<span class="muted">{label} {date}</span>'
_GROUP_HTML = (
    '<section class="card group">\n<h2>{title}</h2>\n<ul class="list">\n{rows}</ul>\n'
    '{pay}</section>\n'
)
_PAY_HTML = '<a class="btn btn-secondary" href="{url}?{query}">{label}</a>\n'


@dataclass
class BillGroup:
    unit_id: int
    unit_label: str
    period_key: str
    bills: list[BillRow] = field(default_factory=list)
    pay_url: str = ""

    html: str = ""  # the group's <section> (``_GROUP_HTML``), escaped

    @property
    def pay_query(self) -> str:
        """``bill=…&bill=…``: the pay page with this group's open bills chosen."""
        return "&".join(f"bill={b.pk}" for b in self.bills if b.status in Bill.OPEN_STATUSES)


# The bills list's row query. Plain SQL because Django builds and compiles a query like
# this in ~2 ms of CPU per request, more than PostgreSQL takes to run it; the values are
# converted by the columns' own converters (dates and decimals on SQLite), as the ORM
# would. Columns: (key, SQL, Bill field whose converters apply or None). The bill's own
# columns only: names come with the balances (``page_details``).
_PAGE_COLUMNS = (
    ("pk", "b.id", None), ("unit_id", "b.unit_id", None), ("period_key", "b.period_key", None),
    ("status", "b.status", None), ("amount_fen", "b.amount_fen", None),
    ("due_date", "b.due_date", "due_date"),
    ("late_fee_daily_rate", "b.late_fee_daily_rate", "late_fee_daily_rate"),
    ("late_fee_grace_days", "b.late_fee_grace_days", None),
    ("late_fee_cap_fen", "b.late_fee_cap_fen", None),
    ("fee_item_id", "b.fee_item_id", None), ("parking_space_id", "b.parking_space_id", None),
)
_PAGE_KEYS = tuple(key for key, _sql, _field in _PAGE_COLUMNS)
_PAGE_SQL = (
    "SELECT " + ", ".join(sql for _key, sql, _field in _PAGE_COLUMNS)
    + " FROM billing_bill b WHERE b.unit_id IN ({units}) AND b.status IN ({statuses})"
    " ORDER BY b.period_start DESC, b.unit_id, b.fee_item_id, b.id LIMIT %s OFFSET %s"
)


def _column_converters() -> list[tuple[int, list]]:
    """(column index, [(converter, column), …]) for the columns that have converters on
    this database (none on PostgreSQL: psycopg returns dates and decimals)."""
    converters = []
    for i, (_key, _sql, name) in enumerate(_PAGE_COLUMNS):
        if name is None:
            continue
        col = Bill._meta.get_field(name).get_col("b")
        pairs = [(fn, col) for fn in connection.ops.get_db_converters(col)
                 + col.get_db_converters(connection)]
        if pairs:
            converters.append((i, pairs))
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
    converters = _column_converters() if raw else []
    rows = []
    for values in raw:
        if converters:
            values = list(values)
            for i, pairs in converters:
                for fn, col in pairs:
                    values[i] = fn(values[i], col, connection)
        rows.append(dict(zip(_PAGE_KEYS, values, strict=True)))
    return rows


def _url_pattern(name: str) -> str:
    """A URL with ``{}`` where its one integer argument goes: ``reverse`` once per URL
    configuration and prefix in a process, not once per row."""
    return _url_pattern_for(name, get_script_prefix(), get_urlconf())


@lru_cache(maxsize=32)
def _url_pattern_for(name: str, _prefix: str, _urlconf) -> str:
    marker = 987654321
    return reverse(name, args=[marker]).replace(str(marker), "{}")


@lru_cache(maxsize=8)
def _status_labels(_language: str) -> dict[str, str]:
    """Status → escaped label in the active language (the key), and "overdue"."""
    labels = {s: str(label) for s, label in Bill.Status.choices}
    labels["overdue"] = pgettext("portal", "Overdue")
    labels["due"] = pgettext("portal", "Due")
    labels["pay"] = pgettext("portal", "Pay")
    return {key: escape(text) for key, text in labels.items()}


def bills_page(unit_ids, *, tab: str, page: int, today: dt.date) -> tuple[list[BillGroup], bool]:
    """One page of the bills list, grouped by unit and period, newest period first.
    Returns the groups (of ``BillRow``) and whether there is a next page.

    Two queries: the page's rows (``page_rows``), then balances for its open bills only
    with the names it shows (``page_details``) — closed bills show their amount, and an
    open bill's figures are exactly ``with_balances`` + ``late_fee_due_fen``.
    """
    statuses = Bill.OPEN_STATUSES if tab == "unpaid" else PAID_TAB_STATUSES
    page = max(page, 1)
    start = (page - 1) * PAGE_SIZE
    rows = page_rows(unit_ids, statuses=statuses, offset=start, limit=PAGE_SIZE + 1)
    has_next = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    balances, names = page_details(
        rows, balance_rows=[r for r in rows if r["status"] in Bill.OPEN_STATUSES])
    bill_url, pay_url = _url_pattern("portal:bill"), _url_pattern("portal:pay")
    labels = _status_labels(get_language())
    due_label = labels["due"]
    groups: dict[tuple[int, str], BillGroup] = {}
    for r in rows:
        key = (r["unit_id"], r["period_key"])
        group = groups.get(key)
        if group is None:
            group = groups[key] = BillGroup(
                unit_id=r["unit_id"], period_key=r["period_key"],
                pay_url=pay_url.format(r["unit_id"]), unit_label=names.units[r["unit_id"]])
        group.bills.append(_bill_row(r, balances.get(r["pk"]), names, today=today,
                                     labels=labels, url=bill_url.format(r["pk"]),
                                     due_label=due_label))
    pay_label = labels["pay"]
    for group in groups.values():
        pay = ""
        if tab == "unpaid":
            pay = _PAY_HTML.format(url=group.pay_url, query=group.pay_query.replace("&", "&amp;"),
                                   label=pay_label)
        group.html = mark_safe(_GROUP_HTML.format(  # noqa: S308 — every value escaped
            title=escape(f"{group.unit_label} · {group.period_key}"),
            rows="".join(b.html for b in group.bills), pay=pay))
    return list(groups.values()), has_next


def _bill_row(r: dict, balance: BillBalance | None, names: PageNames, *, today: dt.date,
              labels: dict[str, str],
              url: str, due_label: str) -> BillRow:
    """``labels`` and ``due_label`` come escaped."""
    due_now_fen = None
    if balance is not None:  # an open bill
        due_now_fen = max(balance.owed_fen, 0) + late_fee_due_fen(balance, as_of=today)
    is_overdue = r["status"] in Bill.OPEN_STATUSES and r["due_date"] < today
    name = names.fee_items[r["fee_item_id"]]
    code = names.parking_spaces.get(r["parking_space_id"])
    if code:
        name = f"{name} {code}"
    row = BillRow(
        pk=r["pk"], url=url, name=name, status=r["status"], is_overdue=is_overdue,
        status_label=labels["overdue" if is_overdue else r["status"]],
        amount_fen=r["amount_fen"], due_now_fen=due_now_fen, due_date=r["due_date"],
        amount_text=format_fen(r["amount_fen"] if due_now_fen is None else due_now_fen),
        due_text=r["due_date"].isoformat(),
    )
    # Only the name is free text; the URL, amount, status and date are made of digits,
    # ASCII letters and "¥,.-/_".
    row.html = _ROW_HTML.format(
        url=url, name=escape(name), amount=row.amount_text,
        status=row.status, overdue=" badge-overdue" if is_overdue else "",
        label=row.status_label,
        due="" if due_now_fen is None else _DUE_HTML.format(label=due_label, date=row.due_text))
    return row


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
                .select_related("receipt__void", "unit__building")
                .order_by("-received_at", "-pk")[:HISTORY_SIZE])


def owner_payment(unit_ids, *, payment_id: int) -> Payment | None:
    return (Payment.objects.filter(pk=payment_id, unit_id__in=unit_ids)
            .select_related("receipt__void", "unit__building").first())


def prepaid_movements(unit_ids) -> list[PrepaidMovement]:
    return list(PrepaidMovement.objects.filter(wallet__unit_id__in=unit_ids)
                .select_related("wallet__unit__building", "payment")
                .order_by("-at", "-pk")[:HISTORY_SIZE])

