"""Building blocks for the online-payment tests: a community with a fixed monthly fee,
issued bills, a sandbox merchant account, and sandbox notifications as the sandbox
gateway signs them."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.utils import timezone

from linli import testing as t
from linli.billing.models import Bill
from linli.billing.services import config
from linli.billing.services.bill_run import bill_run_commit
from linli.payments.gateways.sandbox import build_notification
from linli.payments.models import Channel, MerchantAccount, PrepaidWallet

START = dt.date(2024, 1, 1)
SECRET = "sandbox-secret-for-tests"


def fixed_fee(community, price: str = "100.00", name: str = "物业服务费",
              category: str = "property", **terms):
    """A fixed monthly charge per unit (no late fee unless ``terms`` enable one)."""
    item = config.fee_item_create(acting_user=None, community=community, name=name,
                                  category=category)
    std = config.standard_create(acting_user=None, fee_item=item, name=name,
                                 method="fixed_unit", due_days=30, **terms)
    config.standard_rate_add(acting_user=None, standard=std, effective_from=START,
                             unit_price=Decimal(price))
    config.binding_create(acting_user=None, standard=std, scope="community", start_date=START)
    return item


def issue(community, *periods: str) -> None:
    for period in periods:
        bill_run_commit(acting_user=None, community_id=community.pk, period_key=period,
                        today=timezone.localdate())


def wallet_fen(unit) -> int:
    wallet = PrepaidWallet.objects.filter(unit=unit).first()
    return wallet.balance_fen if wallet else 0


def check_ok() -> None:
    call_command("linli_check", stdout=io.StringIO())  # SystemExit(1) on any violation


def grant(user, *perms: str):
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return user


def sandbox_account(community, *, app_id: str = "sbx-app", merchant_id: str = "sbx-mch",
                    secret: str = SECRET) -> MerchantAccount:
    return MerchantAccount.objects.create(
        community=community, channel=Channel.SANDBOX, app_id=app_id, merchant_id=merchant_id,
        notify_base_url="http://testserver", sandbox_secret=secret,
    )


def billed_unit(community, *, room: str | None = None, periods=("2024-01",), price="100.00"):
    """A unit (of its own building) with issued bills of a fixed 100 yuan monthly fee."""
    unit = t.make_unit(community, building=f"B{room or ''}栋", room=room)
    if not community.fee_items.exists():
        fixed_fee(community, price=price)
    issue(community, *periods)
    return unit, list(Bill.objects.filter(unit=unit).order_by("period_start"))


def notification(account: MerchantAccount, order, *, transaction_id: str,
                 amount_fen: int | None = None, now: dt.datetime | None = None,
                 out_trade_no: str | None = None) -> tuple[dict[str, str], bytes]:
    return build_notification(
        account.config(), out_trade_no=out_trade_no or order.out_trade_no,
        transaction_id=transaction_id,
        amount_fen=order.amount_fen if amount_fen is None else amount_fen, now=now,
    )


def post_notification(client, account: MerchantAccount, headers: dict[str, str], body: bytes):
    meta = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()
            if k != "content-type"}
    return client.post(account.notify_path(), data=body, content_type="application/json",
                       **meta)


def pay_at_sandbox(account: MerchantAccount, order) -> tuple[dict[str, str], bytes]:
    """The payer pays on the sandbox page; returns the notification the sandbox sends."""
    from linli.payments.gateways import gateway_for

    gateway = gateway_for(account.config())
    return gateway.notification_for(gateway.pay(order.out_trade_no))
