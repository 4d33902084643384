"""Chart of accounts. Codes are named constants; nothing else may be posted to.

Dimensions: every line carries its community; accounts marked ``needs_unit`` are kept
per unit (receivable, prepaid, deposits) and those marked ``needs_fee_item`` per fee
item (revenue, waivers, discounts); ``post_entry`` refuses a line without them.

Sign convention: a line's ``amount_fen`` is always positive and ``side`` says debit or
credit. An account's balance in its normal direction is
debits − credits for assets and expenses, credits − debits for liabilities and income.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

ASSET, LIABILITY, INCOME, EXPENSE = "asset", "liability", "income", "expense"

CASH = "1001"                 # 库存现金: cash taken at the counter
BANK = "1002"                 # 银行存款: transfers, cheques, POS settlements
CLEARING_WECHAT = "1121"      # 微信支付待清算
CLEARING_ALIPAY = "1122"      # 支付宝待清算
CLEARING_SANDBOX = "1129"     # 模拟支付 (demo only, not real money)
RECEIVABLE = "1131"           # 应收物业费, by unit
OTHER_RECEIVABLE = "1221"     # 其他应收款, by unit: money a unit owes back (a refund paid
                              # twice: another way, then late by the channel)
SUSPENSE_OLD = "1199"         # retired: suspense was kept as an asset before 2026-12
PREPAID = "2203"              # 预收款 (预存款), by unit
DEPOSITS_HELD = "2241"        # 押金, by unit
SUSPENSE = "2249"             # 待查明款项: money received that we cannot yet attribute; a
                              # liability (we owe it to someone) that only resolutions empty
REFUNDS_PAYABLE = "2242"      # 应退款: approved refunds not yet paid out
REVENUE = "6001"              # 物业收费收入, by fee item
LATE_FEE_INCOME = "6051"      # 滞纳金收入
OTHER_INCOME = "6301"         # 营业外收入: held money written off (nobody claimed it)
OTHER_LOSSES = "6711"         # 营业外支出: money gone that could not be recovered
WAIVERS = "6401"              # 减免 (contra revenue)
DISCOUNTS = "6402"            # 折扣 (contra revenue)
REFUND_LOSSES = "6711"        # 营业外支出—退款损失: a refund paid twice, written off


@dataclass(frozen=True)
class Account:
    code: str
    name: object  # lazy translation
    kind: str
    needs_unit: bool = False
    # Revenue and its contra accounts are reported per fee item (DESIGN §6, §9).
    needs_fee_item: bool = False

    @property
    def debit_normal(self) -> bool:
        return self.kind in (ASSET, EXPENSE)


CHART: dict[str, Account] = {
    a.code: a
    for a in (
        Account(CASH, _("Cash"), ASSET),
        Account(BANK, _("Bank"), ASSET),
        Account(CLEARING_WECHAT, _("WeChat Pay clearing"), ASSET),
        Account(CLEARING_ALIPAY, _("Alipay clearing"), ASSET),
        Account(CLEARING_SANDBOX, _("Sandbox clearing (not real money)"), ASSET),
        Account(RECEIVABLE, _("Fees receivable"), ASSET, needs_unit=True),
        Account(OTHER_RECEIVABLE, _("Other receivables"), ASSET, needs_unit=True),
        Account(SUSPENSE_OLD, _("Suspense (retired)"), ASSET),
        Account(PREPAID, _("Prepaid balances"), LIABILITY, needs_unit=True),
        Account(DEPOSITS_HELD, _("Deposits held"), LIABILITY, needs_unit=True),
        Account(SUSPENSE, _("Suspense"), LIABILITY),
        Account(REFUNDS_PAYABLE, _("Refunds payable"), LIABILITY),
        Account(REVENUE, _("Fee revenue"), INCOME, needs_fee_item=True),
        Account(LATE_FEE_INCOME, _("Late-fee income"), INCOME),
        Account(OTHER_INCOME, _("Other income (written-off held money)"), INCOME),
        Account(OTHER_LOSSES, _("Other losses (written-off shortfalls)"), EXPENSE),
        Account(WAIVERS, _("Waivers"), EXPENSE, needs_fee_item=True),
        Account(DISCOUNTS, _("Discounts"), EXPENSE, needs_fee_item=True),
        Account(REFUND_LOSSES, _("Refund losses written off"), EXPENSE),
    )
}

# Accounts no rule posts to any more (kept so that old entries still read).
RETIRED = {SUSPENSE_OLD}

# Lazy, so the labels follow the active language (and migrations never see them change).
ACCOUNT_CHOICES = [(a.code, format_lazy("{} {}", a.code, a.name)) for a in CHART.values()]
