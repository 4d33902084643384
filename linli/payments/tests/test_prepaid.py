"""Prepaid balances (预存款): deposits at the counter (once, however often the form is
sent), paying bills from the balance, offset at issue when the community enables it —
and a balance that never goes below zero, even when two cashiers race for it. Also the
read-only payment pages of the console."""

from __future__ import annotations

import re
import threading
from functools import partial

import pytest
from django.contrib.messages import get_messages
from django.db import IntegrityError, connection, transaction
from django.db.models import Sum
from django.utils.translation import gettext as _

from linli import testing as t
from linli.billing.models import Bill, BillingSettings
from linli.billing.selectors import bill_with_balance
from linli.payments.models import (
    Channel,
    Payment,
    PaymentAllocation,
    PrepaidMovement,
    PrepaidWallet,
)
from linli.payments.services import (
    PaymentError,
    payment_record,
    prepaid_deposit,
    prepaid_pay_bills,
)
from linli.payments.tests import helpers
from linli.payments.tests.helpers import check_ok, grant, issue, wallet_fen
from linli.staff.models import Role

# A fixed monthly charge per unit with no late fee: amounts easy to follow.
fixed_fee = partial(helpers.fixed_fee, name="公摊水电", category="shared")







@pytest.fixture
def cashier(estate):
    return grant(t.make_staff(estate["company_a"], Role.CASHIER, [estate["a1"]]),
                 "billing.view_bill", "payments.add_payment", "payments.view_payment",
                 "payments.view_prepaidwallet", "payments.view_prepaidmovement")


# --- the balance never goes below zero ---------------------------------------------------------


@pytest.mark.django_db
def test_paying_from_the_balance_goes_as_far_as_it_goes_and_never_below_zero(estate):
    community, unit = estate["a1"], estate["a1_unit"]
    fixed_fee(community)
    issue(community, "2026-09", "2026-10")
    september, october = Bill.objects.filter(unit=unit).order_by("period_key")
    prepaid_deposit(acting_user=None, unit=unit, amount_fen=15000, channel=Channel.CASH,
                    idempotency_key="d1")

    prepaid_pay_bills(acting_user=None, unit=unit, bill_ids=[september.pk], idempotency_key="o1")
    assert (bill_with_balance(september.pk).status, wallet_fen(unit)) == (Bill.Status.PAID, 5000)
    partly = prepaid_pay_bills(acting_user=None, unit=unit, bill_ids=[october.pk],
                               idempotency_key="o2")
    assert partly.amount_fen == 5000 and wallet_fen(unit) == 0
    assert bill_with_balance(october.pk).owed_fen == 5000
    assert bill_with_balance(october.pk).status == Bill.Status.PARTIALLY_PAID
    assert prepaid_pay_bills(acting_user=None, unit=unit, bill_ids=[october.pk],
                             idempotency_key="o3") is None

    with pytest.raises(PaymentError):  # more than the balance, asked for directly
        payment_record(acting_user=None, unit=unit, channel=Channel.PREPAID, amount_fen=1,
                       bill_ids=[october.pk], idempotency_key="o4")
    with pytest.raises(IntegrityError), transaction.atomic():  # the database's own guard
        PrepaidWallet.objects.filter(unit=unit).update(balance_fen=-1)
    assert not PrepaidMovement.objects.filter(balance_after_fen__lt=0).exists()
    check_ok()


@pytest.mark.django_db
def test_new_bills_are_paid_from_the_balance_at_issue_when_the_community_says_so(
        estate, django_capture_on_commit_callbacks):
    community, unit = estate["a1"], estate["a1_unit"]
    other = t.make_unit(community)
    fixed_fee(community)
    prepaid_deposit(acting_user=None, unit=unit, amount_fen=15000, channel=Channel.POS,
                    reference="POS001", idempotency_key="d1")
    issue(community, "2026-09")
    assert bill_with_balance(Bill.objects.get(unit=unit).pk).status == Bill.Status.UNPAID  # off

    BillingSettings.objects.filter(community=community).update(auto_offset_prepaid=True)
    with django_capture_on_commit_callbacks(execute=True):  # the offset follows the commit
        issue(community, "2026-10")
    with django_capture_on_commit_callbacks(execute=True):
        issue(community, "2026-11")
    oct_bill, nov_bill = Bill.objects.filter(unit=unit, period_key__in=["2026-10", "2026-11"]
                                             ).order_by("period_key")
    assert bill_with_balance(oct_bill.pk).status == Bill.Status.PAID
    assert bill_with_balance(nov_bill.pk).owed_fen == 5000  # the rest of the balance
    assert wallet_fen(unit) == 0
    assert Bill.objects.filter(unit=other, status=Bill.Status.UNPAID).count() == 3  # no wallet
    check_ok()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_cashiers_racing_for_one_balance_cannot_overdraw_it(estate):
    """Two cashiers pay two bills of one unit from a balance that covers only one, at
    the same moment. The wallet is locked before its balance is read, so the second
    pays exactly what is left: one bill paid in full, the other in part, balance 0."""
    community, unit = estate["a1"], estate["a1_unit"]
    fixed_fee(community)
    issue(community, "2026-09", "2026-10")
    bills = list(Bill.objects.filter(unit=unit).order_by("period_key"))
    deposit_fen = bills[0].amount_fen + bills[1].amount_fen // 2
    prepaid_deposit(acting_user=None, unit=unit, amount_fen=deposit_fen, channel=Channel.CASH,
                    idempotency_key="d1")

    start = threading.Barrier(2, timeout=20)
    outcomes: dict[int, object] = {}

    def pay(bill):
        try:
            start.wait()
            outcomes[bill.pk] = prepaid_pay_bills(acting_user=None, unit=unit,
                                                  bill_ids=[bill.pk],
                                                  idempotency_key=f"race-{bill.pk}")
        except Exception as exc:  # noqa: BLE001 — recorded and asserted below
            outcomes[bill.pk] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=pay, args=(bill,)) for bill in bills]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert len(outcomes) == 2
    assert not [o for o in outcomes.values() if isinstance(o, Exception)], outcomes

    statuses = sorted(bill_with_balance(b.pk).status for b in bills)
    assert statuses == sorted([Bill.Status.PAID, Bill.Status.PARTIALLY_PAID])
    allocated = PaymentAllocation.objects.filter(payment__channel=Channel.PREPAID).aggregate(
        total=Sum("principal_fen"))["total"]
    assert allocated == deposit_fen
    assert wallet_fen(unit) == 0
    check_ok()


# --- the deposit page ---------------------------------------------------------------------------


def deposit_url(unit):
    return f"/console/billing/units/{unit.pk}/deposit/"


def form_key(response) -> str:
    return re.search(r'name="key" value="([0-9a-f]{32})"', response.content.decode()).group(1)


@pytest.mark.django_db
def test_a_double_submitted_deposit_is_recorded_once(estate, cashier, client):
    unit = estate["a1_unit"]
    client.force_login(cashier)
    page = client.get(deposit_url(unit))
    assert page.status_code == 200
    assert page.context["form"]["payer_name"].value() == estate["a1_person"].name
    key = form_key(page)
    assert form_key(client.get(deposit_url(unit))) != key  # a new form, a new key
    data = {"key": key, "amount": "1,000.50", "channel": Channel.TRANSFER,
            "reference": "HZ20261127001", "payer_name": "张三"}
    first = client.post(deposit_url(unit), data)
    again = client.post(deposit_url(unit), data)
    said = [str(m) for m in get_messages(again.wsgi_request)]
    expected = _("%(amount)s was added to the prepaid balance of %(unit)s (payment #%(id)s).") % {
        "amount": "¥1,000.50", "unit": unit, "id": Payment.objects.get().pk}
    assert said == [expected, expected]  # the second submit reports the same deposit
    statement = f"/console/billing/units/{unit.pk}/statement/"
    assert first.status_code == again.status_code == 302
    assert first["Location"] == again["Location"] == statement
    deposit = Payment.objects.get()
    assert (deposit.amount_fen, deposit.channel, deposit.reference, deposit.cashier) == (
        100050, Channel.TRANSFER, "HZ20261127001", cashier)
    assert wallet_fen(unit) == 100050
    assert PrepaidMovement.objects.get().kind == PrepaidMovement.Kind.DEPOSIT
    check_ok()


@pytest.mark.django_db
@pytest.mark.parametrize("amount", ["12.345", "0", "-5", "abc", "", "1e3"])
def test_a_deposit_of_no_real_amount_is_refused_and_writes_nothing(estate, cashier, client,
                                                                   amount):
    client.force_login(cashier)
    key = form_key(client.get(deposit_url(estate["a1_unit"])))
    response = client.post(deposit_url(estate["a1_unit"]),
                           {"key": key, "amount": amount, "channel": Channel.CASH})
    assert response.status_code == 200 and response.context["form"].errors["amount"]
    assert not Payment.objects.exists() and not PrepaidWallet.objects.exists()


@pytest.mark.django_db
def test_a_transfer_needs_its_number_and_a_form_needs_its_key(estate, cashier, client):
    client.force_login(cashier)
    unit = estate["a1_unit"]
    key = form_key(client.get(deposit_url(unit)))
    refused = client.post(deposit_url(unit), {"key": key, "amount": "500",
                                              "channel": Channel.TRANSFER})
    assert refused.context["form"].errors["reference"]
    keyless = client.post(deposit_url(unit), {"amount": "500", "channel": Channel.CASH})
    assert keyless.status_code == 200 and keyless.context["form"].errors["key"]
    assert not Payment.objects.exists()


@pytest.mark.django_db
def test_deposits_need_permission_and_scope(estate, cashier, client):
    client.force_login(cashier)
    assert client.get(deposit_url(estate["a2_unit"])).status_code == 404  # not theirs
    assert client.get(deposit_url(estate["b1_unit"])).status_code == 404  # another company
    viewer = grant(t.make_staff(estate["company_a"], Role.FINANCE, [estate["a1"]]),
                   "billing.view_bill")
    client.force_login(viewer)
    assert client.get(deposit_url(estate["a1_unit"])).status_code == 403
    assert client.post(deposit_url(estate["a1_unit"]), {}).status_code == 403


# --- paying from the balance on the statement page ------------------------------------------------


@pytest.mark.django_db
def test_the_statement_button_pays_open_bills_from_the_balance_once(estate, cashier, client):
    community, unit = estate["a1"], estate["a1_unit"]
    fixed_fee(community)
    issue(community, "2026-09", "2026-10")
    prepaid_deposit(acting_user=cashier, unit=unit, amount_fen=15000, channel=Channel.CASH,
                    idempotency_key="d1")
    client.force_login(cashier)
    statement = f"/console/billing/units/{unit.pk}/statement/"
    page = client.get(statement)
    assert page.context["pay_form"]["amount"] == "¥150.00"
    assert page.context["pay_form"]["in_full"] is False
    html = page.content.decode()
    key = re.search(r'name="key" value="([0-9a-f]{32})"', html).group(1)
    bills = re.search(r'name="bills" value="([0-9,]+)"', html).group(1)
    url = f"/console/billing/units/{unit.pk}/pay-from-prepaid/"
    for _attempt in range(2):
        response = client.post(url, {"key": key, "bills": bills})
        assert response.status_code == 302 and response["Location"] == statement
    assert Payment.objects.filter(channel=Channel.PREPAID).count() == 1
    assert wallet_fen(unit) == 0
    owed = sorted(bill_with_balance(b.pk).owed_fen for b in Bill.objects.filter(unit=unit))
    assert owed == [0, 5000]
    assert client.get(statement).context["pay_form"] is None  # nothing left to pay with
    assert client.get(url).status_code == 405
    check_ok()


@pytest.mark.django_db
def test_the_button_pays_only_the_units_own_bills(estate, cashier, client):
    community = estate["a1"]
    fixed_fee(community)
    neighbour = t.make_unit(community)
    issue(community, "2026-09")
    prepaid_deposit(acting_user=cashier, unit=estate["a1_unit"], amount_fen=15000,
                    channel=Channel.CASH, idempotency_key="d1")
    theirs = Bill.objects.get(unit=neighbour)
    client.force_login(cashier)
    response = client.post(f"/console/billing/units/{estate['a1_unit'].pk}/pay-from-prepaid/",
                           {"key": "a" * 32, "bills": str(theirs.pk)}, follow=True)
    assert response.status_code == 200
    assert bill_with_balance(theirs.pk).status == Bill.Status.UNPAID
    assert wallet_fen(estate["a1_unit"]) == 15000


# --- the read-only payment pages -------------------------------------------------------------------


@pytest.fixture
def paid(estate, cashier):
    """A counter payment in each of A1 and A2, and a deposit in A1."""
    fixed_fee(estate["a1"])
    fixed_fee(estate["a2"])
    issue(estate["a1"], "2026-09")
    issue(estate["a2"], "2026-09")
    payments = {}
    for key in ("a1", "a2"):
        bill = Bill.objects.get(unit=estate[f"{key}_unit"])
        payments[key] = payment_record(
            acting_user=cashier, unit=estate[f"{key}_unit"], channel=Channel.POS,
            amount_fen=12000, bill_ids=[bill.pk], idempotency_key=f"p-{key}",
            reference=f"POS-{key}", payer_name="王五")
    payments["deposit"] = prepaid_deposit(acting_user=cashier, unit=estate["a1_unit"],
                                          amount_fen=5000, channel=Channel.CASH,
                                          idempotency_key="d1")
    return payments


@pytest.mark.django_db
def test_payments_are_listed_within_scope_and_never_edited(estate, cashier, client, paid):
    client.force_login(cashier)
    page = client.get("/console/payments/payment/")
    assert page.status_code == 200
    assert {p.pk for p in page.context["cl"].queryset} == {paid["a1"].pk, paid["deposit"].pk}
    found = client.get("/console/payments/payment/", {"q": "POS-a1"})
    assert [p.pk for p in found.context["cl"].queryset] == [paid["a1"].pk]
    by_channel = client.get("/console/payments/payment/", {"channel__exact": "cash"})
    assert [p.pk for p in by_channel.context["cl"].queryset] == [paid["deposit"].pk]
    detail = client.get(f"/console/payments/payment/{paid['a1'].pk}/change/")
    html = detail.content.decode()
    assert detail.status_code == 200 and "¥120.00" in html and "公摊水电 2026-09" in html
    assert "¥100.00" in html and "¥20.00" in html  # settled, and kept as prepaid
    assert client.get(f"/console/payments/payment/{paid['a2'].pk}/change/").status_code == 404
    assert client.get("/console/payments/payment/add/").status_code == 403
    assert client.post(f"/console/payments/payment/{paid['a1'].pk}/change/",
                       {"amount_fen": 1}).status_code == 403
    assert client.get(f"/console/payments/payment/{paid['a1'].pk}/delete/").status_code == 403
    assert Payment.objects.get(pk=paid["a1"].pk).amount_fen == 12000


@pytest.mark.django_db
def test_prepaid_balances_link_to_their_movements_and_statement(estate, cashier, client, paid):
    client.force_login(cashier)
    page = client.get("/console/payments/prepaidwallet/")
    assert page.status_code == 200
    wallets = list(page.context["cl"].queryset)
    assert [w.unit_id for w in wallets] == [estate["a1_unit"].pk]
    html = page.content.decode()
    assert "¥70.00" in html  # ¥20 kept from the payment + ¥50 deposited
    assert f"/console/billing/units/{estate['a1_unit'].pk}/statement/" in html
    assert f"wallet__id__exact={wallets[0].pk}" in html
    moves = client.get("/console/payments/prepaidmovement/",
                       {"wallet__id__exact": wallets[0].pk})
    assert moves.status_code == 200
    assert sorted(m.amount_fen for m in moves.context["cl"].queryset) == [2000, 5000]
    assert client.get("/console/payments/prepaidmovement/add/").status_code == 403
