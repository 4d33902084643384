"""A model-based test of money after it arrives: hypothesis drives random sequences of
bill runs, reversals, waivers (asked by one person, approved by another), counter and
online payments — duplicate, late, mismatched and refunded-at-the-channel notifications
among them — prepaid top-ups and offsets, refund applications, approvals (refused when
the money is gone), failures, retries, payouts another way and cancellations, anomaly
resolutions (apply to bills, to prepaid, refund through the channel, write-off by two
people) and channel refunds of held money that fail and are retried or settled. After
every step that wrote, each unit's owed amount and prepaid balance, the suspense account
(what open anomalies hold) and refunds payable (approved, not paid out or cancelled)
equal the reference model's (``reference.py``); every `linli check` invariant holds
after every CHECK_EVERY-th such step and at the end of each example.

Runs on SQLite and PostgreSQL, derandomized (the same sequences in every CI run):
EXAMPLES x STEPS = 30 x 45 (1,089 steps taken) per database. Each example starts from
the world the fixture built and is rolled back. ``LINLI_MODEL_EXAMPLES`` /
``LINLI_MODEL_STEPS`` change the size (a longer hunt), ``LINLI_MODEL_RANDOM=1`` with
``pytest --hypothesis-seed=N`` runs other sequences (repeatable by their seed),
``LINLI_MODEL_CHECK_EVERY=1`` runs `linli check` after every step,
``LINLI_MODEL_NO_SHRINK=1`` skips shrinking and ``LINLI_MODEL_VERBOSE=1`` counts the
steps taken.
"""

from __future__ import annotations

import os
from collections import Counter

import pytest
from django.db import connection, transaction
from django.utils import timezone
from hypothesis import HealthCheck, Phase, Verbosity, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from linli.billing.models import Bill
from linli.billing.selectors import owed_by_unit
from linli.ledger.chart import REFUNDS_PAYABLE, SUSPENSE
from linli.ledger.selectors import account_balance
from linli.payments.models import PaymentAnomaly, PaymentOrder, SandboxTrade
from linli.refunds.models import RefundApplication, RefundPayout

from . import steps
from .reference import Model
from .world import World, invariant_violations, month_key, wallet_fen

A = RefundApplication.Status
PERIODS = 4  # this month and the next three
EXAMPLES = int(os.environ.get("LINLI_MODEL_EXAMPLES") or 30)
STEPS = int(os.environ.get("LINLI_MODEL_STEPS") or 45)
# Every `linli check` invariant (≈ 0.13 s) runs after every CHECK_EVERY-th step that
# wrote, and at the end of each example; the model's readings after every one. A broken
# invariant stays broken, so a failure is found (and shrunk) all the same.
CHECK_EVERY = int(os.environ.get("LINLI_MODEL_CHECK_EVERY") or 3)


class MoneyMachine(RuleBasedStateMachine):
    """One example: the world as the fixture built it, rolled back afterwards."""

    world: World = None  # set by the test

    def __init__(self):
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self._watching = connection.execute_wrapper(self._watch)
        self._watching.__enter__()
        self.dirty, self.unchecked = True, 0
        self.m = Model(units=[u.pk for u in self.world.units])
        self.s = steps.Steps(self.world, self.m)
        if os.environ.get("LINLI_MODEL_VERBOSE"):  # count the steps taken, per rule
            for name in [n for n in dir(steps.Steps) if not n.startswith("_")]:
                if callable(getattr(self.s, name)):
                    setattr(self.s, name, self._counted(name, getattr(self.s, name)))

    ran: Counter = Counter()

    @classmethod
    def _counted(cls, name, step):
        def counted(*args, **kwargs):
            cls.ran[name] += 1
            return step(*args, **kwargs)
        return counted

    def teardown(self):
        try:
            if self.unchecked:
                assert invariant_violations() == []
        finally:
            self._rollback()

    def _rollback(self):
        if os.environ.get("LINLI_MODEL_VERBOSE"):
            print("example:", len(self.m.bills), "bills,", len(self.s.orders), "orders,",
                  len(self.s.payments), "payments,", len(self.s.apps), "refunds")
        self._watching.__exit__(None, None, None)
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    @initialize(period=st.integers(0, PERIODS - 1), prepaid=st.sampled_from([0, 5000, 12000]))
    def first_run(self, period, prepaid):
        if prepaid:  # money waiting before the first run: the run offsets it
            self.s.topup(0, prepaid, online=False)
        self.s.bill_run(self.period(period))

    def period(self, index: int) -> str:
        return self.world.periods[index % PERIODS]

    # --- billing ------------------------------------------------------------------------
    @rule(period=st.integers(0, PERIODS - 1))
    def bill_run(self, period):
        self.s.bill_run(self.period(period))

    @precondition(lambda self: bool(self.m.runs))
    @rule(period=st.integers(0, PERIODS - 1))
    def reverse_run(self, period):
        self.s.reverse_run(self.period(period))

    @precondition(lambda self: self.s.anything_owed())
    @rule(unit=st.integers(0, 9), which=st.integers(0, 9), quarters=st.integers(1, 4))
    def waiver_request(self, unit, which, quarters):
        self.s.waiver_request(unit, which, quarters)

    @precondition(lambda self: bool(self.m.pending_waivers))
    @rule(which=st.integers(0, 9), approve=st.booleans())
    def waiver_decide(self, which, approve):
        self.s.waiver_decide(which, approve)

    # --- money in -----------------------------------------------------------------------
    @rule(unit=st.integers(0, 9), first=st.integers(0, 9), bills=st.integers(0, 2),
          amount=st.sampled_from([3000, 10000, 25000]))
    def counter_payment(self, unit, first, bills, amount):
        self.s.counter_payment(unit, first, bills, amount)

    @rule(unit=st.integers(0, 9), amount=st.sampled_from([5000, 12000]), online=st.booleans())
    def topup(self, unit, amount, online):
        self.s.topup(unit, amount, online)

    @precondition(lambda self: self.s.anything_owed())
    @rule(unit=st.integers(0, 9), first=st.integers(0, 9), bills=st.integers(1, 2))
    def order_create(self, unit, first, bills):
        self.s.order_create(unit, first, bills)

    @precondition(lambda self: bool(self.s.orders))
    @rule(which=st.integers(0, 9),
          how=st.sampled_from(["paid", "paid", "duplicate", "late", "second", "mismatch",
                               "mismatch", "refunded_at_channel"]))
    def notification(self, which, how):
        self.s.notification(which, how)

    @precondition(lambda self: self.s.anything_to_offset())
    @rule(unit=st.integers(0, 9))
    def prepaid_offset(self, unit):
        self.s.prepaid_offset(unit)

    # --- money back ---------------------------------------------------------------------
    @precondition(lambda self: bool(self.s.payments))
    @rule(which=st.integers(0, 19), part=st.integers(1, 3))
    def refund_apply(self, which, part):
        self.s.refund_apply(which, part)

    @precondition(lambda self: bool(self.s.payments))
    @rule(which=st.integers(0, 19), part=st.integers(1, 3),
          outcome=st.sampled_from(["success", "closed", "abnormal"]))
    def refund_at_once(self, which, part, outcome):
        self.s.refund_at_once(which, part, outcome)

    @precondition(lambda self: self.s.has_app(A.SUBMITTED))
    @rule(which=st.integers(0, 9))
    def refund_approve(self, which):
        self.s.refund_approve(which)

    @precondition(lambda self: self.s.has_app(A.APPROVED))
    @rule(which=st.integers(0, 9), outcome=st.sampled_from(["success", "success", "closed",
                                                             "abnormal"]))
    def refund_pay(self, which, outcome):
        self.s.refund_pay(which, outcome)

    @precondition(lambda self: self.s.has_app(A.ATTENTION))
    @rule(which=st.integers(0, 9), how=st.sampled_from(["retry", "another_way", "cancel"]))
    def refund_retry(self, which, how):
        self.s.refund_retry(which, how)

    @precondition(lambda self: self.s.has_given_up())
    @rule(which=st.integers(0, 9))
    def late_channel_success(self, which):
        self.s.late_channel_success(which)

    # --- anomalies: held money and its refunds ---------------------------------------------
    @precondition(lambda self: bool(self.m.suspense))
    @rule(which=st.integers(0, 9), unit=st.integers(0, 9),
          way=st.sampled_from(["apply_bills", "to_prepaid", "refund", "write_off"]))
    def anomaly_resolve(self, which, way, unit):
        self.s.anomaly_resolve(which, way, unit)

    @precondition(lambda self: bool(self.m.order_refunds))
    @rule(which=st.integers(0, 9), outcome=st.sampled_from(["success", "closed"]))
    def channel_refund_send(self, which, outcome):
        self.s.channel_refund_send(which, outcome)

    @precondition(lambda self: bool(self.m.order_refunds))
    @rule(which=st.integers(0, 9), how=st.sampled_from(["retry", "to_prepaid", "counter"]),
          unit=st.integers(0, 9))
    def channel_refund_settle(self, which, how, unit):
        self.s.channel_refund_settle(which, how, unit)

    # --- after every step -----------------------------------------------------------------
    def _watch(self, execute, sql, params, many, context):
        """Note any write: a step that wrote nothing leaves the checks as they passed."""
        if sql.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE", "COPY "):
            self.dirty = True
        return execute(sql, params, many, context)

    @invariant()
    def money_holds(self):
        self.ran["(steps taken)"] += 1
        if not self.dirty:
            return
        self.dirty, self.unchecked = False, self.unchecked + 1
        if self.unchecked >= CHECK_EVERY:
            self.unchecked = 0
            assert invariant_violations() == []
        self.units_owe_what_the_model_says()
        self.a_bill_that_owes_can_be_paid()
        self.the_channel_refunded_what_linli_recorded()
        self.money_in_between_is_the_models()
        for txn in self.s.refunded_at_channel:  # refunded at the channel: recorded, flagged
            assert PaymentAnomaly.objects.filter(transaction_id=txn).exists(), txn

    def money_in_between_is_the_models(self):
        community = self.world.community.pk
        assert account_balance(account=SUSPENSE, community_id=community) == \
            sum(self.m.suspense.values())
        assert account_balance(account=REFUNDS_PAYABLE, community_id=community) == \
            self.m.refunds_payable(self.s.apps)

    def units_owe_what_the_model_says(self):
        owed = owed_by_unit(community_id=self.world.community.pk)
        for unit in self.world.units:
            assert owed.get(unit.pk, 0) == self.m.owed(unit.pk), unit
            assert wallet_fen(unit) == self.m.prepaid[unit.pk], unit

    def a_bill_that_owes_can_be_paid(self):
        owing = [b.pk for b in self.m.bills.values() if b.owed > 0]
        stuck = Bill.objects.filter(pk__in=owing).exclude(status__in=Bill.OPEN_STATUSES)
        assert not stuck.exists(), list(stuck.values_list("pk", "status"))

    def the_channel_refunded_what_linli_recorded(self):
        for trade in SandboxTrade.objects.filter(refunded_fen__gt=0):
            recorded = sum(RefundPayout.objects.filter(  # paid twice: recorded too
                order__out_trade_no=trade.out_trade_no,
                status__in=[RefundPayout.Status.SUCCESS, RefundPayout.Status.LATE_SUCCESS]
            ).values_list("amount_fen", flat=True))
            assert trade.refunded_fen == recorded, trade.out_trade_no


@pytest.fixture
def world(db, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    world = World(units=2, auto_offset=True)
    today = timezone.localdate()
    world.periods = [month_key(today, i) for i in range(PERIODS)]
    return world


def test_money_after_it_arrives_follows_the_model(world):
    MoneyMachine.world = world
    MoneyMachine.TestCase.settings = settings(
        max_examples=EXAMPLES, stateful_step_count=STEPS, deadline=None,
        derandomize=not os.environ.get("LINLI_MODEL_RANDOM"),
        database=None, suppress_health_check=list(HealthCheck), print_blob=False,
        phases=[p for p in Phase if p != Phase.shrink or not os.environ.get("LINLI_MODEL_NO_SHRINK")],
        verbosity=Verbosity.verbose if os.environ.get("LINLI_MODEL_VERBOSE") else Verbosity.normal)
    try:
        MoneyMachine.TestCase().runTest()
        if os.environ.get("LINLI_MODEL_VERBOSE"):
            print(dict(MoneyMachine.ran), sum(MoneyMachine.ran.values()), "steps")
    finally:
        MoneyMachine.world = None
    assert PaymentOrder.objects.count() == 0  # every example was rolled back
