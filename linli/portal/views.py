from django.shortcuts import render

from linli.portal.auth import owner_required


@owner_required
def home(request):
    return render(request, "portal/home.html", {})
