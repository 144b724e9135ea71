"""ASGI entry point: daphne serves HTTP (Django) and WebSockets (Channels, /ws/v1)."""

import os

from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")

django_asgi_app = get_asgi_application()

from realtime.routing import websocket_urlpatterns  # noqa: E402  (needs the apps loaded)
from realtime.security import ConnectionCap, allowed_hosts_origin_validator  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The session cookie authenticates (AuthMiddlewareStack); so does {"op": "auth"}.
        # Origin checked against ALLOWED_HOSTS when present (browsers); sockets per client
        # address capped before anything else runs; see realtime/security.
        "websocket": ConnectionCap(
            allowed_hosts_origin_validator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns)))
        ),
    }
)
