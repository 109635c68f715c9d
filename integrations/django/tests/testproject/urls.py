from django.urls import path

from . import views

urlpatterns = [
    path("", views.page),
    path("p/<str:name>", views.page),
    path("api/ping", views.api_ping),
    path("api/p/<str:name>", views.api_ping),
    path("api/token", views.api_token),
    path("whoami", views.whoami),
    path("form", views.form),
    path("redirect", views.redirect),
    path("boom", views.boom),
    path("admin/x", views.page),
    path("static/app.js", views.page),
]
