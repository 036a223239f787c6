"""Development and demo: debug on, e-mail to the console. Still reads DATABASE_URL/REDIS_URL."""

from config import env
from config.settings.base import *  # noqa: F403

DEBUG = env.boolean("DEBUG", True)
EMAIL_BACKEND = env.string("EMAIL_BACKEND") or "django.core.mail.backends.console.EmailBackend"
