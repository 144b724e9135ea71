"""gunicorn's settings for the web program of `make run` (deploy/supervisord.conf) and of
docker/compose.yaml: the WSGI app (exchange_site/wsgi.py) in WEB_PROCESSES processes of
WEB_THREADS threads each, on the address given by --bind (the front proxy,
deploy/haproxy.cfg, forwards to it).

Threads, because an order's request waits for the engine's reply (a few milliseconds)
without using the CPU; processes, because Python runs one thread at a time per process
(docs/production.md, "Sizing the web processes"). Each process has its own order gateway
(engine_client/gateway.py) and token cache (accounts/tokens.py): nothing is made before
the fork (no preload), so no thread or connection is shared.

The processes' Prometheus metrics are summed by prometheus-client's multiprocess mode:
each process writes its counts to files in PROMETHEUS_MULTIPROC_DIR (set here for the
workers when unset: a fresh folder, removed at exit), emptied when gunicorn starts, and
whichever process answers /metrics reads them all (exchange_site/health.py).
No access log (a write per request); errors go to stderr."""

import os
import shutil
import tempfile
from pathlib import Path


def _count(name: str, default: int) -> int:
    value = int(os.environ.get(name) or default)
    if value < 1:
        raise ValueError(f"{name} must be 1 or more, not {value}")
    return value


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


wsgi_app = "exchange_site.wsgi:application"
worker_class = "gthread"
# Measured on 2 cores (bench/e2e_orders.py, docs/production.md): one process per core.
workers = _count("WEB_PROCESSES", _cores())
threads = _count("WEB_THREADS", 32)
keepalive = 60  # the front proxy keeps its connections open and reuses them
graceful_timeout = 10
accesslog = None
errorlog = "-"
loglevel = "warning"

if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="exchange-web-metrics-")
    os.environ["EXCHANGE_WEB_METRICS_TEMPORARY"] = "1"  # still known after a reload (HUP)
METRICS_DIR = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])


def on_starting(server):
    """Before the first worker: the counts of an earlier run (of dead processes) would be
    added to this run's, so the folder starts empty."""
    METRICS_DIR.mkdir(parents=True, exist_ok=True)
    for stale in METRICS_DIR.glob("*.db"):
        stale.unlink()


def post_worker_init(worker):
    """The app is loaded: its modules, settings and URL patterns live as long as the
    process. gc.freeze() moves them out of the collector's generations, so a full
    collection during a request walks only what requests made (a latency tail)."""
    import gc

    gc.freeze()


def child_exit(server, worker):
    """A worker died or was replaced: its counters stay in the sums (a counter never goes
    down), its live gauges go."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, str(METRICS_DIR))


def on_exit(server):
    if os.environ.get("EXCHANGE_WEB_METRICS_TEMPORARY"):
        shutil.rmtree(METRICS_DIR, ignore_errors=True)
