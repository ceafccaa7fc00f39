"""Kezekshi settings: everything comes from the environment (see ``.env.example``)."""

from __future__ import annotations

from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from kezekshi.core.env import env_bool, env_int, env_list, env_str, load_env_file

BASE_DIR = Path(__file__).resolve().parent.parent
# A local .env (made by `make demo`, or copied from .env.example) fills in what the
# environment does not set.
load_env_file(BASE_DIR / ".env")

DEBUG = env_bool("DEBUG", default=False)
# A development key is allowed only in DEBUG or tests; production must set SECRET_KEY.
_DEV_SECRET = "dev-only-secret-not-for-production-0123456789abcdef"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", default=_DEV_SECRET if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured("Set SECRET_KEY (or DEBUG=1 for a development machine).")
# Key for encrypting fields at rest (IINs, later biometric templates). Several keys,
# newest first, allow rotation. Defaults to one derived from SECRET_KEY.
FIELD_ENCRYPTION_KEYS = env_list("FIELD_ENCRYPTION_KEYS", default=[])

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_tasks",
    "django_tasks_db",
    "kezekshi.core",
    "kezekshi.accounts",
    "kezekshi.people",
    "kezekshi.privacy",
    "kezekshi.access",
    "kezekshi.canteen",
    "kezekshi.devices",
    "kezekshi.edge",
    "kezekshi.notifications",
    "kezekshi.portal",
    "kezekshi.parents",
]

MIDDLEWARE = [
    # Django's own middleware first: it runs in async mode under ASGI. Ours (and
    # WhiteNoise) are sync-only; kept together next to the (sync) views, a request
    # crosses from the event loop to a thread once, not at every sync/async boundary.
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Serves /static/ from the web process itself (uvicorn/gunicorn have no static server).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Sees the status each page answered with (redirects included).
    "kezekshi.privacy.middleware.RequestRecordMiddleware",
    "kezekshi.accounts.middleware.UserLanguageMiddleware",
    "kezekshi.privacy.gate.ConsentGateMiddleware",
]

ROOT_URLCONF = "kezekshi.urls"
WSGI_APPLICATION = "kezekshi.wsgi.application"
ASGI_APPLICATION = "kezekshi.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database: SQLite (WAL) by default, PostgreSQL when DATABASE_URL is set.
DATA_DIR = Path(env_str("DATA_DIR", default=str(BASE_DIR / "var")))
_database_url = env_str("DATABASE_URL", default="")
if _database_url:
    DATABASES = {"default": dj_database_url.parse(_database_url)}
    # A pool per process (psycopg_pool): under ASGI every request may run on another
    # thread, and persistent per-thread connections would exhaust PostgreSQL's slots.
    _pool_size = env_int("DATABASE_POOL_SIZE", default=8)
    if _pool_size > 0 and DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"]["CONN_MAX_AGE"] = 0
        DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
            "min_size": 1,
            "max_size": _pool_size,
            "timeout": 10,
        }
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Parameters are bound on the server, so a statement run five times on a
        # connection becomes a prepared statement (psycopg's prepare_threshold): a sale's
        # dozen short statements were parsed and planned anew each time, and quoted value
        # by value in Python (p99 of a sale 33 → 26 ms). 0 turns preparing off (an old
        # pgbouncer in transaction mode); DATABASE_SERVER_SIDE_BINDING=0 binds on the
        # client as Django does by default.
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options["prepare_threshold"] = env_int("DATABASE_PREPARE_THRESHOLD", default=5) or None
        options["server_side_binding"] = env_bool("DATABASE_SERVER_SIDE_BINDING", default=True)
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(DATA_DIR / "kezekshi.sqlite3"),
            # Keep the connection: opening one and running the PRAGMAs per request
            # costs more than many a request.
            "CONN_MAX_AGE": None,
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
                "init_command": (
                    "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
                ),
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["kezekshi.accounts.backends.PhoneOrEmailBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "portal:login"
OTP_TOTP_ISSUER = "Kezekshi"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_SECURE = SESSION_COOKIE_SECURE
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600

# --- Languages: Kazakh first, then Russian and English.
LANGUAGE_CODE = "kk"
LANGUAGES = [("kk", _("Kazakh")), ("ru", _("Russian")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"  # stored in UTC, shown in SCHOOL_TIME_ZONE
SCHOOL_TIME_ZONE = "Asia/Almaty"

STATIC_URL = "static/"
STATIC_ROOT = DATA_DIR / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
# Also serve straight from the apps, so a fresh checkout works before collectstatic.
WHITENOISE_USE_FINDERS = True
MEDIA_URL = "media/"
MEDIA_ROOT = DATA_DIR / "media"

# --- Background tasks: the database is the queue (a transactional outbox).
TASKS = {
    "default": {
        "BACKEND": env_str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}

# --- Live updates (SSE): in-process fan-out by default; Redis pub/sub across processes.
REDIS_URL = env_str("REDIS_URL", default="")

# Whether a face or fingerprint may be used is read from the consent ledger; the edge
# gateway, which holds no ledger, answers from its mirror (kezekshi/edge/settings.py).
BIOMETRIC_CONSENT_SOURCE = "kezekshi.privacy.services.ledger_biometric_states"
# The keys that sign a school's QR passes and digest its PINs: derived from SECRET_KEY on
# the server; the gateway holds its own school's, sent with its mirror.
SCHOOL_KEY_SOURCE = "kezekshi.access.credentials.derived_school_key"

# Paying at the canteen by face: the face terminal's match would serve payments, which
# the data map's purposes for biometrics do not include (access, attendance, safety).
# Off until the data-protection officer decides otherwise; even then only for children
# whose biometric consent holds (docs/canteen-pos.md).
CANTEEN_FACE_IDENTIFICATION = env_bool("CANTEEN_FACE_IDENTIFICATION", default=False)

# --- Terminals (docs/zkteco.md, docs/device-sync.md).
# Whether this process works out what terminals must hold (devices.sync). The edge
# gateway does not: it relays the server's commands (kezekshi/edge/relay.py).
DEVICE_SYNC_LOCAL = True
# Set on the edge gateway only (kezekshi/edge/settings.py).
EDGE_GATEWAY = False
# ZKTeco firmwares differ in the upload acknowledgement they expect: "OK" or "OK: <n>".
ZKTECO_ACK_COUNT = env_bool("ZKTECO_ACK_COUNT", default=False)
ZKTECO_MAX_BODY = env_int("ZKTECO_MAX_BODY", default=2 * 1024 * 1024)
# A terminal not heard from for this long during school hours is reported to the admins.
DEVICE_SILENT_MINUTES = env_int("DEVICE_SILENT_MINUTES", default=10)
# Kezekshi never calls a terminal address on this machine (a Hikvision address is set by
# a school admin); only for trying the simulator on a developer's machine.
ISAPI_ALLOW_LOOPBACK = env_bool("ISAPI_ALLOW_LOOPBACK", default=False)

# --- SMS: the development outbox records messages; set SMS_BACKEND=http for a gateway.
SMS_BACKEND = env_str("SMS_BACKEND", default="outbox")
SMS_GATEWAY_URL = env_str("SMS_GATEWAY_URL", default="")
SMS_GATEWAY_TOKEN = env_str("SMS_GATEWAY_TOKEN", default="")
SMS_SENDER = env_str("SMS_SENDER", default="Kezekshi")
SMS_GATEWAY_TIMEOUT = env_int("SMS_GATEWAY_TIMEOUT", default=10)
if SMS_BACKEND not in {"outbox", "http"}:
    raise ImproperlyConfigured(f"SMS_BACKEND={SMS_BACKEND!r}: use 'outbox' or 'http'.")
if SMS_BACKEND == "http" and not SMS_GATEWAY_URL:
    raise ImproperlyConfigured("SMS_BACKEND=http needs SMS_GATEWAY_URL.")

# --- One-time sign-in codes.
OTP_CODE_TTL_SECONDS = env_int("OTP_CODE_TTL_SECONDS", default=300)
OTP_MAX_ATTEMPTS = env_int("OTP_MAX_ATTEMPTS", default=5)
OTP_RESEND_SECONDS = env_int("OTP_RESEND_SECONDS", default=60)
OTP_MAX_PER_PHONE_PER_HOUR = env_int("OTP_MAX_PER_PHONE_PER_HOUR", default=5)
OTP_MAX_PER_IP_PER_HOUR = env_int("OTP_MAX_PER_IP_PER_HOUR", default=30)
API_TOKEN_TTL_DAYS = env_int("API_TOKEN_TTL_DAYS", default=90)
# Staff passwords: after this many wrong tries for one login (or 5x from one address)
# within the window, sign-in is refused until the window has passed.
STAFF_SIGNIN_MAX_FAILURES = env_int("STAFF_SIGNIN_MAX_FAILURES", default=10)
STAFF_SIGNIN_WINDOW_MINUTES = env_int("STAFF_SIGNIN_WINDOW_MINUTES", default=15)

# --- Personal data: how long things are kept (see privacy.retention; run apply_retention daily).
PRIVACY_REQUEST_LOG_DAYS = env_int("PRIVACY_REQUEST_LOG_DAYS", default=90)
PRIVACY_BIOMETRIC_RETENTION_DAYS = env_int("PRIVACY_BIOMETRIC_RETENTION_DAYS", default=30)
PRIVACY_PRESENCE_PSEUDONYMISE_YEARS = env_int("PRIVACY_PRESENCE_PSEUDONYMISE_YEARS", default=3)
for _name in (
    "PRIVACY_REQUEST_LOG_DAYS",
    "PRIVACY_BIOMETRIC_RETENTION_DAYS",
    "PRIVACY_PRESENCE_PSEUDONYMISE_YEARS",
):
    if globals()[_name] < 1:
        raise ImproperlyConfigured(f"{_name} must be at least 1.")
# Path prefixes whose requests are not written to the request log (static files, health
# checks, the devices' high-volume endpoints).
PRIVACY_REQUEST_LOG_SKIP = env_list(
    "PRIVACY_REQUEST_LOG_SKIP",
    default=[
        "/static/",
        "/media/",
        "/healthz",
        "/favicon.ico",
        "/app/sw.js",
        "/app/manifest.webmanifest",
        "/iclock/",
        "/ISAPI/",
        "/api/v1/access/",
        "/api/v1/devices/",
        "/api/v1/edge/",
        # POS terminals: each sale is kept whole with its answer (canteen.Sale).
        "/api/v1/canteen/",
        # Payment providers' calls are stored whole by the canteen (ProviderRequest).
        "/payments/",
    ],
)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", default="INFO")},
}
