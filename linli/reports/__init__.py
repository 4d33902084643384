"""Owns the reports staff read (收缴率, 欠费明细, 费用汇总), the written definitions of every
figure they show (``definitions.py``), drill-down to the records behind each figure, their
Excel exports, and the invariant that the figures agree with the ledger.

Reads, never writes: figures are derived from immutable records (bills, adjustments,
payment allocations, refunds, prepaid movements) as of a date.
May use: refunds, payments, billing, owners, estate, ledger, staff and below.
"""
