"""WSGI entry point: gunicorn serves the HTTP API, the admin and the web app (every path
but the WebSocket's, which daphne serves through exchange_site/asgi.py)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "exchange_site.settings")

application = get_wsgi_application()
