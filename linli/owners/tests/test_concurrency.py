"""Send limits hold when requests race (PostgreSQL: several processes, one database)."""

from __future__ import annotations

import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from linli.owners.codes import code_send
from linli.owners.models import Purpose, VerificationCode


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_racing_requests_for_one_phone_send_one_code(outbox):
    racers = 6
    barrier = threading.Barrier(racers)
    results: list[str] = []

    def race(i: int) -> None:
        barrier.wait()
        try:
            code_send(mobile="13800138000", purpose=Purpose.SIGNIN, ip=f"10.1.0.{i}")
            results.append("sent")
        except ValidationError:
            results.append("wait")
        finally:
            connection.close()

    threads = [threading.Thread(target=race, args=(i,)) for i in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == ["sent"] + ["wait"] * (racers - 1)
    assert VerificationCode.objects.count() == 1 and len(outbox) == 1
