"""Settings, twelve-factor: everything that differs between deployments comes from the
environment, with defaults that run the exchange locally."""

from __future__ import annotations

import base64
import binascii
import os
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from pythonjsonlogger.core import RESERVED_ATTRS

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

# The host names the web service answers to, comma-separated. Required when DEBUG is off
# (no "*" then): they are also the origins a browser's WebSocket may come from
# (realtime/security.py). Locally (DEBUG on) any host, as before.
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
if not DEBUG and (not ALLOWED_HOSTS or "*" in ALLOWED_HOSTS):
    raise ImproperlyConfigured(
        "ALLOWED_HOSTS must list the site's host names when DEBUG is off (not '*': it is also "
        "the WebSocket origin check); see docs/production.md"
    )
if not ALLOWED_HOSTS:
    ALLOWED_HOSTS = ["*"]
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
    "drf_spectacular_sidecar",  # swagger-ui's files, served from /static/ (no CDN)
    "channels",
    "apikeys",
    "accounts",
    "marketdata",
    "orders",
    "engine_worker",
    "persistence",
    "market_maker",
    "realtime",
    "binance_api",
    "axes",  # failed-login tracking and lock-out (AXES_* below)
    "exchange_site.apps.ExchangeSiteConfig",  # the project's system checks
]

MIDDLEWARE = [  # the stock middleware, run as one sync chain (see exchange_site/middleware.py)
    "exchange_site.middleware.PrometheusBeforeMiddleware",  # HTTP metrics: first and last
    "exchange_site.middleware.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # /static/ (STATIC_ROOT below), sync only
    "exchange_site.middleware.UnstorableTextMiddleware",  # a 400 for NUL in path/query/headers
    "exchange_site.middleware.SessionMiddleware",
    "exchange_site.middleware.CommonMiddleware",
    "exchange_site.middleware.CsrfViewMiddleware",
    "exchange_site.middleware.AuthenticationMiddleware",
    "exchange_site.middleware.MessageMiddleware",
    "exchange_site.middleware.XFrameOptionsMiddleware",
    # HTTP metrics by view and status; before axes, so that its lock-out 429s are counted
    "exchange_site.middleware.PrometheusAfterMiddleware",
    "exchange_site.middleware.AxesMiddleware",  # a locked-out login's 429 (last, as axes asks)
]

# The stock middleware's own checks look for its import paths; exchange_site/checks.py
# makes them by class for the sync-only subclasses above.
SILENCED_SYSTEM_CHECKS = ["security.W001", "security.W002", "security.W003", "axes.W002"]

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
WSGI_APPLICATION = "exchange_site.wsgi.application"
ASGI_APPLICATION = "exchange_site.asgi.application"

DATABASE_URL = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/exchange")
TIMESERIES_DATABASE_URL = os.environ.get("TIMESERIES_DATABASE_URL", DATABASE_URL)


def database(url: str, *, pool: int | None = None) -> dict[str, Any]:
    """A database alias on psycopg 3's connection pool: daphne runs each sync view in a
    thread of its own, so per-thread persistent connections would reconnect per request.
    ``pool=0`` means no pool (a server that takes one connection at a time, such as the
    PGlite TimescaleDB of the tests); options in the URL (``?sslmode=disable``) are kept."""
    config: dict[str, Any] = dict(dj_database_url.parse(url))
    max_size = int(os.environ.get("DB_POOL", "20")) if pool is None else pool
    options = dict(config.get("OPTIONS") or {})
    if max_size > 0:
        options["pool"] = {"min_size": 1, "max_size": max_size}
    config["OPTIONS"] = options
    return config


def has_timescaledb(url: str) -> bool:
    """Whether the server at ``url`` offers the timescaledb extension (asked once, at start;
    an unreachable server counts as plain PostgreSQL)."""
    import psycopg

    config = dj_database_url.parse(url)
    params = {
        "host": config.get("HOST") or "127.0.0.1",
        "port": config.get("PORT") or 5432,
        "user": config.get("USER") or "postgres",
        "password": config.get("PASSWORD") or None,
        "dbname": config.get("NAME") or "postgres",
        "connect_timeout": 3,
        **(config.get("OPTIONS") or {}),
    }
    try:
        with psycopg.connect(**params) as conn:
            row = conn.execute(
                "SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb'"
            ).fetchone()
    except psycopg.Error:
        return False
    return row is not None


# The time series (price ticks, klines: marketdata/routers.py) live on the `timeseries`
# alias: its own database when TIMESERIES_DATABASE_URL differs, else the default one.
# TIMESERIES_BACKEND: auto (TimescaleDB when the server offers the extension, asked at
# start), timescaledb or postgresql (forced). See docs/market-data.md.
TIMESERIES_BACKEND = os.environ.get("TIMESERIES_BACKEND", "auto").strip().lower()
if TIMESERIES_BACKEND not in {"auto", "timescaledb", "postgresql"}:
    raise ImproperlyConfigured("TIMESERIES_BACKEND must be auto, timescaledb or postgresql")
TIMESERIES_TIMESCALEDB = TIMESERIES_BACKEND == "timescaledb" or (
    TIMESERIES_BACKEND == "auto" and has_timescaledb(TIMESERIES_DATABASE_URL)
)
TIMESERIES_SHARED = TIMESERIES_DATABASE_URL == DATABASE_URL
_timeseries_pool = os.environ.get("TIMESERIES_DB_POOL")

DATABASES = {
    "default": database(DATABASE_URL),
    "timeseries": database(
        TIMESERIES_DATABASE_URL,
        pool=int(_timeseries_pool) if _timeseries_pool is not None else None,
    ),
}
if TIMESERIES_TIMESCALEDB:  # django-timescaledb's backend: it creates the extension
    DATABASES["timeseries"]["ENGINE"] = "timescale.db.backends.postgresql"
if TIMESERIES_SHARED:
    # One database: the time series migrate with `migrate` on default (the router), and
    # the tests use default's test database for both aliases.
    DATABASES["timeseries"]["TEST"] = {"MIRROR": "default"}
DATABASE_ROUTERS = ["marketdata.routers.TimeseriesRouter"]

# TimescaleDB only: raw ticks are compressed after TIMESERIES_COMPRESS_AFTER and dropped
# after TIMESERIES_RETAIN_TICKS (PostgreSQL intervals; "" turns either policy off). The
# klines (continuous aggregates) are kept. Applied by the migration (again after a change:
# marketdata.timeseries.timescale_policies_apply). See docs/market-data.md.
TIMESERIES_COMPRESS_AFTER = os.environ.get("TIMESERIES_COMPRESS_AFTER", "7 days")
TIMESERIES_RETAIN_TICKS = os.environ.get("TIMESERIES_RETAIN_TICKS", "")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

# The client's address (apikit.throttling.client_address: rate limits, login
# lock-outs) is the socket's peer, unless TRUSTED_PROXY_COUNT reverse proxies in front of
# the web service each append the address they saw to X-Forwarded-For: then it is the
# entry that many from the right. Only set it when every request passes those proxies.
# `make run` puts its own front proxy (haproxy: deploy/haproxy.cfg) before the web
# processes, which it starts with FRONT_PROXY=1: that proxy counts as one more.
TRUSTED_PROXY_COUNT = int(os.environ.get("TRUSTED_PROXY_COUNT", "0"))
if TRUSTED_PROXY_COUNT < 0:
    raise ImproperlyConfigured("TRUSTED_PROXY_COUNT must be 0 or more")
OUTER_PROXY_COUNT = TRUSTED_PROXY_COUNT  # the proxies before the exchange's own
TRUSTED_PROXY_COUNT += 1 if env_bool("FRONT_PROXY", False) else 0

# Log-ins (token API and admin) go through django-axes: LOGIN_FAILURE_LIMIT failed
# attempts for one username (or from one client address) lock that account (that
# address) out of logging in for LOGIN_COOLOFF_MINUTES (a 429
# `locked_out`, in the contract's shape for the API, an admin page for the admin:
# apikit.errors.lockout_response); a success resets the count. Attempts are listed
# in the admin (Axes). Addresses as above. Locking an address too is axes' advice (W006):
# it stops one address guessing across accounts; the price is that users behind one
# shared address (a NAT) share its count.
AUTHENTICATION_BACKENDS = [
    "accounts.backends.AxesBackend",  # refuses a locked-out account; authenticates nobody
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=float(os.environ.get("LOGIN_COOLOFF_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each counted on its own
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # failures are recorded; successes need no row each
AXES_CLIENT_IP_CALLABLE = "apikit.throttling.client_address"
AXES_LOCKOUT_CALLABLE = "apikit.errors.lockout_response"
AXES_HTTP_RESPONSE_CODE = 429

# HTTPS (docs/production.md): with DEBUG off, cookies are sent over HTTPS only, HSTS is on
# (a year, subdomains included; SECURE_HSTS_PRELOAD=1 opts in to browsers' preload lists)
# and plain HTTP is redirected (SECURE_SSL_REDIRECT=0 when the proxy already redirects;
# /healthz and /metrics stay reachable over HTTP for probes). Behind trusted proxies,
# their X-Forwarded-Proto tells a request came over HTTPS; never without them.
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0" if DEBUG else "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
# (only from proxies before `make run`'s own, which passes the header on as it came)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if OUTER_PROXY_COUNT else None
CSRF_TRUSTED_ORIGINS = [
    o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
]
if not SECURE_HSTS_PRELOAD:  # joining the preload lists is the operator's call, not a default
    SILENCED_SYSTEM_CHECKS.append("security.W021")

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
# Static files (the admin's; swagger-ui for /api/docs/ from drf-spectacular-sidecar):
# `manage.py collectstatic` builds them into STATIC_ROOT (make run, the test stacks, the
# image) and WhiteNoise serves that from the web process, in DEBUG as in production (daphne
# serves no files): hashed names, compressed copies, cached for a year.
STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "var" / "static"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = False  # what collectstatic built, in DEBUG too: what make run serves
WHITENOISE_AUTOREFRESH = False

# An API request body larger than this is a 413 before it is parsed (the largest real body,
# an order, is a few hundred bytes; JSON parsing costs many times a body's size in memory).
API_MAX_BODY_BYTES = int(os.environ.get("API_MAX_BODY_BYTES", str(64 * 1024)))
DATA_UPLOAD_MAX_MEMORY_SIZE = max(API_MAX_BODY_BYTES, 2_621_440)  # forms (the admin)

# API keys (apikeys/, docs/api.md "API keys"): at most API_KEYS_PER_USER keys per user that
# are not revoked. Their secrets are stored encrypted (Fernet): under the first of
# API_KEY_ENCRYPTION_KEYS (comma-separated Fernet keys; set one in production), else under
# a key derived from SECRET_KEY; every listed key, and SECRET_KEY_FALLBACKS', decrypt
# (apikeys/crypto.py: rotation).
API_KEYS_PER_USER = int(os.environ.get("API_KEYS_PER_USER", "30"))
API_KEY_ENCRYPTION_KEYS = [
    k.strip() for k in os.environ.get("API_KEY_ENCRYPTION_KEYS", "").split(",") if k.strip()
]
for _key in API_KEY_ENCRYPTION_KEYS:
    try:
        _valid = len(base64.urlsafe_b64decode(_key.encode())) == 32
    except (ValueError, binascii.Error):
        _valid = False
    if not _valid:
        raise ImproperlyConfigured(
            "API_KEY_ENCRYPTION_KEYS must be Fernet keys (32 url-safe base64 bytes): "
            "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key())'"
        )

# An API token's user is looked up once per web process and kept this many seconds at most;
# a log-out, a deleted token and a changed or deleted user drop it everywhere at once
# (Redis Pub/Sub; accounts/tokens.py).
TOKEN_CACHE_SECONDS = float(os.environ.get("TOKEN_CACHE_SECONDS", "60"))
# Where the web process's /metrics finds the WebSocket process's exchange_ws_* metrics
# when another process serves the WebSockets ("unix:<socket>" or "host:port"; set by
# deploy/supervisord.conf and docker/compose.yaml; exchange_site/health.py).
WEBSOCKET_METRICS = os.environ.get("WEBSOCKET_METRICS", "")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.tokens.CachedTokenAuthentication",  # DRF's, looked up once per process
        "apikeys.authentication.ApiKeySignatureAuthentication",  # X-MBX-APIKEY, signed
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "apikeys.permissions.ApiKeyScopes",  # an API key only where a view grants its scope
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["apikit.parsers.JSONParser"],  # refuses unstorable text
    "EXCEPTION_HANDLER": "apikit.errors.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
    "NUM_PROXIES": TRUSTED_PROXY_COUNT,  # DRF's own get_ident; ours: throttling.client_address
    "DEFAULT_THROTTLE_CLASSES": ["apikit.throttling.UserRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        "user": os.environ.get("API_RATE_LIMIT", "6000/minute"),
        # sign-up, token and admin log-in attempts per client address
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
    # schema warnings are no deployment issue: `check --deploy` stays about security
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
    # one name for the buy/sell choices (side, taker_side)
    "ENUM_NAME_OVERRIDES": {"SideEnum": ["buy", "sell"]},
    # /api/docs/ loads swagger-ui from this site's /static/ (drf-spectacular-sidecar), no CDN
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
}

CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL},
    # Rate limits are counted per web process: no Redis round trip on every request, and
    # no copy of a client's window either (apikit/throttling.py).
    "throttle": {"BACKEND": "apikit.throttling.WindowCache"},
}
# The WebSocket bridge's fan-out: one PUBLISH per group send, no per-channel buffer that
# drops past 100 (docs/websocket.md has the measured choice). CHANNEL_LAYER_PREFIX keeps
# test runs apart: Redis Pub/Sub channels are shared by all databases of a server.
CHANNEL_LAYERS: dict[str, dict[str, Any]] = {
    "default": {
        "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
        "CONFIG": {"hosts": [REDIS_URL], "prefix": os.environ.get("CHANNEL_LAYER_PREFIX", "asgi")},
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
# Engine limits (engine state: applied through logged commands at the engine's start).
# Open orders one user may have in one market (0: no limit; raise it per user in the
# admin), and for how many seconds a used client_order_id stays taken.
MAX_OPEN_ORDERS_PER_MARKET = int(os.environ.get("MAX_OPEN_ORDERS_PER_MARKET", "200"))
CLIENT_ORDER_ID_RETENTION = int(os.environ.get("CLIENT_ORDER_ID_RETENTION", str(24 * 3600)))

# Demo funds credited on sign-up, through the engine: none unless SIGNUP_DEMO_FUNDS lists
# them ("USDT=10000,BTC=1,ETH=10", what `make run` sets through scripts/run.sh).
SIGNUP_DEMO_FUNDS = {
    asset.strip(): Decimal(amount)
    for asset, _, amount in (
        item.partition("=")
        for item in os.environ.get("SIGNUP_DEMO_FUNDS", "").split(",")
        if item.strip()
    )
}
FEE_ACCOUNT_USERNAME = "exchange-fees"


def env_pairs(name: str, default: str) -> dict[str, Decimal]:
    """Pairs "A=1,B=2.5" from the environment as {"A": Decimal("1"), "B": Decimal("2.5")}."""
    return {
        key.strip(): Decimal(value)
        for key, _, value in (
            item.partition("=") for item in os.environ.get(name, default).split(",") if item.strip()
        )
    }


# The market maker (manage.py run_marketmaker; docs/market-maker.md). Its flags override
# these. BASE_URL defaults to this deployment's own web service.
MARKET_MAKER: dict[str, Any] = {
    "BASE_URL": os.environ.get(
        "MARKET_MAKER_BASE_URL",
        f"http://{'127.0.0.1' if HOST in ('0.0.0.0', '', '::') else HOST}:{PORT}",  # noqa: S104
    ),
    "USERNAME": os.environ.get("MARKET_MAKER_USERNAME", "marketmaker"),
    "MARKETS": [  # empty: every market that trades
        s.strip() for s in os.environ.get("MARKET_MAKER_MARKETS", "").split(",") if s.strip()
    ],
    "LEVELS": int(os.environ.get("MARKET_MAKER_LEVELS", "8")),
    "SPREAD_BPS": Decimal(os.environ.get("MARKET_MAKER_SPREAD_BPS", "20")),
    "STEP_BPS": Decimal(os.environ.get("MARKET_MAKER_STEP_BPS", "10")),
    "SIZE_MIN": Decimal(os.environ.get("MARKET_MAKER_SIZE_MIN", "20")),  # in the quote asset
    "SIZE_MAX": Decimal(os.environ.get("MARKET_MAKER_SIZE_MAX", "200")),
    "REFRESH": float(os.environ.get("MARKET_MAKER_REFRESH", "1")),  # seconds
    "TRADE_INTERVAL": float(os.environ.get("MARKET_MAKER_TRADE_INTERVAL", "3")),  # seconds
    "VOLATILITY_BPS": float(os.environ.get("MARKET_MAKER_VOLATILITY_BPS", "5")),  # per cycle
    "REFERENCE": os.environ.get("MARKET_MAKER_REFERENCE", "walk"),  # or "last"
    "REFERENCE_PRICES": env_pairs("MARKET_MAKER_REFERENCE_PRICES", "BTC_USDT=30000,ETH_USDT=2000"),
    "FUNDS": env_pairs("MARKET_MAKER_FUNDS", "USDT=1200000,BTC=20,ETH=300"),
    "INVENTORY_CAP": Decimal(os.environ.get("MARKET_MAKER_INVENTORY_CAP", "0.8")),
    "MAX_SKEW_BPS": Decimal(os.environ.get("MARKET_MAKER_MAX_SKEW_BPS", "20")),
    "SEED": int(os.environ["MARKET_MAKER_SEED"]) if os.environ.get("MARKET_MAKER_SEED") else None,
}

# Accounts the market maker creates are put in this group; it never trades with an
# account outside it (market_maker.bot.ensure_bot_user).
BOT_ACCOUNTS_GROUP = "market-maker bots"
# Usernames sign-up refuses (case-insensitive shell patterns): the fee account, the market
# maker's and every "<maker>-..." account it derives (its taker, the load-mode users), and
# RESERVED_USERNAMES (comma-separated patterns) from the environment.
RESERVED_USERNAMES = [
    FEE_ACCOUNT_USERNAME,
    MARKET_MAKER["USERNAME"],
    f"{MARKET_MAKER['USERNAME']}-*",
    *(p.strip() for p in os.environ.get("RESERVED_USERNAMES", "").split(",") if p.strip()),
]

# Prometheus metrics (docs/operations.md, "Metrics"). Each long-running service serves its
# own /metrics on METRICS_ADDR at its port below (engine and DB processor: the port plus
# the shard, so shards on one host do not collide); 0 turns one off. The web service
# answers /metrics on its own PORT. django-prometheus times the HTTP requests.
METRICS_ADDR = os.environ.get("METRICS_ADDR", "127.0.0.1")
METRICS_PORTS = {
    "engine": int(os.environ.get("ENGINE_METRICS_PORT", "9310")),
    "dbprocessor": int(os.environ.get("DBPROCESSOR_METRICS_PORT", "9320")),
    "wsbridge": int(os.environ.get("WSBRIDGE_METRICS_PORT", "9330")),
    "marketmaker": int(os.environ.get("MARKET_MAKER_METRICS_PORT", "9340")),
}
PROMETHEUS_LATENCY_BUCKETS = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, float("inf"),
)  # fmt: skip

SERVICE_NAME = os.environ.get("SERVICE_NAME", "")
# LOG_FORMAT: "text", readable lines (the default); "json", one JSON object per line
# (python-json-logger): time, level, logger, message, service, and request_id and seq when
# the line is about one engine request or sequence number (docs/operations.md, "Logs").
LOG_FORMAT = os.environ.get("LOG_FORMAT", "text").strip().lower()
if LOG_FORMAT not in {"text", "json"}:
    raise ImproperlyConfigured("LOG_FORMAT must be text or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "text": {
            # "[engine] ...": the same prefix scripts/prefix.py gives raw output under make run
            "format": f"{'[' + SERVICE_NAME + '] ' if SERVICE_NAME else ''}"
            "%(asctime)s %(levelname)s %(name)s: %(message)s",
        },
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(levelname)s %(name)s %(message)s",
            "rename_fields": {"levelname": "level", "name": "logger"},
            "timestamp": "time",  # ISO 8601, UTC
            "static_fields": {"service": SERVICE_NAME} if SERVICE_NAME else {},
            # django.request's HttpRequest object is no field (its path is in the message)
            "reserved_attrs": [*RESERVED_ATTRS, "request"],
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "rq.worker": {"level": "WARNING"},
    },
}
