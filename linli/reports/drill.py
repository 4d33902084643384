"""Drill-down: the records behind each figure, in signed sections whose totals add up to
the figure (bills issued, less their waivers; money applied, less refunds …). The
querysets are the very ones ``figures.py`` sums, so the rows always add up."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import QuerySet, Sum
from django.urls import reverse
from django.utils.translation import gettext as _

from linli.payments.models import PrepaidMovement
from linli.reports import figures as f
from linli.reports.definitions import AGING_BUCKETS
from linli.reports.scope import Scope, Window, end_of

MAX_ROWS = 500   # rows listed per section; the totals always count every row


@dataclass
class Row:
    when: dt.datetime | dt.date | None
    unit: str
    fee_item: str
    period: str
    what: str
    amount_fen: int
    link: str = ""


@dataclass
class Section:
    title: str
    sign: int                   # +1 adds to the figure, −1 takes away
    total_fen: int
    count: int
    rows: list[Row] = field(default_factory=list)


@dataclass
class Drill:
    figure: str
    sections: list[Section]

    @property
    def total_fen(self) -> int:
        return sum(s.sign * s.total_fen for s in self.sections)


def _bill_link(bill_id: int) -> str:
    return reverse("admin:billing_bill_change", args=[bill_id])


def _bills(qs: QuerySet, title: str, sign: int, when: str = "issued_at") -> Section:
    qs = qs.select_related("unit__building", "fee_item", "bill_run")
    total = qs.aggregate(s=Sum("amount_fen", default=0))["s"]
    rows = [Row(getattr(b, when) if when == "issued_at" else b.bill_run.reversed_at,
                str(b.unit), b.fee_item.name, b.period_key, b.get_status_display(),
                b.amount_fen, _bill_link(b.pk))
            for b in qs.order_by("period_start", "unit_id", "pk")[:MAX_ROWS]]
    return Section(title, sign, total, qs.count(), rows)


def _adjustments(qs: QuerySet, sign: int) -> Section:
    qs = qs.select_related("bill__unit__building", "bill__fee_item")
    total = qs.aggregate(s=Sum("amount_fen", default=0))["s"]
    rows = [Row(a.decided_at, str(a.bill.unit), a.bill.fee_item.name, a.bill.period_key,
                a.get_kind_display(), a.amount_fen, _bill_link(a.bill_id))
            for a in qs.order_by("decided_at", "pk")[:MAX_ROWS]]
    return Section(_("Waivers, discounts and cancellations"), sign, total, qs.count(), rows)


def _allocations(qs: QuerySet, title: str, sign: int, column: str = "principal_fen") -> Section:
    qs = qs.filter(**{f"{column}__gt": 0}).select_related(
        "payment", "bill__unit__building", "bill__fee_item")
    total = qs.aggregate(s=Sum(column, default=0))["s"]
    rows = [Row(a.payment.received_at, str(a.bill.unit), a.bill.fee_item.name,
                a.bill.period_key, a.payment.get_channel_display(), getattr(a, column),
                reverse("admin:payments_payment_change", args=[a.payment_id]))
            for a in qs.order_by("payment__received_at", "pk")[:MAX_ROWS]]
    return Section(title, sign, total, qs.count(), rows)


def _refunds(qs: QuerySet, sign: int) -> Section:
    qs = qs.select_related("application", "bill__unit__building", "bill__fee_item")
    total = qs.aggregate(s=Sum("amount_fen", default=0))["s"]
    rows = [Row(r.application.refunded_at, str(r.bill.unit), r.bill.fee_item.name,
                r.bill.period_key, r.get_basis_display(), r.amount_fen,
                reverse("admin:refunds_refundapplication_change", args=[r.application_id]))
            for r in qs.order_by("application__refunded_at", "pk")[:MAX_ROWS]]
    return Section(_("Refunds completed"), sign, total, qs.count(), rows)


def _prepaid(scope: Scope, cut) -> Section | None:
    if scope.fee_item_id is not None:
        return None
    qs = PrepaidMovement.objects.filter(at__lt=cut).select_related("wallet__unit__building")
    if scope.community_ids is not None:
        qs = qs.filter(wallet__community_id__in=sorted(scope.community_ids))
    if scope.building_id is not None:
        qs = qs.filter(wallet__unit__building_id=scope.building_id)
    if scope.unit_id is not None:
        qs = qs.filter(wallet__unit_id=scope.unit_id)
    total = qs.aggregate(s=Sum("amount_fen", default=0))["s"]
    rows = [Row(m.at, str(m.wallet.unit), "", "", m.get_kind_display(), m.amount_fen,
                reverse("admin:payments_prepaidwallet_change", args=[m.wallet_id]))
            for m in qs.order_by("at", "pk")[:MAX_ROWS]]
    return Section(_("Prepaid balance movements"), 1, total, qs.count(), rows)


def _charges(scope, where, cut) -> list[Section]:
    adjustments, reversed_bills = f.reductions(scope, where, cut)
    return [_bills(f.issued_bills(scope, where, cut), _("Bills issued"), 1),
            _adjustments(adjustments, -1),
            _bills(reversed_bills, _("Bills of reversed runs"), -1, when="reversed")]


def _bucketed(where: dict, bucket: int | None, as_of: dt.date) -> dict:
    """Bills of one aging bucket: due between the bucket's day limits before ``as_of``."""
    if bucket is None:
        return where
    most_days = AGING_BUCKETS[bucket][0]                       # None: no limit
    fewer_days = AGING_BUCKETS[bucket - 1][0] if bucket else None
    out = dict(where)
    if most_days is not None:
        out["due_date__gte"] = as_of - dt.timedelta(days=most_days)
    if fewer_days is not None:
        out["due_date__lt"] = as_of - dt.timedelta(days=fewer_days)
    return out


FIGURES = ("charged", "collected", "late_fee", "owed", "opening", "recovered", "advance",
           "aging")


def drill(figure: str, scope: Scope, window: Window | None, as_of: dt.date,
          bucket: int | None = None) -> Drill:
    """The sections behind ``figure`` (one of ``FIGURES``) for the scope, window and date;
    ``bucket`` for "aging" (an index into ``AGING_BUCKETS``)."""
    cut = end_of(as_of)
    if figure == "aging":
        where = _bucketed({}, bucket, as_of)
        return Drill(figure, [*_charges(scope, where, cut), _allocations(
            f.allocations(scope, where, cut), _("Money applied"), -1)])
    start_cut = min(end_of(window.start - dt.timedelta(days=1)), cut)
    before = {"period_end__lt": window.start}
    if figure == "charged":
        sections = _charges(scope, window.where(), cut)
    elif figure == "collected":
        sections = [_allocations(f.allocations(scope, window.where(), cut), _("Money applied"),
                                 1), _refunds(f.refund_lines(scope, window.where(), cut), -1)]
    elif figure == "late_fee":
        sections = [_allocations(f.allocations(scope, window.where(), cut),
                                 _("Late fees paid"), 1, column="late_fee_fen")]
    elif figure == "owed":
        sections = [*_charges(scope, window.where(), cut), _allocations(
            f.allocations(scope, window.where(), cut), _("Money applied"), -1)]
    elif figure == "opening":
        sections = [*_charges(scope, before, start_cut), _allocations(
            f.allocations(scope, before, start_cut), _("Money applied"), -1)]
    elif figure == "recovered":
        sections = [_allocations(f.allocations(scope, before, cut, start_cut),
                                 _("Money applied"), 1),
                    _refunds(f.refund_lines(scope, before, cut, start_cut), -1)]
    elif figure == "advance":
        future = {"period_start__gt": as_of}
        sections = [_allocations(f.allocations(scope, future, cut, start_cut),
                                 _("Money applied to later periods"), 1),
                    _refunds(f.refund_lines(scope, future, cut, start_cut), -1)]
        prepaid = _prepaid(scope, cut)
        sections += [prepaid] if prepaid else []
    else:
        raise ValueError(figure)
    return Drill(figure, sections)
