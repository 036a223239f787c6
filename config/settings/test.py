"""Test settings: the same database selection as everywhere else (DATABASE_URL or SQLite)."""

from config.django_q import q_cluster
from config.settings.base import *  # noqa: F403
from config.settings.base import REDIS_URL

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Tasks run inline in tests unless a test starts a real cluster.
Q_CLUSTER = q_cluster(redis_url=REDIS_URL, workers=1, sync=True)
# WhiteNoise warns about a missing STATIC_ROOT; tests never collect static files.
STATIC_ROOT = DATA_DIR / "test-static"  # noqa: F405
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
