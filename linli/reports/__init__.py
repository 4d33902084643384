"""Owns the reports staff read (收缴率, 欠费明细, 费用汇总), the written definitions of every
figure they show (``definitions.py``), drill-down to the records behind each figure, their
Excel exports, the invariant that the figures agree with the ledger, and a unit's
statement (户账, ``statement.py``: bills, payments, refunds and prepaid in time order).

Reads, never writes: figures are derived from immutable records (bills, adjustments,
payment allocations, refunds, prepaid movements) as of a date. The one exception is the
statement page's two counter actions (a prepaid deposit, paying bills from the prepaid
balance), which call payments' services.
May use: refunds, payments, billing, owners, estate, ledger, staff and below.
"""
