#!/usr/bin/env bash
# Apache Kafka (KRaft, one node as broker + controller) from Maven Central, on 127.0.0.1.
# Usage: kafka.sh install|start|stop|status|env, or kafka.sh run-class CLASS ARGS... to run a
# Kafka tool on the same jars (e.g. org.apache.kafka.tools.TopicCommand --bootstrap-server ... --list).
NAME=kafka
source "$(dirname "$0")/lib.sh"

VERSION=${PARLEY_DEPS_KAFKA_VERSION:-4.4.0}
PORT=${PARLEY_DEPS_KAFKA_PORT:-9092}
CONTROLLER_PORT=${PARLEY_DEPS_KAFKA_CONTROLLER_PORT:-9093}
# The port clients are told to connect to: a test puts a fault-injecting proxy there.
ADVERTISED_PORT=${PARLEY_DEPS_KAFKA_ADVERTISED_PORT:-$PORT}
HEAP=${PARLEY_DEPS_KAFKA_HEAP:-512m}   # a fault test's private broker runs with less
CLUSTER_ID=cGFybGV5LXRlc3RzLWthZg   # fixed, so formatting is repeatable (a random one fails on restart)
READY_TIMEOUT=90

do_install() {
  LIB=$(maven_lib kafka "$VERSION" "$DEPS_SRC/conf/kafka/pom.xml")
  need_java17
}

kafka_java() { "$JAVA" -Dlog4j2.configurationFile="$RUN_DIR/log4j2.properties" -cp "$LIB/*" "$@"; }

do_launch() {
  ports_free "$PORT" "$CONTROLLER_PORT"
  mkdir -p "$RUN_DIR"
  render "$DEPS_SRC/conf/kafka/server.properties" "$RUN_DIR/server.properties" \
    "PORT=$PORT" "ADVERTISED_PORT=$ADVERTISED_PORT" "CONTROLLER_PORT=$CONTROLLER_PORT" "DATA=$RUN_DIR/data"
  render "$DEPS_SRC/conf/kafka/log4j2.properties" "$RUN_DIR/log4j2.properties" LEVEL=INFO
  # A test's private broker may override settings, one key=value a line (the last one wins).
  if [ -n "${PARLEY_DEPS_KAFKA_EXTRA_PROPERTIES:-}" ]; then
    printf '%s\n' "$PARLEY_DEPS_KAFKA_EXTRA_PROPERTIES" >>"$RUN_DIR/server.properties"
  fi
  # The metadata log remembers the controller's address and the version that formatted it.
  local stamp="$VERSION $PORT $CONTROLLER_PORT"
  if [ -d "$RUN_DIR/data" ] && [ "$(cat "$RUN_DIR/formatted" 2>/dev/null)" != "$stamp" ]; then
    say "version or ports changed: starting from empty data"; rm -rf "$RUN_DIR/data"
  fi
  if [ ! -f "$RUN_DIR/data/meta.properties" ]; then
    kafka_java kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$RUN_DIR/server.properties" \
      --standalone --ignore-formatted >"$RUN_DIR/format.log" 2>&1 \
      || { cat "$RUN_DIR/format.log" >&2; die "formatting the storage failed"; }
    echo "$stamp" >"$RUN_DIR/formatted"
  fi
  launch "$JAVA" -Xms"$HEAP" -Xmx"$HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$RUN_DIR/log4j2.properties" -cp "$LIB/*" kafka.Kafka "$RUN_DIR/server.properties"
}

is_ready() { grep -q 'Kafka Server started' "$LOG_FILE" 2>/dev/null && port_open "$PORT"; }
is_up() { port_open "$PORT"; }
do_stop() { stop_server TERM 30; }
env_lines() { echo "PARLEY_TEST_KAFKA_BROKERS=127.0.0.1:$PORT"; }

if [ "${1:-}" = run-class ]; then
  shift; do_install; mkdir -p "$RUN_DIR"
  render "$DEPS_SRC/conf/kafka/log4j2.properties" "$RUN_DIR/tools-log4j2.properties" LEVEL=WARN
  exec "$JAVA" -Dlog4j2.configurationFile="$RUN_DIR/tools-log4j2.properties" -cp "$LIB/*" "$@"
fi
server_main "$@"
