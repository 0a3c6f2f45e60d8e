#!/usr/bin/env bash
# Stops the servers that deps/up.sh started (by their pid files: a polite signal, then SIGKILL
# after a timeout) and updates .deps/env. Data stays in .deps/<name>/ for the next start.
# Usage: deps/down.sh [postgres] [redis] [kafka] [cassandra] [s3] [docker] [kube]   (none: all)
NAME=deps
source "$(dirname "$0")/lib.sh"

if [ $# -eq 0 ]; then set -- "${ALL_SERVERS[@]}"; fi
check_names "$@"
lock_deps
pids=()
for s; do bash "$DEPS_SRC/$s.sh" stop 9>&- & pids+=($!); done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=1; done
write_env
exit $rc
