"""``linli backup`` copies a running home (the database while it is written to, and its
generated keys) into one file; ``linli restore`` puts it into a new home, where
``linli check`` passes and the encrypted ID numbers still read; a restore never
overwrites a database that has data."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from linli import testing as t
from linli.core.models import AuditEvent
from linli.estate.models import Person
from linli.payments.tests.helpers import billed_unit


def linli(home: Path, *args: str, database_url: str = "") -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items()
           if k not in {"DATABASE_URL", "LINLI_SECRET_KEY", "LINLI_FIELD_KEY", "REDIS_URL"}}
    env["LINLI_HOME"] = str(home)
    if database_url:
        env["DATABASE_URL"] = database_url
    return subprocess.run([sys.executable, "-m", "linli.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(connection.vendor != "sqlite", reason="SQLite's online backup")
@pytest.mark.django_db(transaction=True)
def test_backup_while_writing_then_restore_into_a_new_home_passes_check(tmp_path):
    company = t.make_company()
    community = t.make_community(company)
    billed_unit(community, room="1801", periods=("2024-01", "2024-02"))
    person = t.make_person(community, name="王秀英")
    id_number = person.id_number

    stop = threading.Event()

    def keep_writing():
        while not stop.is_set():
            AuditEvent.objects.create(action=AuditEvent.Action.ACTION, summary="write")
        connection.close()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        call_command("linli_backup", str(tmp_path / "home.tar.gz"))
    finally:
        stop.set()
        writer.join()

    new_home = tmp_path / "new-home"
    restored = linli(new_home, "restore", str(tmp_path / "home.tar.gz"))
    assert restored.returncode == 0, restored.stderr
    checked = linli(new_home, "check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    read_back = linli(new_home, "manage", "shell", "-c",
                      "from linli.estate.models import Person; "
                      f"print(Person.objects.get(pk={person.pk}).id_number)")
    assert read_back.stdout.strip().splitlines()[-1] == id_number
    assert Person.objects.filter(pk=person.pk).exists()

    again = linli(new_home, "restore", str(tmp_path / "home.tar.gz"))
    assert again.returncode != 0 and ("already" in again.stderr or "已有" in again.stderr)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_backup_restores_into_an_empty_database(tmp_path):
    company = t.make_company()
    community = t.make_community(company)
    billed_unit(community, room="1801", periods=("2024-01",))
    call_command("linli_backup", str(tmp_path / "pg.tar.gz"))

    db = connection.settings_dict
    target = f"{db['NAME']}_restore"[:60]
    admin_url = f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/postgres"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{target}"')
        admin.execute(f'CREATE DATABASE "{target}"')
    env_url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT'] or 5432}/{target}"
    home = tmp_path / "new-home"
    try:
        restored = linli(home, "restore", str(tmp_path / "pg.tar.gz"), database_url=env_url)
        assert restored.returncode == 0, restored.stderr
        checked = linli(home, "check", database_url=env_url)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{target}" WITH (FORCE)')
