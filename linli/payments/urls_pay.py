"""Public payment URLs (no console login): gateway notifications and the sandbox page."""

from django.urls import path

from linli.payments import views_notify, views_sandbox

app_name = "pay"

urlpatterns = [
    path("notify/<str:channel>/<int:account_id>/", views_notify.notify, name="notify"),
    path("sandbox/<str:out_trade_no>/", views_sandbox.sandbox_page, name="sandbox-page"),
]
