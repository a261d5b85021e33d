"""Django settings for the bench's peer, django-post_office: its queue in a PostgreSQL database
of the bench's own, its mail through Django's SMTP backend to the sandbox's SMTP sink.

Read from the environment (set by `bench.peer`):
    BENCH_PEER_DATABASE_URL   postgresql://user[:password]@host:port/database
    BENCH_PEER_SMTP_PORT      the sink's port on 127.0.0.1
    BENCH_PEER_THREADS        sending threads per process (THREADS_PER_PROCESS), default 8
    BENCH_PEER_LOG_LEVEL      post_office's LOG_LEVEL, default 2 (its own default: a Log row for
                              every email sent or failed, as a deployment that keeps it has)
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import unquote, urlsplit

_url = urlsplit(os.environ.get("BENCH_PEER_DATABASE_URL", "postgresql://postgres@127.0.0.1/peer"))

SECRET_KEY = "bench-peer-not-secret"  # noqa: S105 - no sessions or signing happen here
DEBUG = False  # DEBUG keeps every query in memory, which would skew CPU and RSS
USE_TZ = True
TIME_ZONE = "UTC"
INSTALLED_APPS = ["post_office"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
# post_office renders every subject and body through Django's template engine, template or not.
TEMPLATES = [{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": False}]

DATABASES: dict[str, dict[str, Any]] = {
    "default": {
        "ENGINE": "django.db.backends.postgresql",  # psycopg 3, the driver mailroute uses
        "NAME": _url.path.lstrip("/"),
        "USER": unquote(_url.username or "postgres"),
        "PASSWORD": unquote(_url.password or ""),
        "HOST": _url.hostname or "127.0.0.1",
        "PORT": str(_url.port or 5432),
    }
}

EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = int(os.environ.get("BENCH_PEER_SMTP_PORT", "25"))
EMAIL_USE_TLS = False
EMAIL_TIMEOUT = 30

POST_OFFICE: dict[str, Any] = {
    "THREADS_PER_PROCESS": int(os.environ.get("BENCH_PEER_THREADS", "8")),
    "BATCH_SIZE": 100,  # its default
    "DEFAULT_PRIORITY": "medium",  # queued for send_queued_mail, not sent at once ("now")
    "LOG_LEVEL": int(os.environ.get("BENCH_PEER_LOG_LEVEL", "2")),
    "MAX_RETRIES": 0,
}
