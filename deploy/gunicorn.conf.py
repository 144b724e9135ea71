"""gunicorn's settings for the web program of `make run` (deploy/supervisord.conf): the
WSGI app (exchange_site/wsgi.py) in WEB_WORKERS processes of WEB_THREADS threads each, on
the unix socket the front proxy (deploy/haproxy.cfg) forwards to.

Threads, because an order's request waits for the engine's reply (a few milliseconds)
without using the CPU; processes, because Python runs one thread at a time per process.
Each process has its own order gateway (engine_client/gateway.py) and token cache
(accounts/tokens.py). No access log (a write per request); errors go to stderr."""

import os

wsgi_app = "exchange_site.wsgi:application"
worker_class = "gthread"
# One process by default: /metrics then counts every request (each process has its own
# registry; with more, a scrape reports the one process that answered it).
workers = int(os.environ.get("WEB_WORKERS", "1"))
threads = int(os.environ.get("WEB_THREADS", "32"))
keepalive = 60  # the front proxy keeps its connections open and reuses them
graceful_timeout = 10
accesslog = None
errorlog = "-"
loglevel = "warning"
