"""Owners' refund pages (mounted at ``m/refunds/``)."""

from django.urls import path

from linli.refunds import views

app_name = "refunds_portal"

urlpatterns = [
    path("", views.portal_index, name="index"),
    path("apply/<int:payment_id>/", views.portal_apply, name="apply"),
    path("apply/<int:payment_id>/done/<int:pk>/", views.portal_applied, name="applied"),
    path("vouchers/<int:pk>/pdf/", views.portal_voucher_pdf, name="voucher-pdf"),
]
