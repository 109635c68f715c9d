"""Traffic through the old site, then the drain, as the old system ran:
`python -m oldsystem.fill REQUESTS` (with `bench/` on the path, for the old
middleware). Visitors with and without cookies, web on desktops and phones,
the app on `/api/`, a crawler, excluded paths, referrers, spread over the
last eight days by the clock the middleware reads. Prints the number of
rows the drain stored."""

import json
import os
import random
import sys
from datetime import timedelta
from unittest import mock

import django

DESKTOP = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/126.0.0.0 Safari/537.36")
MAC = "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.5; rv:127.0) Gecko/20100101 Firefox/127.0"
IPHONE = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
          "Version/17.5 Mobile/15E148 Safari/604.1")
ANDROID = ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
           "Chrome/126.0.0.0 Mobile Safari/537.36")
APP = "Dart/3.4 (dart:io)"
CRAWLER = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"

# (user agent, address, keeps its cookies); addresses of several countries.
PEOPLE = [
    (DESKTOP, "81.2.69.142", True),
    (MAC, "5.160.0.1", True),
    (IPHONE, "8.8.8.8", True),
    (ANDROID, "2.16.0.1", True),
    (DESKTOP, "91.98.0.1", False),
    (IPHONE, "81.2.69.160", False),
    (APP, "5.160.0.2", True),
    (CRAWLER, "66.249.66.1", False),
]
PAGES = ["/", "/v/1", "/v/2", "/v/3", "/static/app.css", "/admin/login/"]
DAYS = 8


def main(requests):
    os.environ["DJANGO_SETTINGS_MODULE"] = "oldsystem.settings"
    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.utils import timezone
    from django_redis import get_redis_connection
    from oldsite.middleware import QUEUE_KEY

    from oldsystem.analytics.drain import drain_queue

    call_command("migrate", run_syncdb=True, verbosity=0)
    get_redis_connection("default").delete(QUEUE_KEY)
    rng = random.Random(7)
    # From noon, whatever the hour: each of the DAYS slots below spans the 24
    # hours before its day's noon, half of each of two days. From the clock's
    # own time, a run just after midnight put (nearly) no rows on the newest
    # day, and the test saw a day fewer.
    now = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    clients = {}
    stored = 0
    for i in range(requests):
        person = i % len(PEOPLE)
        ua, address, keeps_cookies = PEOPLE[person]
        # Five visitors of each kind: each its own cookie jar.
        key = (person, rng.randrange(5))
        client = clients.setdefault(key, Client()) if keeps_cookies else Client()
        headers = {"HTTP_USER_AGENT": ua, "HTTP_X_FORWARDED_FOR": f"{address}, 10.0.0.1"}
        if ua == APP:
            path = "/api/ping"
            headers["HTTP_AUTHORIZATION"] = "Bearer app-token"
        else:
            path = rng.choice(PAGES)
        if rng.random() < 0.3:
            headers["HTTP_REFERER"] = "https://www.google.com/search?q=shop"
        at = now - timedelta(days=1 + i % DAYS, minutes=rng.randrange(24 * 60))
        with mock.patch("django.utils.timezone.now", return_value=at):
            client.get(path, **headers)
        if i % 150 == 149:
            stored += drain_queue()
    stored += drain_queue()
    print(json.dumps({"stored": stored}))


if __name__ == "__main__":
    main(int(sys.argv[1]))
