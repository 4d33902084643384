"""SMS codes: five minutes, one use, five tries, one phone and purpose; send limits per
phone (1 a minute, 10 a day) and per IP (30 an hour), counted in the database."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from linli import testing as t
from linli.owners.codes import (
    IP_PER_HOUR,
    MAX_ATTEMPTS,
    PHONE_PER_DAY,
    code_send,
    code_verify,
)
from linli.owners.models import Purpose, VerificationCode
from linli.owners.services import owners_housekeeping

pytestmark = pytest.mark.django_db
MOBILE, OTHER = "13800138000", "13900139000"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def send(mobile=MOBILE, *, at=T0, ip="10.0.0.1", purpose=Purpose.SIGNIN, user=None):
    code_send(mobile=mobile, purpose=purpose, ip=ip, now=at, user=user)


def refusal(fn, **kwargs) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        fn(**kwargs)
    return info.value


def test_the_code_arrives_by_sms_and_only_its_hash_is_stored(outbox):
    send("+86 138-0013-8000")
    [message] = outbox
    assert message.mobile == MOBILE and message.purpose == "signin"
    assert len(message.code) == 6 and message.code.isdigit() and message.code in message.text
    stored = VerificationCode.objects.get()
    assert message.code not in stored.code_hash
    assert code_verify(mobile=MOBILE, purpose=Purpose.SIGNIN, code=message.code,
                       now=T0 + dt.timedelta(seconds=30)).used_at is not None


def test_a_code_expires_after_five_minutes(outbox):
    send()
    code = outbox[-1].code
    error = refusal(code_verify, mobile=MOBILE, purpose=Purpose.SIGNIN, code=code,
                    now=T0 + dt.timedelta(minutes=5, seconds=1))
    assert error.code == "expired"
    assert code_verify(mobile=MOBILE, purpose=Purpose.SIGNIN, code=code,
                       now=T0 + dt.timedelta(minutes=4, seconds=59))


def test_a_code_works_once(outbox):
    send()
    code = outbox[-1].code
    code_verify(mobile=MOBILE, purpose=Purpose.SIGNIN, code=code, now=T0)
    assert refusal(code_verify, mobile=MOBILE, purpose=Purpose.SIGNIN, code=code,
                   now=T0).code == "expired"


def test_five_wrong_tries_burn_the_code(outbox):
    send()
    code = outbox[-1].code
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for left in range(MAX_ATTEMPTS - 1, -1, -1):
        error = refusal(code_verify, mobile=MOBILE, purpose=Purpose.SIGNIN, code=wrong, now=T0)
        assert error.code == "wrong"
        if left:
            assert f"{left}" in error.messages[0]
    # The sixth try fails even with the right code: the tries were counted and kept.
    assert refusal(code_verify, mobile=MOBILE, purpose=Purpose.SIGNIN, code=code,
                   now=T0).code == "attempts"
    assert VerificationCode.objects.get().attempts == MAX_ATTEMPTS


def test_a_code_is_bound_to_its_phone_and_purpose(outbox, django_user_model):
    send()
    code = outbox[-1].code
    assert refusal(code_verify, mobile=OTHER, purpose=Purpose.SIGNIN, code=code,
                   now=T0).code == "expired"
    assert refusal(code_verify, mobile=MOBILE, purpose=Purpose.CHANGE_PHONE, code=code,
                   now=T0).code == "expired"
    # A phone-change code works only for the account that asked for it.
    owner, intruder = (t.make_owner(m) for m in ("13700137000",
                                                                          "13600136000"))
    send(OTHER, purpose=Purpose.CHANGE_PHONE, user=owner, at=T0)
    code = outbox[-1].code
    assert refusal(code_verify, mobile=OTHER, purpose=Purpose.CHANGE_PHONE, code=code,
                   user=intruder, now=T0).code == "expired"
    assert code_verify(mobile=OTHER, purpose=Purpose.CHANGE_PHONE, code=code, user=owner,
                       now=T0)
    # And the sign-in code still works for its own phone and purpose.
    assert code_verify(mobile=MOBILE, purpose=Purpose.SIGNIN, code=outbox[0].code, now=T0)


def test_a_new_code_replaces_the_previous_one(outbox):
    send()
    first = outbox[-1].code
    send(at=T0 + dt.timedelta(minutes=1))
    second = outbox[-1].code
    if first != second:
        assert refusal(code_verify, mobile=MOBILE, purpose=Purpose.SIGNIN, code=first,
                       now=T0 + dt.timedelta(minutes=2)).code == "wrong"
    assert code_verify(mobile=MOBILE, purpose=Purpose.SIGNIN, code=second,
                       now=T0 + dt.timedelta(minutes=2))


def test_one_code_a_minute_per_phone_with_the_wait_in_the_message(outbox):
    send()
    error = refusal(code_send, mobile=MOBILE, purpose=Purpose.SIGNIN, ip="10.9.9.9",
                    now=T0 + dt.timedelta(seconds=20))
    assert error.code == "wait" and error.params["seconds"] == 40
    assert "40" in error.messages[0]
    # Another purpose does not get around it; another phone is not held back.
    assert refusal(code_send, mobile=MOBILE, purpose=Purpose.CHANGE_PHONE, ip=None,
                   now=T0 + dt.timedelta(seconds=59)).code == "wait"
    send(OTHER, at=T0 + dt.timedelta(seconds=20))
    send(at=T0 + dt.timedelta(seconds=60))
    assert [m.mobile for m in outbox] == [MOBILE, OTHER, MOBILE]


def test_ten_codes_a_day_per_phone(outbox):
    for i in range(PHONE_PER_DAY):
        send(at=T0 + dt.timedelta(minutes=10 * i), ip=f"10.0.1.{i}")
    later = T0 + dt.timedelta(hours=3)
    error = refusal(code_send, mobile=MOBILE, purpose=Purpose.SIGNIN, ip="10.0.2.1", now=later)
    assert error.code == "wait"
    # Until the first of the ten is a day old.
    assert error.params["seconds"] == int((T0 + dt.timedelta(days=1) - later).total_seconds())
    send(at=T0 + dt.timedelta(days=1, seconds=1), ip="10.0.2.1")
    assert len(outbox) == PHONE_PER_DAY + 1


def test_thirty_codes_an_hour_per_ip(outbox):
    ip = "203.0.113.7"
    for i in range(IP_PER_HOUR):
        send(f"1370000{i:04d}", at=T0 + dt.timedelta(seconds=i), ip=ip)
    assert refusal(code_send, mobile="13611112222", purpose=Purpose.SIGNIN, ip=ip,
                   now=T0 + dt.timedelta(minutes=30)).code == "wait"
    send("13611112222", at=T0 + dt.timedelta(minutes=30), ip="203.0.113.8")
    send("13611113333", at=T0 + dt.timedelta(hours=1, seconds=1), ip=ip)
    assert len(outbox) == IP_PER_HOUR + 2


def test_bad_numbers_are_refused_with_a_clear_message(outbox):
    for bad in ("", "12345", "23800138000", "1380013800a"):
        error = refusal(code_send, mobile=bad, purpose=Purpose.SIGNIN, ip=None,
                        now=timezone.now())
        assert error.messages
    assert outbox == [] and not VerificationCode.objects.exists()


def test_housekeeping_forgets_only_what_no_limit_needs(outbox):
    send(at=T0)
    send(at=T0 + dt.timedelta(days=1, hours=12))
    removed = owners_housekeeping(now=T0 + dt.timedelta(days=2, hours=1))
    assert removed["codes"] == 1
    assert list(VerificationCode.objects.values_list("created_at", flat=True)) == [
        T0 + dt.timedelta(days=1, hours=12)]
