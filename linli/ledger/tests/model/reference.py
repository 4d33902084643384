"""The reference model of the state-machine test: what each unit's bills were charged,
paid, waived and refunded, and its prepaid balance — plain Python, no database.

It knows only the rules a person would state: money pays a unit's bills earliest due
first, principal only (these bills carry no late fee), and what the chosen bills do not
need becomes prepaid balance; a waiver lowers what a bill owes; a refund gives money back
without re-opening the bill (it reverses the money and the charge together); a cancelled
bill owes nothing; a bill that still owes something can be paid.

And the promises of issue 14 about money in between: money that cannot be applied is
held in suspense by its open anomaly until a resolution moves it on (suspense = what
open anomalies hold); approving a refund sets its amount aside in refunds payable (a
prepaid refund's money leaves the balance then, and the approval is refused when the
balance or the payment's money is no longer there); refunds payable = what was approved
and not yet paid out or cancelled; a refund the channel fails stays payable until it is
retried or settled another way.

And what a channel's report that a trade was refunded means: the amount it says was
refunded on the trade (the order's out_trade_no: the channel knows Linli's refunds only
by it) includes Linli's own refunds on that order that went, or may still go, to the
channel — paid, sent, abnormal, or paid late after being given up; not those it refused
or that were settled another way. Only the rest was refunded outside Linli. So a trade
reported paid and refunded in full before Linli recorded it holds in suspense what the
outside refund did not take back — Linli's own refunds on the order — by its open
refunded-outside anomaly, until staff resolve it like any other held money (apply to
bills, to prepaid, refund through the channel, or write off by two people).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MBill:
    pk: int
    unit: int
    due: tuple            # (due date, pk): the order money settles bills in
    charged: int
    run: int | None = None
    paid: int = 0
    waived: int = 0
    refunded: int = 0
    auto_offset: int = 0  # paid by the run's own prepaid offset
    cancelled: bool = False

    @property
    def owed(self) -> int:
        return 0 if self.cancelled else self.charged - self.paid - self.waived


@dataclass
class MApplication:
    pk: int
    unit: int
    payment: int
    channel: str          # the payment's channel: where the money goes back
    amount: int
    bill: int | None      # a bill line refund; None: prepaid money
    payment_fen: int = 0  # what the payment brought in
    reserved: bool = False  # approved: set aside in refunds payable
    done: bool = False      # paid out, or cancelled
    failure: str = ""       # the channel's last answer when it failed: closed / abnormal


@dataclass
class Model:
    units: list[int]
    bills: dict[int, MBill] = field(default_factory=dict)
    prepaid: dict[int, int] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)        # period → committed run
    pending_waivers: dict[int, tuple[int, int]] = field(default_factory=dict)  # adj → bill, fen
    adjusted: set[int] = field(default_factory=set)           # bills with a live adjustment
    suspense: dict[int, int] = field(default_factory=dict)    # open anomaly → fen held
    order_refunds: dict[int, int] = field(default_factory=dict)  # channel refund → fen payable
    run_offsets: dict[int, list[int]] = field(default_factory=dict)  # run → its offset payments
    unwound: set[int] = field(default_factory=set)            # offset payments taken back
    # out_trade_no → {Linli's refund: fen that went, or may still go, to the channel}
    sent: dict[str, dict[str, int]] = field(default_factory=dict)

    def __post_init__(self):
        self.prepaid = {u: 0 for u in self.units}

    # --- reading ----------------------------------------------------------------------
    def owed(self, unit: int) -> int:
        return sum(b.owed for b in self.bills.values() if b.unit == unit)

    def open_bills(self, unit: int) -> list[MBill]:
        return sorted((b for b in self.bills.values() if b.unit == unit and b.owed > 0),
                      key=lambda b: b.due)

    def run_bills(self, run: int) -> list[MBill]:
        return [b for b in self.bills.values() if b.run == run]

    # --- money in ---------------------------------------------------------------------
    def pay(self, unit: int, bill_ids, amount: int, *, from_prepaid: bool = False,
            auto_offset: bool = False) -> int:
        """``amount`` settles ``bill_ids`` earliest due first; the rest is prepaid balance.
        Returns what the bills took."""
        if from_prepaid:
            assert self.prepaid[unit] >= amount
            self.prepaid[unit] -= amount
        remaining = amount
        for bill in sorted((self.bills[pk] for pk in bill_ids), key=lambda b: b.due):
            principal = min(remaining, max(bill.owed, 0))
            bill.paid += principal
            if auto_offset:
                bill.auto_offset += principal
            remaining -= principal
        self.prepaid[unit] += remaining
        return amount - remaining

    def offset_amount(self, unit: int, bill_ids) -> int:
        """What paying ``bill_ids`` from the prepaid balance takes."""
        return min(self.prepaid[unit], sum(max(self.bills[pk].owed, 0) for pk in bill_ids))

    # --- the channel's reports of refunds ------------------------------------------------
    def channel_refund(self, out_trade_no: str, refund: str, fen: int) -> None:
        """Linli's ``refund`` on the trade went (or may go) to the channel: ``fen``; or
        it did not, or no longer may: 0."""
        self.sent.setdefault(out_trade_no, {})[refund] = fen

    def held_after_outside_refund(self, out_trade_no: str, amount: int, reported: int) -> int:
        """A trade that brought ``amount``, reported refunded ``reported`` in all before
        Linli recorded it: what it holds in suspense once the outside refund is out."""
        linli = sum(self.sent.get(out_trade_no, {}).values())
        outside = max(0, min(reported, amount) - linli)
        return amount - outside

    # --- runs -------------------------------------------------------------------------
    def reversal_blocked(self, run: int, apps: list[MApplication]) -> bool:
        """A run is reversed while no person paid, adjusted or refunded its bills (its own
        prepaid offset does not count: the reversal unwinds it). A refund approved (set
        aside) or paid on one of its bills is a person's act on it."""
        refunding = {a.bill for a in apps if a.reserved}
        for bill in self.run_bills(run):
            if bill.paid - bill.auto_offset > 0 or bill.pk in self.adjusted \
                    or bill.pk in refunding:
                return True
        return False

    def reverse(self, period: str) -> None:
        run = self.runs.pop(period)
        self.unwound.update(self.run_offsets.get(run, []))
        for bill in self.run_bills(run):
            self.prepaid[bill.unit] += bill.auto_offset
            bill.paid -= bill.auto_offset
            bill.auto_offset = 0
            bill.cancelled = True

    # --- waivers ----------------------------------------------------------------------
    def waive(self, adjustment: int) -> None:
        bill, fen = self.pending_waivers.pop(adjustment)
        self.bills[bill].waived += fen

    # --- money back -------------------------------------------------------------------
    def approvable(self, app: MApplication, apps: list[MApplication]) -> bool:
        """An approval sets the money aside: refused when the prepaid balance to refund is
        no longer there, or when the payment's approved refunds would pass what it paid."""
        if app.bill is None and self.prepaid[app.unit] < app.amount:
            return False
        if app.payment in self.unwound:  # its money went back to the balance already
            return False
        if app.bill is not None and self.bills[app.bill].cancelled:
            return False
        taken = sum(a.amount for a in apps if a.payment == app.payment and a.reserved)
        return taken + app.amount <= app.payment_fen

    def reserve(self, app: MApplication) -> None:
        """Approved: the amount is set aside (a prepaid refund's money leaves the balance)."""
        assert not app.reserved
        if app.bill is None:
            assert self.prepaid[app.unit] >= app.amount
            self.prepaid[app.unit] -= app.amount
        app.reserved = True

    def refunded(self, app: MApplication) -> None:
        """The money went back. A bill line's refund leaves what the bill owes alone; a
        payment from the prepaid balance goes back to the balance."""
        assert app.reserved and not app.done
        if app.bill is not None:
            self.bills[app.bill].refunded += app.amount
        if app.channel == "prepaid":
            self.prepaid[app.unit] += app.amount
        app.done = True

    def cancelled(self, app: MApplication) -> None:
        """Cancelled before any money went: the set-aside amount comes back."""
        assert app.reserved and not app.done
        if app.bill is None:
            self.prepaid[app.unit] += app.amount
        app.reserved, app.done, app.failure = False, True, "cancelled"

    def refunds_payable(self, apps: list[MApplication]) -> int:
        return (sum(a.amount for a in apps if a.reserved and not a.done)
                + sum(self.order_refunds.values()))
