"""The session engine (``linli.core.sessions``) reads sessions with its own query; what it
reads must be what Django's database sessions would: live sessions only."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.utils import timezone

from linli.core.sessions import SessionStore

pytestmark = pytest.mark.django_db


def saved(**data) -> str:
    store = SessionStore()
    store.update(data)
    store.save()
    return store.session_key


def test_the_configured_engine_is_ours():
    assert settings.SESSION_ENGINE == "linli.core.sessions"


def test_a_live_session_reads_back_its_data():
    key = saved(owner="13800138000", n=3)
    store = SessionStore(key)
    assert store["owner"] == "13800138000" and store["n"] == 3
    assert store.session_key == key


def test_an_expired_session_reads_empty_and_drops_its_key():
    key = saved(owner="13800138000")
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1))
    store = SessionStore(key)
    assert "owner" not in store
    assert store.session_key is None


def test_a_session_that_expires_in_a_second_is_still_read():
    key = saved(owner="13800138000")
    Session.objects.filter(session_key=key).update(
        expire_date=timezone.now() + dt.timedelta(seconds=5))
    assert SessionStore(key)["owner"] == "13800138000"


def test_a_deleted_session_reads_empty():
    key = saved(owner="13800138000")
    Session.objects.filter(session_key=key).delete()  # as "sign out everywhere" does
    store = SessionStore(key)
    assert "owner" not in store and store.session_key is None


def test_an_unknown_key_reads_empty():
    assert "owner" not in SessionStore("x" * 32)
