"""The old Celery beat task: RPOP the queue until empty (oldest first) and
bulk-insert the visits into the Visit table."""

import json

from django_redis import get_redis_connection
from oldsite.middleware import QUEUE_KEY

from .models import Visit


def drain_queue():
    redis = get_redis_connection("default")
    visits = []
    while (raw := redis.rpop(QUEUE_KEY)) is not None:
        visits.append(json.loads(raw))
    Visit.objects.bulk_create([Visit(**v) for v in visits], batch_size=1000)
    return len(visits)
