"""The unit statement (户账): every document of a unit in time order with running figures
that end where the bills and the wallet are; its console page and Excel export, scoped."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal
from unittest import mock

import openpyxl
import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from linli import testing as t
from linli.billing.models import Bill, BillAdjustment
from linli.billing.services import config
from linli.billing.services.adjustments import bill_adjustment_request
from linli.billing.services.bill_run import bill_run_commit
from linli.billing.services.bill_run_reversal import bill_run_reverse
from linli.estate.models import Occupancy
from linli.ledger.models import JournalEntry
from linli.payments.gateways import gateway_for
from linli.payments.models import Channel, PrepaidWallet
from linli.payments.orders import order_create, trade_apply
from linli.payments.services import payment_record, prepaid_deposit, prepaid_pay_bills
from linli.payments.tests.helpers import sandbox_account
from linli.refunds.models import RefundApplication, RefundPayout
from linli.refunds.payouts import payout_send, refund_execute, refund_record_counter
from linli.refunds.services import refund_apply, refund_approve, refund_reject
from linli.refunds.tests.helpers import check_ok
from linli.reports.statement import Kind, unit_statement, unit_statement_totals
from linli.staff.models import Role

START = dt.date(2024, 1, 1)
SHANGHAI = timezone.get_fixed_timezone(8 * 60)


def at(month: int, day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=SHANGHAI)


@pytest.fixture
def clock():
    """``timezone.now()`` at a chosen moment, so documents carry the times of the story."""

    class Clock:
        now = at(9, 1)

        def set(self, moment: dt.datetime) -> None:
            self.now = moment

    c = Clock()
    with mock.patch.object(timezone, "now", lambda: c.now):
        yield c


def grant(user, *perms: str):
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


def fee(community, name: str, category: str, method: str, price: str, **terms):
    item = config.fee_item_create(acting_user=None, community=community, name=name,
                                  category=category)
    std = config.standard_create(acting_user=None, fee_item=item, name=name, method=method,
                                 **terms)
    config.standard_rate_add(acting_user=None, standard=std, effective_from=START,
                             unit_price=Decimal(price))
    config.binding_create(acting_user=None, standard=std, scope="community", start_date=START)
    return item


def run(community, period: str, item, clock):
    return bill_run_commit(acting_user=None, community_id=community.pk, period_key=period,
                           fee_item_ids=[item.pk], today=clock.now.date())[0]


@pytest.fixture
def story(estate, clock):
    """Two months of one unit (88.50 m² at ¥2.00 = ¥177.00 a month, 0.05 %/day late fee
    after 15 grace days, due 30 days after the month starts):

    09-01 September's bill                                     owed 177.00
    09-02 ¥100 prepaid deposit in cash                                        prepaid 100.00
    09-05 ¥20 waived                                           owed 157.00
    10-01 October's bill, and a 公摊 bill whose run is reversed the next day   owed 334.00
    10-20 ¥162.31 in cash: September's 157.00 + 0.31 late fee, ¥5 kept        owed 177.00, prepaid 105.00
    11-02 October's bill paid from the prepaid balance as far as it goes   owed 72.00, prepaid 0
    """
    community, unit = estate["a1"], estate["a1_unit"]
    cashier = t.make_staff(estate["company_a"], Role.CASHIER, [community])
    prop = fee(community, "物业服务费", "property", "building_area", "2.00", due_days=30,
               late_fee_enabled=True, late_fee_daily_rate=Decimal("0.0005"),
               late_fee_grace_days=15)
    shared = fee(community, "公摊水电", "shared", "fixed_unit", "15.00")
    run(community, "2026-09", prop, clock)
    september = Bill.objects.get(unit=unit, period_key="2026-09")
    clock.set(at(9, 2))
    prepaid_deposit(acting_user=cashier, unit=unit, amount_fen=10000, channel=Channel.CASH,
                    idempotency_key="story-deposit")
    clock.set(at(9, 5))
    bill_adjustment_request(acting_user=None, bill=september, kind=BillAdjustment.Kind.WAIVER,
                            amount_fen=2000, reason="=维修期间减免")
    clock.set(at(10, 1, 9))
    run(community, "2026-10", prop, clock)
    clock.set(at(10, 1, 10))
    shared_run = run(community, "2026-10", shared, clock)
    clock.set(at(10, 2))
    bill_run_reverse(acting_user=None, run=shared_run, reason="公摊金额有误")
    clock.set(at(10, 20))
    # Due 10-01, 15 grace days: on 10-20 four days of late fee, 15700 × 0.0005 × 4 = 31.4.
    payment_record(acting_user=cashier, unit=unit, channel=Channel.CASH, amount_fen=16231,
                   bill_ids=[september.pk], idempotency_key="story-pay",
                   received_at=clock.now, payer_name="张三")
    clock.set(at(11, 2))
    october = Bill.objects.get(unit=unit, period_key="2026-10", fee_item=prop)
    prepaid_pay_bills(acting_user=cashier, unit=unit, bill_ids=[october.pk],
                      idempotency_key="story-offset", as_of=clock.now.date())
    return {"community": community, "unit": unit, "cashier": cashier,
            "september": september, "october": october}


def test_statement_lists_every_document_in_time_order_with_running_figures(story):
    rows = unit_statement(story["unit"].pk)
    assert [(r.kind, r.charge_fen, r.credit_fen, r.prepaid_change_fen, r.owed_after_fen,
             r.prepaid_after_fen) for r in rows] == [
        (Kind.BILL, 17700, 0, 0, 17700, 0),
        (Kind.PAYMENT, 0, 0, 10000, 17700, 10000),  # the deposit
        (Kind.ADJUSTMENT, 0, 2000, 0, 15700, 10000),
        (Kind.BILL, 17700, 0, 0, 33400, 10000),
        (Kind.BILL, 1500, 0, 0, 34900, 10000),
        (Kind.RUN_REVERSED, 0, 1500, 0, 33400, 10000),
        (Kind.PAYMENT, 31, 15731, 500, 17700, 10500),  # late fee charged as it is paid
        (Kind.PAYMENT, 0, 10500, -10500, 7200, 0),  # from the prepaid balance
    ]
    assert [r.at for r in rows] == sorted(r.at for r in rows)
    assert "=维修期间减免" in rows[2].description
    assert rows[6].late_fee_fen == 31 and rows[6].payment_id and rows[6].bill_id == story[
        "september"].pk


def test_statement_ends_where_the_bills_and_the_wallet_are(story):
    rows = unit_statement(story["unit"].pk)
    totals = unit_statement_totals(story["unit"].pk, as_of=dt.date(2026, 11, 20))
    assert (rows[-1].owed_after_fen, rows[-1].prepaid_after_fen) == (
        totals.owed_fen, totals.prepaid_fen) == (7200, 0)
    assert PrepaidWallet.objects.get(unit=story["unit"]).balance_fen == 0
    # October is due 10-31; by 11-20, 20 − 15 grace = 5 days on the 72.00 still owed.
    assert totals.late_fee_fen == 18
    assert [b.pk for b in totals.open_bills] == [story["october"].pk]
    call_command("linli_check", stdout=io.StringIO())


# --- refunds ----------------------------------------------------------------------------------


@pytest.fixture
def refunding(story, estate):
    """The story's cashier may apply for refunds and pay them out; a manager approves."""
    grant(story["cashier"], "refunds.add_refundapplication", "refunds.change_refundapplication")
    manager = t.make_staff(estate["company_a"], Role.MANAGER, [story["community"]])
    return {**story, "manager": manager}


def december(story, clock, day: int = 10) -> Bill:
    """December's bill, issued on 11-``day``: a period not yet started, refundable whole."""
    clock.set(at(11, day))
    item = story["october"].fee_item
    run(story["community"], "2026-12", item, clock)
    return Bill.objects.get(unit=story["unit"], period_key="2026-12", fee_item=item)


def approved(refunding, payment, **what) -> RefundApplication:
    application = refund_apply(acting_user=refunding["cashier"], payment=payment,
                               reason="提前搬离", **what)
    return refund_approve(acting_user=refunding["manager"], application=application)


def tail(rows, n: int) -> list[tuple]:
    return [(r.at, r.kind, r.charge_fen, r.credit_fen, r.prepaid_change_fen, r.owed_after_fen,
             r.prepaid_after_fen) for r in rows[-n:]]


def assert_ends_at_the_bills_and_the_wallet(unit) -> None:
    rows = unit_statement(unit.pk)
    totals = unit_statement_totals(unit.pk)
    assert (rows[-1].owed_after_fen, rows[-1].prepaid_after_fen) == (
        totals.owed_fen, totals.prepaid_fen)
    assert totals.prepaid_fen == PrepaidWallet.objects.get(unit=unit).balance_fen
    assert [r.at for r in rows] == sorted(r.at for r in rows)
    check_ok()  # `linli check`: ledger, receivables, wallets, refunds


@pytest.fixture
def cash_refund(refunding, clock):
    """December paid in cash on 11-12, ¥100 of it paid back in cash on 11-15."""
    bill = december(refunding, clock)
    clock.set(at(11, 12))
    payment = payment_record(acting_user=refunding["cashier"], unit=refunding["unit"],
                             channel=Channel.CASH, amount_fen=17700, bill_ids=[bill.pk],
                             idempotency_key="december-cash")
    clock.set(at(11, 15))
    application = approved(refunding, payment, lines={bill.pk: 10000})
    assert refund_execute(application.pk) is None  # a counter payment: the cashier pays out
    payout = refund_record_counter(acting_user=refunding["cashier"], application=application,
                                   channel=Channel.CASH, reference="现金付讫")
    return {**refunding, "december": bill, "payment": payment, "application": application,
            "payout": payout}


def test_a_partial_refund_is_its_own_row_and_owes_nothing_again(cash_refund, clock):
    unit, bill, payout = cash_refund["unit"], cash_refund["december"], cash_refund["payout"]
    rows = unit_statement(unit.pk)
    assert tail(rows, 3) == [
        (at(11, 10), Kind.BILL, 17700, 0, 0, 24900, 0),
        (at(11, 12), Kind.PAYMENT, 0, 17700, 0, 7200, 0),
        # ¥100 back: the money and the charge reversed together, so nothing is owed again.
        (at(11, 15), Kind.REFUND, 10000, 10000, 0, 7200, 0),
    ]
    refund = rows[-1]
    assert "物业服务费 2026-12" in refund.description
    assert payout.out_refund_no in refund.description
    assert payout.voucher.number in refund.description and "现金付讫" in refund.description
    assert (refund.bill_id, refund.payment_id, refund.refund_application_id) == (
        bill.pk, cash_refund["payment"].pk, cash_refund["application"].pk)
    assert JournalEntry.objects.filter(business_key=refund.ref, kind="refund").exists()
    assert Bill.objects.get(pk=bill.pk).status == Bill.Status.PARTIALLY_REFUNDED
    assert_ends_at_the_bills_and_the_wallet(unit)

    # Applications that moved no money are not on the statement: one awaiting review,
    # one rejected, one approved but not yet paid out.
    clock.set(at(11, 16))
    refund_apply(acting_user=cash_refund["cashier"], payment=cash_refund["payment"],
                 reason="再退一点", lines={bill.pk: 1000})
    rejected = refund_apply(acting_user=cash_refund["cashier"], payment=cash_refund["payment"],
                            reason="再退一点", lines={bill.pk: 2000})
    refund_reject(acting_user=cash_refund["manager"], application=rejected, note="不符合政策")
    approved(cash_refund, cash_refund["payment"], lines={bill.pk: 3000})
    assert tail(unit_statement(unit.pk), 3) == tail(rows, 3)
    assert_ends_at_the_bills_and_the_wallet(unit)


def test_a_prepaid_refund_shows_at_its_own_date_not_on_the_deposit(refunding, clock):
    unit = refunding["unit"]
    clock.set(at(11, 5))
    deposit = prepaid_deposit(acting_user=refunding["cashier"], unit=unit, amount_fen=30000,
                              channel=Channel.CASH, idempotency_key="deposit-300")
    december(refunding, clock)
    clock.set(at(11, 20))
    application = approved(refunding, deposit, prepaid_fen=20000)
    refund_record_counter(acting_user=refunding["cashier"], application=application,
                          channel=Channel.TRANSFER, reference="T-778")
    rows = unit_statement(unit.pk)
    assert tail(rows, 3) == [
        (at(11, 5), Kind.PAYMENT, 0, 0, 30000, 7200, 30000),  # the whole deposit, as it came
        (at(11, 10), Kind.BILL, 17700, 0, 0, 24900, 30000),  # the balance still all there
        (at(11, 20), Kind.REFUND, 0, 0, -20000, 24900, 10000),  # and out when refunded
    ]
    assert "T-778" in rows[-1].description and "¥200.00" in rows[-1].description
    assert rows[-1].payment_id == deposit.pk and rows[-1].bill_id is None
    assert_ends_at_the_bills_and_the_wallet(unit)


def test_bills_paid_from_the_balance_and_refunded_go_back_to_it_on_the_refunds_row(
        refunding, clock):
    unit = refunding["unit"]
    clock.set(at(11, 5))
    prepaid_deposit(acting_user=refunding["cashier"], unit=unit, amount_fen=30000,
                    channel=Channel.CASH, idempotency_key="deposit-300")
    bill = december(refunding, clock)
    clock.set(at(11, 12))
    payment = prepaid_pay_bills(acting_user=refunding["cashier"], unit=unit,
                                bill_ids=[bill.pk], idempotency_key="december-prepaid")
    clock.set(at(11, 20))
    payout = refund_execute(approved(refunding, payment, lines={bill.pk: 17700}).pk)
    assert payout.status == RefundPayout.Status.SUCCESS and payout.channel == Channel.PREPAID
    assert tail(unit_statement(unit.pk), 2) == [
        (at(11, 12), Kind.PAYMENT, 0, 17700, -17700, 7200, 12300),
        (at(11, 20), Kind.REFUND, 17700, 17700, 17700, 7200, 30000),
    ]
    assert_ends_at_the_bills_and_the_wallet(unit)


def test_an_online_prepaid_refund_leaves_the_balance_when_sent_and_is_listed_when_done(
        refunding, clock):
    """The balance is set aside when the payout starts; the refund row comes when the
    gateway confirms. Meanwhile the statement still ends at the wallet."""
    unit = refunding["unit"]
    account = sandbox_account(refunding["community"])
    clock.set(at(11, 5))
    payer = User.objects.create_superuser("statement-payer", "p@example.com", t.PASSWORD)
    order = order_create(payer=payer, channel=Channel.SANDBOX, mode="sandbox",
                         idempotency_key="topup-300", unit=unit, topup_fen=30000)
    topup = trade_apply(account, gateway_for(account.config()).pay(order.out_trade_no),
                        source="test").payment
    clock.set(at(11, 20))
    application = approved(refunding, topup, prepaid_fen=20000)
    with mock.patch("linli.refunds.payouts.payout_send", lambda pk: RefundPayout.objects.get(
            pk=pk)):  # the gateway is not reached yet
        payout = refund_execute(application.pk)
    assert payout.status == RefundPayout.Status.PENDING
    rows = unit_statement(unit.pk)
    assert Kind.REFUND not in {r.kind for r in rows}  # no money has gone yet
    assert tail(rows, 2) == [
        (at(11, 5), Kind.PAYMENT, 0, 0, 30000, 7200, 30000),
        (at(11, 20), Kind.PREPAID, 0, 0, -20000, 7200, 10000),  # set aside, as the wallet is
    ]
    assert f"#{application.pk}" in rows[-1].description
    assert rows[-1].refund_application_id == application.pk
    assert_ends_at_the_bills_and_the_wallet(unit)

    clock.set(at(11, 21))
    assert payout_send(payout.pk).status == RefundPayout.Status.SUCCESS
    rows = unit_statement(unit.pk)
    assert tail(rows, 3) == [
        (at(11, 5), Kind.PAYMENT, 0, 0, 30000, 7200, 30000),
        (at(11, 20), Kind.PREPAID, 0, 0, -20000, 7200, 10000),
        (at(11, 21), Kind.REFUND, 0, 0, 0, 7200, 10000),  # the money gone: counted once
    ]
    assert payout.out_refund_no in rows[-1].description and "¥200.00" in rows[-1].description
    assert_ends_at_the_bills_and_the_wallet(unit)


def test_statement_queries_do_not_grow_with_its_refunds(cash_refund, clock):
    unit, bill = cash_refund["unit"], cash_refund["december"]
    with CaptureQueriesContext(connection) as before:
        unit_statement(unit.pk)
    for day, fen in ((16, 1000), (17, 2000)):
        clock.set(at(11, day))
        application = approved(cash_refund, cash_refund["payment"], lines={bill.pk: fen})
        refund_record_counter(acting_user=cash_refund["cashier"], application=application,
                              channel=Channel.CASH)
    with CaptureQueriesContext(connection) as after:
        rows = unit_statement(unit.pk)
    assert [r.kind for r in rows].count(Kind.REFUND) == 3
    assert len(after) == len(before)


# --- the console ------------------------------------------------------------------------------


def statement_url(unit, suffix="statement/"):
    return f"/console/billing/units/{unit.pk}/{suffix}"


@pytest.fixture
def viewer(estate, story, client, clock):
    """A finance officer of the community, who may read bills and payments but takes no
    money, on 11-20."""
    clock.set(at(11, 20))
    user = grant(t.make_staff(estate["company_a"], Role.FINANCE, [estate["a1"]]),
                 "billing.view_bill", "payments.view_payment")
    client.force_login(user)
    return user


def test_statement_page_shows_header_figures_and_rows(story, viewer, client):
    person = Occupancy.objects.get(unit=story["unit"], is_payer=True).person
    response = client.get(statement_url(story["unit"]))
    assert response.status_code == 200
    html = response.content.decode()
    assert str(story["unit"]) in html and story["community"].name in html
    assert person.name in html and person.mobile_masked in html and person.mobile not in html
    figures = dict(response.context["figures"])
    assert list(figures.values()) == ["¥72.00", "¥0.18", "¥72.18", "¥0.00"]
    table = response.context["statement_table"]["rows"]
    assert len(table) == 8 and table[-1][4] == "¥72.00"
    assert f"/console/payments/payment/{unit_statement(story['unit'].pk)[-1].payment_id}/" in html
    assert f"/console/billing/bill/{story['october'].pk}/" in html
    # No balance left: no button to pay from it; no deposit permission: no deposit link.
    assert response.context["pay_form"] is None
    assert "/deposit/" not in html


def test_statement_page_queries_do_not_grow_with_its_rows(story, viewer, client, clock):
    url = statement_url(story["unit"])
    with CaptureQueriesContext(connection) as before:
        assert client.get(url).status_code == 200
    for day in (21, 22, 23):
        clock.set(at(11, day))
        prepaid_deposit(acting_user=story["cashier"], unit=story["unit"], amount_fen=100,
                        channel=Channel.CASH, idempotency_key=f"more-{day}")
    client.force_login(viewer)  # days later: the idle staff session has ended meanwhile
    with CaptureQueriesContext(connection) as after:
        response = client.get(url)
    assert len(response.context["statement_table"]["rows"]) == 11
    assert len(after) == len(before)


def test_statement_needs_permission_and_scope(estate, client, story):
    outsider = grant(t.make_staff(estate["company_a"], Role.CASHIER, [estate["a2"]]),
                     "billing.view_bill")
    client.force_login(outsider)
    assert client.get(statement_url(story["unit"])).status_code == 404
    assert client.get(statement_url(story["unit"], "statement.xlsx")).status_code == 404
    assert client.get(statement_url(estate["a2_unit"])).status_code == 200
    no_permission = t.make_staff(estate["company_a"], Role.SERVICE, [estate["a1"]])
    no_permission.groups.clear()  # a staff login holding no role's permissions
    client.force_login(no_permission)
    assert client.get(statement_url(story["unit"])).status_code == 403


def test_statement_exports_to_excel_in_exact_yuan(story, viewer, client):
    response = client.get(statement_url(story["unit"], "statement.xlsx"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    values = list(sheet.iter_rows(values_only=True))
    title = values[0][0]
    assert story["community"].name in title and str(story["unit"]) in title
    assert "2026-11-20" in title
    body = values[3:11]
    assert [row[4] for row in body] == [177, 177, 157, 334, 349, 334, 177, 72]
    assert body[6][2] == pytest.approx(0.31) and body[6][3] == pytest.approx(157.31)
    assert "=维修期间减免" in body[2][1]
    assert sheet.cell(row=6, column=2).data_type == "s"  # typed text, never a formula
    assert sheet.cell(row=4, column=5).number_format == "#,##0.00"


def test_excel_amounts_are_written_as_exact_decimals(story, viewer, client):
    """The XML holds the decimal text built from fen, never a float's expansion."""
    import zipfile

    response = client.get(statement_url(story["unit"], "statement.xlsx"))
    xml = zipfile.ZipFile(io.BytesIO(response.content)).read("xl/worksheets/sheet1.xml").decode()
    assert "<v>157.31</v>" in xml and "<v>0.31</v>" in xml
    assert "157.3100000" not in xml and "0.310000" not in xml


def test_refunds_are_on_the_page_and_in_the_excel_export(cash_refund, viewer, client):
    payout = cash_refund["payout"]
    grant(viewer, "refunds.view_refundapplication")
    response = client.get(statement_url(cash_refund["unit"]))
    table = response.context["statement_table"]["rows"]
    assert len(table) == 11 and payout.out_refund_no in table[-1][1]
    assert table[-1][2:] == ["¥100.00", "¥100.00", "¥72.00", "", "¥0.00"]
    application = cash_refund["application"]
    assert f"/console/refunds/refundapplication/{application.pk}/" in table[-1][1]

    response = client.get(statement_url(cash_refund["unit"], "statement.xlsx"))
    values = list(openpyxl.load_workbook(io.BytesIO(response.content)).active.iter_rows(
        values_only=True))
    refund = values[3 + 10]
    assert refund[0] == dt.datetime(2026, 11, 15, 10)
    assert payout.out_refund_no in refund[1] and "物业服务费 2026-12" in refund[1]
    assert refund[2:] == (100, 100, 72, None, 0)
