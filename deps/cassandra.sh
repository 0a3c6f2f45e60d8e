#!/usr/bin/env bash
# Apache Cassandra 5.0 (one node) from Maven Central, on 127.0.0.1, on JDK 17.
# Usage: cassandra.sh install|start|stop|status|env
NAME=cassandra
source "$(dirname "$0")/lib.sh"

VERSION=${PARLEY_DEPS_CASSANDRA_VERSION:-5.0.9}
PORT=${PARLEY_DEPS_CASSANDRA_PORT:-9042}
STORAGE_PORT=${PARLEY_DEPS_CASSANDRA_STORAGE_PORT:-7000}
HEAP=${PARLEY_DEPS_CASSANDRA_HEAP:-1G}
TIMER_SLACK_NS=${PARLEY_DEPS_CASSANDRA_TIMER_SLACK_NS:-500000}
READY_TIMEOUT=180

do_install() {
  LIB=$(maven_lib cassandra "$VERSION" "$DEPS_SRC/conf/cassandra/pom.xml")
  need_java17
}

do_launch() {
  ports_free "$PORT" "$STORAGE_PORT"
  mkdir -p "$RUN_DIR/conf" "$RUN_DIR/data" "$RUN_DIR/logs" "$RUN_DIR/triggers" "$RUN_DIR/tmp"
  render "$DEPS_SRC/conf/cassandra/cassandra.yaml" "$RUN_DIR/conf/cassandra.yaml" \
    "PORT=$PORT" "STORAGE_PORT=$STORAGE_PORT" "DATA=$RUN_DIR/data"
  cp "$DEPS_SRC/conf/cassandra/logback.xml" "$RUN_DIR/conf/logback.xml"
  local jamm
  jamm=$(ls "$LIB"/jamm-*.jar | head -1) || die "no jamm agent in $LIB"
  # lz4 and snappy unpack native libraries into java.io.tmpdir: keep it ours.
  # Gossip has nothing to settle with one node: skipping the wait saves seconds.
  # Timer slack: Cassandra's request workers (SEPWorker) wait for the next request in 10 µs sleeps
  # for up to 10 ms after each one, so at a few hundred requests a second they never stop waking;
  # on cores shared with everything else that was over half of Cassandra's CPU. A coarser slack
  # (inherited by every JVM thread, kept across exec) lets each sleep last up to 0.5 ms instead.
  launch bash -c 'echo "$0" >/proc/self/timerslack_ns 2>/dev/null || true; exec "$@"' "$TIMER_SLACK_NS" \
    "$JAVA" -Xms"$HEAP" -Xmx"$HEAP" -Xss256k -XX:+ExitOnOutOfMemoryError \
    "@$DEPS_SRC/conf/cassandra/jvm17-server.options" -javaagent:"$jamm" \
    -Djava.net.preferIPv4Stack=true -Djava.io.tmpdir="$RUN_DIR/tmp" \
    -Dcassandra.config="file://$RUN_DIR/conf/cassandra.yaml" \
    -Dlogback.configurationFile="file://$RUN_DIR/conf/logback.xml" \
    -Dcassandra.logdir="$RUN_DIR/logs" -Dcassandra.storagedir="$RUN_DIR/data" \
    -Dcassandra.triggers_dir="$RUN_DIR/triggers" -Dcassandra-foreground=yes \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 \
    -cp "$RUN_DIR/conf:$LIB/*" org.apache.cassandra.service.CassandraDaemon
}

# Only connect to the port, never write to it: stray bytes make Cassandra log protocol errors.
is_ready() { grep -q 'Starting listening for CQL clients' "$LOG_FILE" 2>/dev/null && port_open "$PORT"; }
is_up() { port_open "$PORT"; }
do_stop() { stop_server TERM 60; }
env_lines() {
  echo "PARLEY_TEST_CQL_CONTACT_POINTS=127.0.0.1:$PORT"
  echo "PARLEY_TEST_CQL_LOCAL_DC=datacenter1"
}

server_main "$@"
