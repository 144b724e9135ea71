from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from exchange_site import health

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("marketdata.urls")),
    path("", include("orders.urls")),
]

urlpatterns = [
    # Until the web app (frontend/) is served here, the front page is the API's docs.
    path("", RedirectView.as_view(url="/api/docs/", permanent=False)),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("healthz", health.healthz, name="healthz"),
    path("metrics", health.metrics, name="metrics"),
    path("admin/", admin.site.urls),
]

handler404 = "exchange_site.errors.json_404"
handler500 = "exchange_site.errors.json_500"
