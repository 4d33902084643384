"""欠费明细: what each unit owes at the as-of date by aging bucket, with the owner's name
and phone (the list the 客服 calls from) and the last payment. Phones are shown whole to
the roles that call owners and masked for the others (``staff.privacy``)."""

from __future__ import annotations

from django.contrib import admin
from django.core.paginator import Paginator
from django.db.models import Max
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from linli.estate.models import Unit
from linli.estate.selectors import payers_of
from linli.money import format_fen
from linli.payments.models import Payment
from linli.reports import rates
from linli.reports.definitions import AGING_BUCKETS, DEFINITIONS
from linli.reports.scope import end_of
from linli.reports.xlsx import Column, report_xlsx
from linli.staff.privacy import full_phones_shown, phone_for, sees_full_phone

PER_PAGE = 100


def arrears_rows(form, unit_ids_owing: list[tuple[int, list[int]]]) -> list[dict]:
    """One row per unit (in the order given) with its details."""
    ids = [unit_id for unit_id, _buckets in unit_ids_owing]
    units = {u.pk: u for u in Unit.objects.filter(pk__in=ids).select_related(
        "building", "community")}
    owners = payers_of(ids, form.as_of_day)
    last_paid = dict(Payment.objects.filter(unit_id__in=ids, received_at__lt=end_of(form.as_of_day))
                     .values("unit_id").annotate(last=Max("received_at")).order_by()
                     .values_list("unit_id", "last"))
    rows = []
    for unit_id, buckets in unit_ids_owing:
        unit = units[unit_id]
        name, mobile = owners.get(unit_id, ("", ""))
        rows.append({"unit": unit, "community": unit.community.name, "label": str(unit),
                     "owner": name, "phone": phone_for(form.user, mobile), "buckets": buckets, "total": sum(buckets),
                     "last_paid": last_paid.get(unit_id)})
    return rows


def _export(form, owing):
    columns = [Column(_("Community")), Column(_("Unit")), Column(_("Owner")), Column(_("Phone")),
               *[Column(str(label), "yuan") for _d, label in AGING_BUCKETS],
               Column(_("Total owed"), "yuan"), Column(_("Last payment"), "date")]
    rows = [[r["community"], r["label"], r["owner"], r["phone"], *r["buckets"], r["total"],
             r["last_paid"]] for chunk in _chunks(owing, 2000) for r in arrears_rows(form, chunk)]
    full_phones_shown(form.user, sum(1 for r in rows if r[3]), "arrears report export")
    return report_xlsx(title=_("Arrears by unit"), filters=form.used(), columns=columns,
                       rows=rows, definitions=["owed", "aging"],
                       filename=f"{_('Arrears by unit')}-{form.as_of_day:%Y%m%d}.xlsx")


def _chunks(items, size):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def arrears_page(request, form, drill_url):
    owing = []
    if not form.errors:
        found = rates.aging(form.scope(), form.as_of_day, ("unit",))
        owing = sorted(((k[0], v) for k, v in found.items()), key=lambda r: (-sum(r[1]), r[0]))
    if request.GET.get("export") == "xlsx" and form.is_bound and not form.errors:
        return _export(form, owing)
    page = Paginator(owing, PER_PAGE).get_page(request.GET.get("page"))
    rows = arrears_rows(form, list(page.object_list)) if owing else []
    full_phones_shown(request.user, sum(1 for r in rows if r["phone"]), "arrears report")
    for row in rows:
        row["cells"] = [{"text": format_fen(v) if v else "—",
                         "link": drill_url(form, "aging", unit=row["unit"].pk, bucket=i)
                         if v else ""} for i, v in enumerate(row["buckets"])]
        row["total_text"] = format_fen(row["total"])
        row["total_link"] = drill_url(form, "aging", unit=row["unit"].pk)
    totals = [sum(v[i] for _u, v in owing) for i in range(len(AGING_BUCKETS))]
    context = {**admin.site.each_context(request), "title": _("Arrears by unit"), "form": form,
               "rows": rows, "page": page, "buckets": [str(b[1]) for b in AGING_BUCKETS],
               "totals": [format_fen(t) for t in totals], "total": format_fen(sum(totals)),
               "used": form.used() if form.is_bound and not form.errors else [],
               "definitions": [DEFINITIONS["owed"], DEFINITIONS["aging"]],
               "masked": not sees_full_phone(form.user),
               "export_url": "?" + request.GET.urlencode() + "&export=xlsx"}
    return TemplateResponse(request, "reports/arrears.html", context)
