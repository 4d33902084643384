"""Profile: change phone with a code to the new number, password, notification choices;
and the demo's help page."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from linli import testing as t
from linli.demo.data import COMPANY_NAME
from linli.estate.models import Company, Unit
from linli.owners.models import NotificationPreference
from linli.owners.selectors import owner_unit_ids
from linli.owners.sms import demo_latest_codes
from linli.owners.tests.helpers import last_code, password_signin, sms_signin
from linli.owners.views import SMS_AT_KEY

pytestmark = pytest.mark.django_db
MOBILE, NEW = "13800138000", "13900139000"
PROFILE = reverse("owners:profile")
PHONE = reverse("owners:phone-change")


def test_changing_phone_needs_the_code_sent_to_the_new_number(client, estate, outbox):
    new_person = t.make_person(estate["a2"], mobile=NEW)
    t.make_occupancy(estate["a2_unit"], new_person)
    sms_signin(client, MOBILE)
    user = t.owner_user(MOBILE)
    response = client.post(PHONE, {"action": "send", "new_mobile": NEW})
    assert response.status_code == 302
    assert outbox[-1].mobile == NEW and outbox[-1].purpose == "change_phone"
    page = client.get(PROFILE).content.decode()
    assert "139****9000" in page and "物业登记的手机号" in page
    wrong = f"{(int(last_code(NEW)) + 1) % 10**6:06d}"
    refused = client.post(PHONE, {"action": "confirm", "new_mobile": NEW, "code": wrong})
    assert refused.status_code == 200 and "验证码不正确" in refused.content.decode()
    assert t.owner_user(MOBILE) == user
    done = client.post(PHONE, {"action": "confirm", "new_mobile": NEW, "code": last_code(NEW)})
    assert done.status_code == 302
    user = User.objects.get(pk=user.pk)
    assert t.owner_user(NEW) == user and MOBILE not in user.username + user.owner_account.mobile
    # What the account sees now follows the occupancies of the new number.
    assert owner_unit_ids(user) == {estate["a2_unit"].pk}
    assert "139****9000" in client.get(PROFILE).content.decode()


def test_a_number_with_an_account_cannot_be_taken(client, outbox):
    t.make_owner(NEW)
    sms_signin(client, MOBILE)
    response = client.post(PHONE, {"action": "send", "new_mobile": NEW})
    assert response.status_code == 200 and "已有账号" in response.content.decode()
    assert [m.mobile for m in outbox] == [MOBILE]


def test_changing_a_password_needs_the_old_one_unless_just_signed_in_by_sms(client, outbox):
    sms_signin(client, MOBILE)
    url = reverse("owners:password-set")
    assert client.post(url, {"new_password": "Huayuan-1801!",
                             "new_password2": "Huayuan-1801!"}).status_code == 302
    weak = client.post(url, {"new_password": "123", "new_password2": "123"})
    assert weak.status_code == 200 and weak.context["errors"]["password"]
    # Long after the SMS sign-in, the current password is required.
    session = client.session
    session[SMS_AT_KEY] = int(time.time()) - 3600
    session.save()
    refused = client.post(url, {"current_password": "wrong", "new_password": "Xinmima-2026!",
                                "new_password2": "Xinmima-2026!"})
    assert "当前密码不正确" in refused.content.decode()
    assert client.post(url, {"current_password": "Huayuan-1801!", "new_password": "Xinmima-2026!",
                             "new_password2": "Xinmima-2026!"}).status_code == 302
    assert client.get(PROFILE).status_code == 200  # this session stays signed in
    client.post(reverse("owners:signout"))
    assert password_signin(client, MOBILE, "Xinmima-2026!").status_code == 302


def test_notification_choices_are_kept(client, outbox):
    sms_signin(client, MOBILE)
    page = client.get(PROFILE).content.decode()
    assert page.count("checked") == 3  # everything on until the owner chooses
    client.post(reverse("owners:notifications"), {"before_due": "on"})
    prefs = NotificationPreference.objects.get(user=t.owner_user(MOBILE))
    assert (prefs.before_due, prefs.after_due, prefs.payment_results) == (True, False, False)
    assert client.get(PROFILE).content.decode().count("checked") == 1


def test_the_demo_page_exists_only_in_the_demo(client, settings, tmp_path):
    url = reverse("demo-codes")
    settings.LINLI_DEMO = False
    assert client.get(url).status_code == 404
    assert 'id="demo-codes"' not in client.get(reverse("owners:signin")).content.decode()
    settings.LINLI_DEMO = True
    settings.LINLI_HOME = tmp_path
    settings.LINLI_SMS_BACKEND = "linli.owners.sms.LogBackend"
    assert 'id="demo-codes"' in client.get(reverse("owners:signin")).content.decode()
    client.post(reverse("owners:signin"), {"form": "sms", "action": "send", "mobile": MOBILE})
    page = client.get(url).content.decode()
    assert "138****8000" in page
    [entry] = demo_latest_codes()
    assert entry["code"] in page


def test_the_demo_page_lists_demo_owners_to_try(client, settings, estate):
    settings.LINLI_DEMO = True
    Company.objects.filter(pk=estate["company_a"].pk).update(name=COMPANY_NAME)
    Unit.objects.update(status=Unit.Status.OCCUPIED)  # the demo lists owners living there
    page = client.get(reverse("demo-codes")).content.decode()
    assert estate["a1_person"].mobile in page and estate["a2_person"].mobile in page
    assert estate["b1_person"].mobile not in page
