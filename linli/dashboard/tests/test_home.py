"""The console's home page is a dashboard per role: today's takings by channel with
refunds paid out on their own line, this month against last month, and the to-dos
waiting for this user — counted and linked, scoped to their communities."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from linli.core import todos

pytestmark = pytest.mark.django_db
HOME = "/console/"


def home(client, user):
    client.force_login(user)
    response = client.get(HOME)
    assert response.status_code == 200
    return response


def today_lines(response) -> list[tuple[str, str, str]]:
    return [(label.display, count.display, amount.display)
            for label, count, amount in response.context["takings"]["rows"]]


def todo_counts(response) -> dict[str, int]:
    return {item["key"]: item["count"] for item in response.context["todos"]}


def test_a_manager_sees_todays_takings_by_channel_net_of_refunds(client, fx):
    page = home(client, fx.world.manager)
    assert today_lines(page) == [
        ("微信支付", "1", "¥100.00"), ("支付宝", "1", "¥50.00"), ("现金", "1", "¥100.00"),
        ("POS 刷卡", "1", "¥100.00"), ("银行转账", "1", "¥50.00"),
        ("现金，退款支出", "1", "-¥30.00"), ("净额合计", "6", "¥370.00"),
    ]
    text = page.content.decode()
    assert "今日收款" in text and "等待您处理" in text and "现金，退款支出" in text
    month = {fig["label"]: fig["fen"] for fig in page.context["takings"]["month"]}
    assert month["本月至今"] == 37000 and month["上月全月"] == 10000


def test_a_cashier_sees_only_their_own_shift(client, fx):
    page = home(client, fx.world.cashier)
    assert page.context["takings"]["title"] == "我今日的收款"
    assert today_lines(page) == [("现金", "1", "¥100.00"), ("银行转账", "1", "¥50.00"),
                                 ("现金，退款支出", "1", "-¥30.00"), ("净额合计", "3", "¥120.00")]


def test_customer_service_sees_no_takings_and_only_binding_requests(client, fx):
    page = home(client, fx.service)
    assert page.context["takings"] is None
    assert todo_counts(page) == {"binding_requests": 1}


def test_each_role_sees_the_todos_waiting_for_them(client, fx):
    w = fx.world
    assert todo_counts(home(client, w.manager)) == {
        "readings": 1, "refund_approvals": 1, "refunds_failed": 1,
        "refunds_paid_twice": 1, "binding_requests": 1, "bill_run_jobs": 1}
    assert todo_counts(home(client, w.finance)) == {
        "adjustments": 1, "refund_approvals": 2, "anomalies": 1, "refunds_failed": 1,
        "auto_refunds_failed": 0, "refunds_paid_twice": 1}
    assert todo_counts(home(client, w.cashier)) == {
        "refund_approvals": 0, "refunds_failed": 1, "refunds_paid_twice": 1}
    assert todo_counts(home(client, w.admin)) == {
        "readings": 1, "adjustments": 1, "refund_approvals": 2, "anomalies": 1,
        "refunds_failed": 1, "auto_refunds_failed": 0, "refunds_paid_twice": 1,
        "binding_requests": 1, "bill_run_jobs": 1}


def test_whoever_asked_does_not_see_it_to_approve(client, fx):
    """The manager asked for the waiver and for one refund: neither waits for them."""
    w = fx.world
    w.manager.user_permissions.add(Permission.objects.get(codename="approve_billadjustment"))
    counts = todo_counts(home(client, User.objects.get(pk=w.manager.pk)))
    assert counts["adjustments"] == 0 and counts["refund_approvals"] == 1
    assert todo_counts(home(client, w.finance))["adjustments"] == 1


def test_staff_of_another_community_see_nothing(client, fx):
    page = home(client, fx.other_manager)
    assert today_lines(page) == [("净额合计", "0", "¥0.00")]
    assert set(todo_counts(page).values()) == {0}
    assert all(fig["fen"] == 0 for fig in page.context["takings"]["month"])


def test_a_todo_links_to_the_list_of_exactly_those_records(client, fx):
    page = home(client, fx.world.manager)
    link = next(i["link"] for i in page.context["todos"] if i["key"] == "refund_approvals")
    listed = client.get(link)
    assert listed.status_code == 200
    assert [a.pk for a in listed.context["cl"].result_list] == [fx.by_owner.pk]
    failed = next(i["link"] for i in page.context["todos"] if i["key"] == "refunds_failed")
    assert len(client.get(failed).context["cl"].result_list) == 1
    jobs = next(i["link"] for i in page.context["todos"] if i["key"] == "bill_run_jobs")
    assert client.get(jobs).status_code == 200


def test_a_new_app_adds_its_todo_through_the_registry(client, fx):
    from linli.billing.models import MeterReading

    @todos.todo("test_extra", title="测试待办", permission="billing.view_meterreading",
                model="billing.MeterReading")
    def extra(user, community_ids):
        return MeterReading.objects.filter(community_id__in=community_ids)

    try:
        counts = todo_counts(home(client, fx.world.manager))
        assert counts["test_extra"] == 1
        assert todo_counts(home(client, fx.other_manager))["test_extra"] == 0
    finally:
        todos._REGISTRY.pop("test_extra", None)


def test_the_home_page_loads_no_script_from_elsewhere_and_no_inline_script(client, fx):
    text = home(client, fx.world.manager).content.decode()
    assert 'data-type="bar"' in text  # unfold's Chart.js draws it from the data attribute
    inline = [tag for tag in re.findall(r"<script\b[^>]*>", text)
              if "src=" not in tag and "application/json" not in tag]
    assert inline == [] and "cdn" not in text.lower()
    assert all(src.startswith("/static/") for src in re.findall(r'<script[^>]*src="([^"]+)"', text))
    assert reverse("dashboard:takings") in text


def test_every_figure_on_the_home_page_opens_the_records_that_sum_to_it(client, fx):
    for user in (fx.world.manager, fx.world.cashier):
        page = home(client, user)
        card = page.context["takings"]
        for _label, count, amount in card["rows"]:
            drilled = client.get(amount.link)
            assert drilled.context["total_fen"] == amount.fen
            assert len(drilled.context["lines"]) == count.count
            assert sum(line.amount_fen for line in drilled.context["lines"]) == amount.fen
        for fig in card["month"]:
            lines = client.get(fig["link"]).context["lines"]
            assert sum(line.amount_fen for line in lines) == fig["fen"], fig["label"]
