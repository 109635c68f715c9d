from django.http import HttpResponse, JsonResponse
from django.urls import path


def page(request, n=0):
    return HttpResponse(f"<html><body>page {n}</body></html>")


def ping(request):
    return JsonResponse({"ok": True})


urlpatterns = [
    path("", page),
    path("v/<int:n>", page),
    path("api/ping", ping),
]
