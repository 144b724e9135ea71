"""Settings for the test suite: the real services, but a Redis database of its own so a
test run never touches a running exchange's queues and read model."""

import os

from exchange_site.settings import *  # noqa: F403
from exchange_site.settings import CACHES, CHANNEL_LAYERS

REDIS_URL = os.environ.get("REDIS_TEST_URL", "redis://127.0.0.1:6379/15")
CACHES["default"]["LOCATION"] = REDIS_URL
CHANNEL_LAYERS["default"]["CONFIG"]["hosts"] = [REDIS_URL]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast sign-ups
SIGNUP_DEMO_FUNDS = {"USDT": Decimal("10000"), "BTC": Decimal("1"), "ETH": Decimal("10")}  # noqa: F405
# In-process tests render templates without a collectstatic build: plain storage (no
# manifest to look names up in). The stacks the tests start run the real settings.
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# No service opens a metrics port in tests unless the test asks (the suite runs beside a
# `make run` and other runs): a test that scrapes sets ENGINE_METRICS_PORT etc.
METRICS_PORTS = {
    "engine": int(os.environ.get("ENGINE_METRICS_PORT", "0")),
    "dbprocessor": int(os.environ.get("DBPROCESSOR_METRICS_PORT", "0")),
    "wsbridge": int(os.environ.get("WSBRIDGE_METRICS_PORT", "0")),
    "marketmaker": int(os.environ.get("MARKET_MAKER_METRICS_PORT", "0")),
}
