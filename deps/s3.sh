#!/usr/bin/env bash
# S3-compatible object storage: versitygw (Apache-2.0) built from the Go module proxy, serving a
# folder on 127.0.0.1. Usage: s3.sh install|start|stop|status|env
NAME=s3
source "$(dirname "$0")/lib.sh"

VERSION=${PARLEY_DEPS_VERSITYGW_VERSION:-v1.8.0}
PORT=${PARLEY_DEPS_S3_PORT:-57000}
ACCESS_KEY=parley
SECRET_KEY=parleysecret
READY_TIMEOUT=30
BIN=$CACHE_DIR/versitygw/$VERSION/versitygw

find_go() {
  command -v go || { [ -x /usr/local/go/bin/go ] && echo /usr/local/go/bin/go; }
}

do_install() {
  [ -x "$BIN" ] && return 0
  find_go >/dev/null || apt_install golang-go
  local go t0; go=$(find_go); t0=$(now_ms)
  mkdir -p "$RUN_DIR"
  say "building versitygw $VERSION with $("$go" version | cut -d' ' -f3) (about a minute)"
  # Module and build caches live in the cache too; GOTOOLCHAIN=auto lets an older Go (>= 1.21)
  # fetch the toolchain that versitygw's go.mod asks for from the module proxy.
  GOBIN=$(dirname "$BIN") GOMODCACHE=$CACHE_DIR/go/mod GOCACHE=$CACHE_DIR/go/build \
    GOTOOLCHAIN=${GOTOOLCHAIN:-auto} GOFLAGS=-modcacherw \
    "$go" install "github.com/versity/versitygw/cmd/versitygw@$VERSION" >"$RUN_DIR/build.log" 2>&1 \
    || { tail -n 20 "$RUN_DIR/build.log" >&2
         die "go install of versitygw $VERSION failed (it needs Go >= 1.21 on PATH or in /usr/local/go)"; }
  say "built in $(secs_since "$t0") s"
}

do_launch() {
  ports_free "$PORT"
  mkdir -p "$RUN_DIR/data"
  launch "$BIN" --access "$ACCESS_KEY" --secret "$SECRET_KEY" --port "127.0.0.1:$PORT" posix "$RUN_DIR/data"
}

is_ready() { http_answers "$PORT"; }
is_up() { http_answers "$PORT"; }
do_stop() { stop_server TERM 20; }
env_lines() {
  echo "PARLEY_TEST_S3_ENDPOINT=http://127.0.0.1:$PORT"
  echo "PARLEY_TEST_S3_REGION=us-east-1"
  echo "PARLEY_TEST_S3_ACCESS_KEY=$ACCESS_KEY"
  echo "PARLEY_TEST_S3_SECRET_KEY=$SECRET_KEY"
}

server_main "$@"
