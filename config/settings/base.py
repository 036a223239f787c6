"""Settings shared by every environment. The environment is read only through config.env."""

from __future__ import annotations

from pathlib import Path

from config import env
from config.django_q import q_cluster

BASE_DIR = Path(__file__).resolve().parent.parent.parent
DATA_DIR = Path(env.string("LOOPGATE_DATA_DIR") or BASE_DIR / "var")

SECRET_KEY = env.string("SECRET_KEY") or "loopgate-insecure-development-key-change-me"
DEBUG = env.boolean("DEBUG", False)
ALLOWED_HOSTS = env.string_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.string_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "auditlog",
    "django_q",
    "django_htmx",
    "cases",
    "routing",
    "reviews",
    "feedback",
    "metrics",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "auditlog.middleware.AuditlogMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "metrics.context_processors.navigation",
            ],
        },
    },
]

DATABASES = {"default": env.database("DATABASE_URL", DATA_DIR / "loopgate.sqlite3")}
# The hot hand-written queries (cases.raw_rows.cursor) run as prepared statements on
# PostgreSQL; turn off behind a pooler in transaction mode that cannot track them.
LOOPGATE_PREPARED_STATEMENTS = env.boolean("DATABASE_PREPARED_STATEMENTS", True)
if LOOPGATE_PREPARED_STATEMENTS and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    # Django turns psycopg's prepared statements off (None). With a threshold, only statements
    # asked to be prepared are: Django's own queries bind client-side and never are, and the
    # threshold is never reached by anything else.
    DATABASES["default"]["OPTIONS"].setdefault("prepare_threshold", 2**31 - 1)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Loopgate never grants permissions to anonymous visitors.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.string("TIME_ZONE") or "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS: list[Path] = []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "cases.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["config.api.LimitedJSONParser"],
    "DEFAULT_RENDERER_CLASSES": [
        "rest_framework.renderers.JSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.api.exception_handler",
    "DEFAULT_VERSIONING_CLASS": None,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    # `format` is ours (the audit export's csv|jsonl), not DRF's renderer override.
    "URL_FORMAT_OVERRIDE": None,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Loopgate API",
    "DESCRIPTION": (
        "Human-in-the-loop review for AI decisions. Systems post cases with a source token; "
        "people use a personal token or their browser session. "
        "Send `Authorization: Token <key>`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "CaseStatusEnum": "cases.models.CaseStatus",
        "PriorityEnum": "cases.models.Priority",
    },
}

# Request-size limits for the JSON API. A single case (and each bulk item) is capped
# at LOOPGATE_MAX_CASE_BYTES; a whole bulk request at LOOPGATE_MAX_BULK_BYTES.
LOOPGATE_MAX_CASE_BYTES = env.integer("LOOPGATE_MAX_CASE_BYTES", 1024 * 1024, minimum=1024)
LOOPGATE_MAX_BULK_BYTES = env.integer("LOOPGATE_MAX_BULK_BYTES", 32 * 1024 * 1024, minimum=1024)
LOOPGATE_MAX_BULK_ITEMS = 1000
# Django's own cap must let the bulk body through; the JSON parser enforces the real limits.
DATA_UPLOAD_MAX_MEMORY_SIZE = LOOPGATE_MAX_BULK_BYTES + 1024

REDIS_URL = env.redis_url("REDIS_URL")
Q_CLUSTER = q_cluster(
    redis_url=REDIS_URL,
    workers=env.integer("LOOPGATE_WORKERS", 2, minimum=1),
)

EMAIL_BACKEND = env.string("EMAIL_BACKEND") or "django.core.mail.backends.smtp.EmailBackend"
DEFAULT_FROM_EMAIL = env.string("DEFAULT_FROM_EMAIL") or "loopgate@localhost"

AUDITLOG_INCLUDE_ALL_MODELS = False

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.string("LOG_LEVEL") or "INFO"},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}

# Decision webhooks: at-least-once delivery with exponential backoff and jitter.
LOOPGATE_WEBHOOK_TIMEOUT_SECONDS = env.integer("LOOPGATE_WEBHOOK_TIMEOUT_SECONDS", 10, minimum=1)
LOOPGATE_WEBHOOK_BACKOFF_SECONDS = env.integer("LOOPGATE_WEBHOOK_BACKOFF_SECONDS", 30, minimum=1)
LOOPGATE_WEBHOOK_BACKOFF_CAP_SECONDS = env.integer(
    "LOOPGATE_WEBHOOK_BACKOFF_CAP_SECONDS", 3600, minimum=1
)
LOOPGATE_WEBHOOK_MAX_AGE_HOURS = env.integer("LOOPGATE_WEBHOOK_MAX_AGE_HOURS", 24, minimum=1)

# SLA: a waiting case is "at risk" once this share of its SLA time has passed.
LOOPGATE_SLA_AT_RISK_SHARE = env.fraction("LOOPGATE_SLA_AT_RISK_SHARE", 0.8)

# Retention: cases decided longer ago than this lose their personal payload when
# `manage.py redact_expired_cases` runs. Unset: keep everything.
LOOPGATE_RETENTION_DAYS = env.optional_integer("LOOPGATE_RETENTION_DAYS", minimum=1)

# Metrics: override-rate band, and what counts as likely rubber-stamping (a reviewer whose
# median decision time is under this share of everyone's, with almost no overrides).
LOOPGATE_OVERRIDE_HIGH = env.fraction("LOOPGATE_OVERRIDE_HIGH", 0.30)
LOOPGATE_OVERRIDE_LOW = env.fraction("LOOPGATE_OVERRIDE_LOW", 0.02)
LOOPGATE_RUBBER_STAMP_SPEED = env.fraction("LOOPGATE_RUBBER_STAMP_SPEED", 0.3)
LOOPGATE_RUBBER_STAMP_MIN_DECISIONS = env.integer("LOOPGATE_RUBBER_STAMP_MIN_DECISIONS", 20)
# /metrics (Prometheus): a bearer token and/or an IP allow-list; with neither, it is closed.
LOOPGATE_METRICS_TOKEN = env.string("LOOPGATE_METRICS_TOKEN") or ""
LOOPGATE_METRICS_ALLOWED_IPS = env.string_list("LOOPGATE_METRICS_ALLOWED_IPS", ["127.0.0.1", "::1"])
