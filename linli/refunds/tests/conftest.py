"""The simulators' shared fixtures (live WeChat Pay and Alipay simulators, notification sink, fast
dispatcher), re-exported for the refund tests."""

from linli.paysim.tests.conftest import (  # noqa: F401 - fixtures, re-exported
    alipay_server,
    alipay_sim,
    notify_sink,
    paysim_dispatcher,
    sink,
    wechat_server,
    wechat_sim,
)

# isort: split
import pytest


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """These tests sign people in with ``force_login``: nobody types a password, so the
    users they create need no slow (PBKDF2) hash."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def english():
    """Refusal reasons are asserted in the English they are written in (the UI default is
    Chinese; the translations are checked by ``tools/i18n.sh``)."""
    from django.utils import translation

    with translation.override("en"):
        yield
