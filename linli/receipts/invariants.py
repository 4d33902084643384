"""Receipt invariants: one receipt per payment, numbered 1..N per community and year."""

from __future__ import annotations

from collections import Counter, defaultdict

from django.db.models import Count

from linli.core.invariants import invariant
from linli.payments.models import Payment, PaymentReversal
from linli.receipts.models import Receipt, ReceiptSequence, ReceiptVoid, format_number

MAX_REPORTED = 50


@invariant("receipts.one_per_payment", "every payment has exactly one receipt, for its amount")
def one_receipt_per_payment() -> tuple[int, list[str]]:
    violations = []
    missing = Payment.objects.filter(receipt__isnull=True).values_list("pk", flat=True)
    violations += [f"payment #{pk} has no receipt" for pk in missing[:MAX_REPORTED]]
    # The one-to-one column makes two impossible; a receipt must also match its payment.
    mismatched = (Receipt.objects.select_related("payment")
                  .values_list("number", "community_id", "total_fen", "channel",
                               "payment_id", "payment__community_id", "payment__amount_fen",
                               "payment__channel", "unit_id", "payment__unit_id"))
    for (number, community_id, total, channel, payment_id, p_community, p_amount, p_channel,
         unit_id, p_unit) in mismatched:
        if (community_id, total, channel, unit_id) != (p_community, p_amount, p_channel, p_unit):
            violations.append(f"receipt {number} (community #{community_id}) does not match "
                              f"payment #{payment_id}")
    return Payment.objects.count(), violations[:MAX_REPORTED]


@invariant("receipts.numbers_without_gaps",
           "per community and year, receipt numbers run 1..N with no gap and no duplicate")
def numbers_without_gaps() -> tuple[int, list[str]]:
    violations = []
    serials: dict[tuple[int, int], list[int]] = defaultdict(list)
    checked = 0
    for community_id, year, serial, number in Receipt.objects.values_list(
            "community_id", "year", "serial", "number").order_by("community_id", "year", "serial"):
        checked += 1
        serials[(community_id, year)].append(serial)
        if number != format_number(year, serial):
            violations.append(f"community #{community_id}: receipt {number} should read "
                              f"{format_number(year, serial)}")
    sequences = dict(((c, y), last) for c, y, last in
                     ReceiptSequence.objects.values_list("community_id", "year", "last_serial"))
    for key in sorted(set(serials) | set(sequences)):
        community_id, year = key
        found = serials.get(key, [])
        expected = list(range(1, len(found) + 1))
        if found != expected:
            duplicates = sorted(s for s, n in Counter(found).items() if n > 1)
            gaps = sorted(set(range(1, max(found, default=0) + 1)) - set(found))
            violations.append(f"community #{community_id} {year}: numbers are not 1..{len(found)}"
                              f" (missing {gaps[:10]}, repeated {duplicates[:10]})")
        if sequences.get(key, 0) != len(found):
            violations.append(f"community #{community_id} {year}: the sequence says "
                              f"{sequences.get(key, 0)} issued, there are {len(found)}")
    duplicates = (Receipt.objects.values("community_id", "number").annotate(n=Count("id"))
                  .filter(n__gt=1))
    violations += [f"community #{d['community_id']}: receipt {d['number']} issued {d['n']} times"
                   for d in duplicates[:10]]
    return checked, violations[:MAX_REPORTED]


@invariant("receipts.voided_when_taken_back",
           "the receipt of every payment taken back whole (a reversed run's prepaid "
           "offset) is voided, and only those are")
def voided_when_taken_back() -> tuple[int, list[str]]:
    taken_back = set(PaymentReversal.objects.values_list("payment_id", flat=True))
    voided = {payment_id: (number, reversal_payment) for number, payment_id, reversal_payment
              in ReceiptVoid.objects.values_list("receipt__number", "receipt__payment_id",
                                                 "payment_reversal__payment_id")}
    violations = [f"receipt {number} (payment #{pk}) stands, but its payment was taken back"
                  for pk, number in Receipt.objects.filter(payment_id__in=taken_back)
                  .exclude(payment_id__in=voided).values_list("payment_id", "number")]
    violations += [f"receipt {number} (payment #{pk}) is voided, but its payment stands"
                   for pk, (number, reversal_payment) in sorted(voided.items())
                   if pk not in taken_back or reversal_payment != pk]
    return len(taken_back) + len(voided), violations[:MAX_REPORTED]
