"""Pure billing arithmetic: Decimal prices, areas and usages in; integer fen out.

No ORM, no I/O: the preview and the committed bill run call exactly these functions.
Every amount is computed at full precision and rounded to the fen once, ROUND_HALF_UP.
"""
