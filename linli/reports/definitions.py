"""What each figure means, in words staff read beside the figure and in every export,
and the one place a rate is computed (Decimal, rounded once, ROUND_HALF_UP).

The definitions are those of ``shared/reference/reports-and-collection-rate.md``; the
queries that implement them are in ``figures.py``. A report is run for a window W of
billing periods (账期; a bill is in W when its period starts in W) and as of a date D
(everything recorded up to the end of D, and nothing after it); S is the first day of W.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils.translation import gettext_lazy as _

# A rate as a fraction with four decimals: 0.8333 is shown as 83.33%.
RATE_PLACES = Decimal("0.0001")


def rate(numerator_fen: int, denominator_fen: int) -> Decimal | None:
    """``numerator ÷ denominator`` rounded once to four decimals (half up); ``None``
    when there is nothing to divide by (no rate, not 0% nor 100%)."""
    if not denominator_fen:
        return None
    return (Decimal(numerator_fen) / Decimal(denominator_fen)).quantize(
        RATE_PLACES, rounding=ROUND_HALF_UP)


def format_rate(value: Decimal | None) -> str:
    """``Decimal("0.8333")`` → ``"83.33%"``; no rate → ``"—"``."""
    if value is None:
        return "—"
    return f"{value * 100:.2f}%"


@dataclass(frozen=True)
class Definition:
    key: str
    name: object   # lazy translation
    text: object   # lazy translation: how it is counted


DEFINITIONS: dict[str, Definition] = {d.key: d for d in (
    Definition("charged", _("Charged (应收)"), _(
        "The amount of the bills whose period starts in the chosen months, issued by the "
        "as-of date, less the waivers, discounts and cancellations (红冲) of those bills "
        "approved by that date. Waivers reduce what is charged; they are never counted "
        "as collected. Late fees are not included.")),
    Definition("collected", _("Collected (实收)"), _(
        "Money applied to those bills with a receipt date on or before the as-of date — "
        "at the counter, online, or from the prepaid balance (prepaid money counts only "
        "when it is applied to a bill, on that day) — less the refunds of those bills "
        "completed by that date. A refund on one fee item never changes another fee "
        "item's figures. Late fees are not included.")),
    Definition("rate", _("Collection rate (当期收缴率)"), _(
        "Collected ÷ charged, for the bills of the chosen months.")),
    Definition("opening", _("Arrears at the start (期初欠费)"), _(
        "What the bills whose period ended before the first day of the chosen months "
        "still owed at the start of that day (charged less money paid on them).")),
    Definition("recovered", _("Arrears collected (清欠金额)"), _(
        "Money applied from the first day of the chosen months to the as-of date to "
        "bills whose period ended before that first day, less refunds of those bills "
        "completed in the same days.")),
    Definition("recovery_rate", _("Arrears recovery rate (清欠率)"), _(
        "Arrears collected ÷ arrears at the start.")),
    Definition("overall_rate", _("Overall collection rate (综合收缴率)"), _(
        "(Collected + arrears collected) ÷ (charged + arrears at the start).")),
    Definition("households", _("Households paid up (户数收缴率)"), _(
        "Units (or parking spaces) that owe nothing on the bills of the chosen months ÷ "
        "units (or spaces) with such bills, as of the as-of date.")),
    Definition("advance", _("Received in advance (预收)"), _(
        "Money received from the first day of the chosen months to the as-of date for "
        "bills whose period starts after the as-of date (less refunds of them in those "
        "days), plus the prepaid balances held at the as-of date. Never part of a "
        "collection rate. Prepaid balances belong to no fee item: with a fee item "
        "chosen, only the money for its future bills is shown.")),
    Definition("late_fee", _("Late fees collected (滞纳金)"), _(
        "Late fees paid on the bills of the chosen months by the as-of date. Reported on "
        "their own line and left out of every rate.")),
    Definition("owed", _("Still owed (欠费)"), _(
        "Charged less the money paid on those bills by the as-of date (refunded money "
        "does not make a bill owed again).")),
    Definition("aging", _("Arrears aging (欠费账龄)"), _(
        "What each bill still owes at the as-of date, by days past its due date: not yet "
        "due · 1–30 · 31–90 · 91–180 · 181–365 days · 1–3 years · over 3 years (the "
        "general limitation period for claims is three years, Civil Code art. 188).")),
)}

# Aging buckets: (upper bound of days past due, label). The last has no bound.
AGING_BUCKETS: list[tuple[int | None, object]] = [
    (0, _("Not yet due")),
    (30, _("1–30 days")),
    (90, _("31–90 days")),
    (180, _("91–180 days")),
    (365, _("181–365 days")),
    (1095, _("1–3 years")),
    (None, _("Over 3 years")),
]


def definition_rows(keys=None) -> list[tuple[str, str]]:
    """(name, definition) for the export's definitions sheet and the pages' notes."""
    keys = keys or list(DEFINITIONS)
    return [(str(DEFINITIONS[k].name), str(DEFINITIONS[k].text)) for k in keys]
