"""The reports under /console/reports/ (namespace "reports")."""

from django.urls import path

from linli.reports import views

app_name = "reports"

urlpatterns = [
    path("", views.collection, name="collection"),
    path("arrears/", views.arrears, name="arrears"),
    path("summary/", views.summary, name="summary"),
    path("drill/", views.drill_down, name="drill"),
]
