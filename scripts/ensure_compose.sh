#!/usr/bin/env bash
# A Docker Compose client for exchange_site/tests/test_compose.py, which renders
# docker/compose.yaml with `config` (no Docker engine needed). Prints the command to use:
# `docker compose` (the v2 plugin) when it works, else `docker-compose`; installs Debian's
# docker-compose when neither is there and we are root. Exit 1 when there is none.
set -euo pipefail
if docker compose version >/dev/null 2>&1; then
    echo "docker compose"
    exit 0
fi
if command -v docker-compose >/dev/null 2>&1; then
    echo "docker-compose"
    exit 0
fi
cmd="apt-get install -y docker-compose"
if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null 2>&1; then
    echo "==> compose: no Docker Compose client: $cmd" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q docker-compose >/dev/null; then
        apt-get update -q >/dev/null && apt-get install -y -q docker-compose >/dev/null
    fi
    if command -v docker-compose >/dev/null 2>&1; then
        echo "docker-compose"
        exit 0
    fi
fi
echo "compose: no Docker Compose client; install one with: sudo $cmd" >&2
exit 1
