"""Owner accounts: sign-in, profile, binding requests (under /m/account/)."""

from django.urls import path

from linli.owners import views

app_name = "owners"

urlpatterns = [
    path("signin/", views.signin, name="signin"),
]
