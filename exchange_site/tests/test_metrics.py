"""Metrics (docs/operations.md, "Metrics"): each service of the real stack, scraped after
real traffic, counted what it did; the alert rules, the scrape configuration and the
Grafana dashboard in deploy/ pass promtool, and every metric they read is exported by the
running services.

The stack is deploy/supervisord.conf as is (engine, web, wsbridge, dbprocessor,
marketmaker) on a database, a Redis and ports of the test's own, each service with its
metrics port."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import psycopg
import pytest
import yaml
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from apikit.testing import Scrape, ScratchRedis, free_port
from exchange_site.tests.test_supervisor import http
from market_maker.tests.test_stack import LoggedStack

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
VENV_BIN = ROOT / ".venv" / "bin"
SERVICES = ("web", "engine", "dbprocessor", "wsbridge", "marketmaker")
PORT_SETTINGS = {
    "engine": "ENGINE_METRICS_PORT",
    "dbprocessor": "DBPROCESSOR_METRICS_PORT",
    "wsbridge": "WSBRIDGE_METRICS_PORT",
    "marketmaker": "MARKET_MAKER_METRICS_PORT",
}
# Words of PromQL that are not metric names (operators, modifiers, literals).
PROMQL_WORDS = {
    "and", "or", "unless", "bool", "by", "without", "on", "ignoring", "group_left",
    "group_right", "offset", "inf", "nan", "le",
}  # fmt: skip
# Series Prometheus makes itself for each target, not the services.
PROMETHEUS_SERIES = {"up"}


def promql_metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: every name outside strings, label
    matchers, ranges and grouping clauses that is not a function (followed by "(") nor
    a word of PromQL."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][A-Za-z0-9_:]*", text):
        word = match.group(0)
        if text[match.end() :].lstrip().startswith("(") or word in PROMQL_WORDS:
            continue
        names.add(word)
    return names


def test_promql_metric_names_finds_the_selected_names_only():
    expr = (
        'histogram_quantile(0.99, sum by (le, view) (rate(a_seconds_bucket{job="x", '
        'le="0.5"}[5m]))) / on(shard) group_left(symbol) b_total offset 5m > bool 1e3 '
        'or time() - max by (shard) (c_timestamp{x=~"engine\\\\..+"}) unless d'
    )
    assert promql_metric_names(expr) == {"a_seconds_bucket", "b_total", "c_timestamp", "d"}


def dashboard_queries() -> list[str]:
    board = json.loads((DEPLOY / "grafana-dashboard.json").read_text())
    queries = []
    for panel in board["panels"]:
        for inner in [panel, *panel.get("panels", [])]:
            queries += [t["expr"] for t in inner.get("targets", []) if t.get("expr")]
    return queries


def alert_queries() -> list[str]:
    rules = yaml.safe_load((DEPLOY / "prometheus-alerts.yml").read_text())
    return [rule["expr"] for group in rules["groups"] for rule in group["rules"]]


def as_promql(query: str) -> str:
    """A dashboard query with Grafana's interval variables replaced, as Prometheus sees it."""
    return query.replace("$__rate_interval", "5m").replace("$__interval", "1m")


@pytest.fixture(scope="module")
def promtool() -> str:
    ensure = subprocess.run([str(ROOT / "scripts" / "ensure_promtool.sh")], check=False)  # noqa: S603
    assert ensure.returncode == 0, "promtool is missing: apt-get install -y prometheus"
    return "promtool"


def run_promtool(promtool: str, *args: str, cwd: Path = DEPLOY) -> None:
    done = subprocess.run(  # noqa: S603
        [promtool, *args], cwd=cwd, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_alert_rules_and_the_scrape_configuration_pass_promtool(promtool):
    run_promtool(promtool, "check", "rules", "prometheus-alerts.yml")
    run_promtool(promtool, "check", "config", "prometheus.yml")
    # and the rules fire when they should (and not before): their unit tests
    run_promtool(promtool, "test", "rules", "prometheus-alerts.test.yml")


def test_every_dashboard_query_is_valid_promql(promtool, tmp_path):
    queries = dashboard_queries()
    assert len(queries) > 40
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"dashboard:query_{i}", "expr": as_promql(q)}
                    for i, q in enumerate(queries)
                ],
            }
        ]
    }
    (tmp_path / "dashboard-rules.yml").write_text(yaml.safe_dump(rules))
    run_promtool(promtool, "check", "rules", "dashboard-rules.yml", cwd=tmp_path)


def test_the_alerts_and_the_dashboard_select_the_scrape_configurations_jobs():
    jobs = {job["job_name"] for job in yaml.safe_load((DEPLOY / "prometheus.yml").read_text())[
        "scrape_configs"
    ]}  # fmt: skip
    assert jobs == {f"exchange-{service}" for service in SERVICES}
    named = set()
    for query in alert_queries() + dashboard_queries():
        named |= set(re.findall(r'job=~?"([^"]+)"', query))
    for job in named:
        assert any(re.fullmatch(job, j) for j in jobs), job


# -- the live stack ---------------------------------------------------------------------


class MetricsStack(LoggedStack):
    def metrics_url(self, service: str) -> str:
        port = self.env["PORT"] if service == "web" else self.env[PORT_SETTINGS[service]]
        return f"http://127.0.0.1:{port}/metrics"

    def scrape(self, service: str) -> Scrape:
        return Scrape.get(self.metrics_url(service))

    def scrape_all(self, services: tuple[str, ...] = SERVICES) -> dict[str, Scrape]:
        return {service: self.scrape(service) for service in services}

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603
            [str(VENV_BIN / "python"), "manage.py", *args],
            cwd=ROOT, env=self.env, capture_output=True, text=True, check=False,
        )  # fmt: skip


@pytest.fixture(scope="module")
def stack(tmp_path_factory, django_db_blocker):
    from django.db import connection

    tmp = tmp_path_factory.mktemp("metricsstack")
    settings_dict = connection.settings_dict
    name = f"{settings_dict['NAME']}_metrics"
    host, port = settings_dict["HOST"] or "127.0.0.1", settings_dict["PORT"] or 5432
    admin_url = f"postgresql://postgres@{host}:{port}/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    redis_server = ScratchRedis(tmp)
    redis_server.start()
    database_url = f"postgresql://postgres@{host}:{port}/{name}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_server.url,
        "REDIS_TEST_URL": redis_server.url,
        "DJANGO_SETTINGS_MODULE": "exchange_site.settings",
        "CHANNEL_LAYER_PREFIX": f"metrics{os.getpid()}",
        "HOST": "127.0.0.1",
        "PORT": str(free_port()),
        "LOG_LEVEL": "INFO",
        "SIGNUP_DEMO_FUNDS": "USDT=10000,BTC=1,ETH=10",
        "MARKET_MAKER_SEED": "7",
        "MARKET_MAKER_TRADE_INTERVAL": "1",
        # A socket with more than 64 bytes not yet written to it is too slow: a user
        # message of several frames trips it at its second frame (slow_consumer).
        "WS_MAX_BUFFER_BYTES": "64",
        "METRICS_ADDR": "127.0.0.1",
        **{setting: str(free_port()) for setting in PORT_SETTINGS.values()},
    }
    manage = [str(VENV_BIN / "python"), "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)  # noqa: S603
    subprocess.run([*manage, "seed_demo", "-v0"], cwd=ROOT, env=env, check=True)  # noqa: S603
    running = MetricsStack(tmp, env)
    running.start()
    try:
        running.wait(running.healthy, timeout=90)
        yield running
    finally:
        running.stop()
        redis_server.kill()
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def scraped(stack: MetricsStack, service: str) -> Scrape | None:
    try:
        return stack.scrape(service)
    except OSError:
        return None


def market_maker_trading(stack: MetricsStack) -> bool:
    mm = scraped(stack, "marketmaker")
    return (
        mm is not None
        and mm.value("exchange_marketmaker_fills_total", role="maker") > 0
        and mm.value("exchange_marketmaker_fills_total", role="taker") > 0
    )


def quiet(stack: MetricsStack) -> None:
    """Wait until the engine's sequence stays put and the DB processor has it all."""

    def settled() -> bool:
        first = stack.scrape("engine").value("exchange_engine_sequence")
        time.sleep(0.5)
        second = stack.scrape("engine").value("exchange_engine_sequence")
        db = stack.scrape("dbprocessor")
        return (
            first == second
            and db.value("exchange_dbprocessor_last_seq") == second
            and db.value("exchange_dbprocessor_lag_entries") == 0
        )

    stack.wait(settled, timeout=30)


def delta(after: Scrape, before: Scrape, name: str, **labels: str) -> float:
    return after.value(name, **labels) - before.value(name, **labels)


def register(stack: MetricsStack, name: str) -> dict:
    status, body = http(
        "POST", f"{stack.base}/api/v1/auth/register", {"username": name, "password": "a-long-pw-42"}
    )
    assert status == 201, body
    return body


def order(stack: MetricsStack, token: str, **fields: str) -> tuple[int, dict]:
    return http("POST", f"{stack.base}/api/v1/orders", fields, token=token)


def test_each_service_counts_what_real_traffic_did(stack):
    try:
        # the market maker quotes and trades by itself: its metrics show it
        stack.wait(lambda: market_maker_trading(stack), timeout=60)
        mm = stack.scrape("marketmaker")
        assert mm.value("exchange_marketmaker_orders_total", action="placed") >= 10
        assert mm.value("exchange_marketmaker_orders_total", action="crossing") >= 1
        for side in ("buy", "sell"):
            assert mm.value("exchange_marketmaker_open_quotes", symbol="BTC_USDT", side=side) >= 5
        assert mm.value("exchange_marketmaker_reference_price", symbol="BTC_USDT") > 0
        assert mm.value("exchange_service_batches_total", service="marketmaker") >= 1

        # from here on the only traffic is the test's: counts are exact
        stack.ctl("stop", "marketmaker")
        symbol = f"MX{os.getpid()}_USDT"
        added = stack.manage(
            "add_market", symbol, "--base", "BTC", "--quote", "USDT", "--tick-size", "0.01",
            "--lot-size", "0.00001", "--min-notional", "1",
        )  # fmt: skip
        assert added.returncode == 0, added.stdout + added.stderr
        quiet(stack)
        before = stack.scrape_all(("web", "engine", "dbprocessor", "wsbridge"))
        assert before["engine"].matching(
            "exchange_engine_resting_orders", shard="0", symbol=symbol
        ) == [0]

        seller = register(stack, "metrics-seller")
        buyer = register(stack, "metrics-buyer")
        ws_url = f"ws://127.0.0.1:{stack.env['PORT']}/ws/v1"
        with connect(ws_url) as watcher, connect(ws_url) as slow:
            watcher.send(json.dumps({"op": "subscribe", "channels": [f"trades.{symbol}"]}))
            assert json.loads(watcher.recv(5))["type"] == "subscribed"
            slow.send(json.dumps({"op": "auth", "token": buyer["token"]}))
            assert json.loads(slow.recv(5))["type"] == "authenticated"
            slow.send(json.dumps({"op": "subscribe", "channels": ["user"]}))
            assert json.loads(slow.recv(5))["type"] == "subscribed"
            web = stack.scrape("web")
            assert web.value("exchange_ws_connections") == 2
            assert web.matching("exchange_ws_subscriptions", channel="trades") == [1]
            assert web.matching("exchange_ws_subscriptions", channel="user") == [1]

            # five asks, a buy that takes two of them, a buy the buyer cannot pay, a cancel
            asks = []
            for i in range(5):
                status, placed = order(
                    stack, seller["token"], symbol=symbol, side="sell", type="limit",
                    price=str(100 + i), quantity="0.01",
                )  # fmt: skip
                assert status == 201, placed
                asks.append(placed["order"]["id"])
            status, taken = order(
                stack, buyer["token"], symbol=symbol, side="buy", type="limit",
                price="101", quantity="0.02",
            )  # fmt: skip
            assert status == 201 and len(taken["fills"]) == 2, taken
            status, refused = order(
                stack, buyer["token"], symbol=symbol, side="buy", type="limit",
                price="100", quantity="1000",
            )  # fmt: skip
            assert status == 422 and refused["error"]["code"] == "insufficient_balance", refused
            status, _ = http(
                "DELETE", f"{stack.base}/api/v1/orders/{asks[-1]}", token=seller["token"]
            )
            assert status == 200

            frame = json.loads(watcher.recv(10))
            while frame.get("channel") != f"trades.{symbol}":
                frame = json.loads(watcher.recv(10))
            assert len(frame["data"]) == 2
            # the buyer's socket was sent its fill, order and balance events at once: past
            # 64 bytes behind, it is told it is too slow and disconnected
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    slow.recv(10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4001
            quiet(stack)
            after = stack.scrape_all(("web", "engine", "dbprocessor", "wsbridge"))
        web_after_close = stack.scrape("web")

        # the engine: 6 demo deposits, 6 orders placed, 1 refused, 1 cancel; 2 trades
        engine, engine0 = after["engine"], before["engine"]
        kinds = {
            ("Deposit", "ok"): 6,
            ("PlaceOrder", "ok"): 6,
            ("PlaceOrder", "insufficient_balance"): 1,
            ("CancelOrder", "ok"): 1,
        }
        for (kind, outcome), n in kinds.items():
            got = delta(
                engine, engine0, "exchange_engine_commands_total", kind=kind, outcome=outcome
            )
            assert got == n, (kind, outcome, got)
        assert delta(engine, engine0, "exchange_engine_commands_total") == 14
        assert delta(engine, engine0, "exchange_engine_sequence") == 14
        assert delta(engine, engine0, "exchange_engine_trades_total") == 2
        assert delta(engine, engine0, "exchange_engine_batch_commands_sum") == 14
        assert delta(engine, engine0, "exchange_engine_batch_apply_seconds_count") >= 1
        assert delta(engine, engine0, "exchange_engine_batch_commit_seconds_count") == delta(
            engine, engine0, "exchange_engine_batch_apply_seconds_count"
        )
        assert engine.matching("exchange_engine_resting_orders", symbol=symbol) == [2]

        # the web service's gateway sent those 14 and had 14 replies, no timeout
        web, web0 = after["web"], before["web"]
        for name in ("commands", "replies"):
            assert delta(web, web0, f"exchange_gateway_{name}_total", shard="0") == 14, name
        assert delta(web, web0, "exchange_gateway_batch_commands_sum", shard="0") == 14
        assert delta(web, web0, "exchange_gateway_reply_seconds_count", shard="0") == 14
        assert delta(web, web0, "exchange_gateway_timeouts_total") == 0

        # HTTP, by view and status, with its latency
        responses = "django_http_responses_total_by_status_view_method_total"
        http_counts = {
            ("auth-register", "POST", "201"): 2,
            ("orders", "POST", "201"): 6,
            ("orders", "POST", "422"): 1,
            ("order-detail", "DELETE", "200"): 1,
        }
        for (view, method, status_code), n in http_counts.items():
            got = delta(web, web0, responses, view=view, method=method, status=status_code)
            assert got == n, (view, method, status_code, got)
        latency = "django_http_requests_latency_seconds_by_view_method_count"
        assert delta(web, web0, latency, view="orders", method="POST") == 7

        # WebSocket: two sockets opened, the trades frame sent, the slow one dropped
        assert delta(web, web0, "exchange_ws_connections_opened_total") == 2
        assert delta(web, web0, "exchange_ws_messages_sent_total", channel="trades") >= 1
        assert delta(web, web0, "exchange_ws_messages_sent_total", channel="user") >= 1
        assert delta(web, web0, "exchange_ws_slow_consumer_disconnects_total") == 1
        assert delta(web, web0, "exchange_ws_messages_dropped_total", reason="slow_consumer") == 1
        assert web.matching("exchange_ws_subscriptions", channel="user") == [0]
        assert delta(web, web0, "exchange_ws_hub_events_total") >= 2
        assert web_after_close.value("exchange_ws_connections") == 0
        assert web_after_close.matching("exchange_ws_subscriptions", channel="trades") == [0]

        # the bridge forwarded the engine's messages to the groups
        bridge, bridge0 = after["wsbridge"], before["wsbridge"]
        assert delta(bridge, bridge0, "exchange_wsbridge_messages_received_total") >= 3
        for kind in ("md.trades", "md.depth", "user.events"):
            assert delta(bridge, bridge0, "exchange_wsbridge_group_sends_total", type=kind) >= 1
        assert delta(bridge, bridge0, "exchange_service_batches_total", service="wsbridge") >= 1

        # the DB processor persisted the 14 commands and 2 trades, and is caught up
        db, db0 = after["dbprocessor"], before["dbprocessor"]
        assert delta(db, db0, "exchange_dbprocessor_commands_total", shard="0") == 14
        assert delta(db, db0, "exchange_dbprocessor_trades_total", shard="0") == 2
        assert delta(db, db0, "exchange_dbprocessor_entries_total", shard="0") >= 1
        assert delta(db, db0, "exchange_dbprocessor_rows_total", shard="0") > 14
        assert db.value("exchange_dbprocessor_last_seq") == engine.value("exchange_engine_sequence")
        assert db.matching("exchange_dbprocessor_lag_entries", shard="0") == [0]
        assert db.matching("exchange_dbprocessor_lag_seconds", shard="0") == [0]
        assert delta(db, db0, "exchange_service_batch_seconds_count", service="dbprocessor") >= 1
        assert db.value("exchange_dbprocessor_dead_letters_total") == 0
        assert web.matching("exchange_dead_letters", shard="0") == [0]

        # reconcile's outcome reaches /metrics
        ran = time.time()
        done = stack.manage("reconcile")
        assert done.returncode == 0, done.stdout + done.stderr
        web = stack.scrape("web")
        assert web.matching("exchange_reconcile_finished", shard="0") == [1]
        assert web.matching("exchange_reconcile_differences", shard="0") == [0]
        (success,) = web.matching("exchange_reconcile_last_success_timestamp_seconds", shard="0")
        assert ran <= success <= time.time()
    except BaseException:
        print(stack.tail())
        raise


def documented_metrics() -> dict[str, tuple[str, set[str]]]:
    """docs/operations.md's metric tables: name -> (type, labels)."""
    text = (ROOT / "docs" / "operations.md").read_text()
    section = text.split("## Metrics", 1)[1].split("### Alerts", 1)[0]
    rows = re.findall(r"^\| `([a-z_:]+)` \|\s*(\w+)\s*\|([^|]*)\|", section, re.M)
    return {
        name: (kind, {label.strip() for label in labels.split(",") if label.strip()})
        for name, kind, labels in rows
    }


def scrape_has_samples(scrapes: dict[str, Scrape], name: str) -> bool:
    return any(n.startswith(name) for scrape in scrapes.values() for n in scrape.names())


def sample_name(family: str, kind: str) -> str:
    return f"{family}_total" if kind == "counter" else family


def test_every_metric_the_dashboard_and_the_alerts_read_is_exported(stack, promtool):
    try:
        stack.ctl("start", "marketmaker")  # stopped by the test above, if it ran
        stack.wait(lambda: market_maker_trading(stack), timeout=60)
        if not stack.scrape("web").matching("exchange_reconcile_finished", shard="0"):
            done = stack.manage("reconcile")
            assert done.returncode == 0, done.stdout + done.stderr
        exported: set[str] = set()
        scrapes = stack.scrape_all()
        for scrape in scrapes.values():
            exported |= scrape.names()
        queries = alert_queries() + dashboard_queries()
        wanted = set().union(*(promql_metric_names(as_promql(q)) for q in queries))
        assert len(wanted) > 40
        missing = sorted(wanted - exported - PROMETHEUS_SERIES)
        assert not missing, missing

        # every exposition passes Prometheus' own lint (names, units, types, help)
        for service, scrape in scrapes.items():
            lint = subprocess.run(  # noqa: S603
                [promtool, "check", "metrics"], input=scrape.text, capture_output=True,
                text=True, check=False,
            )  # fmt: skip
            assert lint.returncode == 0, (service, lint.stdout + lint.stderr)

        # and docs/operations.md lists exactly the exchange's own, with their type and labels
        families: dict[str, tuple[str, set[str]]] = {}
        for scrape in scrapes.values():
            for family, (kind, labels) in scrape.families.items():
                name = sample_name(family, kind)  # a family may be in several processes
                families[name] = (kind, families.get(name, (kind, set()))[1] | labels)
        documented = documented_metrics()
        ours = {name: v for name, v in families.items() if name.startswith("exchange_")}
        assert set(ours) == {name for name in documented if name.startswith("exchange_")}
        for name, (kind, labels) in documented.items():
            assert name in families, name  # the django_http_* ones listed are exported too
            assert families[name][0] == kind, (name, families[name][0])
            if scrape_has_samples(scrapes, name):  # no exception yet: no labels to see
                assert families[name][1] == labels, (name, families[name][1])
    except BaseException:
        print(stack.tail())
        raise
