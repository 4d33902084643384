"""Console workflow pages beyond plain CRUD (thin: check, call a service, render)."""

from __future__ import annotations

from django.http import HttpResponse


def estate_import(request):  # filled in by the import work
    return HttpResponse("import")


def estate_import_template(request):
    return HttpResponse("template")
