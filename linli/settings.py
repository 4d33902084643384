"""Settings, all taken from the environment (see README: configuration).

LINLI_HOME   data folder: SQLite database, generated keys, uploads, job store
DATABASE_URL default sqlite:///$LINLI_HOME/linli.sqlite3 (WAL mode)
REDIS_URL    optional; when set the job queue lives in Redis
LINLI_SECRET_KEY, LINLI_FIELD_KEY  generated into LINLI_HOME when unset
LINLI_DEBUG  "1" for development
"""

import datetime as dt
import os
import secrets
import sys
import tempfile
from pathlib import Path

import dj_database_url
from cryptography.fernet import Fernet

BASE_DIR = Path(__file__).resolve().parent
if not os.environ.get("LINLI_HOME") and "pytest" in sys.modules:
    # A test run never touches a developer's data folder (database, keys, job store).
    os.environ["LINLI_HOME"] = tempfile.mkdtemp(prefix="linli-test-")
LINLI_HOME = Path(os.environ.get("LINLI_HOME") or Path.cwd() / "linli-data").resolve()
LINLI_HOME.mkdir(parents=True, exist_ok=True)


def _env_flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _persistent_secret(env_name: str, filename: str, make) -> str:
    """A key from the environment, else one generated once into LINLI_HOME."""
    if os.environ.get(env_name):
        return os.environ[env_name]
    path = LINLI_HOME / filename
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(make())
    return path.read_text().strip()


SECRET_KEY = _persistent_secret("LINLI_SECRET_KEY", "secret_key", lambda: secrets.token_urlsafe(50))
# Keys for encrypting personal data at rest (ID numbers, merchant keys). Comma-separated:
# the first encrypts, all decrypt, so a key can be rotated.
FIELD_ENCRYPTION_KEYS = _persistent_secret(
    "LINLI_FIELD_KEY", "field_key", lambda: Fernet.generate_key().decode()
).split(",")

DEBUG = _env_flag("LINLI_DEBUG")
ALLOWED_HOSTS = [h for h in os.environ.get("LINLI_ALLOWED_HOSTS", "*").split(",") if h]
# The address owners reach the site at (QR codes on receipts and posters); empty: the
# host of the request that made them.
LINLI_PUBLIC_URL = os.environ.get("LINLI_PUBLIC_URL", "").rstrip("/")
# How many reverse proxies in front of the site append to X-Forwarded-For; the client's
# IP (per-IP limits, owner sign-in records, orders) is read from there (core.http.client_ip).
LINLI_TRUSTED_PROXY_COUNT = int(os.environ.get("LINLI_TRUSTED_PROXY_COUNT") or 0)
# The sandbox payment channel (模拟支付, not real money): the demo and the tests only.
LINLI_SANDBOX_PAYMENTS = _env_flag("LINLI_DEMO") or _env_flag("LINLI_SANDBOX_PAYMENTS")
# Payment notification endpoints (payments.notify_limits): the largest body read (WeChat
# and Alipay send a few KB); how much of a rejected delivery is kept, for how many days;
# how many rejected deliveries one sender may have stored per window (more are answered
# and counted, not stored).
LINLI_NOTIFY_MAX_BYTES = 64 * 1024
LINLI_NOTIFY_REJECTED_KEEP_BYTES = 2048
LINLI_NOTIFY_REJECTED_RETENTION_DAYS = int(
    os.environ.get("LINLI_NOTIFY_REJECTED_RETENTION_DAYS") or 30)
LINLI_NOTIFY_REJECTS_PER_IP = int(os.environ.get("LINLI_NOTIFY_REJECTS_PER_IP") or 20)
LINLI_NOTIFY_REJECT_WINDOW_MINUTES = 10
CSRF_TRUSTED_ORIGINS = [
    o for o in os.environ.get("LINLI_CSRF_TRUSTED_ORIGINS", "").split(",") if o
]

INSTALLED_APPS = [
    "unfold",
    "unfold.contrib.filters",
    "linli.core",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "huey.contrib.djhuey",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "csp",
    "linli.estate",
    "linli.staff",
    "linli.ledger",
    "linli.billing",
    "linli.payments",
    "linli.receipts",
    "linli.owners",
    "linli.portal",
    "linli.refunds",
    "linli.counter",
    "linli.reports",
    "linli.console",
    "linli.dashboard",
    "linli.demo",
    "linli.bench",
]

MIDDLEWARE = [
    "linli.core.middleware.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "linli.core.security.SiteCSPMiddleware",
    "linli.core.security.PermissionsPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "linli.core.middleware.LanguageMiddleware",
    "linli.core.middleware.RejectNulMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Marks a session verified by a second factor; the gate below acts on it.
    "django_otp.middleware.OTPMiddleware",
    "linli.owners.middleware.OwnerSessionMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "linli.console.dialogs.DialogRefusalMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "linli.staff.signin.StaffIdleTimeoutMiddleware",
    # Staff with two-factor sign-in answer a code before the console opens (or enrol first
    # when their company requires it for their role): linli/console/twofactor.py.
    "linli.console.twofactor.TwoFactorGateMiddleware",
    # Last, as django-axes requires: turns a locked-out sign-in into its page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "linli.urls"
WSGI_APPLICATION = "linli.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        # The console's overrides of its theme: dialogs show refusals (console/dialogs.py);
        # the home page is the dashboard (dashboard/home.py).
        "DIRS": [BASE_DIR / "templates", BASE_DIR / "console" / "templates_override",
                 BASE_DIR / "dashboard" / "templates_override"],
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

# --- database ---------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL") or f"sqlite:///{LINLI_HOME / 'linli.sqlite3'}"
_db = dj_database_url.parse(DATABASE_URL, conn_max_age=600)
if _db["ENGINE"] == "django.db.backends.sqlite3":
    _db["CONN_MAX_AGE"] = 0
    _db["OPTIONS"] = {
        # IMMEDIATE: a writer takes the lock at BEGIN, so two writers queue instead of
        # failing with "database is locked" half-way through a transaction.
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            " PRAGMA busy_timeout=30000;"
        ),
    }
    _db.setdefault("TEST", {})["NAME"] = str(LINLI_HOME / "test.sqlite3")
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- background jobs ----------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    from redis import ConnectionPool

    HUEY = {
        "huey_class": "huey.RedisHuey",
        "name": "linli",
        # Timeouts so an unreachable Redis makes /healthz answer 503, not hang.
        "connection_pool": ConnectionPool.from_url(
            REDIS_URL, socket_connect_timeout=3, socket_timeout=10
        ),
        "immediate": False,
    }
else:
    HUEY = {
        "huey_class": "huey.SqliteHuey",
        "name": "linli",
        "filename": str(LINLI_HOME / "jobs.sqlite3"),
        "immediate": False,
    }
HUEY["consumer"] = {"workers": 2, "worker_type": "thread"}
# A console bill run committing more bills than this runs as a background job.
LINLI_BILL_RUN_INLINE_MAX = int(os.environ.get("LINLI_BILL_RUN_INLINE_MAX") or 5000)

# --- auth ---------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    # django-axes' lockout check first (linli/staff/signin.py), then the passwords.
    "linli.staff.signin.SignInThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Staff sign-in throttling (django-axes): this many wrong passwords lock the user name,
# and separately the IP address, for LINLI_SIGNIN_LOCK_MINUTES; during the lock the
# right password is refused too. Each lock is written to the audit log.
LINLI_SIGNIN_FAILURES = int(os.environ.get("LINLI_SIGNIN_FAILURES") or 20)
LINLI_SIGNIN_LOCK_MINUTES = int(os.environ.get("LINLI_SIGNIN_LOCK_MINUTES") or 15)
AXES_FAILURE_LIMIT = LINLI_SIGNIN_FAILURES
AXES_COOLOFF_TIME = dt.timedelta(minutes=LINLI_SIGNIN_LOCK_MINUTES)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "linli.core.http.client_ip"
AXES_LOCKOUT_CALLABLE = "linli.staff.signin.lockout_response"
AXES_VERBOSE = False
# No console pages of its own (every console page is scoped to communities); an operator
# unlocks with `linli manage axes_reset_username NAME`.
AXES_ENABLE_ADMIN = False
# Successful sign-ins are not kept in axes' own table (it would grow with every owner
# sign-in); the lockouts go to the audit log.
AXES_DISABLE_ACCESS_LOG = True
# A staff session ends after this many minutes without a request (owners' sessions keep
# their own lifetime).
LINLI_STAFF_IDLE_MINUTES = int(os.environ.get("LINLI_STAFF_IDLE_MINUTES") or 30)
# Two-factor sign-in (django-otp): the name authenticator apps show, and the delay after a
# wrong code (1 s, doubling with each further wrong code, up to an hour).
OTP_TOTP_ISSUER = "Linli 邻里"
OTP_TOTP_THROTTLE_FACTOR = 1
OTP_STATIC_THROTTLE_FACTOR = 1
LOGIN_URL = "admin:login"
# Staff who open the login page itself (a bookmark, after signing out) land on the console.
LOGIN_REDIRECT_URL = "admin:index"

# --- owner accounts (linli.owners) ----------------------------------------------
# Where SMS codes go: a dotted path to a backend class (linli/owners/sms.py), or "log" /
# "memory". The log backend writes codes to the server log; a test run keeps them in
# memory (linli.owners.sms.outbox, like Django's mail.outbox).
_SMS_BACKEND_ENV = os.environ.get("LINLI_SMS_BACKEND", "").strip()
_SMS_BACKENDS = {"log": "linli.owners.sms.LogBackend", "memory": "linli.owners.sms.MemoryBackend"}
LINLI_SMS_BACKEND = _SMS_BACKENDS.get(_SMS_BACKEND_ENV, _SMS_BACKEND_ENV) or (
    _SMS_BACKENDS["memory"] if "pytest" in sys.modules else _SMS_BACKENDS["log"]
)
# The demo: shows the latest SMS codes and demo owners on /m/account/demo-codes/.
LINLI_DEMO = _env_flag("LINLI_DEMO")
# Sign-in codes in the server log are for development and the demo: anywhere else the
# log backend refuses to run (`linli serve` does not start) unless chosen explicitly:
# LINLI_SMS_BACKEND=log.
LINLI_SMS_LOG_CHOSEN = _SMS_BACKEND_ENV == "log"

# --- i18n ---------------------------------------------------------------------
LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
# Our own catalog first, then our translations of the console theme's strings.
LOCALE_PATHS = [BASE_DIR / "locale", BASE_DIR / "locale_vendor"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

# --- files --------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = LINLI_HOME / "static"
STATIC_ROOT.mkdir(exist_ok=True)
MEDIA_ROOT = LINLI_HOME / "media"
MEDIA_URL = "/media/"
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- security -----------------------------------------------------------------
SESSION_ENGINE = "linli.core.sessions"  # Django's db sessions, read by one plain query
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
LINLI_HTTPS = _env_flag("LINLI_HTTPS")
if LINLI_HTTPS:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]  # a load balancer's plain-HTTP health check
    SECURE_HSTS_SECONDS = int(os.environ.get("LINLI_HSTS_SECONDS") or 31_536_000)
# The proxy's protocol header is believed only from a proxy we were told is there; a
# client could send it too.
if LINLI_TRUSTED_PROXY_COUNT > 0:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# Content-Security-Policy (django-csp; linli/core/security.py). Styles may be inline
# (style attributes in the pages); scripts only from our own static files.
_CSP_COMMON = {
    "default-src": ["'self'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'", "data:"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "frame-ancestors": ["'none'"],
}
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {**_CSP_COMMON, "script-src": ["'self'"]},
}
# The console: unfold's Alpine.js evaluates attributes ('unsafe-eval'); counter pages
# keep small inline scripts ('unsafe-inline'). Nothing from another host either way.
LINLI_CSP_CONSOLE = {**_CSP_COMMON, "script-src": ["'self'", "'unsafe-inline'", "'unsafe-eval'"]}
LINLI_PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), usb=(), payment=()"

# --- logging ------------------------------------------------------------------
# To stderr: every server error (django.request) with its traceback, every record with
# the request id (core.logs); LINLI_LOG_JSON=1 writes JSON lines instead of text.
LINLI_LOG_JSON = _env_flag("LINLI_LOG_JSON")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "linli.core.logs.RequestIdFilter"},
        "axes_no_request": {"()": "linli.core.logs.AxesNoRequestFilter"},
    },
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"},
        "json": {"()": "linli.core.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "formatter": "json" if LINLI_LOG_JSON else "plain",
            "filters": ["request_id"],
        },
    },
    "loggers": {
        "linli": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "django.request": {"handlers": ["console"], "level": "ERROR", "propagate": False},
        "django.security": {"handlers": ["console"], "level": "WARNING", "propagate": False},
        "axes": {"handlers": ["console"], "level": "WARNING", "propagate": False,
                 "filters": ["axes_no_request"]},
        "huey": {"handlers": ["console"], "level": "WARNING"},
    },
}
# An error tracker, only when configured: pip install "linli[sentry]" and set SENTRY_DSN.
SENTRY_DSN = os.environ.get("SENTRY_DSN", "")
if SENTRY_DSN:
    import sentry_sdk

    sentry_sdk.init(dsn=SENTRY_DSN, send_default_pii=False,
                    environment=os.environ.get("SENTRY_ENVIRONMENT") or None)

# --- console (django-unfold) --------------------------------------------------
from linli.console.navigation import UNFOLD  # noqa: E402,F401

LINLI_IMPORT_MAX_BYTES = 5 * 1024 * 1024
LINLI_IMPORT_MAX_ROWS = 20_000
# A console import of a file larger than this runs as a background job, with its progress
# on a page of its own (linli/console/imports.py); smaller files are imported at once.
LINLI_IMPORT_INLINE_MAX_BYTES = int(os.environ.get("LINLI_IMPORT_INLINE_MAX_BYTES") or 200_000)
# An Excel import that takes longer than this to read is refused (core/xlsx.py).
LINLI_IMPORT_MAX_SECONDS = int(os.environ.get("LINLI_IMPORT_MAX_SECONDS") or 20)
