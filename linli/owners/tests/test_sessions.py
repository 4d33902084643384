"""The profile lists where the owner is signed in; one device or all can be signed out."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.sessions.models import Session
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from linli.core.models import AuditEvent
from linli.owners.middleware import SEEN_KEY, TOUCH_EVERY_S
from linli.owners.models import OwnerSession, VerificationCode
from linli.owners.tests.helpers import sms_signin

pytestmark = pytest.mark.django_db
MOBILE = "13800138000"
PROFILE = reverse("owners:profile")


def phone(agent: str) -> Client:
    return Client(HTTP_USER_AGENT=agent)


IPHONE_WECHAT = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
                 "(KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47")
ANDROID = "Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 Chrome/126.0 Mobile Safari/537.36"


@pytest.fixture
def two_devices(outbox):
    first, second = phone(IPHONE_WECHAT), phone(ANDROID)
    sms_signin(first, MOBILE, ip="10.0.0.1")
    # The next code for the same phone may be sent a minute later; backdate the first.
    VerificationCode.objects.update(created_at=timezone.now() - dt.timedelta(minutes=2))
    sms_signin(second, MOBILE, ip="10.0.0.2")
    return first, second


def test_the_profile_lists_both_devices(two_devices):
    first, _second = two_devices
    page = first.get(PROFILE).content.decode()
    assert "iPhone · WeChat" in page and "Android · Chrome" in page
    assert "本机" in page and "138****8000" in page


def test_signing_out_everywhere_ends_every_session(two_devices):
    first, second = two_devices
    assert second.get(PROFILE).status_code == 200
    response = first.post(reverse("owners:signout-everywhere"))
    assert response.status_code == 302 and response["Location"] == reverse("owners:signin")
    for client in (first, second):
        again = client.get(PROFILE)
        assert again.status_code == 302 and again["Location"].startswith(reverse("owners:signin"))
    assert not OwnerSession.objects.filter(ended_at__isnull=True).exists()
    assert not Session.objects.filter(
        session_key__in=OwnerSession.objects.values("session_key")).exists()
    assert AuditEvent.objects.filter(summary="Signed out everywhere").count() == 1


def test_ending_one_other_device(two_devices):
    first, second = two_devices
    other = OwnerSession.objects.get(session_key=second.session.session_key)
    response = first.post(reverse("owners:session-end", args=[other.pk]))
    assert response.status_code == 302
    assert second.get(PROFILE).status_code == 302  # signed out
    assert first.get(PROFILE).status_code == 200  # still signed in


def test_another_owners_session_is_not_found(two_devices, outbox):
    _first, second = two_devices
    target = OwnerSession.objects.get(session_key=second.session.session_key)
    stranger = Client()
    sms_signin(stranger, "13900139000", ip="10.0.0.3")
    url = reverse("owners:session-end", args=[target.pk])
    assert stranger.get(url).status_code == 404
    assert stranger.post(url).status_code == 404
    assert second.get(PROFILE).status_code == 200


def test_signing_out_ends_only_this_session(two_devices):
    first, second = two_devices
    key = first.session.session_key
    first.post(reverse("owners:signout"))
    assert OwnerSession.objects.get(session_key=key).ended_at is not None
    assert second.get(PROFILE).status_code == 200
    assert "Android" not in first.get(reverse("owners:signin")).content.decode()


def test_last_seen_moves_on_when_the_owner_comes_back(two_devices):
    first, _second = two_devices
    row = OwnerSession.objects.get(session_key=first.session.session_key)
    long_ago = timezone.now() - dt.timedelta(days=3)
    OwnerSession.objects.filter(pk=row.pk).update(last_seen_at=long_ago)
    session = first.session
    session[SEEN_KEY] = int(long_ago.timestamp())
    session.save()
    first.get(reverse("owners:bindings"))
    row.refresh_from_db()
    assert row.last_seen_at > timezone.now() - dt.timedelta(seconds=TOUCH_EVERY_S)


def test_setting_a_password_signs_the_other_devices_out(two_devices):
    first, second = two_devices
    response = first.post(reverse("owners:password-set"), {
        "new_password": "Huayuan-1801!", "new_password2": "Huayuan-1801!"})
    assert response.status_code == 302
    assert first.get(PROFILE).status_code == 200
    assert second.get(PROFILE).status_code == 302
    page = first.get(PROFILE).content.decode()
    assert "Android" not in page and "iPhone" in page
