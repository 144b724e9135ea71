"""Settings, twelve-factor: everything that differs between deployments comes from the
environment, with defaults that run the exchange locally."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "insecure-local-development-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "*").split(",") if h]
HOST = os.environ.get("HOST", "127.0.0.1")
PORT = int(os.environ.get("PORT", "8000"))

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "channels",
    "accounts",
    "marketdata",
    "orders",
    "engine_worker",
]

MIDDLEWARE = [  # the stock middleware, run as one sync chain (see exchange_site/middleware.py)
    "exchange_site.middleware.SecurityMiddleware",
    "exchange_site.middleware.SessionMiddleware",
    "exchange_site.middleware.CommonMiddleware",
    "exchange_site.middleware.CsrfViewMiddleware",
    "exchange_site.middleware.AuthenticationMiddleware",
    "exchange_site.middleware.MessageMiddleware",
    "exchange_site.middleware.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "exchange_site.urls"
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]
WSGI_APPLICATION = None
ASGI_APPLICATION = "exchange_site.asgi.application"

DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/exchange")
TIMESERIES_DATABASE_URL = os.environ.get("TIMESERIES_DATABASE_URL", DATABASE_URL)


def database(url: str) -> dict:
    """A database alias on psycopg 3's connection pool: daphne runs each sync view in a
    thread of its own, so per-thread persistent connections would reconnect per request."""
    config = dj_database_url.parse(url)
    config["OPTIONS"] = {"pool": {"min_size": 1, "max_size": int(os.environ.get("DB_POOL", "20"))}}
    return config


DATABASES = {"default": database(DATABASE_URL)}
if TIMESERIES_DATABASE_URL != DATABASE_URL:
    DATABASES["timeseries"] = database(TIMESERIES_DATABASE_URL)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "var" / "static"

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "EXCEPTION_HANDLER": "exchange_site.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "DEFAULT_THROTTLE_CLASSES": ["exchange_site.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": os.environ.get("API_RATE_LIMIT", "6000/minute"),
        "anon_auth": os.environ.get("API_AUTH_RATE_LIMIT", "60/minute"),
    },
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Exchange API",
    "DESCRIPTION": "Public REST contract of the exchange: decimals as strings, errors as "
    '{"error": {"code", "message", "details"}}.',
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
}

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL},
    # Rate limits are counted per web process: no Redis round trip on every request.
    "throttle": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
}
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL]},
    }
}

# Engine: which shard trades which market ("BTC_USDT=0,ETH_USDT=0"); unlisted markets go to
# shard 0. Engine replies time out after ENGINE_REPLY_TIMEOUT seconds (504 to the client).
ENGINE_SHARDS = {
    symbol.strip(): int(shard)
    for symbol, _, shard in (
        item.partition("=") for item in os.environ.get("ENGINE_SHARDS", "").split(",") if item
    )
}
ENGINE_DEFAULT_SHARD = int(os.environ.get("ENGINE_DEFAULT_SHARD", "0"))
ENGINE_REPLY_TIMEOUT = float(os.environ.get("ENGINE_REPLY_TIMEOUT", "5"))

# Demo funds credited on sign-up, through the engine. SIGNUP_DEMO_FUNDS="" turns it off.
SIGNUP_DEMO_FUNDS = {
    asset.strip(): Decimal(amount)
    for asset, _, amount in (
        item.partition("=")
        for item in os.environ.get("SIGNUP_DEMO_FUNDS", "USDT=10000,BTC=1,ETH=10").split(",")
        if item.strip()
    )
}
FEE_ACCOUNT_USERNAME = "exchange-fees"

SERVICE_NAME = os.environ.get("SERVICE_NAME", "")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "service": {
            # "[engine] ...": the same prefix scripts/prefix.py gives raw output under make run
            "format": f"{'[' + SERVICE_NAME + '] ' if SERVICE_NAME else ''}"
            "%(asctime)s %(levelname)s %(name)s: %(message)s",
        }
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "service"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "rq.worker": {"level": "WARNING"},
    },
}
