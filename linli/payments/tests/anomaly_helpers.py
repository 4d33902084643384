"""A community with a billed unit, a sandbox account, two finance staff (a write-off needs
two people) and a cashier; trades as a channel would report them."""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from linli import testing as t
from linli.ledger import chart
from linli.ledger.selectors import account_balance
from linli.payments.gateways.base import TradeState, TradeStatus
from linli.payments.models import Channel, PaymentOrder
from linli.payments.orders import order_create
from linli.payments.tests.helpers import billed_unit, sandbox_account
from linli.staff.models import Role


@dataclass
class World:
    community: object
    account: object
    unit: object
    bills: list
    cashier: object
    finance: object
    finance2: object

    def order(self, key: str = "k1", bills=None) -> PaymentOrder:
        bills = self.bills if bills is None else bills
        return order_create(payer=self.cashier, channel=Channel.SANDBOX, mode="sandbox",
                            idempotency_key=key, bill_ids=[b.pk for b in bills])

    def suspense_fen(self) -> int:
        return account_balance(account=chart.SUSPENSE, community_id=self.community.pk)

    def account_fen(self, code: str) -> int:
        return account_balance(account=code, community_id=self.community.pk)


def make_world(estate) -> World:
    community = estate["a1"]
    account = sandbox_account(community)
    unit, bills = billed_unit(community, room="801", periods=("2024-01", "2024-02"))
    company = estate["company_a"]
    return World(community=community, account=account, unit=unit, bills=bills,
                 cashier=t.make_staff(company, Role.CASHIER, [community]),
                 finance=t.make_staff(company, Role.FINANCE, [community]),
                 finance2=t.make_staff(company, Role.FINANCE, [community]))


def paid(order_or_no, txn: str, amount_fen: int, *, refunded_fen: int = 0) -> TradeStatus:
    no = getattr(order_or_no, "out_trade_no", order_or_no)
    return TradeStatus(out_trade_no=no, state=TradeState.PAID, transaction_id=txn,
                       amount_fen=amount_fen, paid_at=timezone.now(),
                       refunded_fen=refunded_fen)


def refunded(order_or_no, txn: str, amount_fen: int | None, *,
             refunded_fen: int = 0) -> TradeStatus:
    """WeChat REFUND / Alipay TRADE_CLOSED carrying gmt_payment or refund_fee."""
    no = getattr(order_or_no, "out_trade_no", order_or_no)
    return TradeStatus(out_trade_no=no, state=TradeState.REFUNDED, transaction_id=txn,
                       amount_fen=amount_fen, paid_at=timezone.now(),
                       refunded_fen=refunded_fen)
