"""Two workers posting the same business key at the same moment: one entry, both
callers get it back (PostgreSQL; SQLite serialises writers with BEGIN IMMEDIATE)."""

from __future__ import annotations

import threading

import pytest
from django.db import connections, transaction

from linli.ledger import chart, services
from linli.ledger.models import JournalEntry, JournalLine
from linli.ledger.services import Line, post_entry


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("inside_outer_transaction", [False, True])
def test_two_threads_posting_the_same_key_make_exactly_one_entry(
    estate, monkeypatch, inside_outer_transaction
):
    community, unit = estate["a1"], estate["a1_unit"]
    lines = [
        Line.debit(chart.CLEARING_WECHAT, 8800),
        Line.credit(chart.RECEIVABLE, 8800, unit_id=unit.pk),
    ]
    # Both threads finish their look-up ("not posted yet") before either inserts, so
    # the race is certain rather than a matter of timing.
    barrier = threading.Barrier(2, timeout=20)
    first_lookups = []
    seen = threading.local()
    original_existing = services._existing

    def racing_existing(business_key):
        found = original_existing(business_key)
        if not getattr(seen, "done", False):
            seen.done = True
            first_lookups.append(found)
            barrier.wait()
        return found

    monkeypatch.setattr(services, "_existing", racing_existing)
    entry_ids, errors = [], []

    def worker():
        try:
            if inside_outer_transaction:
                with transaction.atomic():
                    entry = post_entry(
                        community_id=community.pk, business_key="pay:n-1", kind="payment",
                        lines=lines,
                    )
            else:
                entry = post_entry(
                    community_id=community.pk, business_key="pay:n-1", kind="payment",
                    lines=lines,
                )
            entry_ids.append(entry.pk)
        except Exception as exc:  # reported below, in the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert first_lookups == [None, None]
    assert len(entry_ids) == 2 and entry_ids[0] == entry_ids[1]
    assert JournalEntry.objects.filter(business_key="pay:n-1").count() == 1
    assert JournalLine.objects.filter(entry_id=entry_ids[0]).count() == 2
