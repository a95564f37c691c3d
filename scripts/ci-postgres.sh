#!/usr/bin/env bash
# Throwaway PostgreSQL for the ledger's Postgres tests (CI runs as root on Debian 12).
#
#   scripts/ci-postgres.sh [start]   start a server on 127.0.0.1:<free port>, create database
#                                    bridge_test, print on stdout the one line
#                                    BRIDGE_TEST_POSTGRES_URL=postgresql+psycopg2://postgres@127.0.0.1:<port>/bridge_test
#   scripts/ci-postgres.sh stop      stop that server and delete its data directory
#
# Typical use:
#   line="$(scripts/ci-postgres.sh)" && [ -n "$line" ] && export "$line"
#   ...tests...
#   scripts/ci-postgres.sh stop
#
# Best effort by design: when PostgreSQL is missing and cannot be installed, or will not start,
# it says why on stderr, prints nothing on stdout and exits 0, so the Postgres tests skip instead
# of failing CI. Set BRIDGE_CI_POSTGRES_REQUIRED=1 to make those cases fatal (exit 1).
# Only stdout carries the URL line; every diagnostic goes to stderr.
set -euo pipefail

STATE_FILE="${BRIDGE_CI_POSTGRES_STATE:-/tmp/bridge-ci-postgres.state}"
DB_NAME="bridge_test"
PG_USER="postgres"

log() { echo "ci-postgres: $*" >&2; }

give_up() {
    log "$* -> Postgres tests will be skipped"
    if [[ "${BRIDGE_CI_POSTGRES_REQUIRED:-0}" == "1" ]]; then
        exit 1
    fi
    exit 0
}

find_bin_dir() {
    local dir
    if [[ -n "${PG_BIN:-}" && -x "${PG_BIN}/initdb" ]]; then
        echo "$PG_BIN"
        return 0
    fi
    # Newest versioned Debian layout first, then whatever is on PATH.
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" && -x "$dir/postgres" ]]; then
            echo "$dir"
            return 0
        fi
    done
    if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        dirname "$(readlink -f "$(command -v initdb)")"
        return 0
    fi
    return 1
}

try_install() {
    if [[ "$(id -u)" != "0" ]] || ! command -v apt-get >/dev/null; then
        log "PostgreSQL not found and cannot apt-get install it (not root or no apt-get)"
        return 1
    fi
    log "PostgreSQL not found; trying apt-get install -y postgresql"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; } >&2; then
        log "apt-get install postgresql failed"
        return 1
    fi
}

# Run a command as the postgres OS user when we are root (postgres refuses to run as root).
as_pg() {
    if [[ "$(id -u)" == "0" ]]; then
        runuser -u "$PG_USER" -- "$@"
    else
        "$@"
    fi
}

free_port() {
    if command -v python3 >/dev/null; then
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
        return 0
    fi
    local port
    for port in $(seq 25432 25532); do
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    return 1
}

start() {
    local bin_dir data_dir port attempt
    if [[ -f "$STATE_FILE" ]]; then
        log "a previous server is still recorded in $STATE_FILE; stopping it first"
        stop || true
    fi
    if ! bin_dir="$(find_bin_dir)"; then
        try_install || give_up "no PostgreSQL binaries"
        bin_dir="$(find_bin_dir)" || give_up "PostgreSQL installed but initdb/pg_ctl not found"
    fi
    log "using $bin_dir"

    if [[ "$(id -u)" == "0" ]] && ! id "$PG_USER" >/dev/null 2>&1; then
        useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin "$PG_USER" >&2 \
            || give_up "no '$PG_USER' OS user and useradd failed"
    fi

    data_dir="$(mktemp -d /tmp/bridge-ci-postgres.XXXXXX)"
    chmod 700 "$data_dir"
    if [[ "$(id -u)" == "0" ]]; then
        chown "$PG_USER:" "$data_dir"
    fi
    # Record it now so `stop` can clean up even if start fails half-way.
    printf '%s\n%s\n' "$data_dir" "$bin_dir" >"$STATE_FILE"

    if ! as_pg "$bin_dir/initdb" -D "$data_dir/pgdata" -U "$PG_USER" --auth=trust \
        --encoding=UTF8 --no-locale --no-sync >"$data_dir/initdb.log" 2>&1; then
        cat "$data_dir/initdb.log" >&2 || true
        stop || true
        give_up "initdb failed"
    fi

    # A port found free can be taken before postgres binds it: try a few.
    for attempt in 1 2 3; do
        port="$(free_port)" || { stop || true; give_up "no free port"; }
        if as_pg "$bin_dir/pg_ctl" -D "$data_dir/pgdata" -l "$data_dir/server.log" -w -t 60 \
            -o "-h 127.0.0.1 -p $port -k $data_dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100" \
            start >&2; then
            break
        fi
        log "start on port $port failed (attempt $attempt)"
        tail -n 20 "$data_dir/server.log" >&2 || true
        port=""
    done
    if [[ -z "$port" ]]; then
        stop || true
        give_up "postgres would not start"
    fi

    if ! as_pg "$bin_dir/createdb" -h 127.0.0.1 -p "$port" -U "$PG_USER" "$DB_NAME" >&2; then
        stop || true
        give_up "createdb $DB_NAME failed"
    fi
    log "running on 127.0.0.1:$port, data in $data_dir (stop with: $0 stop)"
    echo "BRIDGE_TEST_POSTGRES_URL=postgresql+psycopg2://${PG_USER}@127.0.0.1:${port}/${DB_NAME}"
}

stop() {
    local data_dir bin_dir
    if [[ ! -f "$STATE_FILE" ]]; then
        log "nothing to stop ($STATE_FILE not found)"
        return 0
    fi
    { read -r data_dir; read -r bin_dir; } <"$STATE_FILE"
    if [[ -f "$data_dir/pgdata/postmaster.pid" ]]; then
        as_pg "$bin_dir/pg_ctl" -D "$data_dir/pgdata" -m fast -w -t 60 stop >&2 \
            || log "pg_ctl stop failed"
    fi
    case "$data_dir" in
        /tmp/bridge-ci-postgres.*) rm -rf "$data_dir" ;;
        *) log "refusing to delete unexpected directory '$data_dir'" ;;
    esac
    rm -f "$STATE_FILE"
    log "stopped"
}

case "${1:-start}" in
    start) start ;;
    stop) stop ;;
    *)
        log "usage: $0 [start|stop]"
        exit 2
        ;;
esac
