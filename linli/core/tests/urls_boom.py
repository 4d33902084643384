"""The project's URLs plus a view that fails, for the server-error tests."""

from django.urls import path

from linli.urls import handler500
from linli.urls import urlpatterns as project_urlpatterns


def boom(request):
    raise RuntimeError("deliberate failure for the test")


urlpatterns = [path("boom/", boom), *project_urlpatterns]
__all__ = ["handler500", "urlpatterns"]
