"""Refund invariants, run by `linli check`. They read the stored rows, not the code that
wrote them."""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Sum

from linli.billing.models import Bill
from linli.core.invariants import invariant
from linli.ledger.models import JournalEntry
from linli.payments.models import OrderRefund, Payment, PaymentAllocation
from linli.refunds.models import RefundApplication, RefundLine, RefundPayout

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


@invariant("refunds.bill_status",
           "a bill is (partially) refunded exactly when money was refunded on it")
def refunds_bill_status() -> tuple[int, list[str]]:
    refunded = dict(RefundLine.objects.filter(bill__isnull=False, application__status=REFUNDED)
                    .values("bill_id").annotate(s=Sum("amount_fen"))
                    .values_list("bill_id", "s"))
    marked = set(Bill.objects.filter(status__in=[Bill.Status.REFUNDED,
                                                 Bill.Status.PARTIALLY_REFUNDED])
                 .values_list("pk", flat=True))
    violations = [f"bill #{pk}: marked refunded, nothing refunded" for pk in
                  sorted(marked - set(refunded))]
    violations += [f"bill #{pk}: {refunded[pk]} fen refunded, status not refunded"
                   for pk in sorted(set(refunded) - marked)]
    return len(marked | set(refunded)), violations[:MAX_REPORTED]
