"""Console pages of the portal (mounted at ``console/portal/``)."""

from django.urls import path

from linli.portal import views_console

app_name = "portal_console"

urlpatterns = [
    path("poster/<int:community_id>/", views_console.poster, name="poster"),
]
