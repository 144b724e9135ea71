#!/usr/bin/env python3
"""Make sure PostgreSQL and Redis answer, starting or installing them locally if needed,
and that haproxy (`make run`'s front proxy, deploy/haproxy.cfg) is installed.

Run with the project's venv (it uses psycopg and redis from requirements.txt):

    .venv/bin/python scripts/ensure_services.py [--no-install]

Configuration comes from the environment, as for the Django settings:

    DATABASE_URL             default postgres://postgres@127.0.0.1:5432/exchange
    TIMESERIES_DATABASE_URL  default DATABASE_URL (its database is created too)
    REDIS_URL                default redis://127.0.0.1:6379/0

For each service that does not answer and points at this machine:

* installed: start it (PostgreSQL with ``pg_ctlcluster --skip-systemctl-redirect VER
  NAME start`` for the cluster on the URL's port; Redis with ``redis-server
  --daemonize yes`` on the URL's port, pid, log and append-only file under ./var/);
* not installed: as root, ``apt-get update && apt-get install -y`` the packages and
  start them; otherwise print the exact command and exit 1.

A freshly installed Debian PostgreSQL asks for a password over TCP. When that happens
for a local server and we run as root, trust lines for the URL's user on 127.0.0.1 and
::1 are prepended to that cluster's pg_hba.conf (between clearly marked comments) and
the cluster is reloaded. Then the database named in the URL is created if missing.

Redis keeps the engine's command log: the Redis started here writes an append-only file
(``appendonly yes``, ``appendfsync everysec``: a Redis or machine crash loses at most about
the last second of acknowledged commands, a clean restart nothing; ``always`` would fsync
every engine batch and cap the engine at the disk's fsync rate). A Redis that already runs
without AOF is used as it is, with a WARNING line saying how to turn AOF on.

Exit status 0 when everything answers, 1 otherwise (with a message saying what to do).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

REPO = Path(__file__).resolve().parent.parent
VAR = REPO / "var"
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/exchange"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
LOCAL_HOSTS = {"", "localhost", "127.0.0.1", "::1", "ip6-localhost"}
PG_SCHEMES = {"postgres", "postgresql", "pgsql", "postgis", "timescale", "timescalegis"}
HBA_BEGIN = "# BEGIN exchange local dev (added by scripts/ensure_services.py)"
HBA_END = "# END exchange local dev"
REDIS_APPENDFSYNC = "everysec"  # see the module docstring for the trade-off


class ServiceError(Exception):
    """A problem the user has to fix; the message says how."""


def say(msg: str) -> None:
    print(f"==> {msg}", flush=True)


def is_root() -> bool:
    return os.geteuid() == 0


def run(cmd: list[str], *, check: bool = True, quiet: bool = False) -> subprocess.CompletedProcess:
    if not quiet:
        say(f"    $ {shlex.join(cmd)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return subprocess.run(cmd, check=check, env=env, text=True)


def sudo_hint(cmd: str) -> str:
    return cmd if is_root() else " && ".join(f"sudo {part.strip()}" for part in cmd.split("&&"))


# --------------------------------------------------------------------------- PostgreSQL


@dataclass(frozen=True)
class PgTarget:
    url: str
    host: str  # "" or a directory means a Unix socket
    port: int
    user: str | None
    password: str | None
    dbname: str
    options: dict[str, str]

    @property
    def is_local(self) -> bool:
        return self.host in LOCAL_HOSTS or self.host.startswith("/")

    @property
    def where(self) -> str:
        return f"{self.host or 'local socket'}:{self.port}"

    def redacted(self) -> str:
        if self.password:
            return self.url.replace(f":{self.password}@", ":***@", 1)
        return self.url

    def connect(self, dbname: str | None = None):  # -> psycopg.Connection
        import psycopg  # from the venv; imported late for a clear error

        kwargs: dict[str, object] = dict(self.options)
        kwargs.update(dbname=dbname or self.dbname, port=self.port, connect_timeout=3)
        if self.host:
            kwargs["host"] = self.host
        if self.user:
            kwargs["user"] = self.user
        if self.password:
            kwargs["password"] = self.password
        return psycopg.connect(autocommit=True, **kwargs)


def parse_pg(url: str) -> PgTarget:
    parts = urlsplit(url)
    if parts.scheme not in PG_SCHEMES:
        raise ServiceError(f"DATABASE_URL must be a postgres:// URL, got {parts.scheme}://")
    query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    host = unquote(parts.hostname or "") or query.pop("host", "")
    options = {k: v for k, v in query.items() if k in {"sslmode", "application_name"}}
    return PgTarget(
        url=url,
        host=host,
        port=parts.port or 5432,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
        dbname=unquote(parts.path.lstrip("/")) or (unquote(parts.username or "") or "postgres"),
        options=options,
    )


def pg_probe(target: PgTarget) -> tuple[str, str]:
    """Return (state, detail): state is ok, down, auth, role or error."""
    try:
        import psycopg
    except ImportError as exc:
        raise ServiceError("psycopg is missing: run this script with .venv/bin/python") from exc
    last = ""
    for maintenance_db in ("postgres", "template1"):
        try:
            with target.connect(maintenance_db):
                return "ok", ""
        except psycopg.OperationalError as exc:
            last = str(exc).strip()
            low = last.lower()
            if "does not exist" in low and "database" in low:
                continue  # try the next maintenance database
            if "role" in low and "does not exist" in low:
                return "role", last
            if any(
                s in low
                for s in (
                    "password authentication failed",
                    "no password supplied",
                    "no pg_hba.conf entry",
                    "peer authentication failed",
                    "ident authentication failed",
                )
            ):
                return "auth", last
            if "starting up" in low or "shutting down" in low:
                return "down", last
            if any(s in low for s in ("refused", "no such file", "timeout", "could not connect")):
                return "down", last
            return "error", last
    return "error", last


@dataclass(frozen=True)
class Cluster:
    version: str
    name: str
    port: int

    @property
    def confdir(self) -> Path:
        return Path("/etc/postgresql") / self.version / self.name


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)) or (0,)


def pg_installed_versions() -> list[str]:
    base = Path("/usr/lib/postgresql")
    found = [p.name for p in base.glob("*") if (p / "bin" / "postgres").exists()]
    return sorted(found, key=_version_key, reverse=True)


def pg_clusters() -> list[Cluster]:
    clusters = []
    for conf in Path("/etc/postgresql").glob("*/*/postgresql.conf"):
        port = 5432
        text = conf.read_text(errors="replace")
        m = re.search(r"^\s*port\s*=\s*(\d+)", text, re.MULTILINE)
        if m:
            port = int(m.group(1))
        clusters.append(Cluster(conf.parent.parent.name, conf.parent.name, port))
    return sorted(clusters, key=lambda c: _version_key(c.version), reverse=True)


def pg_cluster_for(target: PgTarget) -> Cluster:
    clusters = pg_clusters()
    if not clusters:
        versions = pg_installed_versions()
        if not versions:
            raise ServiceError("PostgreSQL is installed but no server version was found")
        version = versions[0]
        cmd = f"pg_createcluster {version} main --port {target.port}"
        if not is_root():
            raise ServiceError(f"no PostgreSQL cluster exists; create one with: sudo {cmd}")
        say(f"PostgreSQL: creating cluster {version}/main")
        run(shlex.split(cmd))
        clusters = pg_clusters()
    for cluster in clusters:
        if cluster.port == target.port:
            return cluster
    listing = ", ".join(f"{c.version}/{c.name} on port {c.port}" for c in clusters)
    raise ServiceError(
        f"no local PostgreSQL cluster uses port {target.port} (found: {listing}); "
        f"point DATABASE_URL at one of those ports"
    )


def pg_start(target: PgTarget) -> None:
    cluster = pg_cluster_for(target)
    cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", cluster.version, cluster.name, "start"]
    say(f"PostgreSQL: starting cluster {cluster.version}/{cluster.name} (port {cluster.port})")
    if run(cmd, check=False).returncode != 0:
        # Exit status 2 means "already running"; anything else we report, but keep
        # waiting below in case it came up anyway.
        if not is_root():
            raise ServiceError(f"could not start PostgreSQL; run: sudo {shlex.join(cmd)}")
    pg_wait(target, seconds=30)


def pg_wait(target: PgTarget, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while True:
        state, detail = pg_probe(target)
        if state != "down":
            return
        if time.monotonic() > deadline:
            raise ServiceError(f"PostgreSQL at {target.where} still does not answer: {detail}")
        time.sleep(0.5)


def _hba_reload(target: PgTarget) -> tuple[Path, list[str]]:
    cluster = pg_cluster_for(target)
    reload_cmd = [
        "pg_ctlcluster", "--skip-systemctl-redirect", cluster.version, cluster.name, "reload"
    ]  # fmt: skip
    return cluster.confdir / "pg_hba.conf", reload_cmd


def pg_auth_help(target: PgTarget) -> str:
    user = target.user or "postgres"
    msg = (
        f"PostgreSQL at {target.where} refused the login for user {user!r}.\n"
        f"  Either put the password in DATABASE_URL (postgres://{user}:PASSWORD@...)"
    )
    if not target.is_local:
        return msg + "."
    hba, reload_cmd = _hba_reload(target)
    return (
        msg + ", or let\n  local TCP logins in without one (development machines only):\n"
        f"    sudo sed -i '1i host all {user} 127.0.0.1/32 trust\\n"
        f"host all {user} ::1/128 trust' {hba} && sudo {shlex.join(reload_cmd)}"
    )


def pg_trust_local(target: PgTarget) -> None:
    """Prepend trust lines for the URL's user on loopback to the cluster's pg_hba.conf."""
    if not is_root():
        raise ServiceError(pg_auth_help(target))
    hba, reload_cmd = _hba_reload(target)
    user = target.user or "postgres"
    block = (
        f"{HBA_BEGIN}\n"
        f"host    all    {user}    127.0.0.1/32    trust\n"
        f"host    all    {user}    ::1/128         trust\n"
        f"{HBA_END}\n"
    )
    text = hba.read_text()
    if HBA_BEGIN in text:
        text = re.sub(
            rf"{re.escape(HBA_BEGIN)}.*?{re.escape(HBA_END)}\n?", "", text, flags=re.DOTALL
        )
    say(f"PostgreSQL: allowing password-less local TCP logins for {user!r} in {hba}")
    hba.write_text(block + text)
    run(reload_cmd)
    time.sleep(0.5)


def pg_ensure_database(target: PgTarget) -> None:
    from psycopg import sql

    with target.connect("postgres") as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (target.dbname,)
        ).fetchone()
        if exists:
            say(f"PostgreSQL: database {target.dbname!r} exists")
            return
        say(f"PostgreSQL: creating database {target.dbname!r}")
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(target.dbname)))


def ensure_postgres(target: PgTarget, *, may_fix_auth: bool) -> None:
    say(f"PostgreSQL: checking {target.redacted()}")
    state, detail = pg_probe(target)
    if state == "down":
        if not target.is_local:
            raise ServiceError(f"PostgreSQL at {target.where} does not answer: {detail}")
        pg_start(target)
        state, detail = pg_probe(target)
    if state == "auth" and target.is_local and may_fix_auth:
        pg_trust_local(target)
        state, detail = pg_probe(target)
    if state == "auth":
        raise ServiceError(pg_auth_help(target))
    if state == "role":
        user = target.user or "postgres"
        raise ServiceError(
            f"PostgreSQL role {user!r} does not exist; create it with:\n"
            f"    sudo -u postgres createuser --createdb --port {target.port} {user}"
        )
    if state != "ok":
        raise ServiceError(f"PostgreSQL at {target.where}: {detail}")
    say(f"PostgreSQL: up at {target.where}")
    pg_ensure_database(target)


# -------------------------------------------------------------------------------- Redis


@dataclass(frozen=True)
class RedisTarget:
    url: str
    host: str
    port: int
    password: str | None
    unix_socket: bool

    @property
    def is_local(self) -> bool:
        return self.unix_socket or self.host in LOCAL_HOSTS

    @property
    def where(self) -> str:
        return self.host if self.unix_socket else f"{self.host}:{self.port}"

    def redacted(self) -> str:
        if self.password:
            return self.url.replace(f":{self.password}@", ":***@", 1)
        return self.url


def parse_redis(url: str) -> RedisTarget:
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss", "unix"}:
        raise ServiceError(f"REDIS_URL must be a redis:// URL, got {parts.scheme}://")
    if parts.scheme == "unix":
        return RedisTarget(url, parts.path, 0, unquote(parts.password or "") or None, True)
    return RedisTarget(
        url=url,
        host=parts.hostname or "127.0.0.1",
        port=parts.port or 6379,
        password=unquote(parts.password) if parts.password else None,
        unix_socket=False,
    )


def redis_probe(target: RedisTarget) -> tuple[str, str]:
    """Return (state, detail): state is ok, down or error."""
    try:
        import redis
    except ImportError as exc:
        raise ServiceError("redis-py is missing: run this script with .venv/bin/python") from exc
    client = redis.Redis.from_url(target.url, socket_connect_timeout=2, socket_timeout=2)
    try:
        client.ping()
        return "ok", ""
    except redis.exceptions.AuthenticationError as exc:
        return "error", f"authentication failed: {exc}"
    except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
        return "down", str(exc)
    except redis.exceptions.RedisError as exc:
        return "error", str(exc)
    finally:
        client.close()


def redis_server_path() -> str | None:
    return shutil.which("redis-server") or next(
        (p for p in ("/usr/bin/redis-server", "/usr/sbin/redis-server") if os.access(p, os.X_OK)),
        None,
    )


def redis_start_command(target: RedisTarget, server: str) -> list[str]:
    """redis-server's arguments: daemonized on the URL's port, files under VAR, the
    append-only file on (fsync every second) and no RDB snapshots besides it."""
    bind = "::1" if target.host in {"::1", "ip6-localhost"} else "127.0.0.1"
    cmd = [
        server, "--daemonize", "yes", "--bind", bind, "--port", str(target.port),
        "--save", "", "--appendonly", "yes", "--appendfsync", REDIS_APPENDFSYNC,
        "--dir", str(VAR),
        "--pidfile", str(VAR / f"redis-{target.port}.pid"),
        "--logfile", str(VAR / f"redis-{target.port}.log"),
    ]  # fmt: skip
    if target.password:
        cmd += ["--requirepass", target.password]
    return cmd


def redis_start(target: RedisTarget) -> None:
    if target.unix_socket:
        raise ServiceError(f"Redis socket {target.host} does not answer; start Redis yourself")
    server = redis_server_path()
    if server is None:  # pragma: no cover - the caller installs it first
        raise ServiceError("redis-server is not installed")
    VAR.mkdir(exist_ok=True)
    cmd = redis_start_command(target, server)
    bind = cmd[cmd.index("--bind") + 1]
    say(f"Redis: starting redis-server on {bind}:{target.port} (log var/redis-{target.port}.log)")
    shown = [
        "***" if prev == "--requirepass" else arg
        for prev, arg in zip(["", *cmd], cmd, strict=False)
    ]
    say(f"    $ {shlex.join(shown)}")
    subprocess.run(cmd, check=True)
    deadline = time.monotonic() + 15
    while True:
        state, detail = redis_probe(target)
        if state == "ok":
            return
        if time.monotonic() > deadline:
            raise ServiceError(
                f"redis-server did not come up on port {target.port}: {detail} "
                f"(see var/redis-{target.port}.log)"
            )
        time.sleep(0.2)


def ensure_redis(target: RedisTarget) -> None:
    say(f"Redis: checking {target.redacted()}")
    state, detail = redis_probe(target)
    if state == "down":
        if not target.is_local:
            raise ServiceError(f"Redis at {target.where} does not answer: {detail}")
        redis_start(target)
        state, detail = redis_probe(target)
    if state != "ok":
        raise ServiceError(f"Redis at {target.where}: {detail}")
    say(f"Redis: up at {target.where}")
    redis_check_persistence(target)


def redis_check_persistence(target: RedisTarget) -> None:
    """Say loudly when the Redis in use keeps no append-only file: a restart of it would
    drop the engine's logged (and acknowledged) commands and the read model."""
    import redis

    client = redis.Redis.from_url(target.url, socket_connect_timeout=2, socket_timeout=2)
    try:
        config = client.config_get("append*")
    except redis.exceptions.RedisError as exc:  # CONFIG renamed away (managed Redis)
        say(f"Redis: cannot read its persistence settings ({exc}); make sure appendonly is yes")
        return
    finally:
        client.close()
    appendonly, fsync = config.get("appendonly"), config.get("appendfsync")
    if appendonly == "yes":
        say(f"Redis: append-only file on (appendfsync {fsync})")
        return
    where = f"-s {target.host}" if target.unix_socket else f"-h {target.host} -p {target.port}"
    cli = f"redis-cli {where}"
    lines = [
        f"WARNING: Redis at {target.where} keeps no append-only file (appendonly "
        f"{appendonly}): a restart of it drops the engine's logged commands and the read model.",
        f"WARNING: fix: {cli} CONFIG SET appendonly yes && {cli} CONFIG SET appendfsync "
        f"{REDIS_APPENDFSYNC} && {cli} CONFIG REWRITE",
        "WARNING: (or put `appendonly yes` and `appendfsync everysec` in its redis.conf; a "
        "Redis this script started itself, from var/, has them: stop it and run make again)",
    ]
    for line in lines:
        print(line, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------- main


def install_missing(pg_targets: list[PgTarget], redis_target: RedisTarget, allow: bool) -> None:
    """Install the local servers that are needed (they do not answer) but absent."""
    packages = []
    if any(t.is_local and pg_probe(t)[0] == "down" for t in pg_targets) and not (
        pg_installed_versions() and shutil.which("pg_ctlcluster")
    ):
        packages.append("postgresql")
    if (
        redis_target.is_local
        and not redis_target.unix_socket
        and redis_probe(redis_target)[0] == "down"
        and redis_server_path() is None
    ):
        packages.append("redis-server")
    if shutil.which("haproxy") is None and not Path("/usr/sbin/haproxy").exists():
        packages.append("haproxy")  # `make run`'s front proxy (deploy/haproxy.cfg)
    if not packages:
        return
    cmd = f"apt-get update && apt-get install -y {' '.join(packages)}"
    if not (allow and is_root() and shutil.which("apt-get")):
        raise ServiceError(
            f"{' and '.join(packages)} not installed. Install with:\n    {sudo_hint(cmd)}\n"
            "  or point DATABASE_URL / REDIS_URL at running servers."
        )
    say(f"installing {' '.join(packages)} (apt-get)")
    run(["apt-get", "update", "-q"])
    run(["apt-get", "install", "-y", "-q", *packages])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--no-install", action="store_true", help="never apt-get install, only explain"
    )
    parser.add_argument(
        "--no-fix-auth",
        action="store_true",
        help="never edit pg_hba.conf, even as root",
    )
    args = parser.parse_args(argv)

    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    timeseries_url = os.environ.get("TIMESERIES_DATABASE_URL") or database_url
    redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    try:
        pg_targets = [parse_pg(database_url)]
        if timeseries_url != database_url:
            pg_targets.append(parse_pg(timeseries_url))
        redis_target = parse_redis(redis_url)
        install_missing(pg_targets, redis_target, allow=not args.no_install)
        for target in pg_targets:
            ensure_postgres(target, may_fix_auth=not args.no_fix_auth)
        ensure_redis(redis_target)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 1
    except subprocess.CalledProcessError as exc:
        print(f"error: command failed ({exc.returncode}): {shlex.join(exc.cmd)}", file=sys.stderr)
        return 1
    say("services: PostgreSQL and Redis are ready (and haproxy installed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
