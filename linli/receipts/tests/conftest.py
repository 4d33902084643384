"""Payments for receipts, made through the real services (bills issued by a bill run,
paid with ``payment_record``, which issues the receipt in its own transaction)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

import pytest
from django.utils import timezone

from linli.billing.models import Bill
from linli.billing.services import config
from linli.billing.services.bill_run import bill_run_commit
from linli.payments.models import Channel
from linli.payments.services import payment_record

START = dt.date(2024, 1, 1)
_keys = itertools.count(1)


def fixed_fee(community, price: str = "123.45", name: str = "物业服务费"):
    item = config.fee_item_create(acting_user=None, community=community, name=name,
                                  category="property")
    std = config.standard_create(acting_user=None, fee_item=item, name=name,
                                 method="fixed_unit", due_days=30)
    config.standard_rate_add(acting_user=None, standard=std, effective_from=START,
                             unit_price=Decimal(price))
    config.binding_create(acting_user=None, standard=std, scope="community", start_date=START)
    return item


def issue(community, *periods: str) -> None:
    for period in periods:
        bill_run_commit(acting_user=None, community_id=community.pk, period_key=period,
                        today=timezone.localdate())


def pay(unit, amount_fen: int | None = None, *, channel=Channel.CASH, acting_user=None,
        payer_name: str = "", reference: str = "", key: str | None = None):
    """Pay every open bill of ``unit`` (or ``amount_fen`` of them)."""
    bills = list(Bill.objects.filter(unit=unit, status__in=Bill.OPEN_STATUSES)
                 .values_list("pk", "amount_fen"))
    amount = amount_fen if amount_fen is not None else sum(a for _pk, a in bills)
    return payment_record(
        acting_user=acting_user, unit=unit, channel=channel, amount_fen=amount,
        bill_ids=[pk for pk, _a in bills], idempotency_key=key or f"rcpt:{next(_keys)}",
        payer_name=payer_name, reference=reference,
    )


@pytest.fixture
def billed(estate):
    """Community A1 and B1 each bill their unit 123.45 a month for 2026-01 and 2026-02."""
    for key in ("a1", "b1"):
        fixed_fee(estate[key])
        issue(estate[key], "2026-01", "2026-02")
    return estate
