"""Signing owners in through the real pages, as a browser would."""

from __future__ import annotations

from django.contrib.auth.models import Permission, User
from django.urls import reverse

from linli.owners import sms

SIGNIN = "/m/account/signin/"


def last_code(mobile: str) -> str:
    return [m for m in sms.outbox if m.mobile == mobile][-1].code


def sms_signin(client, mobile: str, *, next_url: str | None = None, ip: str = "10.0.0.1"):
    """Ask for a code and sign in with it; the final response (not followed)."""
    extra = {"REMOTE_ADDR": ip}
    sent = client.post(SIGNIN, {"form": "sms", "action": "send", "mobile": mobile}, **extra)
    assert sent.status_code == 200, sent.content
    data = {"form": "sms", "action": "signin", "mobile": mobile, "code": last_code(mobile)}
    if next_url is not None:
        data["next"] = next_url
    return client.post(SIGNIN, data, **extra)


def password_signin(client, mobile: str, password: str, ip: str = "10.0.0.1"):
    return client.post(SIGNIN + "?tab=password",
                       {"form": "password", "mobile": mobile, "password": password},
                       REMOTE_ADDR=ip)


def grant(user: User, *codenames: str) -> User:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return User.objects.get(pk=user.pk)  # a fresh object: permissions are cached


def home_url() -> str:
    return reverse("portal:home")
