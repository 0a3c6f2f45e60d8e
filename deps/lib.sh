# Shared by the deps/ scripts: paths, messages, apt, Maven, templates, process control.
# Sourced, never run. Each server script sets NAME before sourcing it.
set -euo pipefail

DEPS_SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$DEPS_SRC")
DEPS_DIR=${PARLEY_DEPS_DIR:-$REPO_DIR/.deps}
CACHE_DIR=${PARLEY_CACHE_DIR:-$HOME/.cache/parley}
RUN_DIR=$DEPS_DIR/$NAME          # data, log, pid and generated config of this server
PID_FILE=$RUN_DIR/pid
LOG_FILE=$RUN_DIR/log

say() { printf '%s: %s\n' "$NAME" "$*" >&2; }
die() { say "error: $*"; exit 1; }
now_ms() { date +%s%3N; }
secs_since() { local d=$(( $(now_ms) - $1 )); printf '%d.%01d' $((d / 1000)) $((d % 1000 / 100)); }

# --- packages -----------------------------------------------------------------

# Installs the Debian packages that are missing. Never lets a package start its own system
# service (our servers run on our own ports and data folders).
apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing Debian packages: ${missing[*]} (install them as root)"
  say "installing ${missing[*]} with apt"
  local rc=0 log=$RUN_DIR/apt.log
  mkdir -p "$RUN_DIR" "$CACHE_DIR"
  # Two installers (deps:up and kube.sh) may run side by side. apt's own lock timeout covers
  # dpkg but not `apt-get update`'s lists lock, and the policy-rc.d file is shared: one lock
  # around the whole install makes the second wait for the first.
  (
    flock 9
    local policy=/usr/sbin/policy-rc.d made_policy=
    if [ ! -e $policy ]; then
      printf '#!/bin/sh\nexit 101\n' >$policy && chmod +x $policy && made_policy=1
    fi
    # One `apt-get update` per half hour.
    local stamp=$CACHE_DIR/apt-updated status=0
    { [ -n "$(find "$stamp" -mmin -30 2>/dev/null)" ] \
      || { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 update && touch "$stamp"; }; } \
      && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y --no-install-recommends "${missing[@]}" \
      || status=$?
    [ -z "$made_policy" ] || rm -f $policy
    exit $status
  ) 9>"$CACHE_DIR/apt.lock" >"$log" 2>&1 || rc=$?
  [ $rc -eq 0 ] || { tail -n 20 "$log" >&2; die "apt-get failed for ${missing[*]} (log: $log)"; }
}

# --- Java and Maven -------------------------------------------------------------

# Kafka 4 and Cassandra 5 run on JDK 17; the default `java` may be another one.
java17_home() {
  local h
  for h in "${PARLEY_JAVA17_HOME:-}" /usr/lib/jvm/java-17-openjdk-*; do
    [ -n "$h" ] && [ -x "$h/bin/java" ] || continue
    "$h/bin/java" -version 2>&1 | grep -q 'version "17' && { echo "$h"; return 0; }
  done
  return 1
}

need_java17() {
  java17_home >/dev/null || apt_install openjdk-17-jre-headless
  JAVA_HOME=$(java17_home) || die "no JDK 17 found (set PARLEY_JAVA17_HOME)"
  JAVA=$JAVA_HOME/bin/java
}

# Resolves the runtime jars of a generated pom into the cache and prints the lib folder.
# The folder is keyed by the artifact version and a hash of the pom, so a version bump
# (or any dependency change) resolves again; Maven's own repository is shared in the cache.
maven_lib() {
  local kind=$1 version=$2 template=$3 pom key dir
  pom=$(render_text "$template" "VERSION=$version")
  key=$(printf '%s' "$pom" | sha256sum | cut -c1-10)
  dir=$CACHE_DIR/$kind/$version-$key
  mkdir -p "$CACHE_DIR"
  exec 8>"$CACHE_DIR/$kind.lock"  # another clone may be resolving into the same cache
  flock -w 900 8 || die "timed out waiting for $CACHE_DIR/$kind.lock"
  if [ ! -f "$dir/complete" ]; then
    need_java17
    command -v mvn >/dev/null || apt_install maven
    rm -rf "$dir" && mkdir -p "$dir"
    printf '%s\n' "$pom" >"$dir/pom.xml"
    say "resolving $kind $version jars from Maven Central into $dir"
    JAVA_HOME=$JAVA_HOME mvn -B -f "$dir/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$dir/lib" -DincludeScope=runtime -Dmaven.repo.local="$CACHE_DIR/m2" \
      >"$dir/maven.log" 2>&1 \
      || { grep -E 'ERROR' "$dir/maven.log" | head -20 >&2; die "maven could not resolve $kind $version (log: $dir/maven.log)"; }
    touch "$dir/complete"
  fi
  exec 8>&-
  echo "$dir/lib"
}

# --- templates ------------------------------------------------------------------

# render_text FILE KEY=value... : FILE with every @KEY@ replaced; fails on a key left over.
render_text() {
  local text kv left
  text=$(<"$1"); shift
  for kv in "$@"; do text=${text//"@${kv%%=*}@"/"${kv#*=}"}; done
  left=$(grep -oE '@[A-Z0-9_]+@' <<<"$text" | head -1 || true)
  [ -z "$left" ] || die "template $1: no value for $left"
  printf '%s\n' "$text"
}
render() { local src=$1 dst=$2; shift 2; render_text "$src" "$@" >"$dst"; }

# --- processes ------------------------------------------------------------------

alive() {  # a live process, not a zombie
  local pid=$1 stat
  [ -n "$pid" ] && stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }; [ "${stat:0:1}" != Z ]
}
# Our server is the process in the pid file whose command line names our folder
# (guards against a recycled pid).
our_pid() {
  local pid
  pid=$(cat "$PID_FILE" 2>/dev/null) || return 1
  alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "${MARKER:-$RUN_DIR}" \
    && echo "$pid"
}

port_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

http_answers() {  # any HTTP status line on the port
  timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; printf 'GET / HTTP/1.0\r\n\r\n' >&3; head -c 5 <&3" \
    2>/dev/null | grep -q '^HTTP/'
}

# Fails early with a clear message when another process holds one of our ports.
ports_free() {
  local p
  for p in "$@"; do
    ! port_open "$p" || die "port $p is already in use by another process (see deps/README.md to change it)"
  done
}

# launch CMD... : starts CMD detached (own session), stdout+stderr to the log, pid to the pid file.
launch() {
  mkdir -p "$RUN_DIR"
  [ -f "$LOG_FILE" ] && mv -f "$LOG_FILE" "$LOG_FILE.1"
  rm -f "$PID_FILE"
  # A subshell that exits at once, so the server is nobody's child; fd 9 is up.sh's lock,
  # which the server must not inherit.
  (
    cd "$RUN_DIR" && exec 9>&-
    setsid bash -c 'echo $$ >"$0"; exec "$@"' "$PID_FILE" "$@" </dev/null >"$LOG_FILE" 2>&1 &
  )
  local i
  for i in $(seq 50); do [ -s "$PID_FILE" ] && break; sleep 0.1; done
  touch "$RUN_DIR/fresh"
}

# wait_ready SECONDS CHECK... : polls CHECK until it succeeds; fails if the process exits.
wait_ready() {
  local limit=$1 started; shift
  started=$(cat "$RUN_DIR/launched" 2>/dev/null || now_ms)
  if [ ! -e "$RUN_DIR/fresh" ] && "$@"; then say "already running (pid $(our_pid))"; return 0; fi
  until "$@"; do
    if ! our_pid >/dev/null; then
      say "exited during start-up; last lines of $LOG_FILE:"; tail -n 30 "$LOG_FILE" >&2 || true; exit 1
    fi
    if [ $(( $(now_ms) - started )) -gt $((limit * 1000)) ]; then
      say "not ready after ${limit}s; last lines of $LOG_FILE:"; tail -n 30 "$LOG_FILE" >&2 || true; exit 1
    fi
    sleep 0.2
  done
  rm -f "$RUN_DIR/fresh"
  secs_since "$started" >"$RUN_DIR/startup-seconds"
  say "ready in $(cat "$RUN_DIR/startup-seconds") s (pid $(our_pid), log $LOG_FILE)"
}

# stop_server [SIGNAL] [SECONDS] : signal, wait, then SIGKILL.
stop_server() {
  local sig=${1:-TERM} limit=${2:-30} pid i
  if ! pid=$(our_pid); then rm -f "$PID_FILE"; say "not running"; return 0; fi
  local t0; t0=$(now_ms)
  kill -s "$sig" "$pid" 2>/dev/null || true
  for i in $(seq $((limit * 10))); do alive "$pid" || break; sleep 0.1; done
  if alive "$pid"; then
    say "still running after ${limit}s, sending SIGKILL"
    kill -s KILL "$pid" 2>/dev/null || true
    for i in $(seq 50); do alive "$pid" || break; sleep 0.1; done
  fi
  rm -f "$PID_FILE"
  say "stopped in $(secs_since "$t0") s"
}

# The subcommands every server script offers; the script defines do_install, do_launch,
# is_ready (full check while starting), is_up (cheap check), do_stop and env_lines.
server_main() {
  local cmd=${1:-}
  case $cmd in
    install) do_install ;;
    launch)  # start in the background unless already running; does not wait
      do_install
      our_pid >/dev/null && return 0
      mkdir -p "$RUN_DIR" && now_ms >"$RUN_DIR/launched"  # start-up time includes initdb/format
      do_launch ;;
    wait)    wait_ready "$READY_TIMEOUT" is_ready ;;
    start)   server_main launch && server_main wait ;;
    stop)    do_stop ;;
    status)  if our_pid >/dev/null && is_up; then say "running (pid $(our_pid))"; else say "not running"; return 3; fi ;;
    env)     env_lines ;;
    *) echo "usage: $0 install|start|launch|wait|stop|status|env" >&2; return 2 ;;
  esac
}

# --- for up.sh and down.sh --------------------------------------------------------

ALL_SERVERS=(postgres redis kafka cassandra s3 docker kube)

check_names() {
  local s
  for s; do
    [[ " ${ALL_SERVERS[*]} " == *" $s "* ]] || { echo "unknown server '$s' (known: ${ALL_SERVERS[*]})" >&2; exit 2; }
  done
}

# Takes the lock that keeps two up.sh/down.sh runs from racing (on fd 9).
lock_deps() {
  mkdir -p "$DEPS_DIR"
  exec 9>"$DEPS_DIR/lock"
  flock -w 900 9 || die "another deps/up.sh or down.sh holds $DEPS_DIR/lock"
}

# .deps/env lists the connection settings of every server that is running now.
write_env() {
  local s tmp=$DEPS_DIR/env.tmp
  : >"$tmp"
  for s in "${ALL_SERVERS[@]}"; do
    if bash "$DEPS_SRC/$s.sh" status 2>/dev/null; then bash "$DEPS_SRC/$s.sh" env >>"$tmp"; fi
  done
  mv -f "$tmp" "$DEPS_DIR/env"
}
