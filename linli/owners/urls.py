"""Owner accounts: sign-in, profile, binding requests (under /m/account/)."""

from django.urls import path

from linli.owners import views

app_name = "owners"

urlpatterns = [
    path("signin/", views.signin, name="signin"),
    path("signout/", views.signout, name="signout"),
    path("", views.profile, name="profile"),
    path("phone/", views.phone_change, name="phone-change"),
    path("password/", views.password_set, name="password-set"),
    path("notifications/", views.notifications, name="notifications"),
    path("sessions/<int:session_id>/end/", views.session_end, name="session-end"),
    path("sessions/end-all/", views.signout_everywhere, name="signout-everywhere"),
    path("homes/", views.bindings, name="bindings"),
]
