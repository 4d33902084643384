"""The counter desk and the daily takings, under /console/payments/ (namespace "counter").

Included before the admin, so these paths must never be an admin model's name
(payment, prepaidwallet, prepaidmovement, paymentorder …).
"""

from django.urls import path

from linli.counter import scan, takings, views

app_name = "counter"

urlpatterns = [
    path("counter/", views.desk, name="desk"),
    path("counter/units/<int:unit_id>/", views.unit_page, name="unit"),
    path("counter/units/<int:unit_id>/deposit/", views.unit_deposit, name="deposit"),
    path("counter/payments/<int:pk>/", views.payment_page, name="payment"),
    path("counter/units/<int:unit_id>/scan/", scan.scan_start, name="scan"),
    path("counter/orders/<int:pk>/", scan.order_page, name="order"),
    path("counter/orders/<int:pk>/status/", scan.order_status, name="order-status"),
    path("counter/orders/<int:pk>/close/", scan.order_close, name="order-close"),
    path("takings/", takings.takings, name="takings"),
    path("takings/print/", takings.takings_print, name="takings-print"),
    path("takings/export.xlsx", takings.takings_xlsx, name="takings-xlsx"),
]
