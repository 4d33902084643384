"""The unit statement (户账): every bill, adjustment, payment, refund and prepaid movement
of one unit in time order, with the running amount owed and prepaid balance.

Two running figures, both derived from the documents (never stored):

* **owed** — principal the unit's bills still owe: + a bill's amount when issued,
  − approved waivers, discounts and cancellations, − principal paid, − the rest of a
  bill cancelled with its whole run. After the last row it equals the sum of
  ``with_balances(...).owed_fen`` of the unit's bills (what ``linli check`` compares
  with the ledger's receivable).
* **prepaid** — the unit's prepaid wallet: + deposits and overpayments kept, − bills
  paid from it, − refunds of it, + refunds of bills it paid. After the last row it
  equals ``PrepaidWallet.balance_fen``: every movement of the wallet is on exactly one row.

A refund (DESIGN §6) is listed once its money has gone, at that moment, and reverses the
money and the charge together: what it returned is a charge and a credit on its row, so
it never changes what is owed. A refund of the prepaid balance leaves the wallet when its
payout starts (``linli.refunds.booking``), so its row carries that; if the gateway
confirms later, the balance set aside is its own row at the time it was set aside.

A late fee is charged only when it is paid (DESIGN §4): a payment that settles one shows
it as a charge and a credit on the same row, so it never changes what is owed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _

from linli.billing.models import Bill, BillAdjustment, BillRun
from linli.billing.selectors import CHARGE_REDUCING, bill_label, late_fee_due_fen, with_balances
from linli.money import format_fen
from linli.payments.models import (
    Channel,
    Payment,
    PaymentAllocation,
    PaymentReversal,
    PrepaidMovement,
    PrepaidWallet,
)
from linli.refunds.booking import refund_entry_key, reserve_key
from linli.refunds.models import RefundApplication, RefundLine, RefundPayout


class Kind:
    """What a statement row records (``StatementRow.kind``)."""

    BILL = "bill"
    ADJUSTMENT = "adjustment"
    RUN_REVERSED = "run_reversed"
    PAYMENT = "payment"
    PAYMENT_REVERSED = "payment_reversed"
    PREPAID = "prepaid"
    REFUND = "refund"


# Rows at the same moment: the charge before what settles it.
_ORDER = {Kind.BILL: 0, Kind.ADJUSTMENT: 1, Kind.RUN_REVERSED: 1, Kind.PAYMENT: 2,
          Kind.PAYMENT_REVERSED: 2, Kind.PREPAID: 3, Kind.REFUND: 4}


@dataclass
class StatementRow:
    at: dt.datetime
    kind: str
    description: str
    charge_fen: int = 0  # increases what is owed (a bill; a late fee as it is paid; a refund)
    credit_fen: int = 0  # decreases what is owed (an adjustment; principal and late fee paid;
    #                      the charge a refund reverses)
    prepaid_change_fen: int = 0  # + into the prepaid wallet, − out of it
    owed_after_fen: int = 0
    prepaid_after_fen: int = 0
    ref: str = ""  # "bill:12", "payment:7", "adjustment:3", "prepaid:9", and the ledger's
    #                keys of a refund: "refund:<out_refund_no>", "refund_reserve:app<id>"
    bill_id: int | None = None
    payment_id: int | None = None  # a refund's: the payment it paid back
    late_fee_fen: int = 0  # of charge_fen, the late fee charged as it was paid
    refund_application_id: int | None = None


@dataclass
class StatementTotals:
    owed_fen: int  # principal still owed, as the bills say
    prepaid_fen: int  # the wallet's balance
    late_fee_fen: int  # late fees that settling the open bills would cost on ``as_of``
    as_of: dt.date
    open_bills: list[Bill] = field(default_factory=list)  # with balances, earliest due first

    @property
    def due_now_fen(self) -> int:
        """What settling every open bill costs on ``as_of``."""
        return self.owed_fen + self.late_fee_fen


def unit_statement(unit_id: int) -> list[StatementRow]:
    refund_rows, refund_movement_ids = _refund_rows(unit_id)
    rows = [
        *_bill_rows(unit_id),
        *_adjustment_rows(unit_id),
        *_payment_rows(unit_id, leave_out=refund_movement_ids),
        *_payment_reversal_rows(unit_id),
        *_prepaid_rows(unit_id),
        *refund_rows,
    ]
    rows.sort(key=lambda r: (r.at, _ORDER.get(r.kind, 9)))  # stable: ties keep id order
    owed = prepaid = 0
    for row in rows:
        owed += row.charge_fen - row.credit_fen
        prepaid += row.prepaid_change_fen
        row.owed_after_fen, row.prepaid_after_fen = owed, prepaid
    return rows


def unit_statement_totals(unit_id: int, *, as_of: dt.date | None = None) -> StatementTotals:
    """The unit's figures now, read from the bills and the wallet (not from the rows)."""
    as_of = as_of or timezone.localdate()
    bills = list(with_balances(Bill.objects.filter(unit_id=unit_id)).select_related("fee_item",
                                                                                    "parking_space"))
    open_bills = sorted((b for b in bills if b.status in Bill.OPEN_STATUSES),
                        key=lambda b: (b.due_date, b.pk))
    wallet = PrepaidWallet.objects.filter(unit_id=unit_id).values_list("balance_fen", flat=True)
    return StatementTotals(
        owed_fen=sum(b.owed_fen for b in bills),
        prepaid_fen=next(iter(wallet), 0),
        late_fee_fen=sum(late_fee_due_fen(b, as_of=as_of) for b in open_bills),
        as_of=as_of,
        open_bills=open_bills,
    )


# --- the rows of each kind of document ----------------------------------------------------


def _bill_rows(unit_id: int) -> list[StatementRow]:
    bills = with_balances(Bill.objects.filter(unit_id=unit_id)).select_related(
        "fee_item", "parking_space", "bill_run").order_by("issued_at", "fee_item__sort_order", "id")
    rows = []
    for bill in bills:
        rows.append(StatementRow(
            bill.issued_at, Kind.BILL,
            _("%(bill)s, due %(due)s") % {"bill": bill_label(bill), "due": bill.due_date},
            charge_fen=bill.amount_fen, ref=f"bill:{bill.pk}", bill_id=bill.pk,
        ))
        run = bill.bill_run
        if (bill.status == Bill.Status.CANCELLED and run is not None
                and run.status == BillRun.Status.REVERSED):
            # Cancelled with its run (no adjustment of its own): what it still owed then.
            rest_fen = bill.amount_fen - bill.adjusted_fen - bill.paid_fen
            if rest_fen:
                rows.append(StatementRow(
                    run.reversed_at or bill.issued_at, Kind.RUN_REVERSED,
                    _("Bill run #%(run)s reversed · %(bill)s") % {
                        "run": run.pk, "bill": bill_label(bill)},
                    credit_fen=rest_fen, ref=f"billrun:{run.pk}:bill:{bill.pk}", bill_id=bill.pk,
                ))
    return rows


def _adjustment_rows(unit_id: int) -> list[StatementRow]:
    """Approved adjustments. A late-fee waiver changes no principal: it is listed with
    its amount in the description and moves neither running figure."""
    adjustments = BillAdjustment.objects.filter(
        bill__unit_id=unit_id, status=BillAdjustment.Status.APPROVED
    ).select_related("bill__fee_item", "bill__parking_space").order_by("id")
    rows = []
    for adj in adjustments:
        text = f"{adj.get_kind_display()} · {bill_label(adj.bill)} · {adj.reason}"
        reduces = adj.kind in CHARGE_REDUCING
        if not reduces:
            text += " · " + _("%(amount)s of late fee") % {"amount": format_fen(adj.amount_fen)}
        rows.append(StatementRow(
            adj.decided_at or adj.created_at, Kind.ADJUSTMENT, text,
            credit_fen=adj.amount_fen if reduces else 0, ref=f"adjustment:{adj.pk}",
            bill_id=adj.bill_id,
        ))
    return rows


def _payment_rows(unit_id: int, *, leave_out: set[int]) -> list[StatementRow]:
    """One row per payment: what it settled (principal and late fee, with the late fee
    charged on the same row) and what it moved in or out of the prepaid wallet — all but
    the movements in ``leave_out``, which refunds of it made later (their own rows)."""
    payments = Payment.objects.filter(unit_id=unit_id).prefetch_related(
        Prefetch("allocations", queryset=PaymentAllocation.objects.select_related(
            "bill__fee_item", "bill__parking_space").order_by("bill__due_date", "bill_id")),
        "prepaid_movements",
    ).order_by("received_at", "id")
    rows = []
    for payment in payments:
        allocations = list(payment.allocations.all())
        principal = sum(a.principal_fen for a in allocations)
        late = sum(a.late_fee_fen for a in allocations)
        prepaid = sum(m.amount_fen for m in payment.prepaid_movements.all()
                      if m.pk not in leave_out and m.kind != PrepaidMovement.Kind.UNOFFSET)
        rows.append(StatementRow(
            payment.received_at, Kind.PAYMENT, _payment_text(payment, allocations, late),
            charge_fen=late, credit_fen=principal + late, prepaid_change_fen=prepaid,
            late_fee_fen=late, ref=f"payment:{payment.pk}", payment_id=payment.pk,
            bill_id=allocations[0].bill_id if len(allocations) == 1 else None,
        ))
    return rows


def _payment_reversal_rows(unit_id: int) -> list[StatementRow]:
    """A payment taken back (a reversed run's prepaid offset): what it settled is owed
    again, and the money is back in the wallet (its ``unoffset`` movement)."""
    reversals = PaymentReversal.objects.filter(payment__unit_id=unit_id).prefetch_related(
        Prefetch("payment__allocations", queryset=PaymentAllocation.objects.select_related(
            "bill__fee_item", "bill__parking_space").order_by("bill__due_date", "bill_id")),
        "payment__prepaid_movements",
    ).order_by("at", "id")
    rows = []
    for reversal in reversals:
        payment = reversal.payment
        allocations = list(payment.allocations.all())
        rows.append(StatementRow(
            reversal.at, Kind.PAYMENT_REVERSED,
            " · ".join([_("Payment from the prepaid balance reversed"),
                        "、".join(bill_label(a.bill) for a in allocations), reversal.reason]),
            charge_fen=sum(a.principal_fen for a in allocations),
            prepaid_change_fen=sum(m.amount_fen for m in payment.prepaid_movements.all()
                                   if m.kind == PrepaidMovement.Kind.UNOFFSET),
            ref=reversal.business_key, payment_id=payment.pk,
        ))
    return rows


def _payment_text(payment: Payment, allocations: list[PaymentAllocation], late_fen: int) -> str:
    if payment.channel == Channel.PREPAID:
        parts = [_("Paid from the prepaid balance")]
    elif not allocations:
        parts = [_("Prepaid deposit"), payment.get_channel_display()]
    else:
        parts = [_("Payment"), payment.get_channel_display()]
    if allocations:
        parts.append("、".join(bill_label(a.bill) for a in allocations))
    if late_fen:
        parts.append(_("incl. late fee %(amount)s") % {"amount": format_fen(late_fen)})
    settled = sum(a.principal_fen + a.late_fee_fen for a in allocations)
    if allocations and payment.channel != Channel.PREPAID and payment.amount_fen > settled:
        parts.append(_("%(amount)s kept as prepaid balance") % {
            "amount": format_fen(payment.amount_fen - settled)})
    if payment.reference:
        parts.append(payment.reference)
    return " · ".join(str(p) for p in parts)


def _prepaid_rows(unit_id: int) -> list[StatementRow]:
    """Movements that belong to no payment (a payment's own show on its row)."""
    movements = PrepaidMovement.objects.filter(
        wallet__unit_id=unit_id, payment__isnull=True).order_by("id")
    return [
        StatementRow(
            m.at, Kind.REFUND if m.kind == PrepaidMovement.Kind.REFUND else Kind.PREPAID,
            " · ".join(x for x in (str(m.get_kind_display()), m.note) if x),
            prepaid_change_fen=m.amount_fen, ref=f"prepaid:{m.pk}",
        )
        for m in movements
    ]


# Applications whose money has gone or is going: each has a payout (``refunds.payouts``).
_PAYING_OUT = (RefundApplication.Status.PAYING, RefundApplication.Status.ATTENTION,
               RefundApplication.Status.REFUNDED)


def _refund_rows(unit_id: int) -> tuple[list[StatementRow], set[int]]:
    """Refunds of the refunds app (DESIGN §6), with the ids of the prepaid movements
    their rows carry (left out of the refunded payment's row).

    Only money that has gone counts: an application with a successful ``RefundPayout``
    is one ``Kind.REFUND`` row at the payout's ``finished_at``. Refunded bill lines are a
    charge (the money returned) and a credit (the charge reversed) of the same amount,
    so what is owed does not change; returned to the prepaid balance (the bills were paid
    from it), they are + prepaid as well. A refund of the prepaid balance is − prepaid
    where the balance left the wallet: on the refund's row when that was as the money
    went (a cashier's payout), else on its own ``Kind.PREPAID`` row when the payout
    started — also while the gateway has not confirmed it yet, as the wallet says.
    Applications still awaiting a decision, rejected or approved but not started move
    no money and are not listed.
    """
    applications = list(RefundApplication.objects.filter(
        unit_id=unit_id, status__in=_PAYING_OUT,
    ).prefetch_related(
        Prefetch("payouts", queryset=RefundPayout.objects.select_related("voucher")
                 .order_by("id")),
        Prefetch("lines", queryset=RefundLine.objects.select_related(
            "bill__fee_item", "bill__parking_space").order_by("id")),
    ).order_by("id"))
    if not applications:
        return [], set()
    movements = _refund_movements(unit_id)
    rows, taken = [], set()
    for app in applications:
        paid = next((p for p in app.payouts.all() if p.status == RefundPayout.Status.SUCCESS),
                    None)
        paid_at = paid.finished_at or app.refunded_at or paid.created_at if paid else None
        reserve = movements.get(reserve_key(app.pk))
        # Set aside as the money went (in the same booking), or when the payout started.
        together = reserve is not None and paid_at is not None and reserve.at >= paid_at
        if reserve is not None:
            taken.add(reserve.pk)
        if reserve is not None and not together:
            text = _("Prepaid balance set aside for refund application #%(application)s") % {
                "application": app.pk}
            if app.status != RefundApplication.Status.REFUNDED:
                text += f" · {app.get_status_display()}"
            rows.append(StatementRow(
                reserve.at, Kind.PREPAID, text, prepaid_change_fen=reserve.amount_fen,
                ref=reserve_key(app.pk), payment_id=app.payment_id,
                refund_application_id=app.pk,
            ))
        if paid is None:
            continue
        lines = [line for line in app.lines.all() if line.bill_id]
        back = movements.get(refund_entry_key(paid))
        if back is not None:
            taken.add(back.pk)
        refunded_fen = sum(line.amount_fen for line in lines)
        rows.append(StatementRow(
            paid_at, Kind.REFUND, _refund_text(app, paid, lines),
            charge_fen=refunded_fen, credit_fen=refunded_fen,
            prepaid_change_fen=(back.amount_fen if back else 0)
            + (reserve.amount_fen if together else 0),
            ref=refund_entry_key(paid), payment_id=app.payment_id,
            bill_id=lines[0].bill_id if len(lines) == 1 else None,
            refund_application_id=app.pk,
        ))
    return rows, taken


def _refund_movements(unit_id: int) -> dict[str, PrepaidMovement]:
    """The wallet movements the refunds app made, by the ledger entry each belongs to:
    a prepaid refund set aside (``reserve_key``, once per application, when its first
    payout starts) and bills paid from the balance refunded to it (``refund_entry_key``
    of the payout). Movements recorded before they carried their key have none and stay
    on their payment's row."""
    return {m.business_key: m for m in PrepaidMovement.objects.filter(
        wallet__unit_id=unit_id, kind=PrepaidMovement.Kind.REFUND,
        business_key__startswith="refund")}


def _refund_text(app: RefundApplication, payout: RefundPayout, lines: list[RefundLine]) -> str:
    if payout.channel == Channel.PREPAID:
        parts = [_("Refund to the prepaid balance")]
    else:
        parts = [_("Refund"), payout.get_channel_display()]
    if lines:
        parts.append("、".join(
            bill_label(line.bill) + (f" {format_fen(line.amount_fen)}" if len(lines) > 1 else "")
            for line in lines))
    else:
        parts.append(_("Prepaid balance %(amount)s") % {"amount": format_fen(payout.amount_fen)})
    parts.append(app.reason)
    voucher = getattr(payout, "voucher", None)  # selected with the payout: no query
    parts += [voucher.number if voucher else "", payout.out_refund_no, payout.reference]
    return " · ".join(str(p) for p in parts if p)
