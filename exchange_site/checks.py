"""System checks for the sync-only middleware subclasses (exchange_site/middleware.py).

Django's and django-axes' checks look for the stock middleware's import paths in
MIDDLEWARE; ours are subclasses under other paths, so those checks would report the
middleware missing and, worse, skip every check that depends on it (HSTS, SSL redirect,
secure CSRF cookie, ...). The presence warnings are silenced in settings
(SILENCED_SYSTEM_CHECKS) and made here instead, by class; the dependent deploy checks are
run here against MIDDLEWARE with each subclass replaced by its stock path."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings
from django.core import checks
from django.core.checks.security import base, csrf
from django.test.utils import override_settings
from django.utils.module_loading import import_string

# stock path -> the id of the check that reports it missing (silenced in settings)
STOCK_MIDDLEWARE = {
    "django.middleware.security.SecurityMiddleware": "security.W001",
    "django.middleware.clickjacking.XFrameOptionsMiddleware": "security.W002",
    "django.middleware.csrf.CsrfViewMiddleware": "security.W003",
    "axes.middleware.AxesMiddleware": "axes.W002",
}
DEPENDENT_DEPLOY_CHECKS: list[Callable[..., Iterable[checks.CheckMessage]]] = [
    base.check_sts,
    base.check_sts_include_subdomains,
    base.check_sts_preload,
    base.check_content_type_nosniff,
    base.check_ssl_redirect,
    base.check_xframe_deny,
    base.check_referrer_policy,
    base.check_cross_origin_opener_policy,
    csrf.check_csrf_cookie_secure,
]


def stock_equivalent_middleware() -> list[str]:
    """MIDDLEWARE with each subclass of a stock middleware named by the stock path."""
    stock = {path: import_string(path) for path in STOCK_MIDDLEWARE}
    equivalent = []
    for path in settings.MIDDLEWARE:
        cls = import_string(path)
        equivalent.append(next((p for p, c in stock.items() if issubclass(cls, c)), path))
    return equivalent


@checks.register(checks.Tags.security)
def stock_middleware_present(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    present = set(stock_equivalent_middleware())
    return [
        checks.Warning(
            f"MIDDLEWARE has no {path} (nor a subclass of it).",
            id=f"exchange_site.{code}",
        )
        for path, code in STOCK_MIDDLEWARE.items()
        if path not in present
    ]


@checks.register(checks.Tags.security, deploy=True)
def stock_deploy_checks(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    messages: list[checks.CheckMessage] = []
    with override_settings(MIDDLEWARE=stock_equivalent_middleware()):
        for check in DEPENDENT_DEPLOY_CHECKS:
            messages.extend(check(app_configs))
    return messages
