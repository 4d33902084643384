"""The receipt of a prepaid offset that a bill run's reversal took back is voided by a new
linked record (issue 14): the receipt keeps its number and reads 已作废 on the owner's
payments page, the console's receipt pages, the verify page and the PDF; `linli check`
fails while a taken-back payment's receipt stands (or a standing one is voided)."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from linli import testing as t
from linli.billing.models import BillingSettings
from linli.billing.services.bill_run import bill_run_commit
from linli.billing.services.bill_run_reversal import bill_run_reverse
from linli.core.invariants import run_all
from linli.ledger.models import ImmutableRecordError
from linli.payments.models import Channel, Payment, PaymentReversal
from linli.payments.services import prepaid_deposit
from linli.payments.tests.helpers import check_ok, fixed_fee
from linli.receipts.models import Receipt, ReceiptVoid
from linli.receipts.pdf import _texts
from linli.receipts.services import verify_token
from linli.staff.models import Role

pytestmark = pytest.mark.django_db
MONTH = "2026-10"


@pytest.fixture
def reversed_offset(estate, django_capture_on_commit_callbacks):
    """A1 pays new bills from prepaid balances; its unit (an owner's) had 150 yuan; the
    October run offset 100 of it, then the run was reversed."""
    community, unit = estate["a1"], estate["a1_unit"]
    fixed_fee(community)
    BillingSettings.objects.update_or_create(community=community,
                                             defaults={"auto_offset_prepaid": True})
    prepaid_deposit(acting_user=None, unit=unit, amount_fen=15000, channel=Channel.CASH,
                    idempotency_key="dep-1")
    person = t.make_person(community, name="赵业主")
    t.make_occupancy(unit, person)
    owner = t.make_owner(person.mobile)
    with django_capture_on_commit_callbacks(execute=True):
        run, _preview = bill_run_commit(acting_user=None, community_id=community.pk,
                                        period_key=MONTH)
    offset = Payment.objects.get(channel=Channel.PREPAID)
    receipt = Receipt.objects.get(payment=offset)
    manager = t.make_staff(estate["company_a"], Role.MANAGER, [community])
    bill_run_reverse(acting_user=manager, run=run, reason="单价录错")
    return {**estate, "owner": owner, "receipt": receipt, "manager": manager}


def test_the_offsets_receipt_is_voided_by_a_linked_record(reversed_offset):
    receipt = reversed_offset["receipt"]
    void = ReceiptVoid.objects.get()
    assert void.receipt == receipt and void.reason == "单价录错"
    assert void.payment_reversal == PaymentReversal.objects.get(payment=receipt.payment)
    assert void.voided_by == reversed_offset["manager"]
    assert Receipt.objects.get(pk=receipt.pk).number == receipt.number  # kept, unchanged
    deposit = Receipt.objects.get(payment__channel=Channel.CASH)
    assert not ReceiptVoid.objects.filter(receipt=deposit).exists()  # the deposit stands
    check_ok()
    with pytest.raises((ImmutableRecordError, IntegrityError, ValidationError)):
        with transaction.atomic():
            ReceiptVoid.objects.filter(pk=void.pk).delete()


def test_it_reads_voided_everywhere(reversed_offset, client):
    receipt = reversed_offset["receipt"]
    owner = Client()
    owner.force_login(reversed_offset["owner"])
    history = owner.get(reverse("portal:history")).content.decode()
    assert f'id="voided-{receipt.pk}">已作废<' in history
    deposit = Receipt.objects.get(payment__channel=Channel.CASH)
    assert f'id="voided-{deposit.pk}"' not in history
    client.force_login(reversed_offset["manager"])
    listing = client.get(reverse("admin:receipts_receipt_changelist")).content.decode()
    assert listing.count("已作废") == 1
    page = client.get(reverse("admin:receipts_receipt_change", args=[receipt.pk]))
    assert "已作废" in page.content.decode() and "单价录错" in page.content.decode()
    payment = client.get(reverse("admin:payments_payment_change", args=[receipt.payment_id]))
    assert "已作废" in payment.content.decode()
    verify = Client().get(reverse("receipts_public:verify", args=[verify_token(receipt)]))
    assert 'id="voided"' in verify.content.decode() and "已作废" in verify.content.decode()
    assert _texts(receipt)["voided"].startswith("已作废 ")
    assert _texts(deposit)["voided"] == ""
    pdf = client.get(reverse("receipts:pdf", args=[receipt.pk]))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")


def _receipts_check() -> list[str]:
    return run_all(["receipts.voided_when_taken_back"])[0].violations


def test_the_check_fails_while_a_taken_back_payments_receipt_stands(estate):
    unit = estate["a1_unit"]
    standing = prepaid_deposit(acting_user=None, unit=unit, amount_fen=100,
                               channel=Channel.CASH, idempotency_key="dep-x")
    assert _receipts_check() == []
    reversal = PaymentReversal.objects.create(payment=standing, community=unit.community,
                                              reason="直接改库", business_key="x")
    assert any("stands, but its payment was taken back" in v for v in _receipts_check())
    other = prepaid_deposit(acting_user=None, unit=unit, amount_fen=200,
                            channel=Channel.CASH, idempotency_key="dep-y")
    ReceiptVoid.objects.create(receipt=other.receipt, community=unit.community,
                               payment_reversal=reversal, reason="x",
                               voided_at=reversal.at)
    assert any("is voided, but its payment stands" in v for v in _receipts_check())
