"""Console pages of receipts (mounted at ``console/receipts/``)."""

from django.urls import path

from linli.receipts import views

app_name = "receipts"

urlpatterns = [
    path("<int:pk>/pdf/", views.pdf_view, name="pdf"),
]
