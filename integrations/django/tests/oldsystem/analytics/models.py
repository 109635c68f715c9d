"""The old `Visit` model (table `analytics_visit`), field for field."""

from django.db import models


class Visit(models.Model):
    source = models.CharField(max_length=8)
    user_id = models.BigIntegerField(null=True)
    session_key = models.CharField(max_length=64, null=True)
    path = models.CharField(max_length=2048)
    method = models.CharField(max_length=16)
    ip_address = models.GenericIPAddressField(null=True)
    country = models.CharField(max_length=8, null=True)
    device = models.CharField(max_length=16)
    browser = models.CharField(max_length=32)
    os = models.CharField(max_length=32)
    user_agent = models.TextField(blank=True)
    referrer = models.TextField(blank=True)
    response_time = models.FloatField(null=True)
    timestamp = models.DateTimeField()
