"""The drill-down: the records behind a takings figure, one line each, with a link to the
record's own console page where the staff member may open it."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.urls import NoReverseMatch, reverse

from linli.dashboard import takings as tk
from linli.dashboard.report import cashier_names, line_label
from linli.money import format_fen

MAX_LINES = 5000

# source name -> (admin URL name of the record's page, permission to open it, related)
PAGES = {
    "payments": ("admin:payments_payment_change", "payments.view_payment",
                 ("community", "unit__building")),
    "refund_payouts": ("admin:refunds_refundpayout_change", "refunds.view_refundpayout",
                       ("community", "application__unit__building")),
    "order_refunds": ("admin:payments_orderrefund_change", "payments.view_orderrefund",
                      ("community", "unit__building")),
    "order_refunds_at_counter": ("admin:payments_orderrefund_change",
                                 "payments.view_orderrefund", ("community", "unit__building")),
    "recoveries": ("admin:refunds_duplicaterefund_change", "refunds.view_duplicaterefund",
                   ("community", "unit__building")),
}


@dataclass
class DrillLine:
    at: dt.datetime
    line: str
    community: str
    unit: str
    cashier: str
    record: str
    amount_fen: int
    link: str

    @property
    def amount_display(self) -> str:
        return format_fen(self.amount_fen)


def _unit(source: tk.Source, obj) -> str:
    if source.name == "refund_payouts":
        return str(obj.application.unit)
    unit = getattr(obj, "unit", None)
    return str(unit) if unit is not None else "—"


def _link(url_name: str, pk: int) -> str:
    try:
        return reverse(url_name, args=[pk])
    except NoReverseMatch:
        return ""


def lines(window: tk.Window, user) -> list[DrillLine]:
    """Every record of ``window``, in time order (at most ``MAX_LINES``)."""
    found: list[DrillLine] = []
    rows = []
    for source, qs in tk.records(window):
        url_name, perm, related = PAGES[source.name]
        may_open = user.has_perm(perm)
        for obj in qs.select_related(*related)[:MAX_LINES]:
            rows.append((source, obj, url_name if may_open else ""))
    names = cashier_names({getattr(obj, source.cashier) for source, obj, _u in rows})
    for source, obj, url_name in rows:
        cashier_id = getattr(obj, source.cashier)
        found.append(DrillLine(
            at=getattr(obj, source.at),
            line=line_label(source.kind, getattr(obj, source.channel)),
            community=obj.community.name,
            unit=_unit(source, obj),
            cashier=names.get(cashier_id, "—") if cashier_id else "—",
            record=str(obj),
            amount_fen=source.sign * obj.amount_fen,
            link=_link(url_name, obj.pk) if url_name else "",
        ))
    found.sort(key=lambda line: line.at)
    return found[:MAX_LINES]
