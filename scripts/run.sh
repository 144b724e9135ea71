#!/usr/bin/env bash
# Start every service in the foreground under supervisord (deploy/supervisord.conf).
# `make run` calls this after the venv, services, migrations and seed data are ready.
# Ctrl-C (or SIGTERM) stops all services.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

export HOST="${HOST:-127.0.0.1}"
export PORT="${PORT:-8000}"
# The local demo credits every sign-up with demo funds (off by default in the settings);
# SIGNUP_DEMO_FUNDS="" turns that off here too.
export SIGNUP_DEMO_FUNDS="${SIGNUP_DEMO_FUNDS-USDT=10000,BTC=1,ETH=10}"
mkdir -p var

# A supervisord of this checkout still running? (supervisord -n refuses a second one
# anyway, but with a less helpful message.)
pid="$(cat var/supervisord.pid 2>/dev/null || true)"
if [[ "$pid" =~ ^[0-9]+$ ]] && [[ "$(ps -o stat= -p "$pid" 2>/dev/null)" != *Z* ]] \
    && ps -o args= -p "$pid" 2>/dev/null | grep -q supervisord; then
    echo "error: supervisord is already running (pid $pid)." >&2
    echo "       Stop it with Ctrl-C in its terminal or:" \
         ".venv/bin/supervisorctl -c deploy/supervisord.conf shutdown" >&2
    exit 1
fi

# Is the web port free?
if ! .venv/bin/python - "$HOST" "$PORT" <<'PY'
import socket, sys
host, port = sys.argv[1], int(sys.argv[2])
probe = "127.0.0.1" if host in ("0.0.0.0", "") else ("::1" if host == "::" else host)
try:
    socket.create_connection((probe, port), timeout=1).close()
except OSError:
    sys.exit(0)
sys.exit(1)
PY
then
    echo "error: something already listens on $HOST:$PORT; stop it or run with PORT=<free port>" >&2
    exit 1
fi

browse_host="$HOST"
case "$HOST" in
    0.0.0.0 | "") browse_host=127.0.0.1 ;;
    ::) browse_host="[::1]" ;;
    *:*) browse_host="[$HOST]" ;;
esac
base="http://$browse_host:$PORT"
cat <<MSG
==> starting services under supervisord (deploy/supervisord.conf); Ctrl-C stops them all
    web app:   $base/
    API docs:  $base/api/docs/
    health:    $base/healthz answers 200 once PostgreSQL, Redis and the engine are all up
    output:    each line is prefixed with [service]; supervisord's own log: var/supervisord.log
    control:   .venv/bin/supervisorctl -c deploy/supervisord.conf status (from another terminal)
MSG

# The programs log to /dev/stdout, which supervisor opens again (append mode). When our
# stdout is a regular file (`make run > log`), reopen it in append mode as well, or
# supervisord's own lines would overwrite the programs' lines.
if [[ -f /dev/stdout && -e /proc/$$/fd/1 ]]; then
    out="$(readlink -f "/proc/$$/fd/1")"
    err="$(readlink -f "/proc/$$/fd/2" || true)"
    exec >>"$out"
    if [[ "$err" == "$out" ]]; then exec 2>&1; fi
fi
exec .venv/bin/supervisord -n -c deploy/supervisord.conf
