"""Takings reports in the console, under /console/takings/ (namespace "dashboard")."""

from django.urls import path

from linli.dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.takings_report, name="takings"),
    path("rows/", views.takings_rows, name="takings-rows"),
    path("export.xlsx", views.takings_xlsx, name="takings-xlsx"),
]
