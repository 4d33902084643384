"""A small community for the money tests of this folder, built through the real services:
one fixed monthly fee, a few units with their paying owners, staff with distinct duties
(a cashier, a finance clerk who applies, a manager who approves), the sandbox channel,
and every operation money can take — each a thin call of the service that owns it."""

from __future__ import annotations

import datetime as dt
import io
import itertools
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from linli import testing as t
from linli.billing.models import Bill, BillingSettings
from linli.billing.selectors import with_balances
from linli.billing.services import config
from linli.billing.services.bill_run import bill_run_commit, bill_run_offset
from linli.core.invariants import run_all
from linli.payments.gateways import gateway_for
from linli.payments.models import COUNTER_CHANNELS, Channel, PrepaidMovement, PrepaidWallet
from linli.payments.orders import order_create, trade_apply
from linli.payments.permissions import RESOLVE_PERMISSION
from linli.payments.services import payment_record, prepaid_deposit, prepaid_pay_bills
from linli.payments.tests.helpers import grant, sandbox_account
from linli.refunds.models import RefundPolicy
from linli.refunds.payouts import refund_execute, refund_record_counter
from linli.refunds.selectors import refundable_for_payment
from linli.refunds.services import refund_apply, refund_approve
from linli.staff.models import Role

START = dt.date(2020, 1, 1)
_n = itertools.count(1)


def key(prefix: str) -> str:
    return f"{prefix}-{next(_n)}-{uuid.uuid4().hex[:8]}"


def month_key(today: dt.date, offset: int) -> str:
    index = today.year * 12 + today.month - 1 + offset
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def invariant_violations() -> list[str]:
    """Every `linli check` invariant, run in-process: the violations, named."""
    return [f"{r.name}: {v}" for r in run_all() for v in r.violations]


def refused(exc, fn, *args, **kwargs) -> None:
    """``fn`` is refused with ``exc`` and writes nothing."""
    with pytest.raises(exc), transaction.atomic():
        fn(*args, **kwargs)


def check_ok() -> None:
    call_command("linli_check", stdout=io.StringIO())  # SystemExit(1) on any violation


class World:
    def __init__(self, *, units: int = 2, price: str = "100.00", auto_offset: bool = False):
        self.company = t.make_company()
        self.community = t.make_community(self.company)
        self.fee_item = config.fee_item_create(acting_user=None, community=self.community,
                                               name="物业服务费", category="property")
        standard = config.standard_create(acting_user=None, fee_item=self.fee_item,
                                          name="物业服务费", method="fixed_unit", due_days=30)
        config.standard_rate_add(acting_user=None, standard=standard, effective_from=START,
                                 unit_price=Decimal(price))
        config.binding_create(acting_user=None, standard=standard, scope="community",
                              start_date=START)
        # Every waiver waits for a second person (finance approves; the manager asks).
        BillingSettings.objects.update_or_create(
            community=self.community,
            defaults={"auto_offset_prepaid": auto_offset, "approval_threshold_fen": 0})
        self.units = [t.make_unit(self.community, room=f"{i + 1:02d}01") for i in range(units)]
        for unit in self.units:
            t.make_occupancy(unit, t.make_person(self.community))
        self.cashier = t.make_staff(self.company, Role.CASHIER, [self.community])
        self.clerk = t.make_staff(self.company, Role.FINANCE, [self.community])
        self.manager = t.make_staff(self.company, Role.MANAGER, [self.community])
        self.second_approver = t.make_staff(self.company, Role.FINANCE, [self.community])
        for user in (self.cashier, self.clerk, self.manager):
            grant(user, "refunds.add_refundapplication", "refunds.change_refundapplication",
                  "refunds.view_refundapplication")
        for user in (self.clerk, self.manager, self.second_approver):
            grant(user, RESOLVE_PERMISSION)
        self.payer = User.objects.create_superuser(key("payer"), "p@example.com", t.PASSWORD)
        self.policy = RefundPolicy.objects.create(community=self.community)
        self.account = sandbox_account(self.community)
        self.gateway = gateway_for(self.account.config())

    # --- billing ----------------------------------------------------------------------
    def bill_run(self, period_key: str):
        """The committed run (None: the month was billed already, nothing recorded)."""
        run, _preview = bill_run_commit(acting_user=self.manager, community_id=self.community.pk,
                                        period_key=period_key, today=timezone.localdate())
        if run is not None:  # what follows the commit (on_commit; idempotent per unit)
            bill_run_offset(acting_user=self.manager, run_id=run.pk)
        return run

    def open_bills(self, unit, *, limit: int | None = None) -> list[Bill]:
        bills = list(with_balances(Bill.objects.filter(unit=unit, status__in=Bill.OPEN_STATUSES))
                     .order_by("due_date", "pk"))
        return bills[:limit] if limit else bills

    # --- money in ------------------------------------------------------------------------
    def order(self, unit, bills=None, *, topup_fen: int | None = None):
        if topup_fen is not None:
            return order_create(payer=self.payer, channel=Channel.SANDBOX, mode="sandbox",
                                idempotency_key=key("topup"), unit=unit, topup_fen=topup_fen)
        return order_create(payer=self.payer, channel=Channel.SANDBOX, mode="sandbox",
                            idempotency_key=key("order"), bill_ids=[b.pk for b in bills])

    def pay_order(self, order):
        """The payer pays at the sandbox; the notification is applied."""
        return trade_apply(self.account, self.gateway.pay(order.out_trade_no), source="test")

    def pay_counter(self, unit, bills, amount_fen: int, channel: str = Channel.CASH):
        return payment_record(acting_user=self.cashier, unit=unit, channel=channel,
                              amount_fen=amount_fen, bill_ids=[b.pk for b in bills],
                              idempotency_key=key("counter"))

    def deposit(self, unit, amount_fen: int):
        return prepaid_deposit(acting_user=self.cashier, unit=unit, amount_fen=amount_fen,
                               channel=Channel.CASH, idempotency_key=key("deposit"))

    def offset(self, unit, bills):
        return prepaid_pay_bills(acting_user=self.cashier, unit=unit,
                                 bill_ids=[b.pk for b in bills], idempotency_key=key("offset"))

    # --- money back ----------------------------------------------------------------------
    def refund_ask(self, payment, *, part: int = 1):
        """Apply (the finance clerk, for the owner) for a refund of what ``payment`` may
        still give back: its first refundable bill line, else its prepaid money; ``part``
        divides the most allowed. None when nothing of it may be refunded."""
        options = refundable_for_payment(payment)
        line = next((o for o in options.lines if o.max_fen > 0), None)
        if line is not None:
            return refund_apply(acting_user=self.clerk, payment=payment, reason="搬家",
                                lines={line.bill.pk: max(line.max_fen // part, 1)})
        if min(options.prepaid_max_fen, options.remaining_fen) > 0:
            fen = min(options.prepaid_max_fen, options.remaining_fen)
            return refund_apply(acting_user=self.clerk, payment=payment, reason="不住了",
                                prepaid_fen=max(fen // part, 1))
        return None

    def refund_approve(self, application):
        return refund_approve(acting_user=self.manager, application=application)

    def refund_pay(self, application):
        """What the worker does after approval; the cashier for a counter payment."""
        if application.payment.channel in COUNTER_CHANNELS:
            return refund_record_counter(acting_user=self.cashier, application=application,
                                         channel=Channel.CASH)
        return refund_execute(application.pk)


def wallet_fen(unit) -> int:
    wallet = PrepaidWallet.objects.filter(unit=unit).first()
    return wallet.balance_fen if wallet else 0


def wallets_add_up() -> list[str]:
    """Each wallet's balance is the sum of its movements (no lost update)."""
    moved = dict(PrepaidMovement.objects.values("wallet_id").annotate(s=Sum("amount_fen"))
                 .values_list("wallet_id", "s"))
    return [f"unit #{w.unit_id}: wallet {w.balance_fen} fen, movements {moved.get(w.pk, 0)} fen"
            for w in PrepaidWallet.objects.all() if w.balance_fen != moved.get(w.pk, 0)]


def bills_not_overpaid() -> list[str]:
    """No bill has more principal allocated than it was charged (no lost update)."""
    over = (Bill.objects.annotate(paid=Sum("allocations__principal_fen"))
            .filter(paid__gt=0).values_list("pk", "amount_fen", "paid"))
    return [f"bill #{pk}: charged {amount} fen, {paid} fen allocated"
            for pk, amount, paid in over if paid > amount]
