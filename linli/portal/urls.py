"""Owner portal (H5) pages, under /m/."""

from django.urls import path

from linli.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
]
