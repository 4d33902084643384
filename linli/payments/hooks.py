"""Hooks through which apps above payments tell it what they did — payments never imports
them (the layers: refunds may use payments, payments reaches refunds only here).

``order_refunds_made_by``: a function ``(order) -> int`` giving the fen another app of
Linli refunded through the channel on that payment order (the refunds app: payouts of
owners' applications, sent, processing or done). ``trade_apply`` adds them to the
payments app's own ``OrderRefund``s to tell Linli's refunds from refunds made outside
Linli when a channel reports a trade refunded. ``payment_reversed``: see below. Register once, in ``AppConfig.ready``::

    from linli.payments.hooks import order_refunds_made_by

    order_refunds_made_by.register(payout_fen_for_order)

``receipt_link``: a function ``(payment) -> str`` giving the HTML link to the payment's
receipt on its console page (the receipts app registers it; "—" while none is).

``refund_notified``: functions ``(parsed) -> bool`` offered a channel's refund result
that is none of payments' own automatic refunds; one that recognises the refund number
settles it and answers True (the refunds app: payouts of owners' applications).

``channel_refunds_paid``: functions ``(channels) -> rows`` of ``{"community_id",
"channel", "total"}``: money another app refunded through those channels, which the
clearing-account invariant subtracts (the refunds app: payouts paid).
"""

from __future__ import annotations

from collections.abc import Callable


class Registry:
    """An explicit list of functions another app registered; each is called in turn."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._functions: list[Callable] = []

    def register(self, function: Callable) -> Callable:
        if function not in self._functions:
            self._functions.append(function)
        return function

    def unregister(self, function: Callable) -> None:
        if function in self._functions:
            self._functions.remove(function)

    def call_each(self, *args, **kwargs) -> None:
        """Call every registered function in turn (what it answers is not used)."""
        for function in self._functions:
            function(*args, **kwargs)

    def first_true(self, *args, **kwargs) -> bool:
        """True as soon as one registered function answers True (in registration order)."""
        return any(function(*args, **kwargs) for function in self._functions)

    def rows(self, *args, **kwargs) -> list:
        """What every registered function answers, one list."""
        return [row for function in self._functions for row in function(*args, **kwargs)]

    def total(self, *args, **kwargs) -> int:
        """The sum of what every registered function answers (0 when none is)."""
        return sum(int(function(*args, **kwargs)) for function in self._functions)


class Slot:
    """One function another app provides; a default answers until it registers."""

    def __init__(self, name: str, default: Callable) -> None:
        self.name = name
        self._default = default
        self._function: Callable | None = None

    def register(self, function: Callable) -> Callable:
        self._function = function
        return function

    def __call__(self, *args, **kwargs):
        return (self._function or self._default)(*args, **kwargs)


order_refunds_made_by = Registry("order_refunds_made_by")
receipt_link = Slot("receipt_link", lambda payment: "—")

# ``payment_reversed``: functions ``(reversal)`` called inside the transaction that takes
# a payment back whole (``services.prepaid_offset_reverse``): the receipts app voids the
# payment's receipt (a new linked record).
payment_reversed = Registry("payment_reversed")

refund_notified = Registry("refund_notified")
channel_refunds_paid = Registry("channel_refunds_paid")
