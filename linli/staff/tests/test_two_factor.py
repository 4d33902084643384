"""Two-factor sign-in (django-otp): a staff member turns it on with a QR code and a code
from their app; from then on the password alone opens no console page, a wrong or reused
code is refused (in Chinese, and recorded), and wrong codes slow further tries down. A
company can require it of the roles that move money."""

from __future__ import annotations

import base64
import datetime as dt
import re
import time

import pytest
from django.test import Client
from django.urls import reverse
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from linli import testing as t
from linli.core.models import AuditEvent
from linli.staff.models import Role

LOGIN = reverse("admin:login")
INDEX = reverse("admin:index")
PAGE = reverse("console:two-factor")
VERIFY = reverse("console:two-factor-verify")
UNITS = reverse("admin:estate_unit_changelist")


def sign_in(client: Client, username: str) -> None:
    response = client.post(LOGIN, {"username": username, "password": t.PASSWORD, "next": INDEX})
    assert response.status_code == 302, response.content.decode()[:500]


def code_for(user, *, steps_ahead: int = 0) -> str:
    """What the person's authenticator app shows (``steps_ahead`` 30-second steps on)."""
    device = TOTPDevice.objects.get(user=user)
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits, device.drift)
    totp.time = time.time() + steps_ahead * device.step
    return f"{totp.token():06d}"


def enrol(client: Client, user) -> list[str]:
    page = client.get(PAGE).content.decode()
    assert "<svg" in page and "扫描" in page  # the QR code, drawn on the server
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page).group(1).replace(" ", "")
    assert base64.b32decode(secret) == TOTPDevice.objects.get(user=user).bin_key
    done = client.post(PAGE, {"action": "confirm", "code": code_for(user)})
    assert done.status_code == 200
    return re.findall(r"<li>([a-z2-7]{8})</li>", done.content.decode())


@pytest.fixture
def cashier(estate):
    return t.make_staff(estate["company_a"], Role.CASHIER, [estate["a1"]], username="cashier.li")


@pytest.fixture
def admin_a(estate):
    return t.make_staff(estate["company_a"], Role.COMPANY_ADMIN, username="boss.a")


def security_events(event: str) -> list[AuditEvent]:
    return [e for e in AuditEvent.objects.filter(action=AuditEvent.Action.SECURITY)
            if e.changes.get("event") == event]


def test_without_two_factor_the_password_opens_the_console(client, cashier):
    sign_in(client, "cashier.li")
    assert client.get(UNITS).status_code == 200
    assert "两步验证" in client.get(PAGE).content.decode()  # offered, not forced


def test_with_two_factor_sign_in_asks_for_the_code_after_the_password(cashier):
    enrolling = Client()
    sign_in(enrolling, "cashier.li")
    backup_codes = enrol(enrolling, cashier)
    assert len(backup_codes) == 10
    assert enrolling.get(UNITS).status_code == 200  # the enrolling session is verified
    assert len(security_events("enrolled")) == 1

    client = Client()
    sign_in(client, "cashier.li")
    gated = client.get(UNITS)
    assert gated.status_code == 302 and gated["Location"].startswith(VERIFY)
    assert "验证码" in client.get(gated["Location"]).content.decode()
    done = client.post(VERIFY, {"code": code_for(cashier, steps_ahead=1), "next": UNITS})
    assert done.status_code == 302 and done["Location"] == UNITS
    assert client.get(UNITS).status_code == 200


def test_a_wrong_code_is_refused_recorded_and_slows_the_next_try(cashier):
    enrolling = Client()
    sign_in(enrolling, "cashier.li")
    enrol(enrolling, cashier)
    client = Client()
    sign_in(client, "cashier.li")
    wrong = client.post(VERIFY, {"code": "000000" if code_for(cashier, steps_ahead=1) != "000000"
                                 else "111111"})
    assert wrong.status_code == 400
    assert "验证码错误" in wrong.content.decode()
    assert client.get(UNITS).status_code == 302
    assert len(security_events("code_refused")) == 1
    # Straight after a wrong code even the right one waits (django-otp's throttle).
    throttled = client.post(VERIFY, {"code": code_for(cashier, steps_ahead=1)})
    assert throttled.status_code == 400 and "秒" in throttled.content.decode()
    TOTPDevice.objects.filter(user=cashier).update(
        throttling_failure_timestamp=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))
    assert client.post(VERIFY, {"code": code_for(cashier, steps_ahead=1)}).status_code == 302
    assert client.get(UNITS).status_code == 200


def test_a_code_already_used_is_refused(cashier):
    enrolling = Client()
    sign_in(enrolling, "cashier.li")
    enrol(enrolling, cashier)
    first, second = Client(), Client()
    sign_in(first, "cashier.li")
    sign_in(second, "cashier.li")
    code = code_for(cashier, steps_ahead=1)
    assert first.post(VERIFY, {"code": code}).status_code == 302
    replay = second.post(VERIFY, {"code": code})  # the same code, seen over a shoulder
    assert replay.status_code == 400 and "已使用" in replay.content.decode()
    assert second.get(UNITS).status_code == 302
    # The code the enrolment used is spent too.
    assert second.post(VERIFY, {"code": code_for(cashier)}).status_code == 400


def test_a_backup_code_signs_in_once(cashier):
    enrolling = Client()
    sign_in(enrolling, "cashier.li")
    backup = enrol(enrolling, cashier)[0]
    client = Client()
    sign_in(client, "cashier.li")
    assert client.post(VERIFY, {"code": backup}).status_code == 302
    assert client.get(UNITS).status_code == 200
    again = Client()
    sign_in(again, "cashier.li")
    TOTPDevice.objects.filter(user=cashier).update(throttling_failure_count=0)
    assert again.post(VERIFY, {"code": backup}).status_code == 400
    assert len(security_events("backup_code_used")) == 1


def test_a_company_can_require_it_for_roles_that_move_money(estate, cashier, admin_a):
    service = t.make_staff(estate["company_a"], Role.SERVICE, [estate["a1"]], username="kefu")
    boss = Client()
    sign_in(boss, "boss.a")
    assert boss.post(PAGE, {"action": "policy", "require_two_factor": "on"}).status_code == 302
    assert AuditEvent.objects.filter(summary__contains="两步验证").exists()

    client = Client()
    sign_in(client, "cashier.li")
    for url in (INDEX, UNITS, VERIFY):
        response = client.get(url)
        assert response.status_code == 302 and response["Location"] == PAGE
    page = client.get(PAGE).content.decode()
    assert "公司要求" in page
    enrol(client, cashier)
    assert client.get(UNITS).status_code == 200

    # Customer service does not move money: not forced.
    other = Client()
    sign_in(other, service.username)
    assert other.get(UNITS).status_code == 200
    # Another company is untouched.
    elsewhere = Client()
    sign_in(elsewhere, t.make_staff(estate["company_b"], Role.CASHIER, [estate["b1"]]).username)
    assert elsewhere.get(UNITS).status_code == 200


def test_a_company_admin_turns_off_a_colleagues_lost_authenticator(estate, cashier, admin_a):
    enrolling = Client()
    sign_in(enrolling, "cashier.li")
    enrol(enrolling, cashier)
    stranger = t.make_staff(estate["company_b"], Role.COMPANY_ADMIN, username="boss.b")
    other = Client()
    sign_in(other, stranger.username)
    assert other.post(PAGE, {"action": "reset", "user": cashier.pk}).status_code == 403
    assert other.post(PAGE, {"action": "reset", "user": "x"}).status_code == 404
    assert TOTPDevice.objects.filter(user=cashier).exists()
    boss = Client()
    sign_in(boss, "boss.a")
    assert boss.post(PAGE, {"action": "reset", "user": cashier.pk}).status_code == 302
    assert not TOTPDevice.objects.filter(user=cashier).exists()
    assert security_events("disabled")[0].actor == admin_a
    client = Client()
    sign_in(client, "cashier.li")
    assert client.get(UNITS).status_code == 200
