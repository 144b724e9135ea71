"""The web process's CPU per order POST, without the HTTP server: Django's WSGI handler
called in-process, one order after the other (each its own engine job), for one or more
checkouts in alternating rounds of the same run. What the middleware, DRF, the view, the
serializer and the gateway cost an order, steadier on a shared machine than the
wall-clock rates of bench/e2e_orders.py (CPU time, not requests a second, and no
server, proxy or load generator in the figure).

    BENCH_DATABASE=exchange_bench_x BENCH_REDIS_URL=redis://127.0.0.1:6379/N \\
        .venv/bin/python bench/web_cpu.py --root /work/main --root .

Starts an engine worker (of the first checkout) on the bench's database and Redis
database; each round of each checkout is a process of its own (`--child`), which
registers a trader, warms up, then places --orders orders and prints its process CPU
(all its threads: the gateway's listener too) in microseconds an order.

--callgrind counts instructions instead (valgrind's callgrind, repeatable whatever the
machine's load): each round runs a checkout's child twice, with --orders and with
--orders + --more orders, and the difference of their instruction counts over --more is
the instructions of an order (start-up and warm-up cancel out).

--profile FILE runs each round's timed orders under cProfile (into FILE) and prints the
last round's functions by own and by cumulative time; its figures then include cProfile's
own cost."""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # this bench's own helpers, whichever checkout it measures
from bench.common import order_payload  # noqa: E402


def environ(method: str, path: str, body: bytes, token: str | None) -> dict:
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    if token:
        env["HTTP_AUTHORIZATION"] = f"Token {token}"
    return env


def child(orders: int, profile: str | None = None) -> None:
    """In the checkout (cwd): place ``orders`` orders through the WSGI handler."""
    sys.path.insert(0, os.getcwd())
    import django

    django.setup()
    import gc

    from django.core.handlers.wsgi import WSGIHandler

    app = WSGIHandler()
    gc.freeze()  # as the web processes do once loaded (deploy/gunicorn.conf.py)

    def call(method: str, path: str, payload: dict, token: str | None = None) -> tuple[str, bytes]:
        seen: list[str] = []
        body = json.dumps(payload).encode()
        out = b"".join(app(environ(method, path, body, token), lambda s, h: seen.append(s)))
        return seen[0], out

    status, out = call(
        "POST",
        "/api/v1/auth/register",
        {"username": f"webcpu{time.time_ns()}", "password": "bench-password-1"},
    )
    assert status.startswith("201"), (status, out)
    token = json.loads(out)["token"]

    def order(i: int) -> None:
        status, out = call("POST", "/api/v1/orders", order_payload(i), token)
        assert status.startswith("201"), (status, out)

    for i in range(300):  # warm: imports, connections, caches
        order(i)
    profiler = cProfile.Profile() if profile else None
    started, wall = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    for i in range(orders):
        order(i)
    if profiler:
        profiler.disable()
    cpu, wall = time.process_time() - started, time.perf_counter() - wall
    if profiler and profile:
        profiler.dump_stats(profile)
    print(json.dumps({"cpu_us": cpu / orders * 1e6, "wall_us": wall / orders * 1e6}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, action="append", help="checkout (repeatable)")
    parser.add_argument("--orders", type=int, default=2000, help="orders a round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--callgrind", action="store_true", help="count instructions")
    parser.add_argument("--more", type=int, default=300, help="with --callgrind")
    parser.add_argument("--profile", help="cProfile each round's orders into FILE, then print it")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.orders, args.profile)
        return
    sys.path.insert(0, str(ROOT))
    from bench.common import bench_env, prepare, start, stop

    env = bench_env(
        os.environ.get("BENCH_DATABASE", "exchange_bench"),
        os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"),
        SIGNUP_DEMO_FUNDS="USDT=100000000,BTC=100000,ETH=100000",
        API_RATE_LIMIT="100000000/minute",
        LOG_LEVEL="ERROR",
    )
    roots = [r.resolve() for r in args.root or [ROOT]]
    prepare(env, root=roots[0])
    import redis

    sys.path.insert(0, str(roots[0]))
    from infra import keys

    conn = redis.Redis.from_url(env["REDIS_URL"])
    engine = start(
        [sys.executable, "manage.py", "run_engine"],
        env,
        lambda: bool(conn.exists(keys.alive(0))),
        cwd=roots[0],
    )
    figures: dict[Path, list[float]] = {root: [] for root in roots}

    def run(root: Path, orders: int, prefix: list[str]) -> str:
        profile = ["--profile", str(Path(args.profile).resolve())] if args.profile else []
        return subprocess.run(
            [*prefix, sys.executable, str(Path(__file__).resolve()), "--child"]
            + ["--orders", str(orders), *profile],
            cwd=root,
            env={**env, "PYTHONPATH": str(root)},
            check=True,
            capture_output=True,
            text=True,
        ).stdout

    def instructions(root: Path, orders: int) -> int:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "callgrind.out"
            run(root, orders, ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}"])
            totals = re.search(r"^(?:summary|totals): (\d+)", out.read_text(), re.M)
            assert totals, "no totals in callgrind's output"
            return int(totals.group(1))

    unit = "instructions" if args.callgrind else "us CPU"
    try:
        for _ in range(args.rounds):
            for root in roots:
                if args.callgrind:
                    few = instructions(root, args.orders)
                    figure = (instructions(root, args.orders + args.more) - few) / args.more
                else:
                    figure = json.loads(run(root, args.orders, []).strip().splitlines()[-1])
                    figure = figure["cpu_us"]
                figures[root].append(figure)
                print(f"  {root}: {figure:,.0f} {unit} an order", file=sys.stderr)
    finally:
        stop(engine)
    if args.profile:  # the last round's (cProfile's own cost inflates the figures)
        stats = pstats.Stats(args.profile)
        stats.sort_stats("tottime").print_stats(25)
        stats.sort_stats("cumulative").print_stats(45)
    base = statistics.median(figures[roots[0]])
    for root, cpu in figures.items():
        median = statistics.median(cpu)
        print(
            f"{root}: web {unit} an order (in-process WSGI, K=1) {median:,.0f} median, "
            f"{min(cpu):,.0f} best of {len(cpu)} rounds ({median / base:.2f}x)"
        )


if __name__ == "__main__":
    main()
