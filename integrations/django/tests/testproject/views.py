import types

from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.middleware.csrf import get_token

HTML = "<!doctype html><html><head><title>t</title></head><body><h1>Hello</h1></body></html>"


def page(request, name=None):
    return HttpResponse(HTML)


def api_ping(request, name=None):
    return JsonResponse({"ok": True})


def api_token(request):
    """What DRF's token authentication does: it resolves the user and sets it
    on the Django request too."""
    auth = request.META.get("HTTP_AUTHORIZATION", "")
    signed_in = auth == "Bearer good-token"
    request.user = types.SimpleNamespace(is_authenticated=signed_in, pk=1 if signed_in else None)
    return JsonResponse({"signed_in": signed_in})


def whoami(request):
    """A view that depends on the user (loads the session)."""
    return JsonResponse({"authenticated": request.user.is_authenticated})


def form(request):
    return HttpResponse(f'<form><input name="csrfmiddlewaretoken" value="{get_token(request)}"></form>')


def redirect(request):
    return HttpResponseRedirect("/")


def boom(request):
    raise RuntimeError("boom")
