from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apikit import errors
from apikit.throttling import auth_throttled
from exchange_site import health

api_v1 = [  # no path of one app is a path of another; the busiest (orders) tried first
    path("", include("orders.urls")),
    path("", include("accounts.urls")),
    path("", include("marketdata.urls")),
]

urlpatterns = [
    # the API first: a request's path is matched against the patterns in order
    path("api/v1/", include(api_v1)),
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
handler500 = "apikit.errors.json_500"
