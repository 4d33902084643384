"""Bill runs in the console, under /console/billing/runs/ (namespace "billing")."""

from django.urls import path

from linli.billing import views_runs

urlpatterns = [
    path("", views_runs.bill_runs, name="bill-runs"),
    path("<int:pk>/reverse/", views_runs.bill_run_reverse_view, name="bill-run-reverse"),
    path("jobs/<int:pk>/", views_runs.bill_run_job_view, name="bill-run-job"),
]
