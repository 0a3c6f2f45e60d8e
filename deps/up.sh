#!/usr/bin/env bash
# Installs what is missing and starts the real servers for integration tests on 127.0.0.1, then
# writes their connection settings to .deps/env. Idempotent: running servers are left as they are.
# Usage: deps/up.sh [postgres] [redis] [kafka] [cassandra] [s3] [docker] [kube]
#   (none: postgres redis kafka cassandra; `all`: all seven)
NAME=deps
source "$(dirname "$0")/lib.sh"

if [ $# -eq 0 ]; then set -- postgres redis kafka cassandra; fi
if [ "$*" = all ]; then set -- "${ALL_SERVERS[@]}"; fi
check_names "$@"
lock_deps
t_all=$(now_ms)
declare -A installed

# Installs one after another (apt and Maven's repository are shared), then starts every server
# at once; each reports its own start-up time.
for s; do
  t=$(now_ms); bash "$DEPS_SRC/$s.sh" install; installed[$s]=$(secs_since "$t")
done
starts=()
for s; do
  rm -f "$DEPS_DIR/$s/startup-seconds"
  bash "$DEPS_SRC/$s.sh" start & starts+=($!)
done
failed=0
for j in "${starts[@]}"; do wait "$j" || failed=1; done
write_env
[ $failed -eq 0 ] || die "not every server started (see the messages above; deps/down.sh stops the rest)"

for s; do
  started="already running"
  [ ! -f "$DEPS_DIR/$s/startup-seconds" ] || started="$(cat "$DEPS_DIR/$s/startup-seconds") s"
  printf '%-10s install %5s s   start %s\n' "$s:" "${installed[$s]}" "$started" >&2
done
say "all up in $(secs_since "$t_all") s; settings in $DEPS_DIR/env:"
cat "$DEPS_DIR/env"
