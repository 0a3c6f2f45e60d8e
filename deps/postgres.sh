#!/usr/bin/env bash
# PostgreSQL 15 from Debian's packages, on 127.0.0.1 only, with a password-authenticated
# superuser parley/parley and a database parley. Usage: postgres.sh install|start|stop|status|env
NAME=postgres
source "$(dirname "$0")/lib.sh"

PORT=${PARLEY_DEPS_PG_PORT:-55432}
PASSWORD=parley
READY_TIMEOUT=60

# initdb and postgres refuse to run as root: as root they run as the `postgres` user.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi
}
# The postgres user must be able to reach the data folder. A clone under /root is out of its
# reach, so there the data lives in a folder of its own under /tmp (linked from .deps/postgres/home).
reachable() {
  local d=$1
  while [ ! -e "$d" ]; do d=$(dirname "$d"); done
  [ "$(id -u)" -ne 0 ] || setpriv --reuid=postgres --regid=postgres --init-groups -- test -x "$d" 2>/dev/null
}
set_paths() {
  if [ -L "$RUN_DIR/home" ]; then PG_HOME=$(readlink "$RUN_DIR/home")
  elif [ -e "$RUN_DIR/data" ] || reachable "$RUN_DIR"; then PG_HOME=$RUN_DIR
  else PG_HOME=/tmp/parley-pg-$(printf '%s' "$RUN_DIR" | sha256sum | cut -c1-12); fi
  DATA=$PG_HOME/data SOCKETS=$PG_HOME/run MARKER=$PG_HOME/data
}
set_paths

bin_dir() {
  local d
  for d in /usr/lib/postgresql/15/bin $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -rV); do
    [ -x "$d/postgres" ] && { echo "$d"; return 0; }
  done
  return 1
}

do_install() {
  bin_dir >/dev/null || apt_install postgresql
  bin_dir >/dev/null || die "no PostgreSQL binaries under /usr/lib/postgresql"
}

psql_tcp() {  # psql_tcp DB SQL
  PGPASSWORD=$PASSWORD PGCONNECT_TIMEOUT=2 "$(bin_dir)/psql" -X -q -h 127.0.0.1 -p "$PORT" -U parley \
    -d "$1" -tAc "$2" 2>/dev/null
}

init_cluster() {
  say "initdb in $DATA"
  mkdir -p "$RUN_DIR" "$DATA"
  [ "$PG_HOME" = "$RUN_DIR" ] || ln -sfn "$PG_HOME" "$RUN_DIR/home"
  local pw=$PG_HOME/initdb.pw
  printf '%s\n' "$PASSWORD" >"$pw"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$DATA" "$pw"; fi
  chmod 700 "$DATA"
  as_owner "$(bin_dir)/initdb" -D "$DATA" -U parley --pwfile="$pw" -E UTF8 --no-locale \
    --auth-host=scram-sha-256 --auth-local=trust >"$RUN_DIR/initdb.log" 2>&1 \
    || { rm -f "$pw"; cat "$RUN_DIR/initdb.log" >&2; die "initdb failed"; }
  rm -f "$pw"
}

do_launch() {
  set_paths  # again: the postgres user may have just been created by the install
  ports_free "$PORT"
  [ -f "$DATA/PG_VERSION" ] || init_cluster
  mkdir -p "$SOCKETS"
  if [ "$(id -u)" -eq 0 ]; then chown postgres: "$SOCKETS"; fi
  # Test settings: no fsync (a crash of the machine may lose data; never use in production).
  local cmd=("$(bin_dir)/postgres" -D "$DATA" -k "$SOCKETS" -p "$PORT" -c listen_addresses=127.0.0.1
    -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off)
  [ "$(id -u)" -ne 0 ] || cmd=(setpriv --reuid=postgres --regid=postgres --init-groups -- "${cmd[@]}")
  launch "${cmd[@]}"
}

is_ready() {
  [ "$(psql_tcp postgres 'select 1')" = 1 ] || return 1
  [ "$(psql_tcp postgres "select 1 from pg_database where datname = 'parley'")" = 1 ] \
    || psql_tcp postgres 'create database parley' >/dev/null
}
is_up() { [ "$(psql_tcp postgres 'select 1')" = 1 ]; }

# SIGINT is PostgreSQL's fast shutdown; SIGTERM would wait for every client to disconnect.
do_stop() { stop_server INT 30; }

env_lines() { echo "PARLEY_TEST_PG_URL=postgres://parley:$PASSWORD@127.0.0.1:$PORT/parley"; }

server_main "$@"
