from django.http import HttpResponse
from django.urls import path

HTML = "<!doctype html><html><head><title>bench</title></head><body><h1>Hello</h1></body></html>"


def index(request):
    return HttpResponse(HTML)


urlpatterns = [path("", index)]
