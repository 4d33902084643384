"""Cash refunds paid at the counter are lines of that cashier's 交班表 (on screen, on paper
and in the export), and the shift's cash total is net of them (issue 14)."""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
import pytest
from django.utils import timezone

from linli.counter.selectors import takings
from linli.payments.models import Channel
from linli.refunds.payouts import refund_record_counter
from linli.refunds.services import refund_apply, refund_approve
from linli.refunds.tests.helpers import World, check_ok

pytestmark = pytest.mark.django_db
URL = "/console/payments/takings/"


@pytest.fixture
def shift():
    world = World()
    unit, owner = world.unit()
    bills = world.bills(unit)
    payment = world.pay_cash(unit, [bills["next"], bills["later"]])  # 200 yuan in cash
    application = refund_apply(acting_user=owner, payment=payment, reason="搬走",
                               lines={bills["later"].pk: 7550})
    refund_approve(acting_user=world.manager, application=application)
    payout = refund_record_counter(acting_user=world.cashier, application=application,
                                   channel=Channel.CASH, reference="现金退还")
    return world, payment, payout


def test_the_cash_refund_is_a_line_and_the_cash_total_is_net(shift, client):
    world, payment, payout = shift
    result = takings([world.community.pk], cashier_id=world.cashier.pk,
                     day=timezone.localdate())
    assert [line.amount_fen for line in result.lines] == [20000, -7550]
    assert result.cash_in_fen == 20000 and result.cash_out_fen == 7550
    assert result.cash_net_fen == 12450 == result.total_fen
    client.force_login(world.cashier)
    page = client.get(URL)
    assert page.status_code == 200
    rows = page.context["rows"]
    assert rows[1][1] == payout.voucher.number and rows[1][5] == "-¥75.50"
    assert "退款" in rows[1][4]
    assert page.context["channels"] == [(str(Channel.CASH.label), 2, "¥124.50")]
    assert page.context["grand_total"] == "¥124.50"
    assert page.context["cash"] == {"in": "¥200.00", "out": "¥75.50", "net": "¥124.50"}
    printed = client.get(URL + "print/").content.decode()
    assert "-¥75.50" in printed and "¥124.50" in printed
    check_ok()


def test_the_export_lists_the_refund_and_sums_to_the_net_cash(shift, client):
    world, _payment, _payout = shift
    client.force_login(world.manager)
    response = client.get(URL + "export.xlsx", {"cashier": world.cashier.pk})
    assert response.status_code == 200
    rows = list(openpyxl.load_workbook(io.BytesIO(response.content)).active
                .iter_rows(values_only=True))
    amounts = [Decimal(str(r[5])) for r in rows if r[0] is not None and len(r) > 5
               and isinstance(r[5], (int, float, Decimal))]
    assert Decimal("-75.50") in amounts and Decimal("200.00") in amounts
    assert Decimal(str(rows[-1][5])) == Decimal("124.50")
