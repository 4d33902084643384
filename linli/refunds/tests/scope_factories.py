"""One object of each refunds console page inside a given community, for the console's
scope tests (``linli/console/tests/test_scope_registry.py``), made through the refund
services like everything else: a unit whose room number is the token pays next month's
fee at the sandbox and applies for its refund."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth.models import User
from django.db import models
from django.utils import timezone

from linli import testing as t
from linli.billing.models import Bill, FeeItem
from linli.billing.services import config
from linli.billing.services.bill_run import bill_run_commit
from linli.estate.models import Community
from linli.payments.gateways.base import RefundState, RefundStatus
from linli.payments.models import Channel, MerchantAccount
from linli.payments.orders import order_create, trade_apply
from linli.refunds.models import (
    DuplicateRefund,
    RefundApplication,
    RefundPayout,
    RefundPolicy,
    RefundVoucher,
)
from linli.refunds.payouts import (
    _payout_create,
    payout_settle,
    refund_execute,
    refund_record_counter,
)
from linli.refunds.services import refund_apply, refund_approve
from linli.refunds.tests.helpers import month_key


def _superuser(name: str = "scope-refunder") -> User:
    return (User.objects.filter(username=name).first()
            or User.objects.create_superuser(name, f"{name}@example.com", t.PASSWORD))


def _approver() -> User:
    """Whoever applied never approves (superusers included): a second person."""
    return _superuser("scope-approver")


def _application(community: Community, token: str) -> RefundApplication:
    from linli.payments.gateways import gateway_for
    from linli.payments.tests.helpers import fixed_fee, sandbox_account

    if not FeeItem.objects.filter(community=community).exists():
        fixed_fee(community)
    account = (MerchantAccount.objects.filter(community=community, channel=Channel.SANDBOX)
               .first() or sandbox_account(community))
    unit = t.make_unit(community, building=f"{token}栋", room=token)
    period = month_key(timezone.localdate(), 1)
    bill_run_commit(acting_user=None, community_id=community.pk, period_key=period,
                    today=timezone.localdate())
    bill = Bill.objects.get(unit=unit, period_key=period)
    order = order_create(payer=_superuser(), channel=Channel.SANDBOX, mode="sandbox",
                         idempotency_key=f"scope-refund:{token}", bill_ids=[bill.pk])
    applied = trade_apply(account, gateway_for(account.config()).pay(order.out_trade_no),
                          source="test")
    return refund_apply(acting_user=_superuser(), payment=applied.payment, reason=token,
                        lines={bill.pk: bill.amount_fen})


def _payout(community: Community, token: str):
    application = _application(community, token)
    refund_approve(acting_user=_approver(), application=application)
    refund_execute(application.pk)
    return RefundPayout.objects.get(application=application)


def _duplicate(community: Community, token: str) -> DuplicateRefund:
    """Abnormal at the gateway, paid in cash, then refunded by the gateway as well."""
    application = _application(community, token)
    refund_approve(acting_user=_approver(), application=application)
    payout = _payout_create(application.pk)
    payout_settle(payout.pk, RefundStatus(out_refund_no=payout.out_refund_no,
                                          state=RefundState.ABNORMAL, reason="ABNORMAL"))
    refund_record_counter(acting_user=_approver(), application=application,
                          channel=Channel.CASH)
    payout_settle(payout.pk, RefundStatus(out_refund_no=payout.out_refund_no,
                                          state=RefundState.SUCCESS))
    return DuplicateRefund.objects.get(payout=payout)


def _voucher(community: Community, token: str) -> RefundVoucher:
    # Found by its unit's room (the token): voucher numbers restart in every community,
    # so "TK-2026-000001" is in each one and cannot tell scopes apart.
    return RefundVoucher.objects.get(payout=_payout(community, token))


def _policy(community: Community, token: str) -> RefundPolicy:
    item = config.fee_item_create(acting_user=None, community=community, name=token,
                                  category="other")
    return RefundPolicy.objects.create(community=community, fee_item=item)


FACTORIES: dict[str, Callable[[Community, str], models.Model]] = {
    "refunds.refundapplication": _application,
    "refunds.refundpayout": _payout,
    "refunds.refundvoucher": _voucher,
    "refunds.refundpolicy": _policy,
    "refunds.duplicaterefund": _duplicate,
}
