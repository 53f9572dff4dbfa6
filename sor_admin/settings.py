"""Settings for the SOR administration system: everything comes from the environment.

See `.env.example` for every variable. Malformed values fail at start-up, not at first use.
"""

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from .env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", True)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "dev-only-insecure-key-change-me" if DEBUG else None)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")

# HTTPS: on by default when DEBUG is off (`manage.py check --deploy` is then clean); each can be
# turned off for a deployment behind a TLS-terminating proxy that does it itself.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", not DEBUG)
SECURE_HSTS_SECONDS = env_int("DJANGO_SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_SECURE_HSTS_PRELOAD", False)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("DJANGO_CSRF_COOKIE_SECURE", not DEBUG)
if env_bool("DJANGO_BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

INSTALLED_APPS = [
    "sor_admin.apps.SorAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "django.forms",  # the form templates, found through TEMPLATES (FORM_RENDERER below)
    "simple_history",
    "import_export",
    "django_celery_beat",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and ReDoc served from here, no CDN
    "registry",
    "exports",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "sor_api.middleware.ApiConditionalGetMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "sor_admin.middleware.StaffLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "sor_admin.urls"

# Form widgets and error lists render with the project's templates too (the warning style of
# templates/admin/sor/errors_ul.html).
FORM_RENDERER = "django.forms.renderers.TemplatesSetting"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            # sor_admin's app config stands in for django.contrib.admin, so its tags are named here.
            "libraries": {"sor_list": "sor_admin.templatetags.sor_list", "sor_public": "sor_public.templatetags.sor_public"},
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "sor_admin.context.freeze_banner",
            ],
        },
    },
]

WSGI_APPLICATION = "sor_admin.wsgi.application"

_database_url = env_str("DATABASE_URL", "postgresql://sor@127.0.0.1:54329/sor")
if not _database_url.startswith(("postgres://", "postgresql://")):
    raise ImproperlyConfigured(f"DATABASE_URL must be a PostgreSQL URL, got {_database_url!r}")
DATABASES = {"default": dj_database_url.parse(_database_url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 0))}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [] if DEBUG else [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = env_str("DJANGO_LANGUAGE_CODE", "da")
# Date input accepted as the pages show dates (dd-mm-åååå) in both languages.
FORMAT_MODULE_PATH = ["sor_admin.formats"]
LANGUAGES = [("da", _("Danish")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Copenhagen"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / ".data" / "static"

LOGIN_URL = "admin:login"

# Where published files land (exports app): <EXPORT_ROOT>/<date>/ and <EXPORT_ROOT>/latest/.
# Uploaded import files wait here between the dry run and the confirm step (removed afterwards).
IMPORT_UPLOAD_DIR = Path(env_str("SOR_IMPORT_DIR", str(BASE_DIR / ".data" / "imports")))

# Correction requests (README "Correction requests"): the SORpost mailbox over IMAP, replies over
# SMTP, originals and attachments under SOR_MAIL_DIR. Defaults: the local servers of `make run`.
SOR_MAIL_DIR = Path(env_str("SOR_MAIL_DIR", str(BASE_DIR / ".data" / "mail")))
SOR_IMAP_HOST = env_str("SOR_IMAP_HOST", "")
SOR_IMAP_PORT = env_int("SOR_IMAP_PORT", 11143)
SOR_IMAP_TLS = env_str("SOR_IMAP_TLS", "none")  # none | starttls | ssl
SOR_IMAP_USER = env_str("SOR_IMAP_USER", "sorpost")
SOR_IMAP_PASSWORD = env_str("SOR_IMAP_PASSWORD", "sorpost")
SOR_IMAP_FOLDER = env_str("SOR_IMAP_FOLDER", "INBOX")
SOR_IMAP_DONE_FOLDER = env_str("SOR_IMAP_DONE_FOLDER", "Behandlet")
SOR_IMAP_QUARANTINE_FOLDER = env_str("SOR_IMAP_QUARANTINE_FOLDER", "Karantæne")
SOR_IMAP_POLL_SECONDS = env_int("SOR_IMAP_POLL_SECONDS", 60)
SOR_SMTP_HOST = env_str("SOR_SMTP_HOST", "127.0.0.1")
SOR_SMTP_PORT = env_int("SOR_SMTP_PORT", 8025)
SOR_SMTP_TLS = env_str("SOR_SMTP_TLS", "none")  # none | starttls | ssl
SOR_SMTP_USER = env_str("SOR_SMTP_USER", "")
SOR_SMTP_PASSWORD = env_str("SOR_SMTP_PASSWORD", "")
SOR_MAIL_FROM = env_str("SOR_MAIL_FROM", "SOR-supporten <sorpost@sundhedsdata.dk>")
SOR_MAIL_DOMAIN = env_str("SOR_MAIL_DOMAIN", "sundhedsdata.dk")
SOR_MAIL_MAX_ATTACHMENT_BYTES = env_int("SOR_MAIL_MAX_ATTACHMENT_BYTES", 15 * 1024 * 1024)
SOR_MAIL_MAX_BYTES = env_int("SOR_MAIL_MAX_BYTES", 40 * 1024 * 1024)
SOR_CASE_SERVICE_DAYS = env_int("SOR_CASE_SERVICE_DAYS", 5)
# Self-service (/selvbetjening/) and the SOR-responsible person's follow-up (README "Self-service").
# SOR_PUBLIC_URL: the address the links in mails start with.
SOR_PUBLIC_URL = env_str("SOR_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
SOR_SELFSERVICE_LINK_MINUTES = env_int("SOR_SELFSERVICE_LINK_MINUTES", 60)
# Requests to the self-service pages per client address and window (seconds); over it: 429.
SOR_SELFSERVICE_RATE = env_int("SOR_SELFSERVICE_RATE", 60)
SOR_SELFSERVICE_RATE_WINDOW = env_int("SOR_SELFSERVICE_RATE_WINDOW", 600)
# Link mails per unit and hour (a clinic's mailbox is not flooded by someone else's requests).
SOR_SELFSERVICE_MAILS_PER_UNIT = env_int("SOR_SELFSERVICE_MAILS_PER_UNIT", 3)
# The request header holding the client address when behind a proxy (e.g. HTTP_X_FORWARDED_FOR).
SOR_CLIENT_IP_HEADER = env_str("SOR_CLIENT_IP_HEADER", "")
# A pluggable login (MitID Erhverv through an OIDC broker): a dotted path to a function
# `(request) -> verified CVR or None`; empty: the one-time link is the only proof.
SOR_SELFSERVICE_LOGIN = env_str("SOR_SELFSERVICE_LOGIN", "")
SOR_FOLLOWUP_MONTHS = env_int("SOR_FOLLOWUP_MONTHS", 6)
SOR_FOLLOWUP_SECOND_AFTER_DAYS = env_int("SOR_FOLLOWUP_SECOND_AFTER_DAYS", 14)
SOR_FOLLOWUP_LINK_DAYS = env_int("SOR_FOLLOWUP_LINK_DAYS", 30)
# Duplicate detection: the trigram similarity of normalised names at one address that makes a candidate.
SOR_DUPLICATE_NAME_SIMILARITY = env_float("SOR_DUPLICATE_NAME_SIMILARITY", 0.6)
for _name, _value in (("SOR_IMAP_TLS", SOR_IMAP_TLS), ("SOR_SMTP_TLS", SOR_SMTP_TLS)):
    if _value not in ("none", "starttls", "ssl"):
        raise ValueError(f"{_name} must be none, starttls or ssl, not {_value!r}")
EXPORT_ROOT = Path(env_str("SOR_EXPORT_ROOT", str(BASE_DIR / ".data" / "exports")))
EXPORT_KEEP_DAYS = env_int("SOR_EXPORT_KEEP_DAYS", 14)
EXPORT_GATE_MAX_LOCATION_LOSS = env_float("SOR_GATE_MAX_LOCATION_LOSS", 0.02)
EXPORT_GATE_MAX_SIZE_CHANGE = env_float("SOR_GATE_MAX_SIZE_CHANGE", 0.05)
EXPORT_FORMATS = env_list("SOR_EXPORT_FORMATS", "v2,v1,csv,complete")
EXPORT_RUN_HEARTBEAT_SECONDS = env_float("SOR_EXPORT_HEARTBEAT_SECONDS", 15)
EXPORT_RUN_MAX_ATTEMPTS = env_int("SOR_EXPORT_MAX_ATTEMPTS", 3)
# Formats of a run built at once, each in its own process reading the run's snapshot (1: in line).
EXPORT_BUILD_JOBS = env_int("SOR_EXPORT_JOBS", 2)

# The read API (/api/v1/) and FHIR façade (/fhir/): anonymous and read-only, limited per client
# address (SOR_CLIENT_IP_HEADER behind a proxy) to SOR_API_RATE requests per window, on Redis.
SOR_API_RATE = env_int("SOR_API_RATE", 1200)
SOR_API_RATE_WINDOW = env_int("SOR_API_RATE_WINDOW", 60)
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [],
    "DEFAULT_THROTTLE_CLASSES": ["sor_api.throttling.ClientRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "sor_api.exceptions.handler",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "SOR read API",
    "DESCRIPTION": "Sundhedsvæsenets Organisationsregister: units, location numbers, code lists, the change feed, "
                   "SHAK↔SOR mapping and what was published on a date. Anonymous, read-only. SOR-IDs are strings.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/(api/v1|fhir)",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {},
    "COMPONENT_SPLIT_REQUEST": False,
}

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "redis://127.0.0.1:63799/0")
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", CELERY_BROKER_URL)
# Django's cache on Redis, shared by every process: an import's progress (reported from inside its
# own uncommitted transaction) and, later, rate limits.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                      "LOCATION": env_str("SOR_CACHE_URL", CELERY_BROKER_URL.rsplit("/", 1)[0] + "/1"),
                      "KEY_PREFIX": env_str("SOR_CACHE_PREFIX", "sor")}}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"

SIMPLE_HISTORY_HISTORY_CHANGE_REASON_USE_TEXT_FIELD = True
SIMPLE_HISTORY_REVERT_DISABLED = True

IMPORT_EXPORT_SKIP_ADMIN_LOG = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    # A refused request is one line in the log (Django attaches the PermissionDenied traceback).
    "filters": {"one_line_refusals": {"()": "sor_admin.logs.OneLineRefusals"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"},
                 "requests": {"class": "logging.StreamHandler", "formatter": "plain",
                              "filters": ["one_line_refusals"]}},
    "loggers": {
        "django.request": {"handlers": ["requests"], "level": "WARNING", "propagate": False},
        "registry": {"handlers": ["console"], "level": env_str("SOR_LOG_LEVEL", "INFO")},
        "exports": {"handlers": ["console"], "level": env_str("SOR_LOG_LEVEL", "INFO")},
    },
}
