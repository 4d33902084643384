"""``linli bench notify --orders N --concurrency C``: WeChat Pay notifications through
the real server.

A community of N units with this month's bills, a WeChat merchant account provisioned
by the WeChat simulator, and one open order per unit. Each order is then paid at the
simulator (``WeChatSim.pay``) with its dispatcher on hold, so the simulator builds the
notification exactly as it would send it — the event encrypted with AES-256-GCM under
the merchant's APIv3 key, signed with the platform key — and keeps it, all before the
clock starts. Every notification is sent twice, each delivery signed afresh as a
gateway retry is (new timestamp and nonce, same body). gunicorn is started as
``linli serve`` starts it, and the 2N deliveries go to ``/pay/notify/wechat/<id>/`` in a
seeded random order at concurrency C (so the two copies of an order sometimes race
each other); then the same number of ``/healthz`` requests at the same concurrency.

The receiver refuses a signature older than five minutes, so a long run cannot sign
everything up front: deliveries go in rounds of about two minutes' worth, each round
signed just before it is sent, and only the rounds themselves are timed.

Afterwards it counts what the database holds: each order must have exactly one payment,
one gateway transaction and one ledger entry (``applied_once``), and ``linli check``
must pass.
"""

from __future__ import annotations

import io
import os
import random
import tempfile
import time
from collections import Counter
from pathlib import Path

from django.core.management import call_command
from django.db import connection
from django.db.models import Count

from linli.bench import data
from linli.bench.loadgen import LoadResult, Req, fire
from linli.bench.server import LiveServer
from linli.ledger.models import JournalEntry
from linli.payments.models import GatewayTransaction, MerchantAccount, Payment, PaymentOrder
from linli.paysim.common import Dispatcher
from linli.paysim.wechat import Order, WeChatSim
from linli.receipts.models import Receipt

SEED = 20260401


def bench_notify(options) -> dict:
    orders_n, concurrency = options["orders"], options["concurrency"]
    call_command("migrate", interactive=False, verbosity=0)
    started = time.perf_counter()
    community = data.build_community(orders_n, data.current_period_key())
    data.analyze()  # the bill run's unit checks need statistics that know the new units
    data.issue_current_month(community)
    sim, account = _wechat_account(community)
    orders = data.open_orders(community, account)
    deliveries = notification_deliveries(sim, account, orders)
    build_s = time.perf_counter() - started
    data.analyze()
    with tempfile.TemporaryDirectory(prefix="bench-notify-") as tmp, \
            LiveServer(log_path=Path(tmp) / "gunicorn.log") as server:
        health = [Req("GET", "/healthz")] * len(deliveries)
        fire(server.url, health[: 4 * concurrency], concurrency=concurrency)  # warm-up
        notified = send_in_rounds(server.url, account.notify_path(), deliveries,
                                  concurrency=concurrency)
        healthz = fire(server.url, health, concurrency=concurrency)
    sim.dispatcher.stop()
    counts = outcome_counts(community.pk, len(orders))
    return {
        "bench": "notify",
        "orders": len(orders),
        "notifications": notified.count,
        "concurrency": concurrency,
        "notifications_per_s": round(notified.per_s, 1),
        "p50_ms": round(notified.percentile_ms(50), 1),
        "p99_ms": round(notified.percentile_ms(99), 1),
        "healthz_per_s": round(healthz.per_s, 1),
        "healthz_p99_ms": round(healthz.percentile_ms(99), 1),
        "ratio": round(notified.per_s / healthz.per_s, 3) if healthz.per_s else 0.0,
        "statuses": _statuses(notified.statuses),
        **counts,
        "check_ok": check_ok(),
        "database": connection.vendor,
        "build_seconds": round(build_s, 3),
        "load_1m": round(os.getloadavg()[0], 2),
    }


def _wechat_account(community):
    """A merchant account whose keys the WeChat simulator issued (as the demo sets one up)."""

    sim = WeChatSim(dispatcher=Dispatcher(), public_url="http://127.0.0.1:9")
    sim.hold_notifications()  # keep every notification: the bench sends them itself
    fields = sim.provision_merchant(notify_url="http://127.0.0.1:9/unused")
    fields.pop("notify_url")
    account = MerchantAccount.objects.create(community=community, notify_base_url="http://127.0.0.1",
                                             **fields)
    return sim, account


def notification_deliveries(sim, account, orders) -> list:
    """The simulator's TRANSACTION.SUCCESS notification for each order (as the
    simulator's deliveries, which sign themselves), each twice, in a seeded random order."""

    cfg = account.config()
    now = sim.clock()
    for o in orders:  # the orders the simulator would have been given at creation
        sim.orders[(cfg.merchant_id, o.out_trade_no)] = Order(
            mchid=cfg.merchant_id, appid=cfg.app_id, out_trade_no=o.out_trade_no,
            mode="native", description=o.description, total=o.amount_fen,
            notify_url=cfg.notify_url, created=now, expires=now + 7200,
            token=o.out_trade_no, prepay_id="wx" + o.out_trade_no)
    first = len(sim.deliveries)
    for o in orders:
        sim.pay(o.out_trade_no, cfg.merchant_id)
    deliveries = sim.deliveries[first:]
    assert len(deliveries) == len(orders), "the simulator did not notify every payment"
    twice = [d for d in deliveries for _copy in (1, 2)]
    random.Random(SEED).shuffle(twice)
    return twice


ROUND_S = 120  # well inside the receiver's five-minute window


def send_in_rounds(base_url: str, path: str, deliveries: list, *, concurrency: int) -> LoadResult:
    """POST each delivery (signed just before its round) to ``path``; one result for all
    rounds, counting only the time spent sending."""
    rounds: list[LoadResult] = []
    size, sent = 8 * concurrency, 0
    while sent < len(deliveries):
        batch = deliveries[sent:sent + size]
        requests = [Req("POST", path, d.body, dict(d.headers)) for d in batch]  # signs
        result = fire(base_url, requests, concurrency=concurrency)
        rounds.append(result)
        sent += len(batch)
        size = max(8 * concurrency, int(result.per_s * ROUND_S))
    return LoadResult(
        seconds=sum(r.seconds for r in rounds),
        latencies_ms=[ms for r in rounds for ms in r.latencies_ms],
        statuses=sum((r.statuses for r in rounds), Counter()),
    )


def outcome_counts(community_id: int, orders: int) -> dict:
    """What the notifications left in the database, per order."""

    payments = Payment.objects.filter(community_id=community_id).count()
    per_order = Counter(GatewayTransaction.objects.filter(community_id=community_id)
                        .values("order_id").annotate(n=Count("id")).values_list("n", flat=True))
    paid_orders = PaymentOrder.objects.filter(community_id=community_id,
                                              status=PaymentOrder.Status.PAID).count()
    entries = JournalEntry.objects.filter(community_id=community_id, kind="payment").count()
    receipts = Receipt.objects.filter(community_id=community_id).count()
    with_one = per_order.get(1, 0)
    lost = orders - sum(per_order.values())
    duplicates = (sum((n - 1) * k for n, k in per_order.items() if n > 1)
                  + max(0, payments - orders) + max(0, entries - orders))
    return {
        "payments": payments,
        "paid_orders": paid_orders,
        "ledger_entries": entries,
        "receipts": receipts,
        "applied_once": (with_one == orders == payments == entries == paid_orders),
        "lost": lost,
        "duplicates": duplicates,
    }


def check_ok() -> bool:
    """``linli check`` passes (it exits non-zero on any violation)."""
    try:
        call_command("linli_check", stdout=io.StringIO(), stderr=io.StringIO())
    except SystemExit as exc:
        return not exc.code
    return True


def _statuses(statuses: Counter) -> dict:
    return {str(k): v for k, v in sorted(statuses.items())}
