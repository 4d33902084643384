"""Every money path at once on the same few units, on PostgreSQL (threads, each with its
own connection), for many rounds: online payments (order_create + trade_apply), counter
payments, prepaid top-ups (counter and online) and offsets, refund applications,
approvals and payouts. No deadlock, no lost update, and `linli check` passes at the end.

Refusals a person would see (a bill already paid, a balance already spent, a refund
already taken) are part of the game and counted; a deadlock or any other error fails.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.core.exceptions import ValidationError
from django.db import DatabaseError, connection
from django.utils import timezone

from linli.payments.gateways.base import GatewayError
from linli.payments.models import Payment
from linli.refunds.models import RefundApplication

from .world import (
    World,
    bills_not_overpaid,
    invariant_violations,
    month_key,
    wallets_add_up,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

THREADS = 6
UNITS = 2
SECONDS = 15          # per operation mix: the whole module stays under a minute
MAX_ROUNDS = 60       # per thread


def is_deadlock(exc: BaseException) -> bool:
    while exc is not None:
        if type(exc).__name__ == "DeadlockDetected" or "deadlock detected" in str(exc):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def where(exc: BaseException) -> str:
    """The Linli frames the error went through, innermost last (which lock was waited on)."""
    frames = traceback.extract_tb(exc.__traceback__)
    return " > ".join(f"{f.name}" for f in frames if "/linli/" in f.filename
                      and "/tests/" not in f.filename)


# --- the operations: each picks its own unit and bills at the moment it runs ----------


def online_payment(world, unit, rnd):
    bills = world.open_bills(unit, limit=rnd.randint(1, 2))
    if bills:
        world.pay_order(world.order(unit, bills))


def counter_payment(world, unit, rnd):
    bills = world.open_bills(unit, limit=2)
    if bills:
        world.pay_counter(unit, bills, rnd.choice([3700, 10000, 25000]))


def topup(world, unit, rnd):
    if rnd.random() < 0.5:
        world.deposit(unit, rnd.choice([5000, 12000]))
    else:
        world.pay_order(world.order(unit, topup_fen=rnd.choice([5000, 8000])))


def offset(world, unit, rnd):
    bills = world.open_bills(unit, limit=3)
    if bills:
        world.offset(unit, bills)


def refund(world, unit, rnd):
    """Apply, approve and pay back part of a recent payment of the unit (online, counter,
    top-up or prepaid offset: each goes back its own way)."""
    payments = list(Payment.objects.filter(unit=unit).order_by("-pk")[:6])
    if not payments:
        return
    application = world.refund_ask(rnd.choice(payments), part=rnd.choice([1, 2, 3]))
    if application is None:
        return
    if application.status != RefundApplication.Status.APPROVED:
        application = world.refund_approve(application)
    world.refund_pay(application)


PAYMENTS = (online_payment, counter_payment, topup, offset)
EVERYTHING = (*PAYMENTS, refund)


def run_mix(world: World, operations, *, seed: int) -> Counter:
    """Each thread runs random operations on random units until the time is up."""
    deadline = time.monotonic() + SECONDS
    barrier = threading.Barrier(THREADS)

    def worker(i: int) -> Counter:
        rnd, seen = random.Random(seed * 100 + i), Counter()
        try:
            barrier.wait(timeout=30)
            for _round in range(MAX_ROUNDS):
                if time.monotonic() > deadline:
                    break
                op, unit = rnd.choice(operations), rnd.choice(world.units)
                try:
                    op(world, unit, rnd)
                    seen[f"{op.__name__}: done"] += 1
                except (ValidationError, GatewayError) as exc:  # refused, in words
                    seen[f"{op.__name__}: refused"] += 1
                    seen[f"refusal: {str(exc)[:80]}"] += 0
                except DatabaseError as exc:
                    kind = "DEADLOCK" if is_deadlock(exc) else "database error"
                    seen[f"{kind} in {op.__name__}: {where(exc)}: {' | '.join(str(exc).splitlines())}"] += 1
                except Exception as exc:  # noqa: BLE001 - reported with its operation
                    seen[f"ERROR in {op.__name__}: {type(exc).__name__}: {exc}"[:300]] += 1
            return seen
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        return sum(pool.map(worker, range(THREADS)), Counter())


@pytest.fixture
def world():
    world = World(units=UNITS)
    today = timezone.localdate()
    for offset_ in range(-1, 11):  # last month, this month and the next ten
        world.bill_run(month_key(today, offset_))
    return world


# One lock order for every money path (issue 14 point 7, ``refunds.booking.LOCK_ORDER``):
# payment orders → refund rows (payment → application → payout) → bills by id → the
# wallet. A deadlock here fails the test, with the Linli frames it went through.


def failures_of(seen: Counter) -> tuple[list[str], list[str]]:
    deadlocks = sorted(f"{seen[k]}× {k}" for k in seen if k.startswith("DEADLOCK"))
    errors = sorted(f"{seen[k]}× {k}" for k in seen
                    if k.startswith(("database error", "ERROR")))
    return deadlocks, errors


def assert_money_holds(seen: Counter) -> None:
    """No lost update and every invariant, whatever happened; then no deadlock."""
    done = sum(n for k, n in seen.items() if k.endswith(": done"))
    assert done >= THREADS * 5, seen  # the threads really ran
    assert wallets_add_up() == []
    assert bills_not_overpaid() == []
    assert invariant_violations() == []
    deadlocks, errors = failures_of(seen)
    assert not errors, "\n".join(errors)
    assert not deadlocks, "\n".join(deadlocks)


def test_payments_counter_topups_and_offsets_at_once(world):
    seen = run_mix(world, PAYMENTS, seed=1)
    assert_money_holds(seen)


def test_every_money_path_including_refunds_at_once(world):
    seen = run_mix(world, EVERYTHING, seed=2)
    assert RefundApplication.objects.filter(
        status=RefundApplication.Status.REFUNDED).exists(), seen
    assert_money_holds(seen)
