from django.apps import AppConfig


class BenchConfig(AppConfig):
    """Installed only so that Django finds ``linli bench``; no models."""

    name = "linli.bench"
    label = "bench"
    verbose_name = "Benchmarks"
