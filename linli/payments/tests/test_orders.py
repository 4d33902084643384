"""Online payment orders through the sandbox channel: creating orders (amount fixed by
the server, one open order per bill, idempotent by the client's key), the sandbox pay
page, notifications (stored raw, verified, applied once, acknowledged after commit),
money that does not fit (late, duplicate, wrong amount, unknown order), the janitor,
automatic refunds of excess, and the merchant settings page."""

from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.test import Client
from django.urls import reverse
from django.utils import timezone, translation

from linli import testing as t
from linli.billing.models import Bill
from linli.core.models import AuditEvent
from linli.ledger.models import JournalEntry
from linli.payments.gateways import gateway_for
from linli.payments.janitor import janitor_run
from linli.payments.models import (
    Channel,
    CommunityPaymentSettings,
    GatewayNotification,
    GatewayTransaction,
    MerchantAccount,
    OrderRefund,
    Payment,
    PaymentAllocation,
    PaymentAnomaly,
    PaymentOrder,
    PrepaidWallet,
    SandboxTrade,
)
from linli.payments.notifications import notification_applied
from linli.payments.orders import OrderError, can_pay, order_create
from linli.payments.services import payment_record
from linli.payments.tests.helpers import (
    billed_unit,
    notification,
    pay_at_sandbox,
    post_notification,
    sandbox_account,
)
from linli.staff.models import Role


def check_ok() -> None:
    call_command("linli_check", stdout=io.StringIO())  # SystemExit(1) on any violation


def wallet_fen(unit) -> int:
    wallet = PrepaidWallet.objects.filter(unit=unit).first()
    return wallet.balance_fen if wallet else 0


@pytest.fixture
def world(estate):
    community = estate["a1"]
    account = sandbox_account(community)
    unit, bills = billed_unit(community, room="801", periods=("2024-01", "2024-02"))
    cashier = t.make_staff(estate["company_a"], Role.CASHIER, [community])
    return {"community": community, "account": account, "unit": unit, "bills": bills,
            "cashier": cashier, **estate}


def make_order(world, key="k1", bills=None, **kwargs) -> PaymentOrder:
    bills = world["bills"] if bills is None else bills
    return order_create(payer=world["cashier"], channel=Channel.SANDBOX, mode="sandbox",
                        idempotency_key=key, bill_ids=[b.pk for b in bills], **kwargs)


def paid_principal(bill) -> int:
    return PaymentAllocation.objects.filter(bill=bill).aggregate(
        s=Sum("principal_fen"))["s"] or 0


# --- orders ----------------------------------------------------------------------------


def test_order_amount_is_computed_by_the_server_and_fixed(world):
    order = make_order(world)
    assert order.status == PaymentOrder.Status.PENDING
    assert order.amount_fen == 20000  # two months of 100 yuan, no late fee
    assert re.fullmatch(r"LL\d{6}[A-Z2-7]{16}", order.out_trade_no)
    assert 6 <= len(order.out_trade_no) <= 32
    assert order.expires_at - order.created_at == dt.timedelta(minutes=15)
    assert order.redirect_url.endswith(f"/pay/sandbox/{order.out_trade_no}/")
    assert sorted(order.lines.values_list("principal_fen", flat=True)) == [10000, 10000]


def test_expiry_follows_the_community_setting(world):
    CommunityPaymentSettings.objects.create(community=world["community"], order_expiry_minutes=30)
    order = make_order(world)
    assert order.expires_at - order.created_at == dt.timedelta(minutes=30)


def test_same_key_same_body_is_the_same_order_other_body_is_refused(world):
    first = make_order(world, key="same")
    assert make_order(world, key="same").pk == first.pk
    with translation.override("en"), pytest.raises(OrderError, match="different payment"):
        make_order(world, key="same", bills=world["bills"][:1])
    assert PaymentOrder.objects.count() == 1


def test_a_new_order_closes_the_older_one_here_and_then_at_the_gateway(world):
    old = make_order(world, key="a")
    new = make_order(world, key="b", bills=world["bills"][:1])
    old.refresh_from_db()
    assert old.status == PaymentOrder.Status.CLOSED and old.close_at_gateway
    assert old.superseded_by_id == new.pk
    assert new.status == PaymentOrder.Status.PENDING
    janitor_run()
    old.refresh_from_db()
    assert not old.close_at_gateway
    assert SandboxTrade.objects.get(out_trade_no=old.out_trade_no).state == "closed"
    check_ok()


def test_the_database_keeps_a_bill_in_one_open_order(world):
    from linli.payments.models import PaymentOrderBill

    order = make_order(world)
    other = make_order(world, key="other", bills=world["bills"][1:])
    line = other.lines.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        PaymentOrderBill.objects.create(order=order, bill=line.bill, principal_fen=1)


def test_who_may_pay(world, estate):
    bill = world["bills"][0]
    assert can_pay(world["cashier"], bill)
    elsewhere = t.make_staff(estate["company_a"], Role.CASHIER, [estate["a2"]])
    assert not can_pay(elsewhere, bill)
    with pytest.raises(OrderError):
        make_order({**world, "cashier": elsewhere})
    # No staff role: only units the user pays for (stub rule: username = payer's mobile).
    stranger = t.make_owner("13800000000", password=t.PASSWORD)
    assert not can_pay(stranger, bill)
    person = t.make_person(world["community"], mobile="13900000001")
    t.make_occupancy(world["unit"], person)
    owner = t.make_owner("13900000001", password=t.PASSWORD)
    assert can_pay(owner, bill)
    assert not can_pay(owner, Bill.objects.exclude(unit=world["unit"]).first())
    order = order_create(payer=owner, channel=Channel.SANDBOX, mode="sandbox",
                         idempotency_key="own", unit=world["unit"])
    assert order.amount_fen == 20000


# --- the sandbox page and notifications -------------------------------------------------


def test_sandbox_page_pays_through_the_notification_path(world, client):
    order = make_order(world)
    page = client.get(order.redirect_url.replace("http://testserver", ""))
    assert page.status_code == 200
    assert "模拟支付（非真实资金）" in page.content.decode()
    response = client.post(reverse("pay:sandbox-page", args=[order.out_trade_no]))
    assert response.status_code == 200
    order.refresh_from_db()
    assert order.status == PaymentOrder.Status.PAID
    payment = order.payment
    assert payment.channel == Channel.SANDBOX and payment.amount_fen == 20000
    assert payment.reference == order.transaction_id
    assert payment.idempotency_key == f"sandbox:{order.transaction_id}"
    assert {b.status for b in Bill.objects.filter(pk__in=[b.pk for b in world["bills"]])} == {
        "paid"}
    note = GatewayNotification.objects.get()
    assert note.outcome == GatewayNotification.Outcome.APPLIED
    assert "x-sandbox-signature" in note.headers and order.out_trade_no in note.body
    assert JournalEntry.objects.filter(business_key=f"payment:{payment.pk}").count() == 1
    check_ok()


def _count():
    return (Payment.objects.count(), JournalEntry.objects.count(),
            GatewayTransaction.objects.count())


def _tamper(body: bytes, old: str, new: str) -> bytes:
    assert old.encode() in body
    return body.replace(old.encode(), new.encode())


REFUSALS = ["forged", "stale", "app_id", "merchant", "tampered_amount", "unsigned"]


@pytest.mark.parametrize("case", REFUSALS)
def test_a_notification_that_fails_verification_changes_nothing(world, client, case):
    order = make_order(world)
    account = world["account"]
    before = _count()
    if case == "forged":
        forged = MerchantAccount(pk=account.pk, channel="sandbox", app_id=account.app_id,
                                 merchant_id=account.merchant_id, sandbox_secret="not-the-key",
                                 community=account.community, notify_base_url="http://testserver")
        headers, body = notification(forged, order, transaction_id="TX1")
    elif case == "stale":
        headers, body = notification(account, order, transaction_id="TX1",
                                     now=timezone.now() - dt.timedelta(minutes=6))
    elif case in ("app_id", "merchant"):
        other = MerchantAccount(pk=account.pk, channel="sandbox",
                                app_id="other" if case == "app_id" else account.app_id,
                                merchant_id="other" if case == "merchant" else account.merchant_id,
                                sandbox_secret=account.sandbox_secret,
                                community=account.community, notify_base_url="http://testserver")
        headers, body = notification(other, order, transaction_id="TX1")
    elif case == "tampered_amount":
        headers, body = notification(account, order, transaction_id="TX1")
        body = _tamper(body, '"amount_fen": 20000', '"amount_fen": 1')
    else:
        headers, body = notification(account, order, transaction_id="TX1")
        headers = {"content-type": "application/json"}
    response = post_notification(client, account, headers, body)
    assert response.status_code == 400 and response.content == b"fail"
    assert _count() == before
    order.refresh_from_db()
    assert order.status == PaymentOrder.Status.PENDING
    note = GatewayNotification.objects.get()
    assert note.outcome == GatewayNotification.Outcome.REJECTED and note.error
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SECURITY,
                                     object_id=str(note.pk)).count() == 1


def test_unknown_order_is_held_in_suspense_acknowledged_and_flagged(world, client):
    """Validly signed money for an order we never made is in our merchant account: it is
    held in suspense (no payment, no bill touched), acknowledged, and flagged once."""
    order = make_order(world)
    headers, body = notification(world["account"], order, transaction_id="TXU",
                                 out_trade_no="LL000000NOTOURS")
    response = post_notification(client, world["account"], headers, body)
    assert response.status_code == 200
    assert Payment.objects.count() == 0
    txn = GatewayTransaction.objects.get()
    assert txn.kind == "suspense" and txn.order is None and txn.amount_fen == 20000
    anomaly = PaymentAnomaly.objects.get()
    assert anomaly.kind == PaymentAnomaly.Kind.UNKNOWN_ORDER and anomaly.transaction_id == "TXU"
    assert anomaly.suspense_fen == 20000 and anomaly.out_trade_no == "LL000000NOTOURS"
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SECURITY).exists()
    assert GatewayNotification.objects.get().outcome == "unknown_order"
    # Redelivered: still one anomaly, one receipt into suspense.
    assert post_notification(client, world["account"], *notification(
        world["account"], order, transaction_id="TXU", out_trade_no="LL000000NOTOURS")
    ).status_code == 200
    assert PaymentAnomaly.objects.count() == 1 and GatewayTransaction.objects.count() == 1
    check_ok()


def test_amount_mismatch_goes_to_suspense_and_pays_no_bill(world, client):
    order = make_order(world)
    headers, body = notification(world["account"], order, transaction_id="TXM", amount_fen=15000)
    response = post_notification(client, world["account"], headers, body)
    assert response.status_code == 200  # recorded safely: acknowledged
    assert Payment.objects.count() == 0
    assert {b.status for b in Bill.objects.filter(unit=world["unit"])} == {"unpaid"}
    txn = GatewayTransaction.objects.get()
    assert txn.kind == "suspense" and txn.amount_fen == 15000
    entry = JournalEntry.objects.get(business_key="suspense:sandbox:TXM")
    assert entry.kind == "payment_suspense"
    assert sorted(entry.lines.values_list("account", "side", "amount_fen")) == [
        ("1129", "D", 15000), ("2249", "C", 15000)]
    assert PaymentAnomaly.objects.get().kind == PaymentAnomaly.Kind.AMOUNT_MISMATCH
    order.refresh_from_db()
    assert order.status == PaymentOrder.Status.MISMATCH  # not "awaiting payment" for ever
    assert not order.lines.filter(open=True).exists()
    # Redelivery is recorded once.
    assert post_notification(client, world["account"], headers, body).status_code == 200
    assert GatewayTransaction.objects.count() == 1
    check_ok()


def test_payment_after_the_order_expired_is_recorded(world, client):
    order = make_order(world)
    later = order.expires_at + dt.timedelta(minutes=1)
    report = janitor_run(now=later)
    order.refresh_from_db()
    assert report.expired == 1 and order.status == PaymentOrder.Status.EXPIRED
    assert not order.lines.filter(open=True).exists()
    # The payer paid at the last second; the gateway's notification comes now.
    headers, body = notification(world["account"], order, transaction_id="TXLATE")
    assert post_notification(client, world["account"], headers, body).status_code == 200
    order.refresh_from_db()
    assert order.status == PaymentOrder.Status.PAID
    assert Payment.objects.get().amount_fen == 20000
    assert {b.status for b in Bill.objects.filter(unit=world["unit"])} == {"paid"}
    assert PaymentAnomaly.objects.get().kind == PaymentAnomaly.Kind.LATE
    check_ok()


def test_bills_already_paid_leave_the_money_in_prepaid_and_flag_it(world, client):
    order = make_order(world)
    payment_record(acting_user=world["cashier"], unit=world["unit"], channel=Channel.CASH,
                   amount_fen=20000, bill_ids=[b.pk for b in world["bills"]],
                   idempotency_key="counter-1")
    headers, body = notification(world["account"], order, transaction_id="TXDUP")
    assert post_notification(client, world["account"], headers, body).status_code == 200
    assert sum(paid_principal(b) for b in world["bills"]) == 20000  # paid once
    assert wallet_fen(world["unit"]) == 20000
    anomaly = PaymentAnomaly.objects.get()
    assert anomaly.kind == PaymentAnomaly.Kind.DUPLICATE and anomaly.amount_fen == 20000
    check_ok()


def test_excess_is_refunded_when_the_community_says_so(world, client):
    CommunityPaymentSettings.objects.create(community=world["community"],
                                            excess_handling="refund")
    order = make_order(world)
    payment_record(acting_user=world["cashier"], unit=world["unit"], channel=Channel.CASH,
                   amount_fen=20000, bill_ids=[b.pk for b in world["bills"]],
                   idempotency_key="counter-1")
    headers, body = pay_at_sandbox(world["account"], order)
    assert post_notification(client, world["account"], headers, body).status_code == 200
    refund = OrderRefund.objects.get()
    assert refund.status == OrderRefund.Status.PENDING and refund.amount_fen == 20000
    assert wallet_fen(world["unit"]) == 0  # reserved for the refund, cannot be spent
    check_ok()
    janitor_run()
    janitor_run()  # sending twice refunds once
    refund.refresh_from_db()
    assert refund.status == OrderRefund.Status.SUCCESS
    trade = SandboxTrade.objects.get(out_trade_no=order.out_trade_no)
    assert trade.refunded_fen == 20000 and len(trade.refunds) == 1
    check_ok()


def test_crash_between_commit_and_answer_is_healed_by_redelivery(world):
    order = make_order(world)
    headers, body = notification(world["account"], order, transaction_id="TXCRASH")

    def crash(**kwargs):
        raise RuntimeError("killed before answering")

    notification_applied.connect(crash)
    try:
        client = Client(raise_request_exception=False)
        assert post_notification(client, world["account"], headers, body).status_code == 500
    finally:
        notification_applied.disconnect(crash)
    assert Payment.objects.count() == 1  # committed before the crash
    response = post_notification(Client(), world["account"], headers, body)
    assert response.status_code == 200 and response.content == b"success"
    assert Payment.objects.count() == 1
    assert list(GatewayNotification.objects.order_by("id").values_list("outcome", flat=True)) == [
        "applied", "duplicate"]
    check_ok()


def test_janitor_finds_a_payment_whose_notification_never_came(world):
    order = make_order(world)
    gateway_for(world["account"].config()).pay(order.out_trade_no)  # paid; notice lost
    assert janitor_run(now=timezone.now()).applied == 0  # younger than a minute
    report = janitor_run(now=timezone.now() + dt.timedelta(minutes=2))
    assert report.applied == 1
    order.refresh_from_db()
    assert order.status == PaymentOrder.Status.PAID
    assert janitor_run(now=timezone.now() + dt.timedelta(minutes=3)).applied == 0
    assert Payment.objects.count() == 1
    check_ok()


def test_janitor_fails_stuck_orders_and_a_close_answered_paid_is_a_payment(world):
    stuck = make_order(world, key="stuck", call_gateway=False)
    assert stuck.status == PaymentOrder.Status.CREATED
    janitor_run(now=timezone.now() + dt.timedelta(minutes=6))
    stuck.refresh_from_db()
    assert stuck.status == PaymentOrder.Status.FAILED
    assert not stuck.lines.filter(open=True).exists()
    # Superseded, then paid at the gateway before the janitor closed it.
    old = make_order(world, key="old")
    make_order(world, key="new")
    gateway_for(world["account"].config()).pay(old.out_trade_no)
    janitor_run()
    old.refresh_from_db()
    assert old.status == PaymentOrder.Status.PAID and not old.close_at_gateway
    assert PaymentAnomaly.objects.get(order=old).kind == PaymentAnomaly.Kind.LATE
    check_ok()


def test_the_database_refuses_a_second_row_for_one_transaction_id(world, client):
    order = make_order(world)
    post_notification(client, world["account"], *notification(
        world["account"], order, transaction_id="TXONE"))
    txn = GatewayTransaction.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        GatewayTransaction.objects.create(
            community=txn.community, channel=txn.channel, transaction_id="TXONE",
            kind="suspense", amount_fen=1)


# --- merchant accounts in the console ----------------------------------------------------


def test_merchant_secrets_are_write_only_and_the_test_action_works(world, client):
    root = User.objects.create_superuser("root", "r@example.com", t.PASSWORD)
    client.force_login(root)
    account = world["account"]
    url = reverse("admin:payments_merchantaccount_change", args=[account.pk])
    page = client.get(url).content.decode()
    assert account.sandbox_secret not in page
    form = {
        "community": account.community_id, "channel": "sandbox", "enabled": "on",
        "app_id": "sbx-app", "merchant_id": "sbx-mch", "merchant_serial": "",
        "platform_public_key_id": "", "platform_public_key_pem": "",
        "notify_base_url": "http://testserver", "gateway_url": "", "private_key_pem": "",
        "api_v3_key": "", "sandbox_secret": "",
    }
    assert client.post(url, form).status_code == 302
    account.refresh_from_db()
    assert account.sandbox_secret == "sandbox-secret-for-tests"  # blank kept it
    stored = MerchantAccount.objects.filter(pk=account.pk).values_list(
        "sandbox_secret", flat=True).get()
    assert stored  # the raw column holds ciphertext, not the secret
    from django.db import connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT sandbox_secret FROM payments_merchantaccount WHERE id = %s",
                       [account.pk])
        assert "sandbox-secret" not in cursor.fetchone()[0]
    changelist = reverse("admin:payments_merchantaccount_changelist")
    response = client.post(changelist, {"action": "test_accounts",
                                        "_selected_action": [account.pk]}, follow=True)
    assert f"{account}: OK" in response.content.decode()
    assert account.config().notify_url == f"http://testserver/pay/notify/sandbox/{account.pk}/"
    # A wrong secret is saved and still never shown.
    client.post(url, {**form, "sandbox_secret": "new-secret"})
    account.refresh_from_db()
    assert account.sandbox_secret == "new-secret"
    assert "new-secret" not in client.get(url).content.decode()


def test_anomaly_resolve_records_who_and_why(world, client):
    order = make_order(world)
    payment_record(acting_user=world["cashier"], unit=world["unit"], channel=Channel.CASH,
                   amount_fen=20000, bill_ids=[b.pk for b in world["bills"]],
                   idempotency_key="counter-1")
    post_notification(client, world["account"], *notification(
        world["account"], order, transaction_id="TXR"))
    anomaly = PaymentAnomaly.objects.get()
    root = User.objects.create_superuser("root", "r@example.com", t.PASSWORD)
    client.force_login(root)
    url = reverse("admin:payments_paymentanomaly_change", args=[anomaly.pk])
    page = client.get(url).content.decode()
    assert "¥200.00" in page and "20000" not in page  # amounts in yuan
    keep = url.replace("/change/", "/keep/")
    assert client.post(keep, {"_form_submitted": "on", "reason": ""}).status_code == 200
    anomaly.refresh_from_db()
    assert anomaly.status == "open"  # a reason is required
    assert client.post(keep, {"_form_submitted": "on",
                                       "reason": "业主同意留作预存"}).status_code == 302
    anomaly.refresh_from_db()
    assert anomaly.status == "resolved" and anomaly.resolved_by == root
    assert anomaly.resolution == "keep" and anomaly.resolution_note == "业主同意留作预存"
    page = client.get(reverse("admin:payments_paymentorder_change", args=[order.pk]))
    assert page.status_code == 200 and order.out_trade_no in page.content.decode()
    check_ok()


def test_check_flags_an_order_line_left_open(world):
    from linli.core.invariants import run_all

    order = make_order(world)
    PaymentOrder.objects.filter(pk=order.pk).update(status=PaymentOrder.Status.CLOSED)
    [result] = run_all(only=["payments.bill_in_one_open_order"])
    assert not result.ok


def test_raw_notification_bodies_are_for_finance_and_admins_only(world, client, estate):
    from django.contrib.auth.models import Permission

    order = make_order(world)
    post_notification(client, world["account"], *notification(
        world["account"], order, transaction_id="TXRAW"))
    note = GatewayNotification.objects.get()
    url = reverse("admin:payments_gatewaynotification_change", args=[note.pk])
    finance = t.make_staff(estate["company_a"], Role.FINANCE, [world["community"]])
    client.force_login(finance)
    page = client.get(url).content.decode()
    assert "x-sandbox-signature" in page and "TXRAW" in page
    # Anyone else who may list notifications sees the outcome, never the raw request.
    manager = t.make_staff(estate["company_a"], Role.MANAGER, [world["community"]])
    manager.user_permissions.add(Permission.objects.get(
        content_type__app_label="payments", codename="view_gatewaynotification"))
    client.force_login(manager)
    page = client.get(url)
    assert page.status_code == 200
    assert "x-sandbox-signature" not in page.content.decode()
    cashier_page = Client()
    cashier_page.force_login(world["cashier"])
    assert cashier_page.get(url).status_code == 403


def test_check_catches_clearing_and_transaction_mismatches(world, client):
    from linli.core.invariants import run_all
    from linli.ledger.services import Line, post_entry

    order = make_order(world)
    post_notification(client, world["account"], *notification(
        world["account"], order, transaction_id="TXCHK"))
    names = ["payments.clearing_matches_channel", "payments.gateway_transactions_posted_once"]
    assert all(r.ok for r in run_all(only=names))
    # Money booked to the sandbox clearing account without a payment behind it.
    post_entry(community_id=world["community"].pk, business_key="stray", kind="manual",
               lines=[Line.debit("1129", 5), Line.credit("2249", 5)])
    # The same gateway transaction id recorded as a second payment.
    payment_record(acting_user=None, unit=world["unit"], channel=Channel.SANDBOX,
                   amount_fen=100, bill_ids=[], idempotency_key="sandbox:TXCHK-again",
                   reference="TXCHK")
    results = {r.name: r for r in run_all(only=names)}
    clearing, once = results[names[0]], results[names[1]]
    assert not clearing.ok and "expected" in clearing.violations[0]
    assert not once.ok and any("2 payments" in v for v in once.violations)
