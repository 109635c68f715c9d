"""The old system, as it filled the `Visit` table: a Django site with the
rebuilt old middleware (bench/oldsite), cache sessions on django-redis, and
the drain that moved the Redis list into the table (Celery beat, every five
minutes, in the old site). Used by test_import_old.py to give
`analytics-ctl import django` a table filled the way the old one was."""
