from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DashboardConfig(AppConfig):
    name = "linli.dashboard"
    label = "dashboard"
    verbose_name = _("Dashboard")

    def ready(self):
        from django.contrib import admin

        from linli.dashboard import cards, rate_card

        admin.site.index_title = _("Dashboard")  # the home page's title, not 站点管理

        cards.register(rate_card.collection_rate_card)
        cards.register(rate_card.aging_card)
