"""Console pages for meter readings beyond plain CRUD (thin: check, call a service, render)."""

from __future__ import annotations

from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from linli.billing.services import meters_import
from linli.console.imports import XlsxImportPage


def _intro() -> str:
    return _(
        "One row per meter and month in sheet %(sheet)s. Every row is checked first: "
        "if any row is wrong, nothing is imported and every wrong row is listed below. "
        "A reading lower than the previous one is refused unless the meter was replaced; "
        "a usage far above the unit's usual one is held for review instead of billed. "
        "Importing the same file again creates nothing new."
    ) % {"sheet": meters_import.SHEET}


def _counts_table(result: meters_import.ReadingsImportResult) -> dict:
    counts = result.counts
    return {
        "headers": [
            pgettext("meter import", "New readings"),
            pgettext("meter import", "Corrected"),
            pgettext("meter import", "Unchanged"),
            pgettext("meter import", "Held for review"),
            pgettext("meter import", "Meters added"),
        ],
        "rows": [[counts.created, counts.corrected, counts.unchanged, counts.flagged,
                  counts.meters_created]],
    }


def _flagged_link(result: meters_import.ReadingsImportResult) -> tuple[str, str] | None:
    """Where to review the readings the import held for review, if it held any."""
    if not result.counts.flagged:
        return None
    try:
        url = reverse("admin:billing_meterreading_changelist")
    except NoReverseMatch:
        return None
    return f"{url}?status__exact=flagged", _("Review the readings held for review")


READINGS_IMPORT = XlsxImportPage(
    title=gettext_lazy("Import meter readings from Excel"),
    permission=meters_import.IMPORT_PERMISSION,
    run=meters_import.readings_import,
    intro=_intro,
    done_message=gettext_lazy("The readings were imported into %(community)s."),
    counts_table=_counts_table,
    done_link=_flagged_link,
    template_url="billing:meter-readings-import-template",
    template=meters_import.readings_import_template,
    template_filename=gettext_lazy("meter-readings-template.xlsx"),
    form_id="readings-import-form",
    key="meter-readings",
    page_url="billing:meter-readings-import",
)
readings_import = READINGS_IMPORT.page_view()
readings_import_template = READINGS_IMPORT.template_view()
