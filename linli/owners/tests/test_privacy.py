"""Owners' numbers at rest (PIPL): never a username, never plain text in a table; the
log SMS backend only where sign-in codes in a log harm no one."""

from __future__ import annotations

import logging

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError
from django.db import connection

from linli import testing as t
from linli.core.serve import refuse_unsafe_settings
from linli.owners import sms
from linli.owners.models import OwnerAccount, VerificationCode
from linli.owners.tests.helpers import SIGNIN, sms_signin

pytestmark = pytest.mark.django_db
MOBILE = "13800138000"


def raw_rows(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT * FROM {table}")  # noqa: S608 - our own table names
        return repr(cursor.fetchall())


def test_signing_in_by_code_makes_an_account_whose_name_is_not_the_number(client, outbox):
    response = sms_signin(client, MOBILE)
    assert response.status_code == 302
    user = t.owner_user(MOBILE)
    assert MOBILE not in user.username and user.owner_account.mobile == MOBILE
    assert int(client.session["_auth_user_id"]) == user.pk
    for model in (User, OwnerAccount, VerificationCode):
        assert MOBILE not in raw_rows(model._meta.db_table), model


def test_people_numbers_are_encrypted_at_rest(estate):
    person = t.make_person(estate["a1"], mobile="139 0013 5678")
    assert person.mobile == "13900135678"
    assert "13900135678" not in raw_rows("estate_person")
    assert "0013" not in raw_rows("estate_person").replace(person.id_number_index, "")


@pytest.fixture
def log_backend(settings, tmp_path):
    settings.LINLI_SMS_BACKEND = "linli.owners.sms.LogBackend"
    settings.LINLI_HOME = tmp_path
    settings.DEBUG = False
    settings.LINLI_DEMO = False
    settings.LINLI_SMS_LOG_CHOSEN = False
    return settings


def test_the_log_backend_refuses_to_run_in_production(client, log_backend, caplog):
    with pytest.raises(CommandError, match="LINLI_SMS_BACKEND"):
        refuse_unsafe_settings()  # `linli serve` does not start
    with pytest.raises(ImproperlyConfigured):
        sms.check_configuration()
    response = client.post(SIGNIN, {"form": "sms", "action": "send", "mobile": MOBILE})
    assert response.status_code == 200 and "短信暂时无法发送" in response.content.decode()
    assert not any("code" in r.getMessage() and "SMS to" in r.getMessage()
                   for r in caplog.records)


@pytest.mark.parametrize("allow", ["DEBUG", "LINLI_DEMO", "LINLI_SMS_LOG_CHOSEN"])
def test_the_log_backend_runs_when_allowed_and_masks_the_number(client, log_backend, caplog,
                                                                allow):
    setattr(log_backend, allow, True)
    refuse_unsafe_settings()
    with caplog.at_level(logging.INFO, logger="linli.owners.sms"):
        response = client.post(SIGNIN, {"form": "sms", "action": "send", "mobile": MOBILE})
    assert response.status_code == 200
    logged = [r.getMessage() for r in caplog.records if r.name == "linli.owners.sms"]
    assert logged and "138****8000" in logged[-1] and MOBILE not in " ".join(logged)
