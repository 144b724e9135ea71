"""The fold (engine_worker/fold.py) is compiled with the core (engine_worker/core PRESENTERS),
so the compiled fold must write, byte for byte, what its source writes. A random stream of
every kind of command (test_recovery's, with a malformed and a resent command) goes through
EngineRuntime.prepare in batches of random sizes: applied and its commit built, nothing
sent. The digest of every commit's words and every reply must be the same under both
implementations."""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter

import pytest
import redis

import engine_worker.core as core
from engine_client import commands as wire_commands
from engine_worker import wire
from engine_worker.fold import Commit
from engine_worker.runtime import EngineRuntime
from engine_worker.tests.core.test_core_build import _built, _python
from engine_worker.tests.test_recovery import UNITS, random_commands
from marketdata.units import market_units_to_wire

SEED = 11


def commit_digest(seed: int = SEED) -> tuple[str, dict[str, int]]:
    """The sha256 of the words and replies of the stream's batches, and what the stream
    did (record kinds, trades, rejections): the same stream each call."""
    rng = random.Random(seed)
    # never connected to: prepare builds the commit without sending it
    runtime = EngineRuntime(0, fee_account=1, connection=redis.Redis(port=1))
    setup = [
        wire_commands.add_market(market=market_units_to_wire(UNITS)),
        wire_commands.configure(max_open_orders=0, client_order_id_retention=60),
    ]
    stream = [
        wire_commands.stamped(command, request_id=f"setup-{n}", ts=1_800_000_000_000)
        for n, command in enumerate(setup)
    ]
    stream += random_commands(rng, 600)
    stream.insert(300, {"kind": "PlaceOrder", "request_id": "bad", "ts": 1, "price": "x"})
    stream.insert(400, dict(stream[350]))  # a resend: refused as a duplicate request
    changes = [  # at 100, a user's own limit; from 200 to 220 the market halted
        (100, wire_commands.set_order_limit(user_id=9_000_001, max_open_orders=3)),
        (200, wire_commands.set_market_status(symbol=UNITS.symbol, status="halted")),
        (220, wire_commands.set_market_status(symbol=UNITS.symbol, status="trading")),
    ]
    for at, command in reversed(changes):
        stream.insert(at, wire_commands.stamped(command, request_id=f"c{at}", ts=1_800_000_000_100))
    digest = hashlib.sha256()
    seen: Counter[str] = Counter()
    while stream:
        size = rng.randint(1, 40)
        pending = runtime.prepare([(stream[:size], "engine.reply.fold")])
        del stream[:size]
        digest.update(b"".join(pending.commit.packed("0" * 40)))
        digest.update(wire.dumps(pending.batch.replies))  # their orders and fills as texts
        for record in pending.batch.records:
            seen[record["kind"]] += 1
            seen["trades"] += len(record.get("trades", ()))
            seen["rejected"] += "rejected" in record
        seen["refused"] += sum(not r["ok"] for r in pending.batch.replies)
    return digest.hexdigest(), dict(seen)


def test_the_stream_exercises_every_part_of_the_fold():
    _, seen = commit_digest()
    for kind in ("PlaceOrder", "PlaceOrderList", "AmendOrder", "CancelOrder", "CancelAll",
                 "Deposit", "Withdraw", "AddMarket", "Configure", "SetMarketStatus",
                 "SetOrderLimit"):  # fmt: skip
        assert seen.get(kind), (kind, seen)
    assert seen["trades"] > 50 and seen["rejected"] > 10, seen
    assert seen["refused"] > seen["rejected"], seen  # the malformed and the resent one too


def test_the_compiled_fold_writes_what_its_source_writes():
    if not _built():
        pytest.skip("no compiled core for these sources (make venv builds it): pure only")
    other = "pure" if core.IMPLEMENTATION == "compiled" else "compiled"
    code = (
        "import django, os\n"
        "os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'exchange_site.settings_test')\n"
        "django.setup()\n"
        "import engine_worker.core, engine_worker.fold as f\n"
        "from engine_worker.tests.test_fold import commit_digest\n"
        "print(engine_worker.core.IMPLEMENTATION, f.__file__.endswith('.py'), commit_digest()[0])"
    )
    proc = _python(["-c", code], other)
    assert proc.returncode == 0, proc.stderr[-3000:]
    implementation, from_source, digest = proc.stdout.split()[-3:]
    assert (implementation, from_source) == (other, str(other == "pure"))
    assert digest == commit_digest()[0]


def test_a_commit_is_what_redis_pys_packer_sends():
    """Commit writes the protocol itself, as each word is made: byte for byte what
    redis-py's packer (hiredis's when installed, as here) makes of the same words."""
    from redis.connection import Connection

    from engine_worker.fold import MAX_OP_WORDS, split_op

    ops: list[tuple[str | bytes, ...]] = [
        ("SET", "rm:order:1", b'{"id":1}', "EX", "604800"),
        ("PUBLISH", "user.7", "é" * 3 + "\0", b""),  # non-ASCII, a NUL byte, an empty word
        ("SET", "big", b"x" * 70_000),  # a word past the heads' table
        ("HSET", "h", *[f"f{i}" for i in range(2 * MAX_OP_WORDS)]),  # split in three
    ]
    commit = Commit()
    for op in ops:
        commit.op(*op)
    commit.ops([("DEL", "rq:job:1")])
    words = [
        w
        for op in [*ops, ("DEL", "rq:job:1")]
        for part in split_op(op)
        for w in (str(len(part)), *part)
    ]
    sha = "a" * 40
    expected = Connection().pack_commands([("MULTI",), ("EVALSHA", sha, 0, *words), ("EXEC",)])
    assert b"".join(commit.packed(sha)) == b"".join(expected)
    assert commit.word_list() == [w.encode() if isinstance(w, str) else w for w in words]
    assert commit.words == len(words)


def test_the_command_log_takes_each_jobs_text_as_it_came():
    """The log's entry is the commands the engine applied: a job applied whole as the text
    it came in (the bytes the gateway wrote, not encoded again), a job with a command
    refused before the engine (a malformed one, a resend) as the others, encoded again."""
    rng = random.Random(SEED)
    runtime = EngineRuntime(0, fee_account=1, connection=redis.Redis(port=1))
    market = wire_commands.add_market(market=market_units_to_wire(UNITS))
    stream = [wire_commands.stamped(market, request_id="m", ts=1), *random_commands(rng, 300)]
    stream.insert(150, {"kind": "PlaceOrder", "request_id": "bad", "ts": 1, "price": "x"})
    stream.insert(200, dict(stream[120]))  # a resend
    seen: Counter[str] = Counter()
    while stream:
        jobs: list[tuple[list, str | None]] = []
        for _ in range(rng.randint(1, 4)):
            size = rng.randint(1, 30)
            jobs.append((stream[:size], "engine.reply.fold"))
            del stream[:size]
        texts: list[bytes | None] = [json.dumps(commands).encode() for commands, _ in jobs]
        pending = runtime.prepare(jobs, texts=texts)
        words = pending.commit.word_list()
        entry = words[words.index(b"commands") + 1]
        assert json.loads(entry) == pending.batch.logged
        for (_, start, end), text in zip(pending.batch.jobs, texts, strict=True):
            replies = pending.batch.replies[start:end]
            whole = all("sequence" in reply for reply in replies)  # none refused before
            assert (text[1:-1] in entry) == whole, (whole, text)
            seen["whole" if whole else "refused"] += 1
    assert seen["whole"] > 10 and seen["refused"] == 2, seen


def test_a_recent_items_list_is_trimmed_every_so_often_and_reads_the_same():
    """push_recent's commands, applied to a list as Redis applies LPUSH and LTRIM: after
    every commit the list's first RECENT_ITEMS are the newest items, newest first, and it
    never holds more than RECENT_ITEMS + TRIM_AFTER - 1, also across restarts (the counts
    forgotten: a list is trimmed on its first push after one); it is not trimmed each
    time."""
    from engine_worker.fold import RECENT_ITEMS, TRIM_AFTER, push_recent

    rng = random.Random(SEED)
    untrimmed: dict[str, int] = {}
    held: list[bytes] = []  # the list in Redis, head first
    pushed: list[bytes] = []  # every item, oldest first
    commits = trims = 0
    while commits < 600:
        if rng.random() < 0.15:  # a restart, often: before most lists reach TRIM_AFTER
            untrimmed.clear()
        size = 1500 if rng.random() < 0.01 else rng.choice((1, 2, 3, 5, 40))  # a long one
        items = [str(len(pushed) + i).encode() for i in range(size)]
        pushed += items
        commit = Commit()
        push_recent(commit, untrimmed, "rm:fills:7", items)
        words, at = commit.word_list(), 0
        while at < len(words):  # each command: its number of words, then the words
            count = int(words[at])
            name, _, *args = words[at + 1 : at + 1 + count]
            if name == b"LPUSH":
                held[:0] = reversed(args)
            else:
                assert name == b"LTRIM" and args == [b"0", str(RECENT_ITEMS - 1).encode()]
                del held[RECENT_ITEMS:]
                trims += 1
            at += count + 1
        commits += 1
        assert held[:RECENT_ITEMS] == pushed[::-1][:RECENT_ITEMS]
        assert len(held) <= RECENT_ITEMS + TRIM_AFTER - 1
    assert 0 < trims < commits / 2, (trims, commits)
