"""One settings module, driven by environment variables (see .env.example for every one)."""

from decimal import Decimal
from pathlib import Path

import environ
from celery.schedules import crontab  # noqa: F401  (documented for beat schedules in admin)
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Explicit environment wins; then a local .env; then the URLs of the embedded servers that
# `make run` / `make test` started (written by scripts/dev.py).
for candidate in (BASE_DIR / ".env", BASE_DIR / ".data" / "services.env"):
    if candidate.exists():
        environ.Env.read_env(candidate, overwrite=False)

ENVIRONMENT = env.str("ENVIRONMENT", default="development")
IS_PRODUCTION = ENVIRONMENT == "production"
DEBUG = env.bool("DEBUG", default=False)

_DEV_SECRET = "dev-only-insecure-secret-key-change-me-0123456789abcdefghijklmnop"
_DEV_SALT = "dev-only-field-salt"
_DEV_HASH = "dev-only-pii-hash-key"


def _secret(name: str, dev_default: str) -> str:
    value = env.str(name, default="")
    if value:
        return value
    if IS_PRODUCTION:
        raise ImproperlyConfigured(f"{name} must be set when ENVIRONMENT=production (see .env.example)")
    return dev_default


SECRET_KEY = _secret("SECRET_KEY", _DEV_SECRET)
# Old keys kept here decrypt data written before a rotation (see README, "Key rotation").
SECRET_KEY_FALLBACKS = env.list("SECRET_KEY_FALLBACKS", default=[])
# django-fernet-encrypted-fields derives its Fernet keys from SECRET_KEY(+fallbacks) and SALT_KEY.
SALT_KEY = env.list("FIELD_ENCRYPTION_SALT", default=[]) or [_secret("FIELD_ENCRYPTION_SALT", _DEV_SALT)]
# Key of the HMAC "blind index" columns used for exact look-ups of encrypted identity numbers/phones.
PII_HASH_KEY = _secret("PII_HASH_KEY", _DEV_HASH)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_fsm",
    "django_fsm_log",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "django_celery_beat",
    "django_htmx",
    "template_partials",
    "django_tables2",
    "django_filters",
    "phonenumber_field",
    "lender",
    "loans",
    "risk",
    "collection",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "lender.middleware.StaffLanguageMiddleware",
    "loans.api.ApiCallLogMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Records the acting user on every row-history event written during a request.
    "lender.middleware.HistoryMiddleware",
]

ROOT_URLCONF = "lender.urls"
WSGI_APPLICATION = "lender.wsgi.application"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/lender")}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / ".data" / "media")))
STORAGES = {
    "default": {"BACKEND": env.str("FILE_STORAGE_BACKEND", default="django.core.files.storage.FileSystemStorage")},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PRODUCTION
        else "whitenoise.storage.CompressedStaticFilesStorage"
    },
}

LOGIN_URL = "loans:login"
LOGIN_REDIRECT_URL = "loans:home"
LOGOUT_REDIRECT_URL = "loans:login"

# Sessions live in the database, so any web machine can serve any request.
SESSION_ENGINE = "django.contrib.sessions.backends.db"

# Security: strict in production (manage.py check --deploy is clean there).
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=IS_PRODUCTION)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=IS_PRODUCTION)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=IS_PRODUCTION)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if IS_PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = IS_PRODUCTION
SECURE_HSTS_PRELOAD = IS_PRODUCTION
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if IS_PRODUCTION else None
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

if IS_PRODUCTION:
    for _name in ("DATABASE_URL", "CELERY_BROKER_URL"):
        if not env.str(_name, default=""):
            raise ImproperlyConfigured(f"{_name} must be set when ENVIRONMENT=production")

# --- Business settings -------------------------------------------------------------------
# Highest APR (IRR of the cash flows, fees included) any product combination may reach.
LEGAL_APR_CAP = Decimal(env.str("LEGAL_APR_CAP", default="0.24"))
# Demo seed password; only `seed_demo` uses it, for the demo staff users it creates.
DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="demo-pass-2026")

# --- Celery ------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="redis://127.0.0.1:6379/0")
CELERY_RESULT_BACKEND = None  # tasks record their own outcome in the database
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True  # a task is acknowledged after it ran, so a crash re-delivers it
CELERY_TASK_REJECT_ON_WORKER_LOST = True  # ...including when the worker process is killed
CELERY_WORKER_PREFETCH_MULTIPLIER = 1  # long tasks never sit reserved behind another
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 3600}
CELERY_TASK_DEFAULT_QUEUE = "celery"
CELERY_TASK_QUEUES = [Queue("celery"), Queue("decisions"), Queue("notifications"), Queue("batch")]
# Separate queues so a long nightly sweep never delays an application's decision.
CELERY_TASK_ROUTES = {
    "loans.tasks.loan_decide_task": {"queue": "decisions"},
    "loans.tasks.application_decide_pending_task": {"queue": "decisions"},
    "risk.tasks.*": {"queue": "decisions"},
    "collection.tasks.sweep_*": {"queue": "batch"},
    "collection.tasks.reminders_plan_task": {"queue": "batch"},
    "collection.tasks.notification*": {"queue": "notifications"},
    "loans.tasks.review_*": {"queue": "decisions"},
    "loans.tasks.portfolio_refresh_task": {"queue": "batch"},
    "loans.tasks.webhook_*": {"queue": "notifications"},
    "loans.tasks.idempotency_purge_task": {"queue": "batch"},
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

# Shared cache (dashboard figures): Redis, so every web machine sees the same entries.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env.str("CACHE_URL", default=CELERY_BROKER_URL),
        "KEY_PREFIX": "lender",
    }
}

# --- API ---------------------------------------------------------------------------------
# Per-key throttle counters (Redis INCR): the shared cache's server unless set.
THROTTLE_REDIS_URL = env.str("THROTTLE_REDIS_URL", default=CACHES["default"]["LOCATION"])
REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "lender.api.exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": [],  # each API view names its own (partner API keys)
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "UNAUTHENTICATED_USER": None,
    "COERCE_DECIMAL_TO_STRING": True,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Lender back office API",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "DESCRIPTION": "For partner channels: quotes, applications, loans, idempotent repayments and webhooks. "
    "Authenticate with `Authorization: Bearer <API key>`. Errors are problem details (RFC 9457).",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "COMPONENT_SPLIT_REQUEST": True,
}

PHONENUMBER_DEFAULT_REGION = "CN"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# --- Risk ----------------------------------------------------------------------------------
# Trained model files (XGBoost UBJ); each has a database row in risk.ScoringModel.
MODEL_DIR = Path(env.str("MODEL_DIR", default=str(BASE_DIR / ".data" / "models")))
# Points scale: SCORE_BASE_POINTS at SCORE_BASE_ODDS good:bad odds, SCORE_PDO points to double the odds.
SCORE_BASE_POINTS = env.int("SCORE_BASE_POINTS", default=600)
SCORE_BASE_ODDS = env.float("SCORE_BASE_ODDS", default=50.0)
SCORE_PDO = env.float("SCORE_PDO", default=20.0)
# Seed of the quality-control sample of would-be auto-approvals (reproducible, auditable).
QC_SAMPLE_SEED = env.str("QC_SAMPLE_SEED", default="qc-2026")
# Credit-line increase review: minimum score on the 0-100 scale, and the look-back for bad records.
LIMIT_INCREASE_MIN_SCORE = env.int("LIMIT_INCREASE_MIN_SCORE", default=70)
LIMIT_INCREASE_CLEAN_MONTHS = env.int("LIMIT_INCREASE_CLEAN_MONTHS", default=12)
# Monitoring: a loan is "bad" once 30+ days past due within this many months of disbursement.
MONITORING_BAD_DAYS = env.int("MONITORING_BAD_DAYS", default=30)
MONITORING_WINDOW_MONTHS = env.int("MONITORING_WINDOW_MONTHS", default=12)

# --- Operations: sweep, reminders, quiet hours ------------------------------------------------
SWEEP_CHUNK_SIZE = env.int("SWEEP_CHUNK_SIZE", default=20000)  # loan ids per chunk (one transaction each)
# Reminder channel: logging (default), email (Django's email backend) or sms (HTTP gateway below).
REMINDER_CHANNEL = env.str("REMINDER_CHANNEL", default="logging")
REMINDER_KINDS = env.list(
    "REMINDER_KINDS", default=["due_d-3", "due_d-1", "due_d0", "overdue_d+1", "overdue_d+3", "overdue_d+7"]
)
REMINDER_MAX_ATTEMPTS = env.int("REMINDER_MAX_ATTEMPTS", default=5)
SMS_GATEWAY_URL = env.str("SMS_GATEWAY_URL", default="")
SMS_GATEWAY_KEY = env.str("SMS_GATEWAY_KEY", default="")
SMS_GATEWAY_TIMEOUT = env.float("SMS_GATEWAY_TIMEOUT", default=5.0)
# No SMS or calls between these hours (Asia/Shanghai); they wait for the morning.
QUIET_HOURS_START = env.int("QUIET_HOURS_START", default=21)
QUIET_HOURS_END = env.int("QUIET_HOURS_END", default=8)
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="reminders@lender.example.cn")
