#!/usr/bin/env bash
# Local services owned by this checkout: a PostgreSQL cluster and a Redis server under .data/.
# Used by the Makefile; every sub-command is idempotent.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
DATA="$ROOT/.data"
PGPORT="${SOR_PG_PORT:-54329}"
REDIS_PORT="${SOR_REDIS_PORT:-63799}"
PGBASE="$DATA"
# The cluster runs as user postgres, which must be able to reach it. A checkout inside a private
# folder (e.g. a 0700 temporary directory) is not reachable: keep the cluster in a per-checkout
# folder under /var/tmp instead.
if [ "$(id -u)" = 0 ] && id postgres >/dev/null 2>&1; then
  mkdir -p "$DATA"
  if ! runuser -u postgres -- test -x "$DATA" 2>/dev/null; then
    PGBASE="/var/tmp/sor-pg-$(printf '%s' "$ROOT" | sha1sum | cut -c1-12)"
  fi
fi
PGDATA="$PGBASE/pg"
PGRUN="$PGBASE/pgrun"
PGBIN="${SOR_PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}"
DEFAULT_DB_URL="postgresql://sor@127.0.0.1:${PGPORT}/sor"

say() { printf '[sor] %s\n' "$*" >&2; }

as_pg() {
  # From "/": user postgres may not be allowed into the current directory.
  if [ "$(id -u)" = 0 ]; then (cd / && runuser -u postgres -- "$@"); else "$@"; fi
}

apt_install() {
  # apt-get only when something is missing; never on a machine that has everything.
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    say "missing system packages: ${missing[*]} (install them with your package manager, then re-run)"
    exit 1
  fi
  say "installing ${missing[*]} (apt-get)"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

system_deps() {
  local pkgs=(redis-server gettext dovecot-imapd)
  [ -x "$PGBIN/initdb" ] || pkgs+=(postgresql)
  if [ "${1:-}" = "--browser" ]; then
    pkgs+=(chromium)
    command -v npm >/dev/null || pkgs+=(npm)  # axe-core for the accessibility check (package.json)
  fi
  apt_install "${pkgs[@]}"
  PGBIN="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)"
}

db_up() {
  [ -x "$PGBIN/initdb" ] || { say "PostgreSQL server binaries not found; run 'make setup' as root on Debian or install postgresql"; exit 1; }
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    say "user 'postgres' does not exist: install the Debian package postgresql"; exit 1
  fi
  mkdir -p "$PGRUN"
  [ "$PGBASE" != "$DATA" ] && [ "$(id -u)" = 0 ] && chown postgres: "$PGBASE"
  if [ ! -s "$PGDATA/PG_VERSION" ]; then
    mkdir -p "$PGDATA"
    [ "$(id -u)" = 0 ] && chown postgres: "$PGDATA" "$PGRUN" && chmod 700 "$PGDATA"
    say "initialising PostgreSQL cluster in $PGDATA"
    as_pg "$PGBIN/initdb" -D "$PGDATA" -U sor --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  fi
  [ "$(id -u)" = 0 ] && chown postgres: "$PGRUN"
  if ! as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    if (exec 3<>"/dev/tcp/127.0.0.1/$PGPORT") 2>/dev/null; then
      say "port $PGPORT is taken by another server (not this checkout's cluster): stop it, or set SOR_PG_PORT"; exit 1
    fi
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -w -l "$PGRUN/postgres.log" \
      -o "-p $PGPORT -k $PGRUN -c listen_addresses=127.0.0.1 -c fsync=${SOR_PG_FSYNC:-on} -c max_connections=200" start >/dev/null
    say "PostgreSQL up on 127.0.0.1:$PGPORT (log: $PGRUN/postgres.log)"
  fi
  ensure_database "${DATABASE_URL:-$DEFAULT_DB_URL}"
}

ensure_database() {
  # Creates the database named in the URL when it lives on our cluster and does not exist yet.
  local url="$1" name
  case "$url" in *"127.0.0.1:${PGPORT}/"*|*"localhost:${PGPORT}/"*) ;; *) return 0 ;; esac
  name="${url##*/}"; name="${name%%\?*}"
  if ! psql -h 127.0.0.1 -p "$PGPORT" -U sor -d postgres -tAc "select 1 from pg_database where datname='$name'" | grep -q 1; then
    psql -h 127.0.0.1 -p "$PGPORT" -U sor -d postgres -qc "create database \"$name\"" >/dev/null
    say "created database $name"
  fi
  PGOPTIONS="--client-min-messages=warning" psql -h 127.0.0.1 -p "$PGPORT" -U sor -d "$name" -qc "create extension if not exists pg_trgm" >/dev/null
}

db_stop() {
  [ -f "$DATA/dovecot/dovecot.conf" ] && "$ROOT/.venv/bin/python" -m sor_admin.devmail imap-down --dir "$DATA/dovecot" && say "dovecot stopped"
  if [ -s "$PGDATA/PG_VERSION" ] && as_pg "$PGBIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1; then
    as_pg "$PGBIN/pg_ctl" -D "$PGDATA" -m fast stop >/dev/null && say "PostgreSQL stopped"
  fi
  if redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-cli -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    say "Redis stopped"
  fi
}

redis_up() {
  command -v redis-server >/dev/null || { say "redis-server not found; run 'make setup' as root on Debian"; exit 1; }
  mkdir -p "$DATA"
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --daemonize yes \
      --logfile "$DATA/redis.log" --dir "$DATA" >/dev/null
    for _ in $(seq 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
    say "Redis up on 127.0.0.1:$REDIS_PORT"
  fi
}

imap_up() {
  # A local SORpost mailbox (Debian's dovecot) for `make run`: user sorpost, password sorpost.
  "$ROOT/.venv/bin/python" -m sor_admin.devmail imap-up --dir "$DATA/dovecot" --port "${SOR_IMAP_PORT:-11143}"
}

case "${1:-}" in
  system-deps) shift; system_deps "$@" ;;
  db-up) db_up ;;
  redis-up) redis_up ;;
  imap-up) imap_up ;;
  imap-down) "$ROOT/.venv/bin/python" -m sor_admin.devmail imap-down --dir "$DATA/dovecot" ;;
  db-stop) db_stop ;;
  db-url) echo "$DEFAULT_DB_URL" ;;
  redis-url) echo "redis://127.0.0.1:${REDIS_PORT}/0" ;;
  *) echo "usage: $0 system-deps [--browser]|db-up|redis-up|imap-up|imap-down|db-stop|db-url|redis-url" >&2; exit 2 ;;
esac
