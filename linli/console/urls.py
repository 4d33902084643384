from django.urls import path

from linli.console import imports, twofactor, views

app_name = "console"

urlpatterns = [
    path("estate/import/", views.estate_import, name="estate-import"),
    path("estate/import/template.xlsx", views.estate_import_template, name="estate-import-template"),
    path("imports/jobs/<int:pk>/", imports.import_job_view, name="import-job"),
    path("account/two-factor/", twofactor.two_factor_page, name="two-factor"),
    path("account/two-factor/verify/", twofactor.two_factor_verify_view,
         name="two-factor-verify"),
]
