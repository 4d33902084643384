from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

from linli.core import views as core_views
from linli.demo import views as demo_views

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("favicon.ico", RedirectView.as_view(url="/static/core/favicon.svg", permanent=True)),
    path("i18n/", include("django.conf.urls.i18n")),
    path("console/", include("linli.console.urls")),
    path("console/billing/", include("linli.billing.urls")),
    path("console/payments/", include("linli.counter.urls")),
    path("console/receipts/", include("linli.receipts.urls")),
    path("console/refunds/", include("linli.refunds.urls")),
    path("console/reports/", include("linli.reports.urls")),
    path("console/billing/units/", include("linli.reports.urls_statement")),
    path("console/portal/", include("linli.portal.urls_console")),
    path("console/takings/", include("linli.dashboard.urls")),
    path("console/", admin.site.urls),
    path("pay/", include("linli.payments.urls_pay")),
    path("r/", include("linli.receipts.urls_public")),
    path("m/account/demo-codes/", demo_views.demo_codes, name="demo-codes"),
    path("m/account/", include("linli.owners.urls")),
    path("m/refunds/", include("linli.refunds.urls_portal")),
    path("m/", include("linli.portal.urls")),
    path("", RedirectView.as_view(pattern_name="admin:index", permanent=False)),
]

handler500 = "linli.core.views.server_error"
