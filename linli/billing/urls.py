"""Billing pages inside the console (workflow views beyond plain CRUD). Each workflow
keeps its own url module so they can grow independently."""

from django.urls import include, path

app_name = "billing"

urlpatterns = [
    path("runs/", include("linli.billing.urls_runs")),
    path("meters/", include("linli.billing.urls_meters")),
]
