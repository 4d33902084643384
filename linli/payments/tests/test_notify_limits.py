"""Rejected notification deliveries (the sandbox channel, same endpoint and code as the
real ones): limited per sender, pruned after the retention period — never a verified
notification — and listed in the console for finance; unknown accounts and channels
are answered without storing anything."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from linli import testing as t
from linli.core.models import AuditEvent
from linli.payments.models import (
    Channel,
    GatewayNotification,
    NotificationDropTally,
    PaymentOrder,
)
from linli.payments.orders import order_create
from linli.payments.tasks import payments_notify_prune
from linli.payments.tests.helpers import (
    billed_unit,
    check_ok,
    notification,
    post_notification,
    sandbox_account,
)
from linli.staff.models import Role

REJECTED = GatewayNotification.Outcome.REJECTED


@pytest.fixture
def world(estate):
    community = estate["a1"]
    account = sandbox_account(community)
    _unit, bills = billed_unit(community, room="801")
    cashier = t.make_staff(estate["company_a"], Role.CASHIER, [community])
    return {"community": community, "account": account, "bills": bills, "cashier": cashier,
            **estate}


def junk(client, account, ip: str, body: bytes = b"junk\x00"):
    response = client.post(account.notify_path(), data=body, content_type="application/json",
                           REMOTE_ADDR=ip)
    assert response.status_code == 400 and response.content == b"fail"
    return response


def stored_from(ip: str) -> int:
    return GatewayNotification.objects.filter(outcome=REJECTED, remote_addr=ip).count()


def test_rejected_deliveries_beyond_the_limit_are_counted_not_stored(world, client, settings):
    settings.LINLI_NOTIFY_REJECTS_PER_IP = 3
    account = world["account"]
    for _ in range(5):
        junk(client, account, "192.0.2.1")
    assert stored_from("192.0.2.1") == 3
    tally = NotificationDropTally.objects.get()
    assert (tally.remote_addr, tally.count, tally.community, tally.channel) == (
        "192.0.2.1", 2, world["community"], Channel.SANDBOX)
    assert AuditEvent.objects.filter(action=AuditEvent.Action.SECURITY).count() == 3
    # Another sender is not held back by the first one.
    junk(client, account, "192.0.2.2")
    assert stored_from("192.0.2.2") == 1
    # Once the window has passed, the first sender's rejections are stored again.
    GatewayNotification.objects.update(received_at=F("received_at") - dt.timedelta(minutes=11))
    junk(client, account, "192.0.2.1")
    assert stored_from("192.0.2.1") == 4
    assert NotificationDropTally.objects.get().count == 2


def test_unknown_accounts_and_channels_are_answered_and_nothing_is_stored(world, client):
    wechat = client.post("/pay/notify/wechat/999999/", data=b"{}",
                         content_type="application/json")
    assert wechat.status_code == 404 and wechat["Content-Type"] == "application/json"
    assert json.loads(wechat.content)["code"] == "FAIL"
    alipay = client.post("/pay/notify/alipay/999999/", data=b"a=b",
                         content_type="application/x-www-form-urlencoded")
    assert alipay.status_code == 404 and alipay.content == b"fail"
    bogus = client.post("/pay/notify/bogus/1/", data=b"x", content_type="text/plain")
    assert bogus.status_code == 404 and bogus["Content-Type"].startswith("text/plain")
    assert client.get(world["account"].notify_path()).status_code == 405
    assert not GatewayNotification.objects.exists()


def _age(days: int, **filters) -> None:
    """Make the deliveries (all, or those of ``filters``) ``days`` old."""
    then = timezone.now() - dt.timedelta(days=days)
    GatewayNotification.objects.filter(**filters).update(received_at=then)
    NotificationDropTally.objects.filter(**filters).update(
        hour=then.replace(minute=0, second=0, microsecond=0))


def test_pruning_removes_old_rejected_deliveries_and_never_a_verified_one(world, client,
                                                                          settings):
    settings.LINLI_NOTIFY_REJECTS_PER_IP = 1
    order = order_create(payer=world["cashier"], channel=Channel.SANDBOX, mode="sandbox",
                         idempotency_key="prune", bill_ids=[b.pk for b in world["bills"]])
    assert post_notification(client, world["account"], *notification(
        world["account"], order, transaction_id="TXP")).status_code == 200
    junk(client, world["account"], "192.0.2.3")
    junk(client, world["account"], "192.0.2.3")  # counted, not stored
    _age(31)  # everything so far, the verified notification too
    junk(client, world["account"], "192.0.2.4")
    _age(29, remote_addr="192.0.2.4")
    assert payments_notify_prune.call_local() == {"rejected_notifications": 1,
                                                  "unstored_counts": 1}
    assert sorted(GatewayNotification.objects.values_list("outcome", "remote_addr")) == [
        ("applied", "127.0.0.1"), ("rejected", "192.0.2.4")]
    assert not NotificationDropTally.objects.exists()
    order.refresh_from_db()
    assert order.status == PaymentOrder.Status.PAID
    # The retention period is a setting; pruning again changes nothing else.
    settings.LINLI_NOTIFY_REJECTED_RETENTION_DAYS = 28
    assert payments_notify_prune.call_local()["rejected_notifications"] == 1
    assert list(GatewayNotification.objects.values_list("outcome", flat=True)) == ["applied"]
    check_ok()


def test_pruning_runs_every_night():
    from huey.contrib.djhuey import HUEY

    due = {task.name for task in HUEY.read_periodic(dt.datetime(2026, 3, 9, 19, 50))}
    assert "payments_notify_prune" in due  # 03:50 in Shanghai
    assert "payments_notify_prune" not in {
        task.name for task in HUEY.read_periodic(dt.datetime(2026, 3, 10, 3, 50))}


def test_finance_sees_rejected_deliveries_and_the_unstored_counts(world, client, settings):
    settings.LINLI_NOTIFY_REJECTS_PER_IP = 1
    junk(client, world["account"], "192.0.2.9", body=b'{"forged": "\x00"}' + b"z" * 4000)
    junk(client, world["account"], "192.0.2.9")
    note = GatewayNotification.objects.get()
    finance = t.make_staff(world["company_a"], Role.FINANCE, [world["community"]])
    staff = Client()
    staff.force_login(finance)
    listing = staff.get(reverse("admin:payments_gatewaynotification_changelist"),
                        {"outcome__exact": "rejected"})
    html = listing.content.decode()
    assert listing.status_code == 200 and "支付通知" in html
    assert note.body_size == 4015 and note.body_truncated and len(note.body) == 2048
    assert "192.0.2.9" in html and note.error in html and "4,015" in html
    detail = staff.get(reverse("admin:payments_gatewaynotification_change", args=[note.pk]))
    assert detail.status_code == 200 and note.body_sha256 in detail.content.decode()
    counts = staff.get(reverse("admin:payments_notificationdroptally_changelist"))
    assert counts.status_code == 200 and "192.0.2.9" in counts.content.decode()
    cashier = Client()
    cashier.force_login(world["cashier"])
    assert cashier.get(reverse("admin:payments_notificationdroptally_changelist")
                       ).status_code == 403
    assert cashier.get(reverse("admin:payments_gatewaynotification_changelist")
                       ).status_code == 403
