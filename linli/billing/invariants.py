"""Billing and prepaid invariants: the ledger agrees with the documents."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import Exists, F, OuterRef, Sum

from linli.billing import hooks
from linli.billing.models import (
    Bill,
    BillRun,
    ChargeStandard,
    FeeItem,
    MeterReading,
    StandardRate,
)
from linli.billing.selectors import owed_by_unit, with_balances
from linli.billing.services.status import cancelled_bill_ids, derive_status
from linli.core.invariants import invariant
from linli.estate.models import Community
from linli.ledger import chart
from linli.ledger.models import JournalEntry
from linli.ledger.selectors import balances_by_unit
from linli.money import format_fen
from linli.payments.models import (
    Channel,
    Payment,
    PaymentReversal,
    PrepaidMovement,
    PrepaidWallet,
)

MAX_REPORTED = 50


@invariant("billing.receivable_matches_bills",
           "each unit's receivable in the ledger equals what its bills still owe")
def receivable_matches_bills() -> tuple[int, list[str]]:
    checked, violations = 0, []
    for community_id in Community.objects.values_list("id", flat=True):
        ledger = balances_by_unit(account=chart.RECEIVABLE, community_id=community_id)
        bills = owed_by_unit(community_id=community_id)
        for unit_id in set(ledger) | set(bills):
            checked += 1
            if ledger.get(unit_id, 0) != bills.get(unit_id, 0):
                violations.append(
                    f"unit #{unit_id}: ledger receivable {format_fen(ledger.get(unit_id, 0))}, "
                    f"bills owe {format_fen(bills.get(unit_id, 0))}"
                )
    return checked, violations[:MAX_REPORTED]


@invariant("billing.bill_status_follows_money",
           "each bill's stored status is the one its money implies: charged, paid, waived, "
           "cancelled and refunded")
def bill_status_follows_money() -> tuple[int, list[str]]:
    cancelled = cancelled_bill_ids()
    refunded = hooks.refunded_fen()
    rows = with_balances(Bill.objects.order_by()).values_list(
        "pk", "status", "amount_fen", "adjusted_fen", "paid_fen", "run_reversed")
    checked, violations = 0, []
    for pk, status, amount_fen, adjusted_fen, paid_fen, run_reversed in rows.iterator(
            chunk_size=5000):
        checked += 1
        refunded_fen = refunded.get(pk, 0)
        derived = derive_status(amount_fen=amount_fen, adjusted_fen=adjusted_fen,
                                paid_fen=paid_fen, refunded_fen=refunded_fen,
                                cancelled=run_reversed or pk in cancelled)
        if derived != status and len(violations) < MAX_REPORTED:
            violations.append(
                f"bill #{pk}: stored {status}, its money says {derived} (charged "
                f"{format_fen(amount_fen)}, adjusted {format_fen(adjusted_fen)}, paid "
                f"{format_fen(paid_fen)}, refunded {format_fen(refunded_fen)})")
    return checked, violations


@invariant("billing.offset_reversals_complete",
           "every reversed run's prepaid offsets are taken back, each by its mirror entry "
           "and the balance returned in full")
def offset_reversals_complete() -> tuple[int, list[str]]:
    violations = []
    reversals = list(PaymentReversal.objects.select_related("payment").order_by("pk"))
    mirrors = dict(JournalEntry.objects.filter(
        business_key__in=[r.business_key for r in reversals], reverses__isnull=False)
        .values_list("business_key", "reverses__business_key"))
    returned = dict(PrepaidMovement.objects.filter(
        kind=PrepaidMovement.Kind.UNOFFSET, business_key__in=[r.business_key for r in reversals])
        .values("business_key").annotate(s=Sum("amount_fen")).values_list("business_key", "s"))
    for reversal in reversals:
        payment = reversal.payment
        if mirrors.get(reversal.business_key) != f"payment:{payment.pk}":
            violations.append(f"payment #{payment.pk}: reversed, but its entry is not mirrored")
        if returned.get(reversal.business_key, 0) != payment.amount_fen:
            violations.append(
                f"payment #{payment.pk}: reversed, {format_fen(payment.amount_fen)} taken, "
                f"{format_fen(returned.get(reversal.business_key, 0))} back in the balance")
    reversed_runs = set(BillRun.objects.filter(status=BillRun.Status.REVERSED)
                        .values_list("pk", flat=True))
    standing = Payment.objects.filter(channel=Channel.PREPAID, reversal__isnull=True,
                                      idempotency_key__startswith="offset:run")
    for pk, key in standing.values_list("pk", "idempotency_key").iterator():
        run_id = int(key.removeprefix("offset:run").split(":")[0])
        if run_id in reversed_runs:
            violations.append(f"bill run #{run_id} is reversed, its offset payment #{pk} is not")
    return len(reversals), violations[:MAX_REPORTED]


@invariant("payments.prepaid_matches_wallets",
           "each prepaid balance equals its wallet and its movements, and is never negative")
def prepaid_matches_wallets() -> tuple[int, list[str]]:
    violations = []
    moved = dict(
        PrepaidMovement.objects.values("wallet_id").annotate(total=Sum("amount_fen"))
        .values_list("wallet_id", "total")
    )
    negative_after = PrepaidMovement.objects.filter(balance_after_fen__lt=0).values_list(
        "id", flat=True
    )
    violations += [f"prepaid movement #{pk} left a negative balance" for pk in negative_after[:10]]
    wallets = list(PrepaidWallet.objects.values_list("id", "unit_id", "community_id", "balance_fen"))
    ledgers: dict[int, dict[int, int]] = {}
    for wallet_id, unit_id, community_id, balance_fen in wallets:
        if community_id not in ledgers:
            ledgers[community_id] = balances_by_unit(account=chart.PREPAID, community_id=community_id)
        ledger_fen = ledgers[community_id].get(unit_id, 0)
        if balance_fen < 0:
            violations.append(f"unit #{unit_id}: prepaid balance is negative "
                              f"({format_fen(balance_fen)})")
        if ledger_fen != balance_fen:
            violations.append(
                f"unit #{unit_id}: wallet {format_fen(balance_fen)}, ledger prepaid "
                f"{format_fen(ledger_fen)}"
            )
        if moved.get(wallet_id, 0) != balance_fen:
            violations.append(
                f"unit #{unit_id}: wallet {format_fen(balance_fen)}, movements sum to "
                f"{format_fen(moved.get(wallet_id, 0))}"
            )
    for community_id in Community.objects.exclude(id__in=list(ledgers)).values_list("id", flat=True):
        for unit_id, ledger_fen in balances_by_unit(
            account=chart.PREPAID, community_id=community_id
        ).items():
            if ledger_fen:
                violations.append(f"unit #{unit_id}: ledger prepaid {format_fen(ledger_fen)}, "
                                  "no wallet")
    return len(wallets), violations[:MAX_REPORTED]


@invariant("payments.allocations_match_payments",
           "no payment allocates more than it brought in")
def allocations_within_payments() -> tuple[int, list[str]]:
    over = (
        Payment.objects.annotate(
            allocated=Sum("allocations__principal_fen") + Sum("allocations__late_fee_fen")
        )
        .filter(allocated__gt=F("amount_fen"))
        .values_list("id", "amount_fen", "allocated")
    )
    violations = [f"payment #{pk}: {format_fen(amt)} received, {format_fen(alloc)} allocated"
                  for pk, amt, alloc in over[:MAX_REPORTED]]
    return Payment.objects.count(), violations


# What each of a bill's references must agree with, for the references kept without a
# database foreign key (see the comment on ``Bill``'s fields): a query of the bills that
# break it, and how to name the break. Each is one anti-join over the bill table.
def _bill_reference_breaks():
    user_model = get_user_model()
    return [
        ("community",
         Bill.objects.exclude(community_id=F("unit__community_id")),
         "its community is not its unit's community"),
        ("fee_item",
         Bill.objects.filter(~Exists(FeeItem.objects.filter(
             pk=OuterRef("fee_item_id"), community_id=OuterRef("community_id")))),
         "its fee item is missing or of another community"),
        ("standard",
         Bill.objects.filter(~Exists(ChargeStandard.objects.filter(
             pk=OuterRef("standard_id"), fee_item_id=OuterRef("fee_item_id")))),
         "its charge standard is missing or of another fee item"),
        ("rate",
         Bill.objects.filter(rate_id__isnull=False).filter(~Exists(StandardRate.objects.filter(
             pk=OuterRef("rate_id"), standard_id=OuterRef("standard_id")))),
         "its price is missing or of another standard"),
        ("reading",
         Bill.objects.filter(reading_id__isnull=False).filter(~Exists(MeterReading.objects.filter(
             pk=OuterRef("reading_id"), meter__unit_id=OuterRef("unit_id")))),
         "its meter reading is missing or of another unit's meter"),
        ("bill_run",
         Bill.objects.filter(bill_run_id__isnull=False).filter(~Exists(BillRun.objects.filter(
             pk=OuterRef("bill_run_id"), community_id=OuterRef("community_id")))),
         "its bill run is missing or of another community"),
        ("bill_run",
         Bill.objects.filter(run_reversed=True).exclude(
             status=Bill.Status.CANCELLED, bill_run__status=BillRun.Status.REVERSED),
         "it is marked as of a reversed run, but is not a cancelled bill of one"),
        ("bill_run",
         Bill.objects.filter(run_reversed=False, bill_run__status=BillRun.Status.REVERSED),
         "its run was reversed, but it is not marked so"),
        ("issued_by",
         Bill.objects.filter(issued_by_id__isnull=False).filter(~Exists(
             user_model.objects.filter(pk=OuterRef("issued_by_id")))),
         "the user who issued it does not exist"),
    ]


@invariant("billing.bill_references",
           "every bill's community, fee item, standard, price, meter reading, run and issuer "
           "exist and agree with the bill")
def bill_references() -> tuple[int, list[str]]:
    """The proof for the bill columns kept without a database foreign key.

    A bill run writes a quarter of a million bills for a large community; a foreign key
    costs PostgreSQL one trigger and one index probe per row at COMMIT, so only the keys
    to what a bill is charged on (unit, parking space) are enforced there. The rest are
    provenance or repeat a fact the unit or standard already implies, and this check
    asks more of them than a foreign key would: each must exist *and* agree.
    """
    violations: list[str] = []
    for field_name, breaks, why in _bill_reference_breaks():
        for pk, ref in breaks.order_by("pk").values_list("pk", f"{field_name}_id")[
            :MAX_REPORTED
        ]:
            violations.append(f"bill #{pk}: {why} (#{ref})")
    return Bill.objects.count(), violations[:MAX_REPORTED]
