"""WebSocket fan-out figures (issue 5), printed.

Starts its own stack on a database and a Redis database of its own (exchange_wsbench, Redis
db 13): an engine worker, daphne (the web process) and the bridge (`run_wsbridge`). N
clients (the `websockets` library, in this process) subscribe to BTC_USDT's depth and
trades while orders go straight onto the engine's queue at a fixed rate (10 per job).

A probe in this process subscribes to the engine's own md.depth / md.trades channels and
timestamps each publish; a client's delay for a message is its receipt time minus the
probe's time for the FIRST engine publish the message covers (for a coalesced message,
the oldest change in it: the coalescing wait is included).

Printed per scenario: delay p50 / p99 / max, messages per second delivered (all clients),
gaps seen by clients that kept up, the web process's CPU (% of one core over the run) and
its memory per connection (RSS growth / N).

Usage: .venv/bin/python bench/ws_fanout.py [--seconds 10] [--rate 500]
           [--scenario 1000:100 --scenario 100:0]   (clients:coalesce_ms)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import bench_env, free_port, prepare, start, stop  # noqa: E402

REDIS_URL = os.environ.get("BENCH_WS_REDIS_URL", "redis://127.0.0.1:6379/13")
ENV = bench_env(
    "exchange_wsbench",
    REDIS_URL,
    CHANNEL_LAYER_PREFIX=f"wsbench{os.getpid()}",
    WS_PING_INTERVAL="30",
)
SYMBOL = "BTC_USDT"


def port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


# -- order flow --------------------------------------------------------------------------


class OrderFlow(threading.Thread):
    """`rate` orders per second onto the engine's queue, 10 per job, around a drifting mid;
    a share of them cross (IOC) so that trades happen."""

    def __init__(self, rate: float) -> None:
        super().__init__(daemon=True)
        self.rate = rate
        self.stop_event = threading.Event()
        self.sent = 0

    def run(self) -> None:
        import redis
        from rq import Queue
        from rq.serializers import JSONSerializer

        from infra import keys

        conn = redis.Redis.from_url(REDIS_URL)
        queue = Queue(keys.queue(0), connection=conn, serializer=JSONSerializer)
        users = list(range(2_000_000, 2_000_050))
        ts = int(time.time() * 1000)
        funding = [
            {"kind": "Deposit", "request_id": f"wsf{u}{a}{ts}", "ts": ts, "user_id": u,
             "asset": a, "amount": 10**18, "decimals": 8}
            for u in users for a in ("USDT", "BTC")
        ]  # fmt: skip
        queue.enqueue_call("engine_worker.jobs.apply_batch", args=(funding, None, 0),
                           timeout=-1, result_ttl=0)  # fmt: skip
        rng = random.Random(5)
        mid = 3_000_000
        per_job = 10
        interval = per_job / self.rate
        next_at = time.perf_counter()
        n = 0
        while not self.stop_event.is_set():
            commands = []
            for _ in range(per_job):
                n += 1
                mid += rng.choice((-1, 1))
                side = rng.choice(("buy", "sell"))
                cross = rng.random() < 0.3
                offset = rng.randint(1, 40)
                price = (mid + offset if side == "buy" else mid - offset) if cross else (
                    mid - offset if side == "buy" else mid + offset)  # fmt: skip
                commands.append(
                    {"kind": "PlaceOrder", "request_id": f"ws{ts}-{n}",
                     "ts": int(time.time() * 1000), "user_id": rng.choice(users),
                     "symbol": SYMBOL, "side": side, "type": "limit",
                     "time_in_force": "IOC" if cross else "GTC", "price": price,
                     "quantity": rng.randint(10, 100), "post_only": False,
                     "client_order_id": None}
                )  # fmt: skip
            queue.enqueue_call("engine_worker.jobs.apply_batch", args=(commands, None, 0),
                               timeout=-1, result_ttl=0)  # fmt: skip
            self.sent += per_job
            next_at += interval
            delay = next_at - time.perf_counter()
            if delay > 0:
                time.sleep(delay)


# -- probe and clients ---------------------------------------------------------------------


class Probe(threading.Thread):
    """Times each engine publish on md.depth.SYM (by sequence) and md.trades.SYM (by id)."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.depth: dict[int, float] = {}
        self.trades: dict[int, float] = {}
        self.ready = threading.Event()
        self.stop_event = threading.Event()

    def run(self) -> None:
        import redis

        pubsub = redis.Redis.from_url(REDIS_URL).pubsub()
        pubsub.subscribe(f"md.depth.{SYMBOL}", f"md.trades.{SYMBOL}")
        self.ready.set()
        while not self.stop_event.is_set():
            message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.2)
            if message is None:
                continue
            now = time.time()
            body = json.loads(message["data"])
            if isinstance(body, dict):
                for seq in range(body["first_sequence"], body["sequence"] + 1):
                    self.depth[seq] = now
            else:
                for trade in body:
                    self.trades[trade["id"]] = now


class ClientStats:
    def __init__(self) -> None:
        self.samples: list[tuple[str, int, float]] = []  # kind, first seq / trade id, time
        self.messages = 0
        self.gaps = 0
        self.snapshots = 0
        self.errors: list[str] = []


async def client(url: str, stats: ClientStats, ready: asyncio.Event, counter: list[int],
                 total: int, stop_at: list[float]) -> None:  # fmt: skip
    from websockets.asyncio.client import connect

    depth_channel = f"depth.{SYMBOL}"
    async with connect(url, max_queue=None, ping_interval=None, compression=None) as ws:
        await ws.send(json.dumps({"op": "subscribe",
                                  "channels": [depth_channel, f"trades.{SYMBOL}"]}))  # fmt: skip
        last = None
        counted = False
        async for raw in ws:
            now = time.time()
            frame = json.loads(raw)
            channel = frame.get("channel")
            if channel == depth_channel:
                if frame["type"] == "snapshot":
                    stats.snapshots += 1
                    last = frame["sequence"]
                    if not counted:
                        counted = True
                        counter[0] += 1
                        if counter[0] == total:
                            ready.set()
                    continue
                if last is not None and frame["first_sequence"] != last + 1:
                    stats.gaps += 1
                last = frame["sequence"]
                if stop_at[0] and now < stop_at[0]:
                    stats.samples.append(("d", frame["first_sequence"], now))
                    stats.messages += 1
            elif channel is not None:
                if stop_at[0] and now < stop_at[0]:
                    stats.samples.append(("t", frame["data"][0]["id"], now))
                    stats.messages += 1
            elif frame.get("type") == "error":
                stats.errors.append(frame["code"])
            if stop_at[0] and now > stop_at[0] + 2:
                return


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def scenario(clients: int, coalesce_ms: float, seconds: float, rate: float) -> dict:
    port = free_port()
    # every client connects from 127.0.0.1: lift the per-address cap (realtime/security.py)
    env = {**ENV, "WS_COALESCE_MS": str(coalesce_ms), "WS_MAX_CONNECTIONS_PER_ADDRESS": "100000"}
    web = start([sys.executable, "-m", "realtime.server", "-b", "127.0.0.1", "-p", str(port),
                 "--access-log", "/dev/null", "exchange_site.asgi:application"], env,
                lambda: port_open(port))  # fmt: skip
    bridge = subprocess.Popen([sys.executable, "manage.py", "run_wsbridge"], cwd=ROOT, env=env)
    probe = Probe()
    probe.start()
    probe.ready.wait(5)
    flow: OrderFlow | None = None
    try:
        time.sleep(1)
        rss_before = rss_bytes(web.pid)
        stats = [ClientStats() for _ in range(clients)]
        stop_at = [0.0]

        async def run() -> None:
            ready = asyncio.Event()
            counter = [0]
            url = f"ws://127.0.0.1:{port}/ws/v1"
            tasks = []
            for i in range(clients):
                tasks.append(
                    asyncio.create_task(client(url, stats[i], ready, counter, clients, stop_at))
                )
                if i % 50 == 49:
                    await asyncio.sleep(0.05)
            await asyncio.wait_for(ready.wait(), 120)
            nonlocal flow, rss_after, cpu_start, started
            await asyncio.sleep(1)
            rss_after = rss_bytes(web.pid)
            flow = OrderFlow(rate)
            flow.start()
            await asyncio.sleep(1)  # warm up
            cpu_start, started = cpu_seconds(web.pid), time.time()
            sent_start = flow.sent
            nonlocal own_start
            own_start = cpu_seconds(os.getpid())
            stop_at[0] = started + seconds
            await asyncio.sleep(seconds)
            nonlocal cpu_end, own_end
            cpu_end = cpu_seconds(web.pid)
            nonlocal flow_rate
            flow_rate = (flow.sent - sent_start) / seconds
            own_end = cpu_seconds(os.getpid())
            flow.stop_event.set()
            await asyncio.wait(tasks, timeout=10)
            for task in tasks:
                task.cancel()

        rss_after = cpu_start = cpu_end = started = own_start = own_end = flow_rate = 0.0
        asyncio.run(run())
    finally:
        if flow is not None:
            flow.stop_event.set()
        probe.stop_event.set()
        stop(bridge)
        stop(web)
    delays: list[float] = []
    missing = 0
    for s in stats:
        for kind, key, at in s.samples:
            sent = (probe.depth if kind == "d" else probe.trades).get(key)
            if sent is None:
                missing += 1
                continue
            delays.append((at - sent) * 1000)
    return {
        "clients": clients,
        "coalesce_ms": coalesce_ms,
        "orders_per_s": round(flow_rate),
        "p50_ms": round(pct(delays, 0.50), 1),
        "p99_ms": round(pct(delays, 0.99), 1),
        "max_ms": round(max(delays), 1) if delays else float("nan"),
        "msgs_per_s": round(sum(s.messages for s in stats) / seconds),
        "gaps": sum(s.gaps for s in stats),
        "errors": sorted({e for s in stats for e in s.errors}),
        "unmatched": missing,
        "web_cpu_pct": round((cpu_end - cpu_start) / seconds * 100),
        "clients_cpu_pct": round((own_end - own_start) / seconds * 100),
        "kib_per_conn": round((rss_after - rss_before) / clients / 1024, 1),
    }


def layer_rates(sends: int = 5000) -> list[tuple[str, float]]:
    """group_send/s from one long-lived asyncio loop, one group with one member channel,
    for channels-redis's core layer and its Pub/Sub layer."""
    from channels_redis.core import RedisChannelLayer
    from channels_redis.pubsub import RedisPubSubChannelLayer

    async def rate(layer) -> float:
        channel = await layer.new_channel()
        await layer.group_add("bench", channel)
        event = {"type": "md.depth", "group": "bench", "text": "x" * 300}
        started = time.perf_counter()
        for _ in range(sends):
            await layer.group_send("bench", event)
        elapsed = time.perf_counter() - started
        await layer.flush()
        return sends / elapsed

    out = []
    for name, cls in (("core (RedisChannelLayer)", RedisChannelLayer),
                      ("pubsub (RedisPubSubChannelLayer)", RedisPubSubChannelLayer)):  # fmt: skip
        layer = cls(hosts=[REDIS_URL], prefix=f"wsbenchlayer{os.getpid()}")
        out.append((name, asyncio.run(rate(layer))))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=float, default=500, help="orders per second")
    parser.add_argument("--scenario", action="append", help="clients:coalesce_ms")
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    scenarios = [tuple(map(float, s.split(":"))) for s in (args.scenario or ["1000:100", "100:0"])]
    prepare(ENV)
    for name, per_second in layer_rates():
        print(f"group_send from one asyncio loop, {name}: {per_second:,.0f}/s")
    alive = __import__("redis").Redis.from_url(REDIS_URL)
    engine = start([sys.executable, "manage.py", "run_engine", "--shard", "0"], ENV,
                   lambda: alive.exists("engine.alive.0"))  # fmt: skip
    try:
        results = [scenario(int(c), w, args.seconds, args.rate) for c, w in scenarios]
    finally:
        stop(engine)
    header = ("clients", "coalesce_ms", "orders_per_s", "p50_ms", "p99_ms", "max_ms",
              "msgs_per_s", "gaps", "web_cpu_pct", "clients_cpu_pct", "kib_per_conn",
              "errors")  # fmt: skip
    print(" | ".join(header))
    for r in results:
        print(" | ".join(str(r[h]) for h in header))
    for r in results:
        if r["unmatched"]:
            print(f"({r['unmatched']} samples of the {r['clients']}-client run had no probe time)")


if __name__ == "__main__":
    main()
