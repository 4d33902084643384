"""Console pages of refunds (mounted at ``console/refunds/``)."""

from django.urls import path

from linli.refunds import views

app_name = "refunds"

urlpatterns = [
    path("vouchers/<int:pk>/pdf/", views.console_voucher_pdf, name="voucher-pdf"),
    path("apply/<int:payment_id>/", views.console_apply, name="apply"),
]
