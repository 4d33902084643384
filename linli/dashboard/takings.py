"""Takings (收款): the money that came in and went out, by channel, cashier, day and month.

How Linli counts it (shown beside the figures, and in every export):

- Money in (收款) is every payment received through a money channel (WeChat Pay, Alipay,
  cash, POS card, bank transfer, cheque; the sandbox in the demo) on its 收款日 —
  payments from the prepaid balance and held money applied by staff are not new money
  and are left out (the money was counted when it came in).
- Refunds paid out (退款支出) are their own lines, negative, on the day the money left:
  refunds of owners' applications paid back through the channel or at the counter,
  Linli's automatic channel refunds, and automatic refunds paid at the counter instead.
- Refunds paid twice recovered at the counter (追回) come back in, on their own lines.
- Net (净额) = money in − refunds paid out + recovered. A cashier's net per channel is
  the cashier's 交班表 (``counter.selectors.takings``): the same records.

Every figure is a sum of records, and ``records`` returns exactly those records (the
drill-down): the test sums them back to the figure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Count, F, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from linli.payments.models import Channel, OrderRefund, Payment
from linli.refunds.models import DuplicateRefund, RefundPayout

PAYMENT, REFUND, RECOVERY = "payment", "refund", "recovery"
KINDS = {PAYMENT: _("Money in"), REFUND: _("Refunds paid out"),
         RECOVERY: _("Refunds paid twice, recovered")}
# Channels through which money really moves, in the order the reports list them.
MONEY_CHANNELS = (Channel.WECHAT, Channel.ALIPAY, Channel.CASH, Channel.POS, Channel.TRANSFER,
                  Channel.CHEQUE, Channel.SANDBOX)
NO_CASHIER = 0  # the "cashier" of online money (nobody at a counter)


@dataclass(frozen=True)
class Source:
    """One kind of record that moves money: where its time, channel, cashier and amount
    are, and which rows count."""

    name: str
    kind: str
    model: type
    at: str
    channel: str
    cashier: str
    filters: dict

    def queryset(self) -> QuerySet:
        return (self.model.objects.filter(**self.filters)
                .filter(**{f"{self.channel}__in": MONEY_CHANNELS}))

    @property
    def sign(self) -> int:
        return -1 if self.kind == REFUND else 1


SOURCES = (
    Source("payments", PAYMENT, Payment, "received_at", "channel", "cashier_id", {}),
    Source("refund_payouts", REFUND, RefundPayout, "finished_at", "channel", "cashier_id",
           {"status": RefundPayout.Status.SUCCESS}),
    Source("order_refunds", REFUND, OrderRefund, "finished_at", "channel", "settled_by_user_id",
           {"status": OrderRefund.Status.SUCCESS}),
    Source("order_refunds_at_counter", REFUND, OrderRefund, "finished_at", "settled_by",
           "settled_by_user_id", {"status": OrderRefund.Status.SETTLED}),
    Source("recoveries", RECOVERY, DuplicateRefund, "resolved_at", "channel", "resolved_by_id",
           {"status": DuplicateRefund.Status.RECOVERED}),
)
SOURCE_BY_NAME = {s.name: s for s in SOURCES}


@dataclass(frozen=True)
class Window:
    """What a figure covers: [start, end) in time, some communities, maybe one cashier
    (``NO_CASHIER`` for online money), one channel, one kind."""

    community_ids: frozenset[int]
    start: dt.datetime
    end: dt.datetime
    cashier_id: int | None = None
    channel: str | None = None
    kind: str | None = None


def day_start(day: dt.date) -> dt.datetime:
    """Midnight at the start of ``day`` in the community's time zone (Asia/Shanghai)."""
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min),
                               timezone.get_current_timezone())


def days_window(community_ids: Iterable[int], first: dt.date, last: dt.date, **kw) -> Window:
    """From the start of ``first`` to the end of ``last`` (local days)."""
    return Window(frozenset(community_ids), day_start(first),
                  day_start(last + dt.timedelta(days=1)), **kw)


def day_window(community_ids: Iterable[int], day: dt.date, **kw) -> Window:
    return days_window(community_ids, day, day, **kw)


def month_first(day: dt.date, shift: int = 0) -> dt.date:
    index = day.year * 12 + day.month - 1 + shift
    return dt.date(index // 12, index % 12 + 1, 1)


def month_window(community_ids: Iterable[int], month: dt.date, **kw) -> Window:
    return Window(frozenset(community_ids), day_start(month_first(month)),
                  day_start(month_first(month, 1)), **kw)


def _filtered(source: Source, window: Window) -> QuerySet | None:
    if window.kind is not None and source.kind != window.kind:
        return None
    qs = source.queryset().filter(**{"community_id__in": list(window.community_ids),
                                     f"{source.at}__gte": window.start,
                                     f"{source.at}__lt": window.end})
    if window.channel is not None:
        qs = qs.filter(**{source.channel: window.channel})
    if window.cashier_id == NO_CASHIER:
        qs = qs.filter(**{f"{source.cashier}__isnull": True})
    elif window.cashier_id is not None:
        qs = qs.filter(**{source.cashier: window.cashier_id})
    return qs


def records(window: Window) -> list[tuple[Source, QuerySet]]:
    """The records that make up the figure of ``window`` (the drill-down)."""
    found = []
    for source in SOURCES:
        qs = _filtered(source, window)
        if qs is not None:
            found.append((source, qs.order_by(source.at, "pk")))
    return found


# --- figures -------------------------------------------------------------------------------


@dataclass
class Figure:
    count: int = 0
    amount_fen: int = 0      # signed: refunds paid out are negative

    def add(self, count: int, amount_fen: int) -> None:
        self.count += count
        self.amount_fen += amount_fen


@dataclass
class Takings:
    """Figures of one window, keyed (kind, channel), optionally per group (cashier id or
    day). ``lines`` lists the keys in report order: money in by channel, then refunds
    paid out by channel, then recoveries."""

    window: Window
    cells: dict[tuple, Figure] = field(default_factory=dict)

    def figure(self, kind: str, channel: str, group=None) -> Figure:
        return self.cells.get((group, kind, channel), Figure())

    def groups(self) -> list:
        return sorted({g for g, _k, _c in self.cells}, key=lambda g: (g is None, g or 0))

    def lines(self, group=None, *, every=False) -> list[tuple[str, str]]:
        present = {(k, c) for g, k, c in self.cells if every or g == group}
        return [(k, c) for k in KINDS for c in MONEY_CHANNELS if (k, c) in present]

    def total(self, group=None, *, kind: str | None = None, channel: str | None = None,
              every=False) -> Figure:
        result = Figure()
        for (g, k, c), fig in self.cells.items():
            if (every or g == group) and kind in (None, k) and channel in (None, c):
                result.add(fig.count, fig.amount_fen)
        return result


def _group_expression(source: Source, by: str):
    if by == "cashier":
        return F(source.cashier)
    return TruncDate(source.at, tzinfo=timezone.get_current_timezone())


def takings(window: Window, *, by: str | None = None) -> Takings:
    """The figures of ``window``: per (kind, channel), and per cashier or day with
    ``by="cashier"`` / ``by="day"``. One grouped query per source."""
    result = Takings(window)
    for source, qs in records(window):
        qs = qs.order_by().annotate(ch=F(source.channel))
        if by is not None:
            qs = qs.annotate(g=_group_expression(source, by))
        rows = (qs.values(*(["g", "ch"] if by else ["ch"]))
                .annotate(n=Count("pk"), total=Sum("amount_fen")))
        for row in rows:
            group = row.get("g")
            if by == "cashier" and group is None:
                group = NO_CASHIER
            key = (group, source.kind, row["ch"])
            result.cells.setdefault(key, Figure()).add(row["n"],
                                                       source.sign * (row["total"] or 0))
    return result
