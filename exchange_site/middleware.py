"""Django's stock middleware, declared sync-only.

Under ASGI, Django runs an async-capable middleware's process_request and
process_response each through its own sync_to_async hop: about fourteen thread handoffs
per request for the stock stack, measured at roughly 3 ms of a trivial request's 4 ms
here. Declared sync-only, the whole chain runs in one thread in one hop; the views are
sync anyway (DRF). The same goes for django-prometheus' two middlewares (HTTP metrics).

UnstorableTextMiddleware is the project's own: it refuses text the database cannot store
(apikit/parsers.py) in the query string, the path and the headers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from axes.middleware import AxesMiddleware as _Axes
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware as _Auth
from django.contrib.messages.middleware import MessageMiddleware as _Messages
from django.contrib.sessions.middleware import SessionMiddleware as _Sessions
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.middleware.clickjacking import XFrameOptionsMiddleware as _XFrame
from django.middleware.common import CommonMiddleware as _Common
from django.middleware.csrf import CsrfViewMiddleware as _Csrf
from django.middleware.security import SecurityMiddleware as _Security
from django_prometheus.conf import NAMESPACE, PROMETHEUS_LATENCY_BUCKETS
from django_prometheus.middleware import Metrics as _PromMetrics
from django_prometheus.middleware import PrometheusAfterMiddleware as _PromAfter
from django_prometheus.middleware import PrometheusBeforeMiddleware as _PromBefore
from django_prometheus.utils import Time, TimeSince
from prometheus_client import Counter, Histogram

from apikit.errors import error_body
from apikit.parsers import UNSTORABLE_MESSAGE, unstorable
from binance_api import errors as binance_errors


class _SyncOnly:
    sync_capable = True
    async_capable = False


class SecurityMiddleware(_SyncOnly, _Security):
    pass


class SessionMiddleware(_SyncOnly, _Sessions):
    pass


class CommonMiddleware(_SyncOnly, _Common):
    pass


class CsrfViewMiddleware(_SyncOnly, _Csrf):
    pass


class AuthenticationMiddleware(_SyncOnly, _Auth):
    pass


class MessageMiddleware(_SyncOnly, _Messages):
    """Django's messages (the admin's), not set up for the API, which has none: their
    storage is built per request (process_response skips a request without it)."""

    def process_request(self, request: HttpRequest) -> None:
        if not request.path_info.startswith("/api/"):
            super().process_request(request)


class XFrameOptionsMiddleware(_SyncOnly, _XFrame):
    pass


class AxesMiddleware(_SyncOnly, _Axes):
    pass


class HttpMetrics(_PromMetrics):
    """django-prometheus' HTTP metrics, only the families docs/operations.md lists (the
    names, labels and buckets django-prometheus gives them). Its other twelve (requests by
    method, by transport, AJAX, body sizes, charsets, templates, ...) cost more than the
    five together: each count is a file write under the multiprocess mode of the web
    processes (deploy/gunicorn.conf.py); measured, the stock pair of middlewares took 78 of
    the 260 microseconds of a cached-token GET /api/v1/auth/me in-process."""

    def register(self) -> None:
        self.requests_latency_before = self.register_metric(
            Histogram,
            "django_http_requests_latency_including_middlewares_seconds",
            "Histogram of requests processing time (including middleware processing time).",
            buckets=PROMETHEUS_LATENCY_BUCKETS,
            namespace=NAMESPACE,
        )
        self.requests_latency_by_view_method = self.register_metric(
            Histogram,
            "django_http_requests_latency_seconds_by_view_method",
            "Histogram of request processing time labelled by view.",
            ["view", "method"],
            buckets=PROMETHEUS_LATENCY_BUCKETS,
            namespace=NAMESPACE,
        )
        self.requests_by_view_transport_method = self.register_metric(
            Counter,
            "django_http_requests_total_by_view_transport_method",
            "Count of requests by view, transport, method.",
            ["view", "transport", "method"],
            namespace=NAMESPACE,
        )
        self.responses_by_status_view_method = self.register_metric(
            Counter,
            "django_http_responses_total_by_status_view_method",
            "Count of responses by status, view, method.",
            ["status", "view", "method"],
            namespace=NAMESPACE,
        )
        self.exceptions_by_view = self.register_metric(
            Counter,
            "django_http_exceptions_total_by_view",
            "Count of exceptions by view.",
            ["view"],
            namespace=NAMESPACE,
        )


class _Children:
    """A labelled metric's children, bound once per label values (prometheus-client's
    labels() validates and locks on every call)."""

    def __init__(self, metric: Any) -> None:
        self.metric = metric
        self.bound: dict[tuple[str, ...], Any] = {}

    def __call__(self, *values: str) -> Any:
        child = self.bound.get(values)
        if child is None:
            child = self.bound.setdefault(values, self.metric.labels(*values))
        return child


class PrometheusBeforeMiddleware(_SyncOnly, _PromBefore):
    """django-prometheus: every request's latency, middleware included."""

    metrics_cls = HttpMetrics

    def process_request(self, request: HttpRequest) -> None:
        request.prometheus_before_middleware_event = Time()  # type: ignore[attr-defined]

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        started = getattr(request, "prometheus_before_middleware_event", None)
        if started is not None:
            self.metrics.requests_latency_before.observe(TimeSince(started))
        return response


class PrometheusAfterMiddleware(_SyncOnly, _PromAfter):
    """django-prometheus: requests by view, transport and method, responses by status,
    view and method, latency by view and method, exceptions by view (docs/operations.md,
    "Metrics"); the view is the URL name, "<unnamed view>" for a path that matches none."""

    metrics_cls = HttpMetrics

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        metrics = self.metrics
        self.requests = _Children(metrics.requests_by_view_transport_method)
        self.responses = _Children(metrics.responses_by_status_view_method)
        self.latency = _Children(metrics.requests_latency_by_view_method)
        self.exceptions = _Children(metrics.exceptions_by_view)

    def process_request(self, request: HttpRequest) -> None:
        request.prometheus_after_middleware_event = Time()  # type: ignore[attr-defined]

    def process_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        name = self._get_view_name(request)
        self.requests(name, self._transport(request), self._method(request)).inc()

    def process_template_response(self, request: HttpRequest, response: Any) -> Any:
        return response  # no count by template

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        name = self._get_view_name(request)
        method = self._method(request)
        self.responses(str(response.status_code), name, method).inc()
        started = getattr(request, "prometheus_after_middleware_event", None)
        if started is not None:
            self.latency(name, method).observe(TimeSince(started))
        return response

    def process_exception(self, request: HttpRequest, exception: Exception) -> None:
        self.exceptions(self._get_view_name(request)).inc()


def unstorable_input(request: HttpRequest) -> str | None:
    """The first part of the request outside its body (path, query parameter name or value,
    header) holding text the database cannot store, named for the error; None if none."""
    if unstorable(request.path_info):
        return "path"
    for name, values in request.GET.lists():
        if unstorable(name):
            return "query"
        if any(unstorable(value) for value in values):
            return name
    for key, value in request.META.items():
        if (key.startswith("HTTP_") or key == "CONTENT_TYPE") and isinstance(value, str):
            if unstorable(value):
                return key.removeprefix("HTTP_").replace("_", "-").lower()
    # cookies once parsed too: a quoted value's octal escapes ("\\000") decode to NUL
    for name, value in request.COOKIES.items():
        if unstorable(name) or unstorable(value):
            return "cookie"
    return None


def body_too_large(request: HttpRequest) -> bool:
    """Whether the API request announces a body over settings.API_MAX_BODY_BYTES (the
    JSON parser also stops reading past it, for a body sent without a length)."""
    if not request.path_info.startswith("/api/"):
        return False
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > settings.API_MAX_BODY_BYTES


class UnstorableTextMiddleware(_SyncOnly):
    """A 400 in the contract's shape, before any view, session or token lookup, for a
    request whose path, query string, headers or cookies hold NUL or an unpaired surrogate,
    and a 413 for an API request announcing a body over settings.API_MAX_BODY_BYTES."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        where = unstorable_input(request)
        if where is not None and binance_errors.is_facade_request(request):  # /api/v3
            return binance_errors.unstorable_text(where)  # Binance's error shape
        if where is not None:
            body = error_body(
                "invalid_input", f"{where}: {UNSTORABLE_MESSAGE}", {where: [UNSTORABLE_MESSAGE]}
            )
            return JsonResponse(body, status=400)
        if body_too_large(request):
            limit = settings.API_MAX_BODY_BYTES
            if binance_errors.is_facade_request(request):
                return binance_errors.body_too_large(limit)
            body = error_body(
                "payload_too_large", f"The request body is over {limit} bytes.", {"limit": limit}
            )
            return JsonResponse(body, status=413)
        return self.get_response(request)
