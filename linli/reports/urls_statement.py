"""A unit's statement (户账), its Excel export, prepaid deposits and paying from the
prepaid balance, under /console/billing/units/ (namespace "unit"; the pages kept their
addresses when they moved here from billing, which may not read payments and refunds)."""

from django.urls import path

from linli.reports import views_statement

app_name = "unit"

urlpatterns = [
    path("<int:unit_id>/statement/", views_statement.unit_statement_view, name="statement"),
    path("<int:unit_id>/statement.xlsx", views_statement.unit_statement_xlsx,
         name="statement-xlsx"),
    path("<int:unit_id>/deposit/", views_statement.unit_deposit, name="deposit"),
    path("<int:unit_id>/pay-from-prepaid/", views_statement.unit_pay_from_prepaid,
         name="pay-from-prepaid"),
]
