"""Refund invariants, run by `linli check`. They read the stored rows, not the code that
wrote them."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Sum

from linli.core.invariants import invariant
from linli.ledger import chart
from linli.ledger.models import JournalEntry, JournalLine
from linli.ledger.selectors import account_balance, balances_by_unit
from linli.money import format_fen
from linli.payments.models import OrderRefund, Payment, PaymentAllocation
from linli.payments.selectors import order_refunds_payable_fen
from linli.refunds.booking import format_voucher_number
from linli.refunds.models import (
    DuplicateRefund,
    RefundApplication,
    RefundLine,
    RefundPayout,
    RefundVoucher,
    RefundVoucherSequence,
)

MAX_REPORTED = 50
REFUNDED = RefundApplication.Status.REFUNDED


@invariant("refunds.within_payments",
           "no payment has more refunded (or being refunded) than was paid, and no bill "
           "line more than its payment paid on it")
def refunds_within_payments() -> tuple[int, list[str]]:
    held: dict[int, int] = defaultdict(int)
    for pid, total in (RefundPayout.objects.filter(status__in=RefundPayout.HOLDING)
                       .values("payment_id").annotate(s=Sum("amount_fen"))
                       .values_list("payment_id", "s")):
        held[pid] += total
    for pid, total in (OrderRefund.objects.exclude(status=OrderRefund.Status.FAILED)
                       .filter(payment__isnull=False).values("payment_id").annotate(s=Sum("amount_fen"))
                       .values_list("payment_id", "s")):
        held[pid] += total
    paid = dict(Payment.objects.filter(pk__in=list(held)).values_list("pk", "amount_fen"))
    violations = [f"payment #{pid}: {total} fen refunded or being refunded, {paid[pid]} fen "
                  f"paid" for pid, total in sorted(held.items()) if total > paid[pid]]
    lines = (RefundLine.objects.filter(bill__isnull=False, application__status=REFUNDED)
             .values("application__payment_id", "bill_id").annotate(s=Sum("amount_fen")))
    allocated = {(a, b): p for a, b, p in PaymentAllocation.objects.filter(
        payment_id__in={r["application__payment_id"] for r in lines}
    ).values_list("payment_id", "bill_id", "principal_fen")}
    for row in lines:
        key = (row["application__payment_id"], row["bill_id"])
        if row["s"] > allocated.get(key, 0):
            violations.append(f"bill #{key[1]}: {row['s']} fen refunded of payment #{key[0]}, "
                              f"which paid {allocated.get(key, 0)} fen on it")
    return len(held), violations[:MAX_REPORTED]


@invariant("refunds.posted_once",
           "every refund whose money went is posted exactly once, and nothing else is "
           "posted as a refund")
def refunds_posted_once() -> tuple[int, list[str]]:
    done = dict(RefundPayout.objects.filter(status=RefundPayout.Status.SUCCESS)
                .values_list("out_refund_no", "amount_fen"))
    posted = set(JournalEntry.objects.filter(kind="refund").values_list("business_key",
                                                                         flat=True))
    expected = {f"refund:{no}" for no in done}
    violations = [f"refund {k[7:]}: money went but it is not posted"
                  for k in sorted(expected - posted)]
    violations += [f"{k}: posted, but no refund of that number succeeded"
                   for k in sorted(posted - expected)]
    two = (RefundPayout.objects.filter(status=RefundPayout.Status.SUCCESS)
           .values("application_id").annotate(s=Sum("amount_fen")))
    asked = dict(RefundApplication.objects.filter(pk__in=[r["application_id"] for r in two])
                 .values_list("pk", "amount_fen"))
    violations += [f"application #{r['application_id']}: {r['s']} fen paid out, "
                   f"{asked.get(r['application_id'])} fen approved"
                   for r in two if r["s"] != asked.get(r["application_id"])]
    refunded_apps = set(RefundApplication.objects.filter(status=REFUNDED)
                        .values_list("pk", flat=True))
    paid_apps = {r["application_id"] for r in two}
    violations += [f"application #{pk}: marked refunded without money going"
                   for pk in sorted(refunded_apps - paid_apps)]
    return len(done), violations[:MAX_REPORTED]


# A bill's status against what was refunded of it: ``billing.bill_status_follows_money``
# (one rule for every status, refunds included, through ``billing.hooks``).


# --- refunds payable, vouchers, shifts, refunds paid twice ------------------------------

NOT_PAID_OUT = (RefundApplication.Status.APPROVED, RefundApplication.Status.PAYING,
                RefundApplication.Status.ATTENTION)


@invariant("refunds.payable",
           "refunds payable equals approved refunds not yet paid out plus what automatic "
           "refunds of excess hold, in every community")
def refunds_payable() -> tuple[int, list[str]]:
    communities = set(JournalLine.objects.filter(account=chart.REFUNDS_PAYABLE)
                      .values_list("community_id", flat=True).distinct())
    approved = dict(RefundApplication.objects.filter(status__in=NOT_PAID_OUT)
                    .values("community_id").annotate(s=Sum("amount_fen"))
                    .values_list("community_id", "s"))
    communities |= set(approved)
    communities |= set(OrderRefund.objects.values_list("community_id", flat=True).distinct())
    violations = []
    for cid in sorted(communities):
        ledger = account_balance(account=chart.REFUNDS_PAYABLE, community_id=cid)
        expected = approved.get(cid, 0) + order_refunds_payable_fen(cid)
        if ledger != expected:
            violations.append(
                f"community #{cid}: refunds payable {format_fen(ledger)} in the ledger, "
                f"{format_fen(expected)} approved and not yet paid out "
                f"(automatic refunds included)")
    return len(communities), violations[:MAX_REPORTED]


@invariant("refunds.voucher_numbers",
           "refund voucher numbers run 1, 2, 3 … without a gap per community and year, "
           "and each sequence stands at the last number issued")
def refunds_voucher_numbers() -> tuple[int, list[str]]:
    serials: dict[tuple[int, int], list[tuple[int, str]]] = defaultdict(list)
    for cid, year, serial, number in RefundVoucher.objects.values_list(
            "community_id", "year", "serial", "number").order_by("community_id", "year",
                                                                   "serial"):
        serials[(cid, year)].append((serial, number))
    last = {(cid, year): n for cid, year, n in RefundVoucherSequence.objects.values_list(
        "community_id", "year", "last_serial")}
    violations = []
    for key in sorted(set(serials) | set(last)):
        found = serials.get(key, [])
        numbers = [serial for serial, _number in found]
        if numbers != list(range(1, len(numbers) + 1)):
            missing = sorted(set(range(1, max(numbers, default=0) + 1)) - set(numbers))
            violations.append(f"community #{key[0]} {key[1]}: vouchers {numbers[:10]}…, "
                              f"missing {missing[:10]}, or a number twice")
        if last.get(key, 0) != len(numbers):
            violations.append(f"community #{key[0]} {key[1]}: sequence at {last.get(key, 0)}, "
                              f"{len(numbers)} vouchers issued")
        violations += [f"voucher {number}: serial {serial} of {key[1]}" for serial, number
                       in found if number != format_voucher_number(key[1], serial)]
    return sum(len(v) for v in serials.values()), violations[:MAX_REPORTED]


@invariant("refunds.paid_twice",
           "each unit's other receivables equal its refunds paid twice not yet resolved; "
           "every payout the channel refunded after it was paid another way is flagged")
def refunds_paid_twice() -> tuple[int, list[str]]:
    open_by_unit: dict[tuple[int, int], int] = defaultdict(int)
    for cid, unit_id, fen in DuplicateRefund.objects.filter(
            status__in=DuplicateRefund.OPEN_STATUSES).values_list("community_id", "unit_id",
                                                                  "amount_fen"):
        open_by_unit[(cid, unit_id)] += fen
    communities = set(JournalLine.objects.filter(account=chart.OTHER_RECEIVABLE)
                      .values_list("community_id", flat=True).distinct())
    communities |= {cid for cid, _unit in open_by_unit}
    violations = []
    for cid in sorted(communities):
        ledger = {u: b for u, b in balances_by_unit(account=chart.OTHER_RECEIVABLE,
                                                    community_id=cid).items() if b}
        expected = {u: fen for (c, u), fen in open_by_unit.items() if c == cid}
        for unit_id in sorted(set(ledger) | set(expected), key=str):
            if ledger.get(unit_id, 0) != expected.get(unit_id, 0):
                violations.append(
                    f"unit #{unit_id}: other receivables {format_fen(ledger.get(unit_id, 0))}, "
                    f"refunds paid twice open {format_fen(expected.get(unit_id, 0))}")
    unflagged = RefundPayout.objects.filter(status=RefundPayout.Status.LATE_SUCCESS,
                                            duplicate__isnull=True)
    violations += [f"refund {no}: refunded by the channel after it was paid another way, "
                   f"not flagged" for no in unflagged.values_list("out_refund_no", flat=True)]
    return len(communities), violations[:MAX_REPORTED]


@invariant("refunds.nothing_stuck",
           "a refund waiting for staff says why and has nothing in flight at the gateway; "
           "one being paid has a payout that may still pay it")
def refunds_nothing_stuck() -> tuple[int, list[str]]:
    A, P = RefundApplication.Status, RefundPayout.Status
    violations = [f"application #{pk}: needs staff but says no reason" for pk in
                  RefundApplication.objects.filter(status=A.ATTENTION, attention_reason="")
                  .values_list("pk", flat=True)]
    violations += [f"application #{pk}: needs staff while its refund is in flight" for pk in
                   RefundApplication.objects.filter(
                       status=A.ATTENTION, payouts__status__in=[P.PENDING, P.PROCESSING])
                   .values_list("pk", flat=True).distinct()]
    violations += [f"application #{pk}: being paid, but no payout may pay it" for pk in
                   RefundApplication.objects.filter(status=A.PAYING).exclude(
                       payouts__status__in=RefundPayout.HOLDING).values_list("pk", flat=True)]
    checked = RefundApplication.objects.filter(status__in=[A.ATTENTION, A.PAYING]).count()
    return checked, violations[:MAX_REPORTED]
