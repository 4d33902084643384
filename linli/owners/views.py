from django.http import HttpResponse


def signin(request):
    return HttpResponse("sign-in")
