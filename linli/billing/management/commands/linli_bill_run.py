"""``linli bill-run --community ID --period YYYY-MM [--fee-item ID ...] [--commit]``

Without ``--commit`` it prints the preview and writes nothing: bills and total per fee
item, what is already billed, warnings with examples, and a sample. With ``--commit`` it
issues exactly those bills (the same planning code) and prints the run's id. A refusal
(bad period, beyond the billing horizon, a fee item of another community, a concurrent
run) exits with status 1 and the reason.
"""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from linli.billing.services.bill_run import (
    Preview,
    bill_run_commit,
    bill_run_preview,
    preview_fee_items,
    preview_sample,
)
from linli.billing.services.planning import BillRunError
from linli.estate.models import Community
from linli.money import format_fen, format_price, plain_number


class Command(BaseCommand):
    help = "Preview (default) or commit a bill run for a community and a month."

    def add_arguments(self, parser):
        parser.add_argument("--community", type=int, required=True, help="community id")
        parser.add_argument("--period", required=True, help="month to bill, YYYY-MM")
        parser.add_argument(
            "--fee-item", type=int, action="append", dest="fee_items", metavar="ID",
            help="only this fee item (repeat for several; default: all)",
        )
        parser.add_argument("--commit", action="store_true",
                            help="issue the bills (default: preview only)")
        parser.add_argument("--user", default="",
                            help="username recorded as the one who ran it (default: system)")

    def handle(self, *args, community: int, period: str, fee_items, commit: bool, user: str,
               **options):
        place = Community.objects.filter(pk=community).first()
        if place is None:
            raise CommandError(_("There is no community #%(id)s.") % {"id": community})
        acting_user = _acting_user(user)
        try:
            if commit:
                run, preview = bill_run_commit(
                    acting_user=acting_user, community_id=place.pk, period_key=period,
                    fee_item_ids=fee_items,
                )
            else:
                preview = bill_run_preview(
                    community_id=place.pk, period_key=period, fee_item_ids=fee_items
                )
        except BillRunError as exc:
            raise CommandError(str(exc)) from exc
        self.write_preview(place, preview, committed=commit)
        if commit and run is None:
            self.stdout.write(_("Nothing to issue: every bill of this month has been issued "
                                "already, so no run was recorded."))
        elif commit:
            self.stdout.write(self.style.SUCCESS(
                _("Bill run #%(id)s committed: %(n)s bills, %(total)s.")
                % {"id": run.pk, "n": run.bill_count, "total": format_fen(run.total_fen)}
            ))
        else:
            self.stdout.write(_("Nothing was written. Add --commit to issue these bills."))

    def write_preview(self, place: Community, preview: Preview, *, committed: bool) -> None:
        out = self.stdout.write
        heading = _("Bill run") if committed else _("Bill run preview")
        out(f"{heading}: {place.name} (#{place.pk}), {preview.period_key}")
        rows = [(r["name"], r["count"], format_fen(r["total_fen"]))
                for r in preview_fee_items(preview)]
        rows.append((_("Total"), preview.bill_count, format_fen(preview.total_fen)))
        _table(out, [_("Fee item"), _("Bills"), _("Amount")], rows)
        if preview.already_billed:
            out(_("Already billed, skipped: %(n)s") % {"n": preview.already_billed})
        if preview.warnings:
            out(_("Warnings:"))
            for warning in preview.warnings:
                out(self.style.WARNING(
                    f"  {warning['message']}: {warning['count']} "
                    f"({_('for example')} {'、'.join(warning['examples'])})"
                ))
        sample = preview_sample(preview)
        if sample:
            out(_("Sample:"))
            _table(out, [_("Unit"), _("Fee item"), _("Period"), _("Quantity"),
                         _("Unit price"), _("Amount"), _("Due"), _("Share of period")],
                   [(r.target, r.fee_item, r.period_key, plain_number(r.quantity),
                     format_price(r.unit_price),
                     format_fen(r.amount_fen), r.due_date, r.proration) for r in sample])


def _acting_user(username: str):
    if not username:
        return None
    user = get_user_model().objects.filter(username=username, is_active=True).first()
    if user is None:
        raise CommandError(_("There is no active user %(name)s.") % {"name": username})
    return user


def _table(out, headers: list[str], rows: list[tuple]) -> None:
    """Plain columns; CJK characters count double so that they line up in a terminal."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(_width(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        out("  " + "  ".join(c + " " * (w - _width(c)) for c, w in zip(row, widths, strict=True))
            .rstrip())


def _width(text: str) -> int:
    return sum(2 if ord(ch) > 0x2E7F else 1 for ch in text)
