"""The counter desk's invariant, run by `linli check`: each cashier's 交班表 agrees with
the cash the ledger moved."""

from __future__ import annotations

from collections import defaultdict

from django.utils import timezone

from linli.core.invariants import invariant
from linli.counter.selectors import PAYMENT, shift_movements, shift_records
from linli.ledger import chart
from linli.ledger.models import JournalLine
from linli.money import format_fen
from linli.payments.models import Channel

MAX_REPORTED = 50


def _day(when) -> str:
    return timezone.localtime(when).date().isoformat()


@invariant("counter.shift_cash",
           "each cashier's day: the cash on the 交班表 (counter cash in − cash refunds paid "
           "out − automatic refunds paid in cash + refunds paid twice and anomaly money "
           "recovered in cash) equals the cash the ledger moved for it, and no cash moved "
           "on no shift")
def counter_shift_cash() -> tuple[int, list[str]]:
    shift: dict[tuple, int] = defaultdict(int)
    keys: dict[str, tuple] = {}
    nobody = []
    for m in shift_movements(shift_records(unattended=True)):
        if m.channel != Channel.CASH:
            continue
        key = (m.community_id, m.cashier_id, _day(m.at))
        shift[key] += m.fen
        keys[m.business_key] = key
        if m.cashier_id is None and m.kind != PAYMENT:  # money in by the system: no sheet
            nobody.append(f"{m.business_key}: cash {'paid out' if m.fen < 0 else 'taken'} "
                          f"by nobody (on no cashier's 交班表)")
    ledger: dict[tuple, int] = defaultdict(int)
    off_shift: dict[str, int] = defaultdict(int)
    # Every cash line once (no IN list of every key: the ledger may be large).
    for business_key, side, fen in JournalLine.objects.filter(account=chart.CASH).values_list(
            "entry__business_key", "side", "amount_fen").iterator(chunk_size=5000):
        signed = fen if side == JournalLine.DEBIT else -fen
        key = keys.get(business_key)
        if key is not None:
            ledger[key] += signed
        else:
            off_shift[business_key] += signed
    violations = [f"community #{k[0]} cashier #{k[1]} on {k[2]}: 交班表 cash "
                  f"{format_fen(shift[k])}, ledger {format_fen(ledger.get(k, 0))}"
                  for k in sorted(shift, key=str) if shift[k] != ledger.get(k, 0)]
    violations += nobody[:MAX_REPORTED]
    violations += [f"{key}: {format_fen(fen)} cash moved on no cashier's 交班表"
                   for key, fen in sorted(off_shift.items()) if fen][:MAX_REPORTED]
    return len(shift), violations[:MAX_REPORTED]
