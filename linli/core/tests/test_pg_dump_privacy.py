"""PIPL: a plain-text dump of the PostgreSQL database (what leaks when a backup or a
replica does) holds no mobile number and no ID number of anyone: people, owners signing
in, binding requests, staff, codes, the audit log of edits and of viewing a number."""

from __future__ import annotations

import subprocess

import pytest
from django.urls import reverse

from linli import testing as t
from linli.console.tests.forms import page_form_data
from linli.core.backup import _pg_url
from linli.estate.models import Person
from linli.owners.tests.helpers import password_signin, sms_signin
from linli.staff.models import Role

pytestmark = [pytest.mark.postgres]


def plain_dump() -> str:
    result = subprocess.run(["pg_dump", "--format=plain", "--no-owner", _pg_url()],
                            check=True, capture_output=True, text=True, timeout=300)
    return result.stdout


def test_a_plain_dump_holds_no_phone_or_id_number(transactional_db, client, settings):
    settings.LINLI_SMS_BACKEND = "linli.owners.sms.MemoryBackend"
    company = t.make_company()
    community = t.make_community(company)
    unit = t.make_unit(community)
    people = [t.make_person(community, name=name, mobile=f"1391234{i:04d}")
              for i, name in enumerate(["张三", "李四", "王五"])]
    for person in people:
        person.id_number = t.make_id_number()
        person.save()
        t.make_occupancy(unit, person)
    manager = t.make_staff(company, Role.MANAGER, [community])
    manager.staff.mobile = "13712340000"
    manager.staff.save()
    secrets = [p.mobile for p in people] + [p.id_number for p in people] + ["13712340000"]

    # An owner signs in by code (their account), sets a password and signs in with it.
    sms_signin(client, people[0].mobile)
    client.post(reverse("owners:password-set"),
                {"new_password": "Huayuan-1801!", "new_password2": "Huayuan-1801!"})
    client.post(reverse("owners:signout"))
    password_signin(client, people[0].mobile, "wrong-password")
    # A manager edits a person's number and ID number and opens a full number.
    client.force_login(manager)
    url = reverse("admin:estate_person_change", args=[people[1].pk])
    data = page_form_data(client.get(url))
    new_id = t.make_id_number()
    data.update(mobile="13912349999", id_number=new_id)
    assert client.post(url, data).status_code == 302
    secrets += ["13912349999", new_id]
    opened = client.get(reverse("admin:estate_person_mobile", args=[people[2].pk]))
    assert people[2].mobile in opened.content.decode()
    assert Person.objects.get(pk=people[1].pk).mobile == "13912349999"

    dump = plain_dump()
    assert "COPY public.estate_person" in dump  # the data is there, encrypted
    leaked = [s for s in secrets if s in dump]
    assert leaked == []


@pytest.mark.django_db(transaction=True)
def test_the_demo_dumped_holds_no_phone_or_id_number(settings):
    from linli.demo.data import load_demo
    from linli.staff.models import StaffMember

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    load_demo()
    people = list(Person.objects.all())
    secrets = {p.mobile for p in people if p.mobile} | {p.id_number for p in people}
    secrets |= {m.mobile for m in StaffMember.objects.exclude(mobile="")}
    assert len(secrets) > 500
    dump = plain_dump()
    assert "COPY public.estate_person" in dump
    assert [s for s in secrets if s in dump] == []
