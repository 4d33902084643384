from django.apps import AppConfig


class DemoConfig(AppConfig):
    """Installed so that Django finds ``linli demo`` and ``linli paysim`` and the demo's
    help page; no models."""

    name = "linli.demo"
    label = "demo"
    verbose_name = "Demo"
