from django.apps import AppConfig


class AnalyticsDjangoConfig(AppConfig):
    """Optional: listed in INSTALLED_APPS, it checks ANALYTICS at start-up
    (the middleware checks it anyway when it is loaded)."""

    name = "analytics_django"
    verbose_name = "Visit analytics"

    def ready(self):
        from . import conf

        conf.load()
