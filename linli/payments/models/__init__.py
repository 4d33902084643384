"""Money received: payments, how they settle bills, and prepaid balances (预存款).

A ``Payment`` is money that arrived through one channel. Its ``allocations`` say which
bills it settled (principal, then late fee); anything left over goes to the unit's
prepaid wallet. Payments and allocations are append-only.

Online payments: a ``MerchantAccount`` per community and channel; a ``PaymentOrder``
per attempt (its state machine is documented on the class); every verified notification
stored whole, rejected ones truncated and pruned (``GatewayNotification``; deliveries not
stored at all are counted in ``NotificationDropTally``); one ``GatewayTransaction`` per gateway transaction id
(unique); money that did not fit flagged as a ``PaymentAnomaly``; automatic refunds of
excess (``OrderRefund``); the sandbox gateway's own state (``SandboxTrade``).
"""

from linli.payments.models.exceptions import OrderRefund, OutsideRefund, PaymentAnomaly
from linli.payments.models.money import (
    CHANNEL_ACCOUNT,
    COUNTER_CHANNELS,
    Channel,
    Payment,
    PaymentAllocation,
    PaymentReversal,
    PrepaidMovement,
    PrepaidWallet,
)
from linli.payments.models.online import (
    CommunityPaymentSettings,
    GatewayNotification,
    GatewayTransaction,
    MerchantAccount,
    NotificationDropTally,
    PaymentOrder,
    PaymentOrderBill,
    SandboxTrade,
)

__all__ = [
    "CHANNEL_ACCOUNT", "COUNTER_CHANNELS", "Channel", "CommunityPaymentSettings",
    "GatewayNotification", "GatewayTransaction", "MerchantAccount", "NotificationDropTally",
    "OrderRefund", "OutsideRefund", "Payment", "PaymentAllocation", "PaymentAnomaly", "PaymentOrder",
    "PaymentOrderBill", "PaymentReversal", "PrepaidMovement", "PrepaidWallet", "SandboxTrade",
]
