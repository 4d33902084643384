"""Bill runs (批次): preview, commit, reverse.

Idempotent: one bill per (unit or space, fee item, period) by unique constraint; a run
for a period already billed creates only what is missing. Concurrent runs for one
community are serialised by locking the community's billing settings row first; should
two runs ever race past that lock, the unique constraints refuse the second one's bills
and it fails whole (``BillRunConflict``), writing nothing.

Writing is the hot path of a run (hundreds of thousands of rows for a large community),
so bills and their journal lines are written with ``linli.core.bulk`` (COPY on
PostgreSQL, one executemany on SQLite) in batches of ``BATCH``, each batch posted as
one ledger entry with ``ledger.services.post_entry`` (which takes the same bulk path for
an entry of that size).

What a bill costs to write, and why: one bill row and one journal line (its receivable,
per unit and fee item, which payments and the bill's history read back), each checked by
PostgreSQL's foreign keys at COMMIT, one trigger and one index probe per key and row.
Only the keys that say what a row is are kept in the database — bill → unit, parking
space, fee item; line → entry — four checks per bill instead of the twelve the models
first had (2.8 million for a 100,000-unit run, more than half its time). The others
(a bill's community, standard, price, reading, run, issuer; a line's community and unit)
are provenance or repeat what another column implies, and `linli check` proves them
(``billing.bill_references``, ``ledger.lines_valid``); see the comments on ``Bill`` and
``JournalLine``.
"""

from __future__ import annotations

import datetime as dt
import gc
import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from itertools import islice

from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from linli.billing.models import Bill, BillingSettings, BillRun, FeeItem
from linli.billing.services.planning import BillRunError, PlannedBill, PlanWarnings, plan_bills
from linli.core.audit import audit_record
from linli.core.audit import person_or_none as _user
from linli.core.bulk import insert_raw, insert_rows
from linli.core.models import AuditEvent
from linli.estate.models import ParkingSpace, Unit
from linli.ledger import postings
from linli.ledger import services as ledger
from linli.money import format_fen
from linli.payments.services import prepaid_offset_new_bills

logger = logging.getLogger("linli.billing")
BATCH = 5000
DETAILS_REMEMBERED = 1000
SAMPLE_PER_FEE_ITEM = 5  # the preview's sample shows the first bills of each fee item


@dataclass
class Preview:
    community_id: int
    period_key: str
    bill_count: int = 0
    total_fen: int = 0
    by_fee_item: dict[int, dict] = field(default_factory=dict)
    sample: list[PlannedBill] = field(default_factory=list)
    warnings: list[dict] = field(default_factory=list)
    already_billed: int = 0


def _tally(preview: Preview, planned: PlannedBill) -> None:
    preview.bill_count += 1
    preview.total_fen += planned.amount_fen
    item = preview.by_fee_item.setdefault(planned.fee_item_id, {"count": 0, "total_fen": 0})
    item["count"] += 1
    item["total_fen"] += planned.amount_fen
    if item["count"] <= SAMPLE_PER_FEE_ITEM:
        preview.sample.append(planned)


def bill_run_preview(
    *, community_id: int, period_key: str, fee_item_ids: list[int] | None = None,
    today: dt.date | None = None,
) -> Preview:
    """Everything the commit would do, and nothing written."""
    _check_fee_items(community_id, fee_item_ids)
    warnings = PlanWarnings()
    preview = Preview(community_id, period_key)
    for planned in plan_bills(
        community_id=community_id, period_key=period_key, fee_item_ids=fee_item_ids,
        today=today or timezone.localdate(), warnings=warnings,
    ):
        _tally(preview, planned)
    preview.warnings, preview.already_billed = warnings.as_list(), warnings.already_billed
    return preview


# --- presenting a preview: the console page and the command show the same ----------------


@dataclass(frozen=True)
class SampleRow:
    target: str  # the unit, or the parking space and its unit
    fee_item: str
    period_key: str
    quantity: Decimal
    unit_price: Decimal
    amount_fen: int
    due_date: dt.date
    proration: str  # "14/30" of the period's days, or "" when billed in full


def preview_fee_items(preview: Preview) -> list[dict]:
    """Bills and total per fee item, named, in the order the run plans them."""
    names = _fee_item_names(preview.by_fee_item)
    return [
        {"fee_item_id": item_id, "name": names.get(item_id, f"#{item_id}"), **figures}
        for item_id, figures in preview.by_fee_item.items()
    ]


def preview_sample(preview: Preview) -> list[SampleRow]:
    """The first bills of the run, with their units and fee items named."""
    sample = preview.sample
    units = {u.pk: str(u) for u in Unit.objects.filter(
        pk__in={p.unit_id for p in sample}).select_related("building")}
    spaces = dict(ParkingSpace.objects.filter(
        pk__in={p.parking_space_id for p in sample if p.parking_space_id})
        .values_list("pk", "code"))
    names = _fee_item_names({p.fee_item_id for p in sample})
    return [
        SampleRow(
            target=(f"{spaces.get(p.parking_space_id, '')} · {units.get(p.unit_id, '')}"
                    if p.parking_space_id else units.get(p.unit_id, "")),
            fee_item=names.get(p.fee_item_id, ""), period_key=p.period.key,
            quantity=p.quantity, unit_price=p.unit_price, amount_fen=p.amount_fen,
            due_date=p.due_date, proration=p.detail.get("proration", ""),
        )
        for p in sample
    ]


def _fee_item_names(ids) -> dict[int, str]:
    return dict(FeeItem.objects.filter(pk__in=list(ids)).values_list("pk", "name"))


def _check_fee_items(community_id: int, fee_item_ids: list[int] | None) -> None:
    if not fee_item_ids:
        return
    known = set(FeeItem.objects.filter(community_id=community_id, pk__in=fee_item_ids)
                .values_list("pk", flat=True))
    unknown = sorted(set(fee_item_ids) - known)
    if unknown:
        raise BillRunError(
            _("Fee item #%(id)s is not a fee item of this community.") % {"id": unknown[0]}
        )


class BillRunConflict(BillRunError):
    """Another run wrote some of the same bills at the same moment; this one wrote nothing."""


class BillRunChanged(BillRunError):
    """The run would no longer issue what its preview showed; nothing was written."""


class _NothingToIssue(Exception):
    """Raised inside the run's transaction when it issued nothing, to roll it back."""

    def __init__(self, preview: Preview) -> None:
        super().__init__("nothing to issue")
        self.preview = preview


def bill_run_commit(
    *, acting_user, community_id: int, period_key: str, fee_item_ids: list[int] | None = None,
    today: dt.date | None = None, expected: tuple[int, int] | None = None,
) -> tuple[BillRun | None, Preview]:
    """Issue the bills the preview shows, and post their receivables, in one transaction.

    ``expected`` = (bill count, total fen) of the preview a person approved: if the data
    changed since (a price, a unit, another run), the run is rolled back with
    ``BillRunChanged`` rather than issue something nobody saw.

    A run that would issue nothing (the month is billed already) records nothing: the
    run is None and the preview says what was already billed. Prepaid auto-offset runs
    once the run has committed (``_offset_after_commit``), never inside it.
    """
    _check_fee_items(community_id, fee_item_ids)
    try:
        with transaction.atomic():
            run, preview = _commit(acting_user=acting_user, community_id=community_id,
                                   period_key=period_key, fee_item_ids=fee_item_ids,
                                   today=today or timezone.localdate())
            if expected is not None and expected != (run.bill_count, run.total_fen):
                raise BillRunChanged(
                    _("The figures changed since the preview (%(n)s bills, %(total)s now); "
                      "nothing was written. Check the new preview and commit again.")
                    % {"n": run.bill_count, "total": format_fen(run.total_fen)}
                )
            return run, preview
    except _NothingToIssue as nothing:
        if expected is not None and expected != (0, 0):
            raise BillRunChanged(
                _("The figures changed since the preview (%(n)s bills, %(total)s now); "
                  "nothing was written. Check the new preview and commit again.")
                % {"n": 0, "total": format_fen(0)}
            ) from None
        return None, nothing.preview
    except IntegrityError as exc:
        if not _is_unique_violation(exc):
            raise
        raise BillRunConflict(
            _("Another bill run for this community issued some of the same bills at the same "
              "moment, so this run wrote nothing. Run it again to issue what is still missing.")
        ) from exc


def _commit(*, acting_user, community_id, period_key, fee_item_ids, today) -> tuple[BillRun, Preview]:
    settings = lock_runs(community_id)
    run = BillRun.objects.create(
        community_id=community_id, period_key=period_key, created_by=_user(acting_user)
    )
    if fee_item_ids:
        run.fee_items.set(fee_item_ids)
    warnings = PlanWarnings()
    preview = Preview(community_id, period_key)
    stream = plan_bills(
        community_id=community_id, period_key=period_key, fee_item_ids=fee_item_ids,
        today=today, warnings=warnings,
    )
    writer = _BatchWriter(run, acting_user)
    with _collector_spares_older_objects():
        while batch := list(islice(stream, BATCH)):
            for planned in batch:
                _tally(preview, planned)
            writer.write(batch)
    preview.warnings, preview.already_billed = warnings.as_list(), warnings.already_billed
    if not preview.bill_count:
        raise _NothingToIssue(preview)  # no empty committed run
    run.bill_count, run.total_fen, run.warnings = (
        preview.bill_count, preview.total_fen, preview.warnings
    )
    run.save(update_fields=["bill_count", "total_fen", "warnings"])
    audit_record(
        actor=acting_user, action=AuditEvent.Action.ACTION, obj=run,
        summary=f"bill run {period_key}: {run.bill_count} bills, {format_fen(run.total_fen)}",
    )
    if settings.auto_offset_prepaid:
        transaction.on_commit(partial(_offset_after_commit, run.pk, acting_user))
    return run, preview


def _offset_after_commit(run_id: int, acting_user) -> int:
    """Pay the committed run's bills from prepaid balances, each unit in its own short
    transaction (so the run never holds the community's receipt numbering, and a payment
    elsewhere in the community never waits on the run). A failure is logged, never
    raised into whoever committed the run: the bills stay payable as they are, and
    ``bill_run_offset`` offsets a run again (idempotent per unit)."""
    try:
        return bill_run_offset(acting_user=acting_user, run_id=run_id)
    except Exception:  # noqa: BLE001 — logged; the run itself has committed
        logger.exception("prepaid offset of bill run #%s failed", run_id)
        return 0


def bill_run_offset(*, acting_user, run_id: int) -> int:
    """Offset a committed run's bills against prepaid balances (see
    ``payments.services.prepaid_offset_new_bills``). Returns how many units paid."""
    run = BillRun.objects.filter(pk=run_id, status=BillRun.Status.COMMITTED).first()
    if run is None:
        return 0
    return prepaid_offset_new_bills(acting_user=acting_user, bill_run=run)


@contextmanager
def _collector_spares_older_objects():
    """Leave the objects the process held before the run out of garbage collection while
    it writes.

    A run allocates millions of short-lived tuples (planned bills, rows, ledger lines);
    the collections they trigger each walked every object the process already held
    (Django, the app), ~0.5 s of a 100,000-unit run. ``gc.freeze`` sets those aside for
    the run (the run's own objects are still collected as usual) and ``gc.unfreeze``
    hands them back to the oldest generation. It is process-wide, but all it changes is
    that garbage among those older objects waits until the run ends to be freed, so a
    run in another thread is unaffected but for that.
    """
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def lock_runs(community_id: int) -> BillingSettings:
    """One run per community at a time: lock its billing settings row (created if
    missing). Meter readings take the same lock (``meters.lock_billing``)."""
    settings, _created = BillingSettings.objects.get_or_create(community_id=community_id)
    return BillingSettings.objects.select_for_update(no_key=True).get(pk=settings.pk)


def _is_unique_violation(exc: IntegrityError) -> bool:
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None)  # psycopg
    if sqlstate is not None:
        return sqlstate == "23505"
    return "UNIQUE constraint failed" in str(exc)  # SQLite


BILL_FIELDS = (
    "community", "unit", "parking_space", "fee_item", "standard", "rate", "reading",
    "bill_run", "period_key", "period_start", "period_end", "quantity", "unit_price",
    "amount_fen", "detail", "due_date", "late_fee_daily_rate", "late_fee_grace_days",
    "late_fee_cap_fen", "status", "note", "issued_at", "issued_by",
)
BILL_COLUMNS = tuple(Bill._meta.get_field(name).column for name in BILL_FIELDS)
UNPAID = Bill.Status.UNPAID.value


class _BatchWriter:
    """Writes a run's bills batch by batch, each batch with its one ledger entry."""

    def __init__(self, run: BillRun, acting_user) -> None:
        self.run, self.acting_user = run, acting_user
        self.issued_at = timezone.now()
        self.issued_by_id = getattr(acting_user, "pk", None)
        self.batch_no = 0
        self._seen_details: dict[tuple, dict] = {}
        # On PostgreSQL the rows go to COPY as they are (``insert_raw``) with ``detail``
        # already JSON text, encoded once per shared detail: the driver takes every
        # other column as the ORM gives it, so what is stored is the same as
        # ``insert_rows`` would store, without a conversion pass over every row.
        self.raw = connection.vendor == "postgresql"
        self._json: dict[int, tuple[dict, str]] = {}

    def write(self, batch: list[PlannedBill]) -> None:
        self.batch_no += 1
        run = self.run
        if self.raw:
            insert_raw(Bill._meta.db_table, BILL_COLUMNS, self._rows(batch))
        else:
            insert_rows(Bill, BILL_FIELDS, self._rows(batch))
        ledger.post_entry(
            community_id=run.community_id,
            business_key=f"billrun:{run.pk}:issue:{self.batch_no}", kind=ISSUE_KIND,
            lines=issue_lines(batch),
            effective_on=batch[0].period.start,
            memo=ledger.book_memo(gettext_lazy("Bill run %(period)s #%(run)s, batch %(batch)s"),
                                  period=run.period_key, run=run.pk, batch=self.batch_no),
            posted_by=self.acting_user,
        )

    def _rows(self, batch: list[PlannedBill]):
        community_id, run_id = self.run.community_id, self.run.pk
        issued_at, issued_by_id = self.issued_at, self.issued_by_id
        detail_of = self._detail_json if self.raw else self._details
        period = key = None
        for p in batch:
            if p.period is not period:
                period = p.period
                key = period.key  # formatting a date costs more than the rest of the row
            yield (
                community_id, p.unit_id, p.parking_space_id, p.fee_item_id, p.standard_id,
                p.rate_id, p.reading_id, run_id, key, period.start, period.end,
                p.quantity, p.unit_price, p.amount_fen, detail_of(p.detail), p.due_date,
                p.late_fee_daily_rate, p.late_fee_grace_days, p.late_fee_cap_fen, UNPAID, "",
                issued_at, issued_by_id,
            )

    def _detail_json(self, detail: dict) -> str:
        """``detail`` as the JSON text Django stores (``json.dumps``), once per shared
        detail object (remembered by identity, holding the object, so an id is never
        reused while remembered)."""
        memo = self._json
        known = memo.get(id(detail))
        if known is not None and known[0] is detail:
            return known[1]
        if len(memo) >= DETAILS_REMEMBERED:  # never unbounded
            memo.clear()
        found = self._details(detail)
        known = memo.get(id(found))
        if known is None or known[0] is not found:
            known = memo[id(found)] = (found, json.dumps(found))
        memo[id(detail)] = (detail, known[1])
        return known[1]

    def _details(self, detail: dict) -> dict:
        """One object for each distinct ``detail`` (in the order of its keys), so the bulk
        writer, which remembers encodings by identity, encodes each to JSON once: the
        planner shares it among bills of one charge, but a community of many floor plans
        has tens of thousands of charges, most with the same ``{"months": 1}``."""
        seen = self._seen_details
        try:
            found = seen.get(key := tuple(detail.items()))
        except TypeError:  # a value that is a list (prorated_by): as it is
            return detail
        if found is None:
            if len(seen) >= DETAILS_REMEMBERED:  # a handful in practice; never unbounded
                seen.clear()
            found = seen[key] = detail
        elif found is not detail and any(
            type(value) is not type(found[name]) for name, value in detail.items()
        ):
            return detail  # equal but not the same JSON (1 and True)
        return found


ISSUE_KIND = postings.BILL_ISSUE


def issue_lines(bills) -> list:
    """The issue entry's lines for these bills (``postings.bills_issued``)."""
    return postings.bills_issued(
        ((b.unit_id, b.fee_item_id, b.amount_fen) for b in bills),
        deposit_fee_item_ids({b.fee_item_id for b in bills}),
    )


def deposit_fee_item_ids(fee_item_ids: set[int]) -> set[int]:
    return set(
        FeeItem.objects.filter(pk__in=fee_item_ids, category=FeeItem.Category.DEPOSIT)
        .values_list("pk", flat=True)
    )
