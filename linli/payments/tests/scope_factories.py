"""One object of each payments console page inside a given community, for the console's
scope tests (``linli/console/tests/test_scope_registry.py``), made through the payment
services like everything else."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import User
from django.db import models

from linli import testing as t
from linli.estate.models import Community
from linli.payments.models import (
    Channel,
    CommunityPaymentSettings,
    GatewayNotification,
    MerchantAccount,
    OrderRefund,
    Payment,
    PaymentAnomaly,
    PaymentOrder,
    PrepaidMovement,
    PrepaidWallet,
)
from linli.payments.services import payment_record, prepaid_deposit


def _deposit(community: Community, token: str) -> Payment:
    """A deposit for a unit whose room number is ``token``, paid in by ``token``."""
    unit = t.make_unit(community, building=f"{token}栋", room=token)
    return prepaid_deposit(acting_user=None, unit=unit, amount_fen=10000, channel=Channel.CASH,
                           payer_name=token, reference=token, idempotency_key=f"scope:{token}")


def _wallet(community: Community, token: str) -> PrepaidWallet:
    return PrepaidWallet.objects.get(unit=_deposit(community, token).unit)


def _movement(community: Community, token: str) -> PrepaidMovement:
    return PrepaidMovement.objects.get(payment=_deposit(community, token))


def _account(community: Community) -> MerchantAccount:
    from linli.payments.tests.helpers import sandbox_account

    return (MerchantAccount.objects.filter(community=community, channel=Channel.SANDBOX).first()
            or sandbox_account(community))


def _superuser() -> User:
    return (User.objects.filter(username="scope-payer").first()
            or User.objects.create_superuser("scope-payer", "p@example.com", t.PASSWORD))


def _order(community: Community, token: str) -> PaymentOrder:
    """An order for the bills of a unit whose room number is ``token``."""
    from linli.payments.orders import order_create
    from linli.payments.tests.helpers import billed_unit

    _account(community)
    unit, bills = billed_unit(community, room=token)
    return order_create(payer=_superuser(), channel=Channel.SANDBOX, mode="sandbox",
                        idempotency_key=f"scope:{token}", bill_ids=[b.pk for b in bills])


def _unknown_order_notification(community: Community, token: str) -> GatewayNotification:
    """A validly signed notification for an order number (``token``) we never made."""
    from django.test import Client

    from linli.payments.gateways.sandbox import build_notification
    from linli.payments.tests.helpers import post_notification

    account = _account(community)
    headers, body = build_notification(account.config(), out_trade_no=token,
                                       transaction_id=f"T{token}", amount_fen=100)
    post_notification(Client(), account, headers, body)
    return GatewayNotification.objects.get(out_trade_no=token)


def _anomaly(community: Community, token: str) -> PaymentAnomaly:
    note = _unknown_order_notification(community, token)
    return PaymentAnomaly.objects.get(transaction_id=note.transaction_id or f"T{token}")


def _merchant(community: Community, token: str) -> MerchantAccount:
    return MerchantAccount.objects.create(community=community, channel=Channel.WECHAT,
                                          app_id=token, merchant_id="1900000001")


def _settings(community: Community, token: str):
    obj = CommunityPaymentSettings.objects.create(community=community)
    return obj, community.name


def _refund(community: Community, token: str):
    """An automatic refund: the bills were paid at the counter while an order was open,
    then the order's money arrived; the community refunds excess."""
    from django.test import Client

    from linli.payments.tests.helpers import pay_at_sandbox, post_notification

    CommunityPaymentSettings.objects.update_or_create(
        community=community, defaults={"excess_handling": "refund"})
    order = _order(community, token)
    payment_record(acting_user=None, unit=order.unit, channel=Channel.CASH,
                   amount_fen=order.amount_fen,
                   bill_ids=list(order.lines.values_list("bill_id", flat=True)),
                   idempotency_key=f"scope-cash:{token}")
    headers, body = pay_at_sandbox(order.account, order)
    post_notification(Client(), order.account, headers, body)
    refund = OrderRefund.objects.get(order=order)
    return refund, refund.out_refund_no


def _unstored_rejections(community: Community, token: str):
    """Rejected deliveries counted but not stored: a sender already over the limit (here
    0) sends a garbage body. Found by its sender address, made from ``token``."""
    from django.test import Client, override_settings

    from linli.payments.models import NotificationDropTally

    account = _account(community)
    sender = f"2001:db8::{int(token[2:]):04x}"
    with override_settings(LINLI_NOTIFY_REJECTS_PER_IP=0):
        Client(REMOTE_ADDR=sender).post(account.notify_path(), data=b"garbage",
                                        content_type="application/json")
    return NotificationDropTally.objects.get(account=account, remote_addr=sender), sender


FACTORIES: dict[str, Callable[[Community, str], models.Model]] = {
    "payments.payment": _deposit,
    "payments.prepaidwallet": _wallet,
    "payments.prepaidmovement": _movement,
    "payments.paymentorder": _order,
    "payments.gatewaynotification": _unknown_order_notification,
    "payments.notificationdroptally": _unstored_rejections,
    "payments.paymentanomaly": _anomaly,
    "payments.merchantaccount": _merchant,
    "payments.communitypaymentsettings": _settings,
    "payments.orderrefund": _refund,
}
