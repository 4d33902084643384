"""The console's home page (django-unfold's ``DASHBOARD_CALLBACK``): today's takings by
channel, this month against last month, cards other apps add (本月收缴率), and the to-dos
waiting for this staff member — each figure a link to what it is made of."""

from __future__ import annotations

import datetime as dt
import json

from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from linli.core import todos
from linli.dashboard import cards, report, scope
from linli.dashboard import takings as tk
from linli.money import fen_to_decimal, format_fen


def dashboard_callback(request, context: dict) -> dict:
    user = request.user
    ids = scope.community_ids(user)
    context.update({
        "dashboard": True,
        "takings": takings_card(user, ids) if user.has_perm(scope.TAKINGS_PERMISSION) else None,
        "cards": cards.cards_for(user, ids),
        "todos": todo_list(user, ids),
    })
    return context


# --- to-dos ------------------------------------------------------------------------------------


def todo_link(item: todos.Todo) -> str | None:
    try:
        if item.model:
            app_label, model = item.model.lower().split(".")
            base = reverse(f"admin:{app_label}_{model}_changelist")
            return f"{base}?{urlencode({'todo': item.key})}"
        base = reverse(item.url_name)
    except NoReverseMatch:
        return None
    return f"{base}?{item.query}" if item.query else base


def todo_list(user, ids: frozenset[int]) -> list[dict]:
    """Every to-do this user may act on, with how many records wait for them."""
    found = []
    for item in todos.registered():
        link = todo_link(item)
        if link is None or not item.visible_to(user):
            continue
        found.append({"key": item.key, "title": item.title, "icon": item.icon, "link": link,
                      "count": item.pending(user, ids).count()})
    return found


# --- takings -----------------------------------------------------------------------------------


def _report_url(period: str, day: dt.date) -> str:
    query = {"period": period, "day": day.isoformat()}
    if period == "month":
        query["month"] = f"{day:%Y-%m}"
    return f"{reverse('dashboard:takings')}?{urlencode(query)}"


def _figure(label: str, window: tk.Window, by_day: tk.Takings, days) -> dict:
    fen = sum(by_day.total(day).amount_fen for day in days)
    return {"label": label, "amount": format_fen(fen), "fen": fen,
            "link": report.rows_url(window)}


def _days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def _chart(months: list[tuple[str, dt.date, tk.Takings]]) -> str:
    """Net takings per day of each month (yuan, as exact strings: no float)."""
    datasets = []
    for label, first, by_day in months:
        last = tk.month_first(first, 1) - dt.timedelta(days=1)
        datasets.append({"label": label, "data": [
            str(fen_to_decimal(by_day.total(day).amount_fen)) for day in _days(first, last)]})
    datasets[0]["backgroundColor"] = "var(--color-primary-600)"
    datasets[1]["backgroundColor"] = "var(--color-base-300)"
    return json.dumps({"labels": [str(d) for d in range(1, 32)], "datasets": datasets},
                      ensure_ascii=False)


def takings_card(user, ids: frozenset[int]) -> dict:
    """Today by channel; this month so far against last month (the same days, and in
    all), from one by-day reading of each month."""
    own = scope.own_cashier(user)
    today = timezone.localdate()
    window = tk.day_window(ids, today, cashier_id=own)
    first, last_first = tk.month_first(today), tk.month_first(today, -1)
    last_end = first - dt.timedelta(days=1)
    same_day = last_first + dt.timedelta(days=min(today.day, last_end.day) - 1)
    this_month = tk.takings(tk.month_window(ids, first, cashier_id=own), by="day")
    last_month = tk.takings(tk.month_window(ids, last_first, cashier_id=own), by="day")
    return {
        "title": _("My takings today") if own else _("Today's takings"),
        "rows": report.channel_rows(tk.takings(window), window, None, every=True),
        "report_link": _report_url("day", today),
        "month": [
            _figure(_("This month so far"), tk.days_window(ids, first, today, cashier_id=own),
                    this_month, _days(first, today)),
            _figure(_("Last month, same days"),
                    tk.days_window(ids, last_first, same_day, cashier_id=own),
                    last_month, _days(last_first, same_day)),
            _figure(_("Last month in all"), tk.month_window(ids, last_first, cashier_id=own),
                    last_month, _days(last_first, last_end)),
        ],
        "month_link": _report_url("month", today),
        "chart": _chart([(str(_("This month")), first, this_month),
                         (str(_("Last month")), last_first, last_month)]),
        "definitions": report.definitions(),
    }
