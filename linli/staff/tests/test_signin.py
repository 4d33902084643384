"""Staff sign-in cannot be guessed at (django-axes): 20 wrong passwords lock the user
name — the right password is refused during the lock, in Chinese — and the IP address;
each lock is in the audit log. A staff session ends after 30 idle minutes; an owner's
session keeps its lifetime."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from linli import testing as t
from linli.core.models import AuditEvent
from linli.owners import sms
from linli.owners.tests.helpers import sms_signin
from linli.staff.models import Role

LOGIN = reverse("admin:login")
INDEX = reverse("admin:index")


def sign_in(client: Client, username: str, password: str, ip: str = "10.1.1.1"):
    return client.post(LOGIN, {"username": username, "password": password, "next": INDEX},
                       REMOTE_ADDR=ip)


@pytest.fixture
def cashier(estate):
    return t.make_staff(estate["company_a"], Role.CASHIER, [estate["a1"]], username="cashier.wang")


def test_twenty_wrong_passwords_lock_the_user_name_even_for_the_right_password(client, cashier):
    for n in range(19):
        assert sign_in(client, "cashier.wang", f"wrong-{n}").status_code == 200
    assert sign_in(client, "cashier.wang", t.PASSWORD).status_code == 302  # 19: still fine
    client.logout()
    for n in range(20):
        sign_in(client, "cashier.wang", f"wrong-{n}", ip=f"10.2.0.{n + 1}")  # any address
    locked = sign_in(client, "cashier.wang", t.PASSWORD, ip="10.9.9.9")
    assert locked.status_code == 429
    page = locked.content.decode()
    assert "锁定" in page and "15 分钟" in page
    assert "_auth_user_id" not in client.session
    assert client.get(INDEX).status_code == 302  # not signed in
    events = AuditEvent.objects.filter(action=AuditEvent.Action.SECURITY)
    assert events and {e.changes["username"] for e in events} == {"cashier.wang"}


def test_twenty_failures_from_one_address_lock_that_address(client, estate, cashier):
    for n in range(20):
        sign_in(client, f"guess{n}", "wrong", ip="10.3.3.3")
    assert sign_in(client, "cashier.wang", t.PASSWORD, ip="10.3.3.3").status_code == 429
    assert sign_in(client, "cashier.wang", t.PASSWORD, ip="10.4.4.4").status_code == 302


def test_a_staff_session_expires_after_thirty_idle_minutes(client, cashier):
    assert sign_in(client, "cashier.wang", t.PASSWORD).status_code == 302
    assert client.get(INDEX).status_code == 200
    row = Session.objects.get(session_key=client.session.session_key)
    left = row.expire_date - timezone.now()
    assert dt.timedelta(minutes=29) < left <= dt.timedelta(minutes=30)
    # Thirty idle minutes later the session is gone: the console asks to sign in.
    Session.objects.filter(pk=row.pk).update(expire_date=timezone.now() - dt.timedelta(seconds=1))
    assert client.get(INDEX).status_code == 302


def test_an_owner_session_keeps_its_lifetime(db, settings):
    settings.LINLI_SMS_BACKEND = "linli.owners.sms.MemoryBackend"
    sms.outbox.clear()
    owner = Client()
    sms_signin(owner, "13800138000")
    owner.get(reverse("portal:home"))
    row = Session.objects.get(session_key=owner.session.session_key)
    assert row.expire_date - timezone.now() > dt.timedelta(days=1)
