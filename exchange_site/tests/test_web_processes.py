"""Several web processes (deploy/gunicorn.conf.py: WEB_PROCESSES gunicorn workers): their
Prometheus counts are summed by whichever answers /metrics (prometheus-client's
multiprocess mode), and a revoked token is refused by every one of them (each has its own
token cache, told over Redis Pub/Sub)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.multiprocess import MultiProcessCollector
from rest_framework.authtoken.models import Token

from accounts.tests.test_auth_api import new_name
from apikit.testing import Scrape, free_port
from conftest import ROOT, _database_url

GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
RESPONSES = "django_http_responses_total_by_status_view_method_total"


def count_in_child(directory: Path, amount: int) -> None:
    """A process of its own counting ``amount`` commands the way the gateway's counter
    does (engine_client/gateway.py), in multiprocess mode."""
    code = textwrap.dedent(f"""
        from prometheus_client import Counter
        Counter("exchange_gateway_commands", "Commands.", ["shard"]).labels("0").inc({amount})
    """)
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(directory)}
    subprocess.run([sys.executable, "-c", code], env=env, check=True)  # noqa: S603


@pytest.fixture
def uncounted():
    """A labelled counter of this process that no process has counted yet."""
    counter = Counter("exchange_test_uncounted", "Nothing yet.", ["view"])
    yield counter
    REGISTRY.unregister(counter)


@pytest.mark.django_db
def test_metrics_sums_the_counts_of_every_web_process(client, tmp_path, monkeypatch, uncounted):
    count_in_child(tmp_path, 3)
    count_in_child(tmp_path, 4)
    assert len(list(tmp_path.glob("counter_*.db"))) == 2  # one file per process
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    scrape = Scrape(client.get("/metrics").content.decode())
    assert scrape.matching("exchange_gateway_commands_total", shard="0") == [7]
    # a family no process has counted yet is still described (as one process shows it)
    assert scrape.families["exchange_test_uncounted"] == ("counter", set())


def test_the_wsgi_process_has_only_metrics_the_multiprocess_mode_can_sum():
    """A custom collector or a gauge without a multiprocess mode in the web processes
    would be missing from, or split by pid in, the summed /metrics."""
    code = textwrap.dedent("""
        import django
        django.setup()
        from django.urls import get_resolver
        from exchange_site.wsgi import application
        get_resolver().url_patterns  # every view module imported
        from prometheus_client import REGISTRY, Counter, Histogram
        from prometheus_client.gc_collector import GCCollector
        from prometheus_client.platform_collector import PlatformCollector
        from prometheus_client.process_collector import ProcessCollector
        own = (GCCollector, PlatformCollector, ProcessCollector)  # ?process=own only
        print([type(c).__name__ for c in list(REGISTRY._collector_to_names)
               if not isinstance(c, (Counter, Histogram, *own))])
    """)
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().splitlines()[-1] == "[]", out.stdout + out.stderr


# -- gunicorn with two processes -----------------------------------------------------------


class Gunicorn:
    def __init__(self, tmp: Path, processes: int) -> None:
        self.port = free_port()
        self.metrics_dir = tmp / "web-metrics"
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(connection.settings_dict),
            "WEB_PROCESSES": str(processes),
            "WEB_THREADS": "4",
            "PROMETHEUS_MULTIPROC_DIR": str(self.metrics_dir),
            # a cached token leaves a process's cache only when it is told of a revocation,
            # never by age while a test waits for that (a slow run must not pass by expiry)
            "TOKEN_CACHE_SECONDS": "3600",
        }
        args = ["-m", "gunicorn", "-c", str(GUNICORN_CONF), "--bind", f"127.0.0.1:{self.port}"]
        self.proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env)  # noqa: S603
        try:
            deadline = time.monotonic() + 60
            while len(self.pids()) < processes or self.get("/api/v1/markets")[0] != 200:
                assert self.proc.poll() is None, "gunicorn exited"
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        except BaseException:
            self.stop()  # no fixture teardown follows a failed set-up
            raise

    def request(self, method: str, path: str, token: str | None = None) -> tuple[int, bytes]:
        """On a connection of its own, so that any of the processes may take it."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        try:
            headers = {"Authorization": f"Token {token}"} if token else {}
            conn.request(method, path, headers=headers)
            response = conn.getresponse()
            return response.status, response.read()
        except OSError:
            return 0, b""
        finally:
            conn.close()

    def get(self, path: str, token: str | None = None) -> tuple[int, bytes]:
        return self.request("GET", path, token)

    def pids(self) -> set[str]:
        """The processes that made their metrics (each has a file once its app is loaded:
        the latency histogram without labels)."""
        return {p.stem.rsplit("_", 1)[-1] for p in self.metrics_dir.glob("*.db")}

    def own_counts(self, tmp: Path) -> dict[str, Scrape]:
        """Each process's counts alone: its files summed by themselves."""
        out = {}
        for pid in self.pids():
            alone = tmp / f"alone-{pid}"
            alone.mkdir(exist_ok=True)
            for path in self.metrics_dir.glob(f"*_{pid}.db"):
                shutil.copy(path, alone / path.name)
            registry = CollectorRegistry(auto_describe=False)
            MultiProcessCollector(registry, path=str(alone))
            from prometheus_client import generate_latest

            out[pid] = Scrape(generate_latest(registry).decode())
        return out

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def two_processes(transactional_db, tmp_path):
    server = Gunicorn(tmp_path, processes=2)
    yield server
    server.stop()


def both_served(server: Gunicorn, tmp: Path, token: str, status: str, least: int) -> bool:
    """Requests for /api/v1/auth/me on new connections until each of the processes has
    answered it with ``status`` at least once (a process takes whichever connection it
    accepts first); False if one never did."""
    for _ in range(least):
        server.get("/api/v1/auth/me", token)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        counts = server.own_counts(tmp)
        per_process = [c.value(RESPONSES, view="auth-me", status=status) for c in counts.values()]
        if len(per_process) == 2 and min(per_process) > 0:
            return True
        server.get("/api/v1/auth/me", token)
    return False


def test_two_processes_sum_their_counts_and_each_refuses_a_revoked_token(two_processes, tmp_path):
    server = two_processes
    user = get_user_model().objects.create_user(new_name(), password="x-long-password-1")
    token = Token.objects.create(user=user).key

    # both processes answer (and cache the token); /metrics, from either, counts them all
    assert both_served(server, tmp_path, token, "200", least=20)
    status, body = server.get("/api/v1/auth/me", token)
    assert status == 200 and json.loads(body)["user_id"] == user.pk
    per_process = server.own_counts(tmp_path)
    served = sum(c.value(RESPONSES, view="auth-me", status="200") for c in per_process.values())
    for _ in range(4):  # whichever process answers the scrape
        status, text = server.get("/metrics")
        assert status == 200
        assert Scrape(text.decode()).value(RESPONSES, view="auth-me", status="200") == served

    # a log-out in one process: every process refuses the token from then on
    status, _ = server.request("POST", "/api/v1/auth/logout", token)
    assert status == 204
    # The other process drops the token when the Pub/Sub message reaches it: well under a
    # second on a quiet machine, but not within any fixed pause on a loaded one. So: until
    # each process has refused it once (it holds the token cached until then, the cache's
    # age limit being out of reach), and from then on no process accepts it again.
    assert both_served(server, tmp_path, token, "401", least=0)
    before = server.own_counts(tmp_path)
    statuses = [server.get("/api/v1/auth/me", token)[0] for _ in range(40)]
    assert set(statuses) == {401}, statuses
    assert both_served(server, tmp_path, token, "401", least=0)
    after = server.own_counts(tmp_path)
    for pid, scrape in after.items():
        assert scrape.value(RESPONSES, view="auth-me", status="200") == before[pid].value(
            RESPONSES, view="auth-me", status="200"
        ), "a process accepted the revoked token"


def test_a_web_process_freezes_what_its_app_loaded(tmp_path):
    """gunicorn's post_worker_init hook (after the app is loaded) moves the objects made so
    far out of the cyclic collector's generations (gc.freeze): a full collection during a
    request does not walk the app's modules and settings (the tail of orders at K=32)."""
    code = textwrap.dedent(
        f"""
        import gc, runpy
        hooks = runpy.run_path({str(GUNICORN_CONF)!r})
        assert gc.get_freeze_count() == 0
        hooks["post_worker_init"](None)
        print(gc.get_freeze_count())
        """
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics")}
    out = subprocess.run(  # noqa: S603
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    assert int(out.stdout) > 1000
