"""Journal entries and their lines: immutable, balanced, idempotent by business key.

Immutability is enforced three times: the model refuses save-after-create and delete,
the queryset refuses bulk update and delete, and on PostgreSQL a trigger refuses
UPDATE and DELETE from any client (migration 0002).
"""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from linli.ledger.chart import ACCOUNT_CHOICES


class ImmutableRecordError(Exception):
    """A financial record was about to be edited or deleted."""


class _AppendOnlyQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise ImmutableRecordError(f"{self.model.__name__} rows are never updated")

    def _update(self, values):
        # What Model.save_base() and bulk_update() end up calling.
        raise ImmutableRecordError(f"{self.model.__name__} rows are never updated")

    def delete(self):
        raise ImmutableRecordError(f"{self.model.__name__} rows are never deleted")

    def _raw_delete(self, using):
        raise ImmutableRecordError(f"{self.model.__name__} rows are never deleted")

    def bulk_create(self, objs, *args, update_conflicts=False, **kwargs):
        if update_conflicts:
            raise ImmutableRecordError(f"{self.model.__name__} rows are never upserted")
        return super().bulk_create(objs, *args, **kwargs)

    def update_or_create(self, *args, **kwargs):
        raise ImmutableRecordError(f"{self.model.__name__} rows are never updated")


class AppendOnlyModel(models.Model):
    objects = _AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True
        # Django reaches for the base manager when it saves, refreshes or follows a
        # relation; without this a plain Manager would slip past the refusals above.
        base_manager_name = "objects"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ImmutableRecordError(f"{type(self).__name__} {self.pk} is never updated")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableRecordError(f"{type(self).__name__} {self.pk} is never deleted")


# What each kind of entry records, in words for people; the stored ``kind`` stays a stable
# code. A reversal is stored as ``reversal:<kind>``.
ENTRY_KINDS = {
    "bill_issue": _("Bills issued"),
    "bill_waiver": _("Waiver"),
    "bill_discount": _("Discount"),
    "bill_cancellation": _("Bill cancelled"),
    "bill_late_fee_waiver": _("Late fee waived"),
    "payment": _("Payment received"),
    "payment_suspense": _("Payment held for review"),
    "refund_reserve": _("Refund set aside"),
    "refund": _("Refund"),
    "refund_paid": _("Refund paid out"),
    "refund_duplicate": _("Refund paid twice"),
    "refund_duplicate_recovered": _("Refund paid twice: recovered"),
    "refund_duplicate_write_off": _("Refund paid twice: written off"),
}


def entry_kind_label(kind: str) -> str:
    """``kind`` in words (an unknown code is shown as it is)."""
    reversed_kind = kind.removeprefix("reversal:")
    label = str(ENTRY_KINDS.get(reversed_kind, reversed_kind))
    if reversed_kind != kind:
        return gettext("Reversal of: %(kind)s") % {"kind": label}
    return label


class JournalEntry(AppendOnlyModel):
    community = models.ForeignKey(
        "estate.Community", verbose_name=_("community"), on_delete=models.PROTECT,
        related_name="journal_entries",
    )
    business_key = models.CharField(
        _("business key"), max_length=120, unique=True,
        help_text=_("What this entry records, e.g. bill:123:issue. Posting it twice is a no-op."),
    )
    kind = models.CharField(_("kind"), max_length=40)
    memo = models.CharField(_("memo"), max_length=255, blank=True)
    effective_on = models.DateField(_("effective date"))
    posted_at = models.DateTimeField(_("posted"), auto_now_add=True, db_index=True)
    posted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("posted by"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="+",
    )
    reverses = models.OneToOneField(
        "self", verbose_name=_("reverses"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="reversed_by",
    )
    digest = models.CharField(
        _("digest"), max_length=64, editable=False,
        help_text=_("SHA-256 of the lines; `linli check` recomputes it."),
    )

    class Meta(AppendOnlyModel.Meta):
        verbose_name = _("journal entry")
        verbose_name_plural = _("journal entries")
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.kind_label} {self.business_key}"

    @property
    def kind_label(self) -> str:
        return entry_kind_label(self.kind)


class JournalLine(AppendOnlyModel):
    DEBIT, CREDIT = "D", "C"
    SIDE_CHOICES = [(DEBIT, _("Debit")), (CREDIT, _("Credit"))]

    # No database foreign key to the entry either (see below): an entry is never deleted
    # (append-only, refused by a PostgreSQL trigger) and lines are written only by
    # ``post_entry``, in the transaction that creates their entry; ``ledger.lines_valid``
    # proves every line has its entry and ``ledger.digests`` that every entry has exactly
    # the lines it was posted with.
    entry = models.ForeignKey(
        JournalEntry, verbose_name=_("entry"), on_delete=models.PROTECT, related_name="lines",
        db_constraint=False,
    )
    account = models.CharField(_("account"), max_length=8, choices=ACCOUNT_CHOICES)
    side = models.CharField(_("side"), max_length=1, choices=SIDE_CHOICES)
    amount_fen = models.BigIntegerField(_("amount (fen)"))
    # Dimensions: community, unit and fee item. ``community`` repeats the entry's so
    # balances need no join; no index of its own: covered by index ledger_line_dims
    # (community, account, unit).
    #
    # No database foreign key on the dimensions (db_constraint=False; ``fee_item_ref`` never
    # had one) nor on the entry: a bill run writes one line per bill, a quarter of a million
    # for a large community, and each FK costs PostgreSQL a trigger and an index probe per
    # line at COMMIT. The account is held to the chart by ``post_entry``. Instead `linli
    # check` proves more than an FK could: ``ledger.lines_valid`` that each line's entry
    # exists, its community is its entry's and its unit exists *in that community*,
    # ``billing.receivable_matches_bills`` that each unit's receivable equals what its
    # bills owe. A unit is never deleted under its lines:
    # ``on_delete=PROTECT`` refuses it in Django, and a unit with lines has bills or a
    # prepaid wallet, whose FKs to it the database does enforce.
    community = models.ForeignKey(
        "estate.Community", verbose_name=_("community"), on_delete=models.PROTECT, related_name="+",
        db_index=False, db_constraint=False,
    )
    unit = models.ForeignKey(
        "estate.Unit", verbose_name=_("unit"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="journal_lines", db_constraint=False,
    )
    fee_item_ref = models.BigIntegerField(
        _("fee item"), null=True, blank=True,
        help_text=_("Fee item the line belongs to (revenue and its contra accounts)."),
    )

    class Meta(AppendOnlyModel.Meta):
        verbose_name = _("journal line")
        verbose_name_plural = _("journal lines")
        ordering = ["entry_id", "id"]
        indexes = [
            models.Index(fields=["community", "account", "unit"], name="ledger_line_dims"),
        ]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount_fen__gt=0), name="line_amount_positive"),
            models.CheckConstraint(condition=models.Q(side__in=["D", "C"]), name="line_side_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.side} {self.account} {self.amount_fen}"


def lines_digest(lines) -> str:
    """Canonical SHA-256 over an entry's lines, whatever their order.

    ``lines`` are objects with the attributes of a JournalLine (``account``, ``side``,
    ``amount_fen``, ``community_id``, ``unit_id``, ``fee_item_ref``). Every column that
    carries meaning is covered, so moving a line to another community, unit or fee item
    is caught as surely as changing its amount.
    """
    return rows_digest(
        (line.account, line.side, line.amount_fen, line.community_id, line.unit_id,
         line.fee_item_ref)
        for line in lines
    )


def rows_digest(rows) -> str:
    """``lines_digest`` over plain tuples (account, side, amount_fen, community_id,
    unit_id, fee_item_ref): what posting and `linli check` use, a bill run's entry having
    thousands of lines."""
    canonical = sorted(
        f"{account}|{side}|{amount_fen}|{community_id}|{'' if unit_id is None else unit_id}|"
        f"{'' if fee_item_ref is None else fee_item_ref}\n"
        for account, side, amount_fen, community_id, unit_id, fee_item_ref in rows
    )
    # One update of the joined text hashes exactly what one update per line would.
    return hashlib.sha256("".join(canonical).encode()).hexdigest()
