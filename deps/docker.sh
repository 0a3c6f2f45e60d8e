#!/usr/bin/env bash
# A real container engine for the image tests: Debian's docker.io daemon on its own socket, host
# networking only (no bridge, no iptables), images kept in the cache outside the clone.
# No image registry is reachable here, so `start` also makes the base images the Dockerfile names,
# LOCALLY, once (they stay in the cached image store):
#   local/debian:bookworm  debootstrap --variant=minbase from Debian's packages
#   node:24-slim           a LOCAL-ONLY STAND-IN for the official image: local/debian:bookworm plus the
#                          Node 24 binary of the clone's `node` devDependency (npm registry), the
#                          `npm` package, and the machine's CA bundle. Never push it anywhere.
# Usage: docker.sh install|start|stop|status|env|base-images
NAME=docker
source "$(dirname "$0")/lib.sh"

SOCKET=$RUN_DIR/docker.sock
DATA_ROOT=${PARLEY_DEPS_DOCKER_DATA:-$CACHE_DIR/docker}
STORAGE=${PARLEY_DEPS_DOCKER_STORAGE:-overlay2}
NPM_VERSION=${PARLEY_DEPS_IMAGE_NPM_VERSION:-11.19.1}
READY_TIMEOUT=60
DOCKER=/usr/bin/docker  # Debian's client, matching its daemon (another `docker` may be first on PATH)
export DOCKER_HOST=unix://$SOCKET

do_install() {
  [ -x /usr/sbin/dockerd ] && [ -x "$DOCKER" ] && command -v debootstrap >/dev/null \
    || apt_install docker.io debootstrap
}

do_launch() {
  mkdir -p "$RUN_DIR/exec" "$DATA_ROOT"
  # --bridge=none --iptables=false: containers get host networking or none; nothing is routed.
  launch /usr/sbin/dockerd --host "unix://$SOCKET" --data-root "$DATA_ROOT" --exec-root "$RUN_DIR/exec" \
    --pidfile "$RUN_DIR/dockerd.pid" --storage-driver "$STORAGE" --bridge=none --iptables=false \
    --ip6tables=false --ip-masq=false --userland-proxy=false
}

is_up() { "$DOCKER" version >/dev/null 2>&1; }
is_ready() { is_up && base_images; }
do_stop() { stop_server TERM 30; }
env_lines() {
  echo "PARLEY_TEST_DOCKER_HOST=unix://$SOCKET"
  echo "PARLEY_TEST_DOCKER=$DOCKER"
}

have_image() { "$DOCKER" image inspect "$1" >/dev/null 2>&1; }

# Makes the local base images when they are missing (once: the image store is in the cache).
base_images() {
  local node_bin=$REPO_DIR/node_modules/node/bin/node node_version
  [ -x "$node_bin" ] || die "no $node_bin: run 'npm ci' first (the image's Node comes from the node devDependency)"
  node_version=$("$node_bin" --version)
  case $node_version in v24.*) ;; *) die "the node devDependency is $node_version, not Node 24" ;; esac
  exec 6>"$CACHE_DIR/docker-images.lock"
  flock -w 900 6 || die "timed out waiting for $CACHE_DIR/docker-images.lock"
  if ! have_image local/debian:bookworm; then
    local t0 rootfs mirror; t0=$(now_ms); rootfs=$(mktemp -d "$CACHE_DIR/rootfs.XXXXXX")
    mirror=$(sed -n 's/^URIs: *\(http[^ ]*debian\)$/\1/p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)
    # The machine's own Debian mirror (from its apt sources); none found: debootstrap's default.
    say "making local/debian:bookworm with debootstrap (~80 s)"
    debootstrap --variant=minbase bookworm "$rootfs" ${mirror:+"$mirror"} \
      >"$RUN_DIR/debootstrap.log" 2>&1 \
      || { rm -rf "$rootfs"; tail -n 20 "$RUN_DIR/debootstrap.log" >&2; die "debootstrap failed"; }
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | "$DOCKER" import -c 'CMD ["bash"]' - local/debian:bookworm >/dev/null
    rm -rf "$rootfs"
    say "local/debian:bookworm made in $(secs_since "$t0") s"
  fi
  if ! have_image node:24-slim \
    || [ "$("$DOCKER" image inspect -f '{{index .Config.Labels "parley.local-node-version"}}' node:24-slim)" != "$node_version" ]; then
    local t0 ctx; t0=$(now_ms); ctx=$(mktemp -d)
    say "making the local stand-in node:24-slim ($node_version, npm $NPM_VERSION)"
    cp "$node_bin" "$ctx/node"
    cp /etc/ssl/certs/ca-certificates.crt "$ctx/ca-certificates.crt"
    (cd "$ctx" && npm pack --silent "npm@$NPM_VERSION" >/dev/null) || die "npm pack npm@$NPM_VERSION failed"
    mv "$ctx"/npm-*.tgz "$ctx/npm.tgz"
    cat >"$ctx/Dockerfile" <<EOF
FROM local/debian:bookworm
LABEL parley.local-node-version="$node_version" parley.note="local-only stand-in for node:24-slim"
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY node /usr/local/bin/node
ADD npm.tgz /usr/local/lib/node_modules/
RUN mv /usr/local/lib/node_modules/package /usr/local/lib/node_modules/npm \\
 && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && groupadd --gid 1000 node && useradd --uid 1000 --gid node --shell /bin/bash --create-home node
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt npm_config_cafile=/etc/ssl/certs/ca-certificates.crt
CMD ["node"]
EOF
    "$DOCKER" build --network host -q -t node:24-slim "$ctx" >"$RUN_DIR/node-image.log" 2>&1 \
      || { tail -n 20 "$RUN_DIR/node-image.log" >&2; rm -rf "$ctx"; die "building the node:24-slim stand-in failed"; }
    rm -rf "$ctx"
    say "node:24-slim stand-in made in $(secs_since "$t0") s"
  fi
  exec 6>&-
}

if [ "${1:-}" = base-images ]; then base_images; exit $?; fi
server_main "$@"
