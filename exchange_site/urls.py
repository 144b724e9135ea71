from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apikit import errors
from apikit.throttling import auth_throttled
from binance_api import errors as binance_errors
from exchange_site import health

api_v1 = [  # no path of one app is a path of another; the busiest (orders) tried first
    path("", include("orders.urls")),
    path("", include("accounts.urls")),
    path("", include("apikeys.urls")),
    path("", include("marketdata.urls")),
]

urlpatterns = [
    # the API first: a request's path is matched against the patterns in order
    path("api/v1/", include(api_v1)),
    path("api/v3/", include("binance_api.urls")),  # the Binance-compatible facade
    # The web app (frontend/out/); `/` redirects to the API's docs while there is no build.
    path("", include("exchange_site.frontend")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", health.metrics, name="metrics"),
    # the admin's log-in, rate-limited per client address like the API's (before admin/)
    path("admin/login/", auth_throttled(admin.site.login)),
    path("admin/", admin.site.urls),
    # anything else under api/: the contract's 404, in DEBUG too (not Django's debug page)
    re_path(r"^api/", errors.json_404),
]

handler404 = "apikit.errors.json_404"  # with DEBUG=0, for every path
handler500 = "exchange_site.urls.server_error"


def server_error(request: HttpRequest) -> HttpResponse:
    """A 500 in the shape of the API the path belongs to (/api/v3: Binance's)."""
    if binance_errors.is_facade_request(request):
        return binance_errors.binance_500(request)
    return errors.json_500(request)
