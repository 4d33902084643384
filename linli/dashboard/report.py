"""The takings report as tables of cells, each amount with the link that opens the records
behind it: one shape for the page, the dashboard and the Excel export."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from linli.dashboard import takings as tk
from linli.money import format_fen
from linli.payments.models import Channel


@dataclass
class Cell:
    text: str = ""
    fen: int | None = None     # an amount (rendered in yuan); else ``text``
    count: int | None = None   # a number of records
    link: str = ""
    bold: bool = False

    @property
    def display(self) -> str:
        if self.fen is not None:
            return format_fen(self.fen)
        return str(self.count) if self.count is not None else self.text


@dataclass
class Section:
    title: str
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)


@dataclass
class Report:
    title: str
    filters: list[tuple[str, str]]
    sections: list[Section]
    definitions: list[str]


def line_label(kind: str, channel: str) -> str:
    label = str(Channel(channel).label)
    if kind == tk.REFUND:
        return _("%(channel)s, refunds paid out") % {"channel": label}
    if kind == tk.RECOVERY:
        return _("%(channel)s, refunds paid twice recovered") % {"channel": label}
    return label


def rows_url(window: tk.Window, *, community_id: int | None = None, **narrow) -> str:
    """The drill-down page of ``window`` narrowed to a cashier, channel, kind or day."""
    start = timezone.localtime(window.start).date()
    last = timezone.localtime(window.end - dt.timedelta(seconds=1)).date()
    query = {"from": start.isoformat(), "to": last.isoformat()}
    if community_id:
        query["community"] = community_id
    for name in ("cashier", "channel", "kind"):
        value = narrow.get(name, getattr(window, "cashier_id" if name == "cashier" else name))
        if value is not None:
            query[name] = value
    return f"{reverse('dashboard:takings-rows')}?{urlencode(query)}"


def _narrowed(window: tk.Window, **narrow) -> tk.Window:
    fields = {"cashier_id": window.cashier_id, "channel": window.channel, "kind": window.kind}
    fields.update(narrow)
    return tk.Window(window.community_ids, window.start, window.end, **fields)


def _amount(fig: tk.Figure, url: str, *, bold: bool = False) -> list[Cell]:
    return [Cell(count=fig.count, link=url, bold=bold), Cell(fen=fig.amount_fen, link=url,
                                                             bold=bold)]


def channel_rows(result: tk.Takings, window: tk.Window, community_id, group=None,
                 *, every: bool = False) -> list[list[Cell]]:
    """One row per (kind, channel) line, then the net total."""
    rows = []
    for kind, channel in result.lines(group, every=every):
        fig = (result.total(kind=kind, channel=channel, every=True) if every
               else result.figure(kind, channel, group))
        url = rows_url(_narrowed(window, kind=kind, channel=channel), community_id=community_id)
        rows.append([Cell(line_label(kind, channel)), *_amount(fig, url)])
    total = result.total(group, every=every)
    rows.append([Cell(_("Net total"), bold=True),
                 *_amount(total, rows_url(window, community_id=community_id), bold=True)])
    return rows


def by_channel(result: tk.Takings, window, community_id) -> Section:
    return Section(_("By channel"), [pgettext("takings", "Line"), _("Records"),
                                     _("Amount (yuan)")],
                   channel_rows(result, window, community_id, every=True))


def cashier_name(user_id: int, names: dict[int, str]) -> str:
    if user_id == tk.NO_CASHIER:
        return _("Online (no cashier)")
    return names.get(user_id, str(user_id))


def cashier_names(ids) -> dict[int, str]:
    users = get_user_model().objects.filter(pk__in=[i for i in ids if i]).select_related("staff")
    names = {}
    for user in users:
        staff = getattr(user, "staff", None)
        names[user.pk] = f"{staff.display_name} ({user.username})" if staff else user.username
    return names


def by_cashier(result: tk.Takings, window, community_id) -> Section:
    section = Section(_("By cashier"), [_("Cashier"), pgettext("takings", "Line"),
                                        _("Records"), _("Amount (yuan)")])
    groups = result.groups()
    names = cashier_names(groups)
    for group in groups:
        narrowed = _narrowed(window, cashier_id=group)
        for row in channel_rows(result, narrowed, community_id, group):
            section.rows.append([Cell(cashier_name(group, names)), *row])
    return section


def by_day(result: tk.Takings, window, community_id) -> Section:
    section = Section(_("By day"), [pgettext("takings", "Day"), _("Money in"),
                                    _("Refunds paid out"), _("Recovered"), _("Net total")])
    for day in result.groups():
        day_w = tk.day_window(window.community_ids, day, cashier_id=window.cashier_id,
                              channel=window.channel)
        cells = [Cell(day.isoformat())]
        for kind in (tk.PAYMENT, tk.REFUND, tk.RECOVERY):
            fig = result.total(day, kind=kind)
            cells.append(Cell(fen=fig.amount_fen, link=rows_url(_narrowed(day_w, kind=kind),
                                                                 community_id=community_id)))
        cells.append(Cell(fen=result.total(day).amount_fen, bold=True,
                          link=rows_url(day_w, community_id=community_id)))
        section.rows.append(cells)
    return section


def definitions() -> list[str]:
    return [
        _("Money in: payments received through WeChat Pay, Alipay, cash, POS card, bank "
          "transfer or cheque on that day. Payments from the prepaid balance and held money "
          "applied by staff are not new money and are not counted."),
        _("Refunds paid out: their own negative lines, on the day the money left — refunds "
          "paid back through the channel or at the counter, and automatic channel refunds."),
        _("Recovered: refunds paid twice that the owner paid back at the counter."),
        _("Net total = money in − refunds paid out + recovered. A cashier's net total per "
          "channel equals their daily takings sheet (交班表)."),
        _("Every figure opens the records it is made of; they add up to it."),
    ]
