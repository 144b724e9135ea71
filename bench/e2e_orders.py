"""End-to-end order throughput and latency, printed as figures (issues 2 and 12).

Starts its own stack on a database and a Redis database of its own (exchange_bench and
Redis db 14; BENCH_DATABASE and BENCH_REDIS_URL change them): an engine worker process
and, for part (b), the web tier.

(a) Engine throughput through RQ: jobs enqueued directly on the engine's queue, as the
    gateway makes them: 100-command jobs all queued at once (commands per second until
    the last reply), one-command jobs all queued at once (jobs per second) and one at a
    time (the K=1 shape: jobs per second, p50 from enqueue to reply, engine CPU a job);
    next to the rate of no-op RQ jobs on a plain RQ SimpleWorker in this same run (the
    per-job cost of RQ's own worker, which the engine's job loop does without).
(b) Through HTTP, driven by wrk (Debian's package: `apt-get install -y wrk`) with a Lua
    script that gives each keep-alive connection a trader's token and makes each order's
    body: a no-op Django view and the cheapest authenticated endpoint (GET
    /api/v1/auth/me) for the floor of the web tier, then orders (POST /api/v1/orders) with
    K = 1, 8, 32 connections; then an open loop, an asyncio client sending orders on a fixed
    schedule (--open-rate a second), latency counted from each order's scheduled time.
    The traders are funded so that every order is accepted; each figure has beside it the
    accepted, 4xx and 5xx (and socket error) counts, and the CPU milliseconds per request
    of the web processes, the engine and the load generator (from /proc/<pid>/stat).

Usage: .venv/bin/python bench/e2e_orders.py [--seconds 5] [--jobs 500] [--batch 100]
           [--open-rate 500] [--skip-rq | --skip-http] [--web LAYOUT] [--root CHECKOUT]
--web daphne runs one daphne for everything (the web tier before issue 12); --root runs
the services from another checkout (another commit, to compare in the same run).
"""

from __future__ import annotations

import argparse
import asyncio
import configparser
import http.client
import json
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.common import (  # noqa: E402
    OrderMix,
    bench_env,
    free_port,
    log,
    order_payload,
    port_open,
    prepare,
    stop,
)
from bench.common import start as start_service  # noqa: E402

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
ENV = bench_env(
    os.environ.get("BENCH_DATABASE", "exchange_bench"),
    REDIS_URL,
    # every order the bench places is accepted: ample funds of every asset it trades
    SIGNUP_DEMO_FUNDS="USDT=100000000,BTC=100000,ETH=100000",
    API_RATE_LIMIT="100000000/minute",
)


# -- (a) engine throughput through RQ ----------------------------------------------------


def noop() -> None:
    """The no-op job of the baseline."""


def rq_noop_rate(jobs: int) -> float:
    import redis
    from rq import Queue, SimpleWorker
    from rq.serializers import JSONSerializer

    conn = redis.Redis.from_url(REDIS_URL)
    queue = Queue("bench.noop", connection=conn, serializer=JSONSerializer)
    for _ in range(jobs):
        queue.enqueue_call("bench.e2e_orders.noop", timeout=-1, result_ttl=0)
    worker = SimpleWorker([queue], connection=conn, serializer=JSONSerializer)
    started = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    return jobs / (time.perf_counter() - started)


class EngineQueue:
    """Jobs straight onto shard 0's queue, as the gateway makes them, with the replies
    on a channel of the bench's own; its traders funded by a first job."""

    def __init__(self) -> None:
        import redis

        from engine_client.gateway import ENQUEUE_JOB

        self.conn = redis.Redis.from_url(REDIS_URL)
        self.script = self.conn.register_script(ENQUEUE_JOB)
        self.jobs = 0
        self.reply_to = f"engine.reply.bench{os.getpid()}"
        self.pubsub = self.conn.pubsub()
        self.pubsub.subscribe(self.reply_to)
        self.pubsub.get_message(timeout=1)
        self.mix = OrderMix(7)
        self.enqueue([self.mix.funding()])
        self.replies(1)

    def enqueue(self, jobs: list[list[dict]]) -> None:
        """The jobs in one round trip, each written as the gateway writes it."""
        from engine_client.gateway import enqueue_job

        pipe = self.conn.pipeline(transaction=False)
        for commands in jobs:
            self.jobs += 1
            job_id = f"bench{os.getpid()}-j{self.jobs}"
            enqueue_job(self.script, job_id, commands, self.reply_to, 0, client=pipe)
        pipe.execute()

    def replies(self, jobs: int) -> None:
        got = 0
        while got < jobs:
            message = self.pubsub.get_message(timeout=30)
            if message is None:
                raise RuntimeError("engine stopped answering")
            if message["type"] == "message":
                got += 1

    def queued_rate(self, jobs: int, batch: int) -> float:
        """Commands a second: ``jobs`` jobs of ``batch`` orders all queued at once,
        until the last reply."""
        all_jobs = [self.mix.orders(batch) for _ in range(jobs)]
        started = time.perf_counter()
        self.enqueue(all_jobs)
        self.replies(jobs)
        return jobs * batch / (time.perf_counter() - started)

    def one_at_a_time(self, seconds: float, engine: list[int]) -> tuple[float, float, float]:
        """One one-order job at a time (the K=1 shape): jobs a second, p50 ms from
        enqueue to reply, and the engine's CPU ms a job."""
        latencies = []
        cpu = tree_cpu(engine)
        started = time.perf_counter()
        while time.perf_counter() - started < seconds:
            job = [self.mix.orders(1)]
            sent = time.perf_counter()
            self.enqueue(job)
            self.replies(1)
            latencies.append(time.perf_counter() - sent)
        elapsed = time.perf_counter() - started
        cpu = tree_cpu(engine) - cpu
        return len(latencies) / elapsed, pct(latencies, 0.5), cpu * 1000 / len(latencies)


def redis_cpu(conn: Any) -> float:
    """CPU seconds the Redis server has used (all its clients: this bench's too)."""
    info = conn.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def rq_part(args: argparse.Namespace, engine: subprocess.Popen) -> None:
    log("(a) no-op RQ jobs ...")
    noop_rate = rq_noop_rate(2000)
    log("(a) engine through RQ ...")
    bench = EngineQueue()
    cpu, own, server = tree_cpu([engine.pid]), time.process_time(), redis_cpu(bench.conn)
    engine_rate = bench.queued_rate(args.jobs, args.batch)
    commands = args.jobs * args.batch
    engine_cpu = (tree_cpu([engine.pid]) - cpu) * 1e6 / commands
    bench_cpu = (time.process_time() - own) * 1e6 / commands  # enqueueing, reading replies
    server_cpu = (redis_cpu(bench.conn) - server) * 1e6 / commands
    single_rate = bench.queued_rate(2000, 1)
    one_rate, one_p50, one_cpu = bench.one_at_a_time(args.seconds, [engine.pid])
    print(f"(a) engine through RQ ({args.root})")
    print(f"    no-op RQ jobs, SimpleWorker:               {noop_rate:10,.0f} jobs/s")
    print(
        f"    engine, {args.batch} commands per job:          {engine_rate:10,.0f} commands/s"
        f"  ({args.jobs * args.batch:,} commands; {engine_rate / noop_rate:.0f}x the no-op"
        f" job rate; CPU a command: engine {engine_cpu:.1f} us, Redis {server_cpu:.1f} us, this"
        f" bench {bench_cpu:.1f} us)"
    )
    print(
        f"    engine, 1 command per job, 2,000 queued:  {single_rate:10,.0f} jobs/s"
        f"  ({single_rate / noop_rate:.1f}x the no-op job rate)"
    )
    print(
        f"    engine, 1 command per job, one at a time: {one_rate:10,.0f} jobs/s"
        f"  (p50 {one_p50:.2f} ms enqueue to reply; engine CPU {one_cpu:.2f} ms a job)"
    )


# -- (b) HTTP ----------------------------------------------------------------------------

# A no-op Django view for the floor of the web tier: the site's own URLs and settings with
# one more path in front, in a settings module of the bench's (nothing in the product).
NOOP_PATH = "/bench/noop"
NOOP_MODULES = {
    "e2e_bench_urls.py": """
from django.http import HttpResponse
from django.urls import path

from exchange_site import urls as site


def noop(request):
    return HttpResponse(b"{}", content_type="application/json")


urlpatterns = [path("bench/noop", noop), *site.urlpatterns]
handler404 = site.handler404
handler500 = site.handler500
""",
    "e2e_bench_settings.py": """
from exchange_site.settings import *  # noqa: F403

ROOT_URLCONF = "e2e_bench_urls"
""",
}


def noop_settings(tmp: Path) -> dict[str, str]:
    """The environment that makes a web process serve NOOP_PATH too."""
    for name, text in NOOP_MODULES.items():
        (tmp / name).write_text(text)
    return {"DJANGO_SETTINGS_MODULE": "e2e_bench_settings", "PYTHONPATH": str(tmp)}


def start_daphne(root: Path, port: int, env: dict[str, str]) -> list[subprocess.Popen]:
    """The web tier before issue 12: one daphne for HTTP and WebSockets."""
    args = [sys.executable, "-m", "realtime.server", "-b", "127.0.0.1", "-p", str(port)]
    args += ["--access-log", "/dev/null", "exchange_site.asgi:application"]
    return [subprocess.Popen(args, cwd=root, env=env)]


STACK_PROGRAMS = ("web", "websocket", "proxy")


def start_stack(root: Path, port: int, env: dict[str, str]) -> list[subprocess.Popen]:
    """The web tier as `make run` starts it: the programs STACK_PROGRAMS of the checkout's
    deploy/supervisord.conf, their commands and environments as written there (the
    runtime folder var/ a temporary one), without supervisord and the output prefixer."""
    conf = configparser.RawConfigParser()
    conf.read(root / "deploy" / "supervisord.conf")
    run_dir = Path(env["PYTHONPATH"])  # noop_settings' temporary folder
    procs = []
    for name in STACK_PROGRAMS:
        section = conf[f"program:{name}"]

        def expand(text: str, name: str = name) -> str:
            text = text.replace("%(here)s/../var", str(run_dir))
            return text.replace("%(here)s", str(root / "deploy")).replace("%(program_name)s", name)

        args = shlex.split(expand(section["command"]))[3:]  # without "python prefix.py NAME"
        extra = dict(re.findall(r'(\w+)="([^"]*)"', expand(section.get("environment", ""))))
        program_env = {**env, **extra, "HOST": "127.0.0.1", "PORT": str(port)}
        procs.append(subprocess.Popen(args, cwd=root, env=program_env))
    return procs


WEB_LAYOUTS = {"daphne": start_daphne, "stack": start_stack}
DEFAULT_LAYOUT = "stack"


def start_web(layout: str, root: Path, port: int, env: dict[str, str]) -> list[subprocess.Popen]:
    procs = WEB_LAYOUTS[layout](root, port, env)
    deadline = time.monotonic() + 60
    while not answers(port, NOOP_PATH):
        if any(p.poll() is not None for p in procs) or time.monotonic() > deadline:
            for proc in procs:
                stop(proc)
            raise RuntimeError(f"the web tier ({layout}) did not start")
        time.sleep(0.1)
    return procs


def answers(port: int, path: str) -> bool:
    if not port_open(port):
        return False
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", path)
        return conn.getresponse().status == 200
    except OSError:
        return False
    finally:
        conn.close()


def register(port: int, name: str) -> str:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"username": name, "password": "bench-password-1"})
    conn.request("POST", "/api/v1/auth/register", body, {"Content-Type": "application/json"})
    response = conn.getresponse()
    reply = json.loads(response.read())
    assert response.status == 201, reply
    return reply["token"]


# -- CPU of the processes under test -----------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def tree_cpu(roots: list[int]) -> float:
    """CPU seconds (user + system) used so far by the processes ``roots`` and all their
    descendants, from /proc/<pid>/stat."""
    stats: dict[int, tuple[int, float]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # after "pid (comm)": state ppid ... utime (14th field) stime (15th)
        stats[int(entry)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / TICK)
    total = 0.0
    for pid, (_, cpu) in stats.items():
        p = pid
        while p in stats:
            if p in roots:
                total += cpu
                break
            p = stats[p][0]
    return total


class CpuMeter:
    """CPU seconds of the web tier (of which its front proxy), the engine and the load
    generator over a run."""

    def __init__(self, web: list[int], proxy: list[int], engine: list[int]) -> None:
        self.web, self.proxy, self.engine = web, proxy, engine

    def __enter__(self) -> CpuMeter:
        self.started = (
            tree_cpu(self.web),
            tree_cpu(self.proxy),
            tree_cpu(self.engine),
            time.perf_counter(),
        )
        return self

    def __exit__(self, *exc: object) -> None:
        web, proxy, engine, t = self.started
        self.web_s = tree_cpu(self.web) - web
        self.proxy_s = tree_cpu(self.proxy) - proxy
        self.engine_s = tree_cpu(self.engine) - engine
        self.elapsed = time.perf_counter() - t


# -- the load generators -----------------------------------------------------------------

LUA = r"""
-- generated by bench/e2e_orders.py: one trader's token per connection (one connection
-- per wrk thread), order bodies made per request, every status counted
local tokens = {%(tokens)s}
local mode = "%(mode)s"
local path = "%(path)s"
local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  token = tokens[((tid - 1) %% #tokens) + 1]
  math.randomseed(tid)
  accepted, rejected, failed, n = 0, 0, 0, 0
  sample = ""
  headers = {["Authorization"] = "Token " .. token, ["Content-Type"] = "application/json"}
  fixed = wrk.format("GET", path, headers)
end

function request()
  if mode ~= "order" then
    return fixed
  end
  n = n + 1
  local eth = n %% 3 == 0
  local body = string.format(
    '{"symbol":"%%s","side":"%%s","type":"limit","price":"%%d","quantity":"%%s","time_in_force":"%%s"}',
    eth and "ETH_USDT" or "BTC_USDT", n %% 2 == 1 and "buy" or "sell",
    (eth and 2000 or 30000) + math.random(-20, 20), eth and "0.01" or "0.001",
    n %% 4 == 0 and "IOC" or "GTC")
  return wrk.format("POST", path, headers, body)
end

function response(status, headers, body)
  if status < 300 then
    accepted = accepted + 1
  else
    if status < 500 then rejected = rejected + 1 else failed = failed + 1 end
    if sample == "" then sample = status .. " " .. string.sub(body, 1, 200) end
  end
end

function done(summary, latency, requests)
  local a, r, f, s = 0, 0, 0, ""
  for _, t in ipairs(threads) do
    a = a + t:get("accepted"); r = r + t:get("rejected"); f = f + t:get("failed")
    if s == "" then s = t:get("sample") end
  end
  local e = summary.errors
  io.write(string.format(
    '\nRESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"accepted": %%d, "rejected": %%d, "failed": %%d, "socket_errors": %%d, "sample": %%q}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    a, r, f, e.connect + e.read + e.write + e.timeout, s))
end
"""


@dataclass
class Run:
    what: str
    connections: int
    rate: float
    p50_ms: float
    p99_ms: float
    accepted: int
    rejected: int
    failed: int
    web_ms: float  # CPU milliseconds per request
    proxy_ms: float
    engine_ms: float
    client_ms: float
    sample: str = ""
    offered: float | None = None

    def line(self) -> str:
        counts = f"{self.accepted:>8,} {self.rejected:>6,} {self.failed:>6,}"
        cpu = (
            f"{self.web_ms:6.2f} ({self.proxy_ms:4.2f}) {self.engine_ms:6.2f} {self.client_ms:6.2f}"
        )
        return (
            f"    {self.what:<30} {self.connections:>3} {self.rate:>9,.0f} {self.p50_ms:>8.2f}"
            f" {self.p99_ms:>8.1f}  {counts}   {cpu}"
        )


HEADER = (
    f"    {'':<30} {'K':>3} {'per s':>9} {'p50 ms':>8} {'p99 ms':>8}  {'accepted':>8}"
    f" {'4xx':>6} {'5xx':>6}   CPU ms per request: web (of it proxy), engine, client"
)


PROFILE_DIR: Path | None = None  # --profile: py-spy records each run of the web tier


def profile_start(name: str, pids: list[int], seconds: int) -> list[subprocess.Popen]:
    """py-spy (installed for profiling only: pip install py-spy, into the venv or anywhere
    on PATH; PY_SPY names the binary) sampling the web processes and their children for
    the run, as collapsed stacks."""
    if PROFILE_DIR is None:
        return []
    beside = Path(sys.executable).parent / "py-spy"
    spy = os.environ.get("PY_SPY") or shutil.which("py-spy") or str(beside)
    return [
        subprocess.Popen(
            [str(spy), "record", "-p", str(pid), "-s", "-g", "-r", "250", "-d", str(seconds)]
            + ["--nonblocking", "-f", "raw", "-o", str(PROFILE_DIR / f"{name}-{pid}.txt")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for pid in pids
    ]


def profile_summary(paths: list[Path], top: int = 18) -> str:
    """The functions with the most samples in py-spy's collapsed stacks: inclusive (the
    function anywhere on the stack) and self (the innermost frame), as % of samples."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for path in paths:
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            n = int(count)
            total += n
            frames = [f.rsplit(":", 1)[0] + ")" if ":" in f else f for f in stack.split(";")]
            frames = [
                f.replace(str(ROOT), "").replace(".venv/lib/python3.11/site-packages/", "")
                for f in frames
            ]
            for frame in set(frames):
                inclusive[frame] = inclusive.get(frame, 0) + n
            own[frames[-1]] = own.get(frames[-1], 0) + n
    if not total:
        return "    (no samples)"
    lines = [f"    {total} samples; inclusive % (on the stack) / self % (innermost frame):"]
    for frame, n in sorted(inclusive.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"    {100 * n / total:5.1f} {100 * own.get(frame, 0) / total:5.1f}  {frame}")
    lines.append("    top self:")
    for frame, n in sorted(own.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"    {100 * n / total:5.1f}  {frame}")
    return "\n".join(lines)


def wrk_run(
    what: str, url: str, mode: str, tokens: list[str], k: int, seconds: float, meter: CpuMeter
) -> Run:
    path = url.split("/", 3)[3]
    script = LUA % {
        "tokens": ", ".join(f'"{t}"' for t in tokens[:k]),
        "mode": mode,
        "path": "/" + path,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    args = [
        "wrk",
        "-t",
        str(k),
        "-c",
        str(k),
        "-d",
        f"{max(1, round(seconds))}s",
        "--timeout",
        "10s",
    ]
    args += ["-s", f.name, url]
    name = f"{mode}-{path.replace('/', '_')}-k{k}"
    with meter:
        spies = profile_start(name, meter.web, max(1, round(seconds) - 1))
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        out = proc.stdout.read() if proc.stdout else ""
        _, status, usage = os.wait4(proc.pid, 0)
    for spy in spies:
        spy.wait()
    if spies and PROFILE_DIR is not None and what != "warm-up":
        print(f"    profile of the web tier, {what}, K={k}:", file=sys.stderr)
        print(profile_summary(sorted(PROFILE_DIR.glob(f"{name}-*.txt"))), file=sys.stderr)
    os.unlink(f.name)
    if status != 0 or "RESULT " not in out:
        raise RuntimeError(f"wrk failed ({status}): {out[-2000:]}")
    result = json.loads(out.rsplit("RESULT ", 1)[1])
    n = max(1, result["requests"])
    return Run(
        what=what,
        connections=k,
        rate=result["requests"] / (result["duration_us"] / 1e6),
        p50_ms=result["p50_us"] / 1000,
        p99_ms=result["p99_us"] / 1000,
        accepted=result["accepted"],
        rejected=result["rejected"],
        failed=result["failed"] + result["socket_errors"],
        web_ms=meter.web_s * 1000 / n,
        proxy_ms=meter.proxy_s * 1000 / n,
        engine_ms=meter.engine_s * 1000 / n,
        client_ms=(usage.ru_utime + usage.ru_stime) * 1000 / n,
        sample=result["sample"],
    )


def order_request(i: int, token: str) -> bytes:
    body = json.dumps(order_payload(i)).encode()
    head = (
        f"POST /api/v1/orders HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Token {token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _open_loop(
    port: int, tokens: list[str], rate: float, seconds: float
) -> tuple[list[float], dict[str, int], str]:
    """Send ``rate`` orders a second on a fixed schedule for ``seconds`` over as many
    keep-alive connections as are busy; each latency counts from its scheduled time, so
    queueing (in the server or here) is included."""
    loop = asyncio.get_running_loop()
    idle: list[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = []
    for _ in range(16):
        idle.append(await asyncio.open_connection("127.0.0.1", port))
    latencies: list[float] = []
    counts = {"accepted": 0, "rejected": 0, "failed": 0}
    sample = [""]

    async def one(i: int, scheduled: float) -> None:
        try:
            if idle:
                reader, writer = idle.pop()
            else:
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(order_request(i, tokens[i % len(tokens)]))
            status = int((await reader.readline()).split()[1])
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            body = await reader.readexactly(length)
            latencies.append(loop.time() - scheduled)
            idle.append((reader, writer))
        except (OSError, ValueError, IndexError, asyncio.IncompleteReadError) as exc:
            counts["failed"] += 1
            sample[0] = sample[0] or repr(exc)
            return
        if status < 300:
            counts["accepted"] += 1
        else:
            counts["rejected" if status < 500 else "failed"] += 1
            sample[0] = sample[0] or f"{status} {body[:200]!r}"

    tasks = []
    start = loop.time() + 0.05
    total = int(rate * seconds)
    for i in range(total):
        scheduled = start + i / rate
        delay = scheduled - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(i, scheduled)))
    await asyncio.gather(*tasks)
    for _, writer in idle:
        writer.close()
    return latencies, counts, sample[0]


def open_loop(port: int, tokens: list[str], rate: float, seconds: float, meter: CpuMeter) -> Run:
    before = resource.getrusage(resource.RUSAGE_SELF)
    with meter:
        latencies, counts, sample = asyncio.run(_open_loop(port, tokens, rate, seconds))
    after = resource.getrusage(resource.RUSAGE_SELF)
    n = max(1, sum(counts.values()))
    client = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return Run(
        what=f"POST /api/v1/orders, {rate:,.0f}/s",
        connections=0,
        rate=len(latencies) / meter.elapsed,
        p50_ms=pct(latencies, 0.5),
        p99_ms=pct(latencies, 0.99),
        **counts,
        web_ms=meter.web_s * 1000 / n,
        proxy_ms=meter.proxy_s * 1000 / n,
        engine_ms=meter.engine_s * 1000 / n,
        client_ms=client * 1000 / n,
        sample=sample,
        offered=rate,
    )


def pct(latencies: list[float], q: float) -> float:
    if not latencies:
        return float("nan")
    ordered = sorted(latencies)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def http_part(args: argparse.Namespace, root: Path, engine: subprocess.Popen, tmp: Path) -> None:
    if shutil.which("wrk") is None:
        sys.exit("error: wrk is not installed; install it with `apt-get install -y wrk`")
    port = free_port()
    web = start_web(args.web, root, port, {**ENV, **noop_settings(tmp)})
    try:
        log("(b) registering 32 traders (funded so that every order is accepted) ...")
        tokens = [register(port, f"bench{time.time_ns()}x{k}") for k in range(32)]
        proxy = [p.pid for p in web if "haproxy" in str(p.args)]
        meter = CpuMeter([p.pid for p in web], proxy, [engine.pid])
        base = f"http://127.0.0.1:{port}"
        # warm every web process and thread (first requests import and connect)
        wrk_run("warm-up", base + "/api/v1/auth/me", "get", tokens, 32, 1, meter)
        wrk_run("warm-up", base + "/api/v1/orders", "order", tokens, 32, 1, meter)
        runs = []
        for name, what, path, mode, ks in (
            ("noop", "no-op view (GET /bench/noop)", NOOP_PATH, "get", (32,)),
            ("me", "GET /api/v1/auth/me", "/api/v1/auth/me", "get", (1, 32)),
            ("orders", "POST /api/v1/orders", "/api/v1/orders", "order", (1, 8, 32)),
        ):
            for k in ks if name in args.only else ():
                log(f"(b) {what}, K={k} ...")
                runs.append(wrk_run(what, base + path, mode, tokens, k, args.seconds, meter))
        if "open" in args.only:
            log(f"(b) open loop at {args.open_rate:,.0f} orders/s ...")
            runs.append(open_loop(port, tokens, args.open_rate, args.seconds, meter))
    finally:
        for proc in web:
            stop(proc)
    print(f"(b) through HTTP ({args.web} web tier, {root}); wrk closed loop, K keep-alive")
    print("    connections with one trader each; open loop: an asyncio client on a schedule")
    print(HEADER)
    for run in runs:
        print(run.line())
    for run in runs:
        if run.sample:
            print(f"    e.g. {run.what} K={run.connections}: {run.sample}")
    load = os.getloadavg()
    print(
        f"    machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}, load average"
        f" {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} at the end"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=5)
    # 500 jobs: 50 of the worker's batches (it takes up to 1,000 commands at once); with
    # 200 (20 batches) the figure swung by 15% from run to run
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--open-rate", type=float, default=500)
    parser.add_argument("--skip-rq", action="store_true", help="part (b) only")
    parser.add_argument("--skip-http", action="store_true", help="part (a) only")
    parser.add_argument(
        "--only",
        type=lambda text: set(text.split(",")),
        default={"noop", "me", "orders", "open"},
        help="part (b)'s runs, of noop,me,orders,open (all)",
    )
    parser.add_argument("--web", choices=sorted(WEB_LAYOUTS), default=DEFAULT_LAYOUT)
    parser.add_argument("--root", type=Path, default=ROOT, help="checkout to run services from")
    parser.add_argument("--profile", type=Path, help="py-spy the web tier into this folder")
    args = parser.parse_args()
    global PROFILE_DIR
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
        PROFILE_DIR = args.profile.resolve()
    root = args.root.resolve()

    import django

    django.setup()
    import redis

    from infra import keys

    log(f"setting up the bench database and Redis db ({ENV['DATABASE_URL']}, {REDIS_URL}) ...")
    prepare(ENV, root=root)
    conn = redis.Redis.from_url(REDIS_URL)
    manage = [sys.executable, "manage.py"]
    engine = start_service(
        [*manage, "run_engine"], ENV, lambda: bool(conn.exists(keys.alive(0))), cwd=root
    )
    try:
        if not args.skip_rq:
            rq_part(args, engine)
        if not args.skip_http:
            with tempfile.TemporaryDirectory() as tmp:
                http_part(args, root, engine, Path(tmp))
    finally:
        stop(engine)


if __name__ == "__main__":
    main()
