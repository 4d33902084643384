"""Receipt numbers: 2026-000001, 2026-000002, … per community and year, no gap, no
duplicate — also when fifty payments arrive at once (PostgreSQL) — and receipts that
cannot be changed or deleted once issued."""

from __future__ import annotations

import datetime as dt
import io
import threading
import zoneinfo
from unittest import mock

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, connections, transaction
from django.utils import timezone

from linli import testing as t
from linli.ledger.models import ImmutableRecordError
from linli.payments.models import Channel, Payment
from linli.payments.services import payment_record
from linli.receipts.models import Receipt, ReceiptSequence
from linli.receipts.services import ReceiptError, receipt_issue
from linli.receipts.tests.conftest import pay

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def numbers(community) -> list[str]:
    return list(Receipt.objects.filter(community=community).order_by("serial")
                .values_list("number", flat=True))


@pytest.fixture
def clock():
    """``timezone.now()`` at a chosen moment."""

    class Clock:
        now = dt.datetime(2026, 3, 5, 10, tzinfo=SHANGHAI)

        def move_to(self, moment: dt.datetime) -> None:
            self.now = moment

    c = Clock()
    with mock.patch.object(timezone, "now", lambda: c.now):
        yield c


def check(*names: str) -> str:
    out = io.StringIO()
    try:
        call_command("linli_check", only=list(names), stdout=out)
    except SystemExit as exit_:
        return f"FAILED {exit_.code}: {out.getvalue()}"
    return out.getvalue()


@pytest.mark.django_db
def test_every_payment_gets_the_next_number_of_its_community(billed, clock):
    a1, b1 = billed["a1"], billed["b1"]
    a2_unit = t.make_unit(a1, room="2202")
    first = pay(billed["a1_unit"], 12345)
    second = pay(a2_unit, 500)
    other = pay(billed["b1_unit"], 12345)
    third = pay(billed["a1_unit"], 100)
    assert [p.receipt.number for p in (first, second, third)] == [
        "2026-000001", "2026-000002", "2026-000003"]
    assert other.receipt.number == "2026-000001"  # its own community, its own counter
    assert numbers(a1) == ["2026-000001", "2026-000002", "2026-000003"]
    assert numbers(b1) == ["2026-000001"]
    assert Receipt.objects.count() == Payment.objects.count() == 4


@pytest.mark.django_db
def test_a_new_year_starts_again_at_one(billed, clock):
    clock.move_to(dt.datetime(2026, 12, 31, 23, 59, tzinfo=SHANGHAI))
    assert pay(billed["a1_unit"], 100).receipt.number == "2026-000001"
    assert pay(billed["a1_unit"], 100).receipt.number == "2026-000002"
    # 16:30 UTC on 31 December is already 1 January in Shanghai.
    clock.move_to(dt.datetime(2027, 1, 1, 0, 30, tzinfo=SHANGHAI))
    assert pay(billed["a1_unit"], 100).receipt.number == "2027-000001"
    assert "FAILED" not in check("receipts.numbers_without_gaps")


@pytest.mark.django_db
def test_issuing_twice_returns_the_same_receipt_and_keeps_the_number(billed):
    payment = pay(billed["a1_unit"], 12345, key="same-form")
    again = pay(billed["a1_unit"], 12345, key="same-form")  # the form sent twice
    assert again.pk == payment.pk
    with transaction.atomic():
        assert receipt_issue(payment).pk == payment.receipt.pk
    assert Receipt.objects.count() == 1
    assert ReceiptSequence.objects.get(community=billed["a1"]).last_serial == 1


@pytest.mark.django_db
def test_a_payment_that_rolls_back_leaves_no_gap(billed):
    pay(billed["a1_unit"], 100)
    with pytest.raises(RuntimeError), transaction.atomic():
        pay(billed["a1_unit"], 100)
        raise RuntimeError("the till jammed after the receipt was numbered")
    assert pay(billed["a1_unit"], 100).receipt.number.endswith("-000002")
    assert numbers(billed["a1"])[-1].endswith("-000002") and len(numbers(billed["a1"])) == 2


@pytest.mark.django_db(transaction=True)
def test_issuing_outside_the_payments_transaction_is_refused(billed):
    payment = pay(billed["a1_unit"], 100)
    lone = Payment.objects.create(
        community=billed["a1"], unit=billed["a1_unit"], channel=Channel.CASH, amount_fen=1,
        received_at=payment.received_at, idempotency_key="no-receipt")
    with pytest.raises(ReceiptError):
        receipt_issue(lone)
    assert f"payment #{lone.pk} has no receipt" in check("receipts.one_per_payment")


@pytest.mark.django_db
def test_the_receipt_shows_what_was_paid(billed):
    cashier = t.make_staff(billed["company_a"], "cashier", [billed["a1"]])
    payment = pay(billed["a1_unit"], 12345 + 12345 + 1000, acting_user=cashier,
                  payer_name="张三明", reference="POS-778")
    snap = payment.receipt.snapshot
    assert [(i["fee_item"], i["period"], i["principal_fen"]) for i in snap["items"]] == [
        ("物业服务费", "2026-01", 12345), ("物业服务费", "2026-02", 12345)]
    assert snap["prepaid_fen"] == 1000 and snap["total_fen"] == 25690
    assert snap["payer"] == "张三明" and snap["channel"] == "cash"
    assert snap["channel_label"] == "现金"
    assert snap["cashier"] == cashier.staff.display_name and snap["reference"] == "POS-778"
    assert snap["unit"] == str(billed["a1_unit"]) and snap["community"] == billed["a1"].name
    assert payment.receipt.total_fen == 25690


@pytest.mark.django_db
def test_gateway_payment_shows_the_transaction_id_and_the_units_payer(billed):
    payment = pay(billed["a1_unit"], 12345, channel=Channel.WECHAT,
                  reference="4200002026112712345678")
    snap = payment.receipt.snapshot
    assert snap["transaction_id"] == "4200002026112712345678" and snap["cashier"] == ""
    assert snap["payer"] == billed["a1_person"].name  # the unit's payer of record


@pytest.mark.django_db
def test_an_issued_receipt_is_never_changed_or_deleted(billed):
    receipt = pay(billed["a1_unit"], 100).receipt
    receipt.total_fen = 1
    with pytest.raises(ImmutableRecordError):
        receipt.save()
    with pytest.raises(ImmutableRecordError):
        receipt.delete()
    with pytest.raises(ImmutableRecordError):
        Receipt.objects.filter(pk=receipt.pk).update(total_fen=1)
    with pytest.raises(ImmutableRecordError):
        Receipt.objects.all().delete()
    assert Receipt.objects.get(pk=receipt.pk).total_fen == 100


@pytest.mark.postgres
@pytest.mark.django_db
def test_postgresql_itself_refuses_to_change_a_receipt(billed):
    receipt = pay(billed["a1_unit"], 100).receipt
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("UPDATE receipts_receipt SET total_fen = 1 WHERE id = %s", [receipt.pk])
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM receipts_receipt WHERE id = %s", [receipt.pk])


@pytest.mark.django_db
def test_linli_check_sees_a_gap_and_a_duplicate(billed):
    first = pay(billed["a1_unit"], 100).receipt
    assert "FAILED" not in check("receipts.numbers_without_gaps", "receipts.one_per_payment")
    # Forged rows, as a bad import or a hand edit of the database would leave them.
    lone = Payment.objects.create(
        community=billed["a1"], unit=billed["a1_unit"], channel=Channel.CASH, amount_fen=5,
        received_at=first.issued_at, idempotency_key="forged")
    Receipt.objects.create(payment=lone, community=billed["a1"], unit=billed["a1_unit"],
                           year=first.year, serial=3, number=f"{first.year}-000003",
                           issued_at=first.issued_at, channel="cash", total_fen=5)
    report = check("receipts.numbers_without_gaps")
    assert "FAILED" in report and "missing [2]" in report


N_CONCURRENT = 50


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_payments_at_once_get_fifty_consecutive_numbers(estate):
    community = estate["a1"]
    units = [t.make_unit(community, building="9栋", room=f"{i:04d}") for i in range(N_CONCURRENT)]
    barrier = threading.Barrier(N_CONCURRENT, timeout=60)
    numbers_seen, errors = [], []

    def worker(unit):
        try:
            barrier.wait()
            with transaction.atomic():
                payment = payment_record(
                    acting_user=None, unit=unit, channel=Channel.CASH, amount_fen=100,
                    bill_ids=[], idempotency_key=f"race:{unit.pk}")
                receipt = receipt_issue(payment)
            numbers_seen.append(receipt.number)
        except Exception as exc:  # reported below, in the main thread
            errors.append(repr(exc))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(u,)) for u in units]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    year = Receipt.objects.first().year
    expected = [f"{year}-{n:06d}" for n in range(1, N_CONCURRENT + 1)]
    assert sorted(numbers_seen) == expected
    assert numbers(community) == expected
    assert ReceiptSequence.objects.get(community=community, year=year).last_serial == N_CONCURRENT
    assert "FAILED" not in check("receipts.numbers_without_gaps", "receipts.one_per_payment")
