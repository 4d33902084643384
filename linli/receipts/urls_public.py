"""The public verify page a receipt's QR code opens (mounted at ``r/``)."""

from django.urls import path

from linli.receipts import views

app_name = "receipts_public"

urlpatterns = [
    path("<str:token>", views.verify_view, name="verify"),
]
