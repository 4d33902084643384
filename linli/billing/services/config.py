"""Configuring what is billed — fee items (收费项目), charge standards (收费标准), their dated
prices and their bindings (费用绑定) — and raising one-off charges for chosen units.

Every service takes ``acting_user`` and keyword arguments, checks everything before it
writes (a refused call writes nothing) and records an audit row. The console's forms call
the same ``*_validate`` functions from ``clean()`` and save through these services, so a
rule holds alike in code and on screen.

Rules kept here:
- a standard's method suits its fee item (a deposit is one-off, a water fee is metered or
  fixed …); a metered standard names its meter and bills in arrears; one-off standards,
  and only they, have the cycle "once";
- a price is a Decimal ≥ 0 with at most four places. A price a bill has used never changes
  and is never deleted: a new price is a new rate from its own date, so issued bills keep
  what they charged;
- two standards of one fee item never cover the same unit or parking space on the same
  day — the bill run would charge it twice.

The services live by object — ``config_fees`` (fee items and standards), ``config_prices``,
``config_bindings`` and ``one_off`` — and this module gathers them, so callers say
``config.standard_create(...)``.
"""

from __future__ import annotations

from linli.billing.services.config_bindings import (
    binding_check_deletable,
    binding_create,
    binding_delete,
    binding_end,
    binding_validate,
)
from linli.billing.services.config_common import FEE_ITEM_FIELDS, STANDARD_FIELDS
from linli.billing.services.config_fees import (
    fee_item_create,
    fee_item_update,
    fee_item_validate,
    standard_create,
    standard_update,
    standard_validate,
)
from linli.billing.services.config_prices import (
    parse_price,
    standard_rate_add,
    standard_rate_change,
    standard_rate_check_deletable,
    standard_rate_delete,
    standard_rate_validate,
    used_rate_ids,
)
from linli.billing.services.one_off import bill_issue_one_off, one_off_business_key

__all__ = [
    "bill_issue_one_off", "binding_check_deletable", "binding_create", "binding_delete",
    "binding_end", "binding_validate", "fee_item_create", "FEE_ITEM_FIELDS", "fee_item_update",
    "fee_item_validate", "one_off_business_key", "parse_price", "standard_create",
    "STANDARD_FIELDS", "standard_rate_add", "standard_rate_change",
    "standard_rate_check_deletable", "standard_rate_delete", "standard_rate_validate",
    "standard_update", "standard_validate", "used_rate_ids",
]
