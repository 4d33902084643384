"""Payments issue receipts through the hook receipts register in ``ReceiptsConfig.ready()``
(payments sit below receipts and never import them); without it no payment is recorded."""

from __future__ import annotations

import pytest

from linli.payments import services as payment_services
from linli.payments.models import Payment
from linli.receipts.models import Receipt
from linli.receipts.services import receipt_issue
from linli.receipts.tests.conftest import pay

pytestmark = pytest.mark.django_db


def test_receipts_register_their_issuer_once():
    assert payment_services._RECEIPT_ISSUERS == [receipt_issue]
    payment_services.receipt_issuer_register(receipt_issue)
    assert payment_services._RECEIPT_ISSUERS == [receipt_issue]


def test_each_payment_gets_its_receipt_through_the_hook(billed):
    payment = pay(billed["a1_unit"])
    assert Receipt.objects.get(payment=payment).number.endswith("000001")


def test_without_the_receipts_hook_a_payment_is_refused_whole(billed, monkeypatch):
    monkeypatch.setattr(payment_services, "_RECEIPT_ISSUERS", [])
    with pytest.raises(RuntimeError, match="receipt issuer"):
        pay(billed["a1_unit"])
    assert not Payment.objects.exists() and not Receipt.objects.exists()
