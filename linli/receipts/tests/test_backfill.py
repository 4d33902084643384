"""Upgrading a database that already holds payments: migration 0003 gives each payment
without a receipt the next number of its community, in the order the money came in."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

from linli.payments.models import Channel, Payment, PaymentAllocation
from linli.receipts.models import Receipt
from linli.receipts.tests.conftest import pay

BEFORE = [("receipts", "0002_append_only_trigger")]
AFTER = [("receipts", "0003_backfill_receipts")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.fixture
def back_to_latest():
    """Going back to receipts 0002 also unapplies the apps that depend on receipts
    (refunds): bring every app back to its latest migration for the tests that follow."""
    yield
    executor = MigrationExecutor(connection)
    migrate(executor.loader.graph.leaf_nodes())


@pytest.mark.django_db(transaction=True)
def test_payments_recorded_before_receipts_get_numbers_in_order(billed, back_to_latest):
    issued = pay(billed["a1_unit"], 100).receipt  # already has its receipt
    bill = billed["a1_unit"].bills.order_by("period_key").first()
    old = []
    for minutes, amount in ((10, 700), (30, 500)):  # created in another order than received
        payment = Payment.objects.create(
            community=billed["a1"], unit=billed["a1_unit"], channel=Channel.WECHAT,
            amount_fen=amount, reference=f"42000{amount}",
            received_at=timezone.now() - dt.timedelta(minutes=minutes),
            idempotency_key=f"before-receipts:{amount}")
        PaymentAllocation.objects.create(payment=payment, bill=bill, principal_fen=amount)
        old.append(payment)
    migrate(BEFORE)
    migrate(AFTER)
    late, early = (Receipt.objects.get(payment=p) for p in old)  # 700 came in last
    year = issued.year
    assert (early.number, late.number) == (f"{year}-000002", f"{year}-000003")
    assert early.snapshot["transaction_id"] == "42000500"
    assert early.snapshot["items"][0]["principal_fen"] == 500
    assert early.snapshot["payer"] == billed["a1_person"].name
    assert early.snapshot["channel_label"] == "微信支付"
    out = io.StringIO()
    call_command("linli_check", only=["receipts.one_per_payment",
                                      "receipts.numbers_without_gaps"], stdout=out)
    assert "FAILED" not in out.getvalue()
