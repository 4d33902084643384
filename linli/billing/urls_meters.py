"""Meter readings in the console, under /console/billing/meters/ (namespace "billing")."""

from django.urls import path

from linli.billing import views_meters

urlpatterns = [
    path("import/", views_meters.readings_import, name="meter-readings-import"),
    path(
        "import/template.xlsx",
        views_meters.readings_import_template,
        name="meter-readings-import-template",
    ),
]
