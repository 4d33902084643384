"""A unit's statement (户账), its Excel export, prepaid deposits and paying from the
prepaid balance, under /console/billing/units/ (namespace "billing")."""

from django.urls import path

from linli.billing import views_statement

urlpatterns = [
    path("<int:unit_id>/statement/", views_statement.unit_statement_view, name="unit-statement"),
    path("<int:unit_id>/statement.xlsx", views_statement.unit_statement_xlsx,
         name="unit-statement-xlsx"),
    path("<int:unit_id>/deposit/", views_statement.unit_deposit, name="unit-deposit"),
    path("<int:unit_id>/pay-from-prepaid/", views_statement.unit_pay_from_prepaid,
         name="unit-pay-from-prepaid"),
]
