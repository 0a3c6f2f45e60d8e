#!/usr/bin/env bash
# Redis from Debian's packages, on 127.0.0.1, no persistence. Usage: redis.sh install|start|stop|status|env
NAME=redis
source "$(dirname "$0")/lib.sh"

PORT=${PARLEY_DEPS_REDIS_PORT:-56379}
READY_TIMEOUT=30

do_install() { command -v redis-server >/dev/null && command -v redis-cli >/dev/null || apt_install redis-server; }

do_launch() {
  ports_free "$PORT"
  mkdir -p "$RUN_DIR/data"
  render "$DEPS_SRC/conf/redis.conf" "$RUN_DIR/redis.conf" "PORT=$PORT" "DIR=$RUN_DIR/data"
  launch redis-server "$RUN_DIR/redis.conf"
}

is_ready() { [ "$(timeout 3 redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" = PONG ]; }
is_up() { is_ready; }
do_stop() { stop_server TERM 20; }
env_lines() { echo "PARLEY_TEST_REDIS_URL=redis://127.0.0.1:$PORT"; }

server_main "$@"
