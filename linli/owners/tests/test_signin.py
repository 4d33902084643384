"""Signing in on /m/account/signin/: by SMS code (account made on first sign-in), by
password with throttling that never blocks the SMS way, session rotation, safe ``next``."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session
from django.urls import reverse

from linli import testing as t
from linli.owners.models import OwnerSession, PasswordFailure
from linli.owners.services import PAIR_FREE_FAILURES
from linli.owners.tests.helpers import SIGNIN, home_url, last_code, password_signin, sms_signin
from linli.staff.models import Role

pytestmark = pytest.mark.django_db
MOBILE = "13800138000"


def test_the_sign_in_page_has_both_ways_and_the_stable_ids(client):
    sms_page = client.get(SIGNIN).content.decode()
    for element_id in ("mobile", "send-code", "code", "signin-submit"):
        assert f'id="{element_id}"' in sms_page
    assert "csrfmiddlewaretoken" in sms_page
    password_page = client.get(SIGNIN + "?tab=password").content.decode()
    for element_id in ("password-mobile", "password", "password-submit"):
        assert f'id="{element_id}"' in password_page
    assert "验证码" in sms_page  # Chinese by default


def test_first_sms_sign_in_creates_the_account_and_goes_home(client, outbox):
    sent = client.post(SIGNIN, {"form": "sms", "action": "send", "mobile": "138 0013 8000"})
    assert "138****8000" in sent.content.decode()
    assert 'id="code"' in sent.content.decode()
    response = client.post(SIGNIN, {"form": "sms", "action": "signin", "mobile": MOBILE,
                                    "code": last_code(MOBILE)})
    assert response.status_code == 302 and response["Location"] == home_url()
    user = t.owner_user(MOBILE)
    assert not user.has_usable_password() and not user.is_staff
    assert client.get(home_url()).status_code == 200
    session = OwnerSession.objects.get(user=user)
    assert session.session_key == client.session.session_key and session.method == "sms"


def test_a_wrong_code_says_so_and_signs_nobody_in(client, outbox):
    client.post(SIGNIN, {"form": "sms", "action": "send", "mobile": MOBILE})
    wrong = f"{(int(last_code(MOBILE)) + 1) % 10**6:06d}"
    response = client.post(SIGNIN, {"form": "sms", "action": "signin", "mobile": MOBILE,
                                    "code": wrong})
    assert response.status_code == 200
    assert "验证码不正确" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_sign_in_gives_the_session_a_new_key(client, outbox):
    client.post(SIGNIN, {"form": "sms", "action": "send", "mobile": MOBILE})
    session = client.session  # an anonymous session, as a browser may already have
    session["probe"] = 1
    session.save()
    before = client.cookies["sessionid"].value
    response = client.post(SIGNIN, {"form": "sms", "action": "signin", "mobile": MOBILE,
                                    "code": last_code(MOBILE)})
    assert response.status_code == 302
    after = client.cookies["sessionid"].value
    assert after != before
    assert not Session.objects.filter(session_key=before).exists()
    assert Session.objects.filter(session_key=after).exists()


@pytest.mark.parametrize("target,allowed", [
    ("/m/bills/?tab=paid", True),
    ("https://evil.example.com/m/", False),
    ("//evil.example.com/m/", False),
    ("/\\evil.example.com", False),
    ("javascript:alert(1)", False),
    ("http://testserver/m/", False),  # same host but not a path: refused too
])
def test_next_goes_only_to_paths_of_this_site(client, outbox, target, allowed):
    response = sms_signin(client, MOBILE, next_url=target)
    assert response.status_code == 302
    assert response["Location"] == (target if allowed else home_url())


def test_staff_cannot_sign_in_here(client, outbox):
    company = t.make_company()
    staff = t.make_staff(company, Role.CASHIER, username=MOBILE)
    response = client.post(SIGNIN, {"form": "sms", "action": "send", "mobile": MOBILE})
    assert "员工账号" in response.content.decode()
    assert outbox == []
    staff.set_password("Owner-pass-2026")
    staff.save()
    response = password_signin(client, MOBILE, "Owner-pass-2026")
    assert response.status_code == 200 and "_auth_user_id" not in client.session


def test_password_sign_in_after_setting_one(client, outbox):
    sms_signin(client, MOBILE)
    response = client.post(reverse("owners:password-set"), {
        "new_password": "Huayuan-1801!", "new_password2": "Huayuan-1801!"})
    assert response.status_code == 302
    client.post(reverse("owners:signout"))
    assert "_auth_user_id" not in client.session
    response = password_signin(client, MOBILE, "Huayuan-1801!")
    assert response.status_code == 302 and response["Location"] == home_url()
    assert OwnerSession.objects.filter(method="password").count() == 1


def test_wrong_passwords_slow_down_that_phone_and_ip_but_never_sms_sign_in(client, outbox):
    owner = t.make_owner(MOBILE, password="Huayuan-1801!")
    attacker_ip, owner_ip = "198.51.100.9", "10.0.0.1"
    for _ in range(PAIR_FREE_FAILURES):
        response = password_signin(client, MOBILE, "guess", ip=attacker_ip)
        assert "密码不正确" in response.content.decode()
    # Now even the right password must wait, from the attacker's address ...
    response = password_signin(client, MOBILE, "Huayuan-1801!", ip=attacker_ip)
    assert response.status_code == 200 and "请等待" in response.content.decode()
    assert PasswordFailure.objects.count() == PAIR_FREE_FAILURES  # the wait added none
    # ... while the owner elsewhere signs in with their password at once,
    response = password_signin(client, MOBILE, "Huayuan-1801!", ip=owner_ip)
    assert response.status_code == 302
    client.post(reverse("owners:signout"))
    # and an SMS code works even from the throttled address.
    response = sms_signin(client, MOBILE, ip=attacker_ip)
    assert response.status_code == 302
    assert int(client.session["_auth_user_id"]) == owner.pk


def test_too_many_wrong_passwords_from_one_ip_over_many_phones(client):
    from linli.owners.services import IP_FAILURES_PER_HOUR

    ip = "198.51.100.10"
    for i in range(IP_FAILURES_PER_HOUR):
        password_signin(client, f"1370000{i:04d}", "guess", ip=ip)
    t.make_owner("13612345678", password="Huayuan-1801!")
    blocked = password_signin(client, "13612345678", "Huayuan-1801!", ip=ip)
    assert blocked.status_code == 200 and "请等待" in blocked.content.decode()
    assert password_signin(client, "13612345678", "Huayuan-1801!",
                           ip="198.51.100.11").status_code == 302
