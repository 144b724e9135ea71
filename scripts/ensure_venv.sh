#!/usr/bin/env bash
# Ensure .venv exists at the repo root and has requirements.txt installed.
# pip runs only when requirements.txt changed since the last successful install
# (sha256 kept in .venv/.requirements.sha256). Set PYTHON to choose the interpreter
# used to create the venv (default: python3.11, else python3).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=.venv
STAMP="$VENV/.requirements.sha256"
say() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

pick_python() {
    if [[ -n "${PYTHON:-}" ]]; then echo "$PYTHON"; return; fi
    local c
    for c in python3.11 python3; do
        if command -v "$c" >/dev/null 2>&1; then echo "$c"; return; fi
    done
    die "no python3 found; install Python 3.11 (Debian: apt-get install -y python3 python3-venv)"
}

create_venv() {
    local py
    py="$(pick_python)"
    "$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
        || die "$py is $("$py" -V 2>&1); Python 3.11+ is required (set PYTHON=/path/to/python3.11)"
    say "venv: creating $VENV with $("$py" -V 2>&1)"
    if ! "$py" -m venv "$VENV"; then
        rm -rf "$VENV"
        local pkg="python3-venv"
        [[ "$py" == *3.11* ]] && pkg="python3.11-venv"
        if [[ $EUID -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
            say "venv: installing $pkg (apt-get)"
            DEBIAN_FRONTEND=noninteractive apt-get update -q
            DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$pkg"
            "$py" -m venv "$VENV" || { rm -rf "$VENV"; die "could not create $VENV"; }
        else
            die "could not create $VENV; run: sudo apt-get update && sudo apt-get install -y $pkg"
        fi
    fi
}

if [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c '' >/dev/null 2>&1; then
    :
else
    if [[ -e "$VENV" ]]; then
        say "venv: $VENV is broken (its python does not run); recreating it"
        rm -rf "$VENV"
    fi
    create_venv
fi

want="$(sha256sum requirements.txt | cut -d' ' -f1)"
have="$(cat "$STAMP" 2>/dev/null || true)"
if [[ "$want" == "$have" ]]; then
    say "venv: requirements.txt unchanged since last install, skipping pip"
    exit 0
fi
say "venv: installing requirements.txt (pip)"
"$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip || true
"$VENV/bin/python" -m pip install --disable-pip-version-check -q -r requirements.txt
echo "$want" >"$STAMP"
say "venv: ready"
