"""Console workflow pages beyond plain CRUD (thin: check, call a service, render)."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from linli.console.imports import XlsxImportPage
from linli.estate import imports as estate_imports


def _estate_intro() -> str:
    return _(
        "The workbook may hold the sheets %(sheets)s. Every row is checked first: "
        "if any row is wrong, nothing is imported and every wrong row is listed below. "
        "Importing the same file again creates nothing new."
    ) % {"sheets": "、".join(spec.name for spec in estate_imports.SHEETS)}


def _estate_counts(result: estate_imports.ImportResult) -> dict:
    return {
        "headers": [
            pgettext("estate import", "Sheet"),
            pgettext("estate import", "Created"),
            pgettext("estate import", "Updated"),
            pgettext("estate import", "Unchanged"),
        ],
        "rows": [[sheet, c.created, c.updated, c.unchanged] for sheet, c in result.counts.items()],
    }


ESTATE_IMPORT = XlsxImportPage(
    title=gettext_lazy("Import estate from Excel"),
    permission=estate_imports.IMPORT_PERMISSION,
    run=estate_imports.estate_import,
    intro=_estate_intro,
    done_message=gettext_lazy("The workbook was imported into %(community)s."),
    counts_table=_estate_counts,
    template_url="console:estate-import-template",
    template=estate_imports.estate_import_template,
    template_filename=gettext_lazy("estate-import-template.xlsx"),
    form_id="estate-import-form",
    key="estate",
    page_url="console:estate-import",
)
estate_import = ESTATE_IMPORT.page_view()
estate_import_template = ESTATE_IMPORT.template_view()
