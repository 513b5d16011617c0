"""Custody settings: one file, every environment value parsed strictly.

A bad value raises ImproperlyConfigured naming the variable; `custody` prints that one line and exits 2.
Environment:
  CUSTODY_HOME                  data folder (default ./var): SQLite database, generated keys, uploads
  DATABASE_URL                  sqlite:///path or postgresql://user:pass@host:port/db (default SQLite in home)
  CUSTODY_SECRET_KEY[_FILE]     Django secret key; generated under CUSTODY_HOME (0600) when absent
  CUSTODY_DEBUG                 boolean, default false
  CUSTODY_ALLOWED_HOSTS         comma-separated host names (default 127.0.0.1,localhost)
  CUSTODY_HTTPS                 boolean: served over HTTPS (secure cookies, HSTS, redirect); production sets it
  CUSTODY_BEHIND_PROXY          boolean: trust X-Forwarded-Proto from the TLS-terminating proxy
  CUSTODY_SESSION_IDLE_MINUTES  sign out after this much inactivity (default 30)
  CUSTODY_LOGIN_FAILURE_LIMIT   failed logins of one user name from one address before that pair is locked (default 5)
  CUSTODY_LOGIN_ADDRESS_FAILURE_LIMIT  failed logins from one address, whatever the user names, before the address
                                is locked (default ten times CUSTODY_LOGIN_FAILURE_LIMIT: 50; must be above it)
  CUSTODY_LOCKOUT_MINUTES       lockout duration (default 15)
  CUSTODY_APPROVER_COOLING_OFF_HOURS  an account or reviewer role younger than this cannot decide requests
                                (default 72)
  CUSTODY_INVITATION_HOURS      how long the link a new account sets its password with stays valid (default 72)
  CUSTODY_AUDIT_KEY_FILE        Ed25519 private key (PEM) that signs audit tree heads; default: generated
                                under CUSTODY_HOME/keys (0600)
  CUSTODY_AUDIT_ANCHOR_FILE     append every signed tree head to this file too (keep it off the database host)
  CUSTODY_FOOTAGE_MIN_FREE_PERCENT  below this much free space on footage storage, retention destroys the oldest
                                unheld footage early and raises an alert (default 5; held footage is never destroyed)
  CUSTODY_EVIDENCE_LINK_HOURS   how long a single-use evidence package download link stays valid (default 24)
  CUSTODY_PUBLIC_URL            the address people open Custody at, used for every absolute link in e-mails:
                                http(s)://host[:port], no path (default http://127.0.0.1:8000)
  CUSTODY_DESK_LOOKUP_LIMIT_PER_USER      booking-reference lookups one user may make per window (default 30)
  CUSTODY_DESK_LOOKUP_LIMIT_PER_PROPERTY  booking-reference lookups all users together may make at one property
                                per window (default 120)
  CUSTODY_DESK_LOOKUP_WINDOW_MINUTES      the window of both lookup limits (default 10)
  CUSTODY_API_TOKEN_FAILURE_LIMIT         invalid API tokens one client address may send per window before every
                                call from it is answered 429 until the window ends (default 10)
  CUSTODY_API_TOKEN_FAILURE_WINDOW_MINUTES  the window of that limit (default 15)
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

from custody.lib import env as envparse

BASE_DIR = Path(__file__).resolve().parent

try:
    _env = os.environ
    CUSTODY_HOME = envparse.parse_home(_env)
    DEBUG = envparse.parse_bool(_env, "CUSTODY_DEBUG", default=False)
    CUSTODY_HTTPS = envparse.parse_bool(_env, "CUSTODY_HTTPS", default=False)
    _behind_proxy = envparse.parse_bool(_env, "CUSTODY_BEHIND_PROXY", default=False)
    ALLOWED_HOSTS = envparse.parse_hosts(_env, "CUSTODY_ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
    DATABASES = {"default": envparse.parse_database_url(_env, "DATABASE_URL", CUSTODY_HOME)}
    _secret = envparse.read_secret(_env, "CUSTODY_SECRET_KEY")
    if _secret is None:
        _secret = envparse.load_or_create_secret_file(CUSTODY_HOME / "secret_key")
    SECRET_KEY = envparse.check_secret_key("CUSTODY_SECRET_KEY", _secret)
    _idle_minutes = envparse.parse_int(_env, "CUSTODY_SESSION_IDLE_MINUTES", 30, minimum=1, maximum=24 * 60)
    _failure_limit = envparse.parse_int(_env, "CUSTODY_LOGIN_FAILURE_LIMIT", 5, minimum=1, maximum=100)
    _lockout_minutes = envparse.parse_int(_env, "CUSTODY_LOCKOUT_MINUTES", 15, minimum=1, maximum=7 * 24 * 60)
    # Separation of duties on accounts (custody.accounts): the softer per-address sign-in limit, the cooling-off
    # period before a new account or reviewer role may decide requests, and the life of an invitation link.
    CUSTODY_LOGIN_ADDRESS_FAILURE_LIMIT = envparse.parse_int(
        _env, "CUSTODY_LOGIN_ADDRESS_FAILURE_LIMIT", 10 * _failure_limit, minimum=_failure_limit + 1, maximum=10_000
    )
    CUSTODY_APPROVER_COOLING_OFF_HOURS = envparse.parse_int(
        _env, "CUSTODY_APPROVER_COOLING_OFF_HOURS", 72, minimum=1, maximum=90 * 24
    )
    CUSTODY_INVITATION_HOURS = envparse.parse_int(_env, "CUSTODY_INVITATION_HOURS", 72, minimum=1, maximum=30 * 24)
    CUSTODY_AUDIT_KEY_FILE = envparse.parse_existing_file(_env, "CUSTODY_AUDIT_KEY_FILE")
    CUSTODY_AUDIT_ANCHOR_FILE = envparse.parse_writable_file(_env, "CUSTODY_AUDIT_ANCHOR_FILE")
    CUSTODY_FOOTAGE_MIN_FREE_PERCENT = envparse.parse_int(
        _env, "CUSTODY_FOOTAGE_MIN_FREE_PERCENT", 5, minimum=0, maximum=50
    )
    CUSTODY_EVIDENCE_LINK_HOURS = envparse.parse_int(_env, "CUSTODY_EVIDENCE_LINK_HOURS", 24, minimum=1, maximum=7 * 24)
    CUSTODY_PUBLIC_URL = envparse.parse_public_url(_env, "CUSTODY_PUBLIC_URL", default="http://127.0.0.1:8000")
    # Rate limits, kept in the database so every server process shares them (custody.core.ratelimit).
    CUSTODY_DESK_LOOKUP_LIMIT_PER_USER = envparse.parse_int(
        _env, "CUSTODY_DESK_LOOKUP_LIMIT_PER_USER", 30, minimum=1, maximum=10_000
    )
    CUSTODY_DESK_LOOKUP_LIMIT_PER_PROPERTY = envparse.parse_int(
        _env, "CUSTODY_DESK_LOOKUP_LIMIT_PER_PROPERTY", 120, minimum=1, maximum=100_000
    )
    CUSTODY_DESK_LOOKUP_WINDOW_MINUTES = envparse.parse_int(
        _env, "CUSTODY_DESK_LOOKUP_WINDOW_MINUTES", 10, minimum=1, maximum=24 * 60
    )
    CUSTODY_API_TOKEN_FAILURE_LIMIT = envparse.parse_int(
        _env, "CUSTODY_API_TOKEN_FAILURE_LIMIT", 10, minimum=1, maximum=10_000
    )
    CUSTODY_API_TOKEN_FAILURE_WINDOW_MINUTES = envparse.parse_int(
        _env, "CUSTODY_API_TOKEN_FAILURE_WINDOW_MINUTES", 15, minimum=1, maximum=24 * 60
    )
except envparse.ConfigError as exc:
    raise ImproperlyConfigured(str(exc)) from None

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "axes",
    "csp",
    "rules.apps.AutodiscoverRulesConfig",
    "django_tasks",
    "django_tasks_db",
    "custody.core",
    "custody.accounts",
    "custody.properties",
    "custody.footage",
    "custody.guests",
    "custody.requests",
    "custody.retention",
    "custody.evidence",
    "custody.api",
    "custody.audit",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "custody.accounts.middleware.TwoFactorRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "custody.core.middleware.NoStoreMiddleware",
    "custody.audit.middleware.AuditMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "custody.urls"
WSGI_APPLICATION = "custody.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "custody.core.context_processors.custody",
            ],
        },
    }
]

# Accounts and sign-in
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "rules.permissions.ObjectPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "core:root"
LOGOUT_REDIRECT_URL = "accounts:login"
OTP_TOTP_ISSUER = "Custody"
OTP_TOTP_TOLERANCE = 1

AXES_FAILURE_LIMIT = _failure_limit
AXES_COOLOFF_TIME = timedelta(minutes=_lockout_minutes)
# Lock a user name at the address that guessed it, so nobody can lock a named reviewer out from elsewhere and one
# address behind which many people work does not lock all of them out at once. An address that guesses across many
# user names is locked too, at the higher CUSTODY_LOGIN_ADDRESS_FAILURE_LIMIT (custody.accounts.lockout).
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_HANDLER = "custody.accounts.lockout.PairAndAddressHandler"
AXES_RESET_ON_SUCCESS = True
AXES_USERNAME_CALLABLE = "custody.accounts.lockout.attempted_username"
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False

# Sessions end after CUSTODY_SESSION_IDLE_MINUTES without a request (sliding expiry) and at browser close.
SESSION_COOKIE_AGE = _idle_minutes * 60
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True

# Transport and browser security
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if CUSTODY_HTTPS:
    SECURE_SSL_REDIRECT = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = 60 * 60 * 24 * 365
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_NAME = "__Host-custody_session"
    CSRF_COOKIE_NAME = "__Host-custody_csrf"
if _behind_proxy:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "base-uri": [NONE],
        "object-src": [NONE],
    }
}

# Internationalisation: English and Simplified Chinese, both complete
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"

# Files
STATIC_URL = "/static/"
STATIC_ROOT = CUSTODY_HOME / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = DEBUG
MEDIA_ROOT = CUSTODY_HOME / "media"
# Uploaded media is never served directly: views check the user's role first.
MEDIA_URL = "/media-not-served/"
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_PERMISSIONS = 0o600
FILE_UPLOAD_DIRECTORY_PERMISSIONS = 0o700

# Background jobs: django-tasks with the database backend, so workers share the main database.
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = "custody@localhost"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": "WARNING"},
    "loggers": {
        "custody": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "axes": {"handlers": ["console"], "level": "WARNING", "propagate": False},
    },
}
