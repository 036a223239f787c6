"""Production: refuses to start on a default or missing SECRET_KEY; secure cookies and HSTS."""

from django.core.exceptions import ImproperlyConfigured

from config import env
from config.settings.base import *  # noqa: F403

_secret = env.string("SECRET_KEY")
if not _secret or _secret.startswith("loopgate-insecure") or len(_secret) < 32:
    raise ImproperlyConfigured(
        "Environment variable SECRET_KEY: production needs a random secret of at least "
        "32 characters (or SECRET_KEY_FILE pointing at one)."
    )
SECRET_KEY = _secret
DEBUG = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
SESSION_COOKIE_SECURE = env.boolean("SECURE_COOKIES", True)
CSRF_COOKIE_SECURE = env.boolean("SECURE_COOKIES", True)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.integer("SECURE_HSTS_SECONDS", 0, minimum=0)
SECURE_CONTENT_TYPE_NOSNIFF = True
