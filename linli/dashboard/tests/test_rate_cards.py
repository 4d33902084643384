"""The home page's 本月收缴率 and 欠费账龄 cards: the figures the 收缴率 and 欠费明细
reports give for the same communities, each a link to that report."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from linli.money import format_fen
from linli.reports import rates
from linli.reports.definitions import format_rate
from linli.reports.scope import Scope, Window

pytestmark = pytest.mark.django_db


def cards(client, user) -> dict[str, object]:
    client.force_login(user)
    response = client.get("/console/")
    assert response.status_code == 200
    return {card.title: card for card in response.context["cards"]}


def test_the_manager_sees_this_months_rate_and_it_opens_the_same_figure(client, fx):
    found = cards(client, fx.world.manager)
    card = found["本月收缴率"]
    today = timezone.localdate()
    figures = rates.collection_rate(Scope(frozenset({fx.community.pk})),
                                    Window.month(f"{today:%Y-%m}"), today)
    assert figures.charged_fen > 0
    assert card.value == format_rate(figures.rate)
    assert [(label, value) for label, value, _link in card.extra] == [
        ("应收", format_fen(figures.charged_fen)), ("实收", format_fen(figures.collected_fen)),
        ("综合收缴率", format_rate(figures.overall_rate))]
    report = client.get(card.link)
    assert report.status_code == 200 and card.value in report.content.decode()


def test_the_aging_card_totals_what_is_owed_and_opens_the_arrears_list(client, fx):
    card = cards(client, fx.world.manager)["欠费账龄"]
    owed = rates.aging(Scope(frozenset({fx.community.pk})), timezone.localdate())[()]
    assert sum(owed) > 0
    assert card.value == format_fen(sum(owed))
    assert [value for _label, value, _link in card.extra] == [format_fen(f) for f in owed]
    assert client.get(card.link).status_code == 200


def test_another_communitys_manager_sees_no_rate_and_nothing_owed(client, fx):
    found = cards(client, fx.other_manager)
    assert found["本月收缴率"].value == "—"
    assert found["欠费账龄"].value == format_fen(0)


def test_the_home_page_is_titled_as_the_dashboard(client, fx):
    client.force_login(fx.world.manager)
    page = client.get("/console/").content.decode()
    assert re.search(r"<title>\s*工作台", page) and "站点管理" not in page
