"""Building blocks for the refund tests: a community with monthly fees billed for the
month before this one, this month and the next two; owners; payments online (sandbox
or the WeChat simulator) and at the counter, all made through the real services."""

from __future__ import annotations

import datetime as dt
import io
import itertools

from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone

from linli import testing as t
from linli.billing.models import Bill
from linli.ledger.models import JournalEntry
from linli.payments.gateways import gateway_for
from linli.payments.models import Channel, MerchantAccount
from linli.payments.orders import order_create, trade_apply
from linli.payments.services import payment_record
from linli.payments.tests.helpers import fixed_fee, grant, sandbox_account
from linli.refunds.models import RefundPolicy
from linli.staff.models import Role

_keys = itertools.count(1)


def month_key(today: dt.date, offset: int) -> str:
    index = today.year * 12 + today.month - 1 + offset
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def months(today: dt.date | None = None) -> dict[str, str]:
    today = today or timezone.localdate()
    return {"past": month_key(today, -1), "now": month_key(today, 0),
            "next": month_key(today, 1), "later": month_key(today, 2)}


def check_ok() -> None:
    """``linli check`` passes (else the failure says which invariants and why)."""
    out = io.StringIO()
    try:
        call_command("linli_check", stdout=out)
    except SystemExit as exc:
        failed = [line for line in out.getvalue().splitlines() if "FAIL" in line or "✗" in line]
        raise AssertionError("linli check failed:\n" + "\n".join(failed)) from exc


class World:
    """One company, one community with two fee items (property 100 yuan, parking 50
    yuan a month), a unit with its paying owner, bills for four months, staff."""

    def __init__(self, *, policy: dict | None = None):
        self.company = t.make_company()
        self.community = t.make_community(self.company)
        self.property = fixed_fee(self.community, price="100.00", name="物业服务费")
        self.parking = fixed_fee(self.community, price="50.00", name="车位管理费",
                                 category="parking")
        self.months = months()
        self.manager = t.make_staff(self.company, Role.MANAGER, [self.community])
        self.cashier = t.make_staff(self.company, Role.CASHIER, [self.community])
        self.finance = t.make_staff(self.company, Role.FINANCE, [self.community])
        self.admin = t.make_staff(self.company, Role.COMPANY_ADMIN)
        for user in (self.manager, self.cashier, self.finance, self.admin):
            grant(user, "refunds.add_refundapplication", "refunds.change_refundapplication",
                  "refunds.view_refundapplication")
        self.policy = RefundPolicy.objects.create(community=self.community, **(policy or {}))
        self.account = sandbox_account(self.community)

    def unit(self, room: str | None = None):
        """A unit with an owner (who pays) and bills for the four months."""
        from linli.billing.services.bill_run import bill_run_commit

        unit = t.make_unit(self.community, room=room)
        person = t.make_person(self.community)
        t.make_occupancy(unit, person)
        owner = t.make_owner(person.mobile, password=t.PASSWORD)
        for key in self.months.values():
            bill_run_commit(acting_user=None, community_id=self.community.pk, period_key=key,
                            today=timezone.localdate())
        return unit, owner

    def bills(self, unit, *, item=None) -> dict[str, Bill]:
        item = item or self.property
        return {name: Bill.objects.get(unit=unit, fee_item=item, period_key=key)
                for name, key in self.months.items()}

    def pay_online(self, unit, bills, account: MerchantAccount | None = None):
        """Pay ``bills`` through an online order at ``account`` (default sandbox)."""
        account = account or self.account
        superuser = User.objects.filter(username="refund-payer").first() or \
            User.objects.create_superuser("refund-payer", "p@example.com", t.PASSWORD)
        mode = {Channel.SANDBOX: "sandbox", Channel.WECHAT: "native",
                Channel.ALIPAY: "precreate"}[account.channel]
        order = order_create(payer=superuser, channel=account.channel, mode=mode,
                             idempotency_key=f"refund-test-{next(_keys)}",
                             bill_ids=[b.pk for b in bills])
        gateway = gateway_for(account.config())
        if account.channel == Channel.SANDBOX:
            status = gateway.pay(order.out_trade_no)
        else:  # the WeChat / Alipay simulator (``self.sim``, set by the test)
            self.sim.pay(order.out_trade_no)
            status = gateway.query(order.out_trade_no)
        applied = trade_apply(account, status, source="test")
        assert applied.payment is not None, applied
        return applied.payment

    def topup_online(self, unit, amount_fen: int):
        """A prepaid top-up (预存) paid at the sandbox."""
        payer = User.objects.filter(username="refund-payer").first() or \
            User.objects.create_superuser("refund-payer", "p@example.com", t.PASSWORD)
        order = order_create(payer=payer, channel=Channel.SANDBOX, mode="sandbox",
                             idempotency_key=f"refund-topup-{next(_keys)}", unit=unit,
                             topup_fen=amount_fen)
        status = gateway_for(self.account.config()).pay(order.out_trade_no)
        return trade_apply(self.account, status, source="test").payment

    def pay_cash(self, unit, bills, amount_fen: int | None = None):
        return payment_record(
            acting_user=self.cashier, unit=unit, channel=Channel.CASH,
            amount_fen=amount_fen or sum(b.amount_fen for b in bills),
            bill_ids=[b.pk for b in bills], idempotency_key=f"cash-{next(_keys)}")


def refund_entries() -> list[JournalEntry]:
    return list(JournalEntry.objects.filter(kind="refund"))


def reserved_accounts(application) -> dict:
    """The lines of the entry that set an approved application's amount aside."""
    entry = JournalEntry.objects.get(business_key=f"refund_reserve:app{application.pk}")
    return {(line.account, line.side): line.amount_fen for line in entry.lines.all()}
