from django.urls import path

from linli.console import views

app_name = "console"

urlpatterns = [
    path("estate/import/", views.estate_import, name="estate-import"),
    path("estate/import/template.xlsx", views.estate_import_template, name="estate-import-template"),
]
