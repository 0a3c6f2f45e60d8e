#!/usr/bin/env bash
# A real Kubernetes API server for the chart tests: kube-apiserver (built once from the Go module
# proxy, cached) on etcd (Debian's etcd-server), both on 127.0.0.1, plus the tools the chart checks
# use: kubectl (same build), helm (go install), promtool (Debian's prometheus package) and the
# Prometheus Operator CRDs (from the prometheus-operator Go module).
# No controller-manager, scheduler or kubelet: objects are validated and stored, no pod runs. So the
# PVC-protection finalizer (removed by a controller) is not added, or deleted PVCs would stay for ever.
# Usage: kube.sh install|start|stop|status|env
NAME=kube
source "$(dirname "$0")/lib.sh"

K8S_VERSION=${PARLEY_DEPS_K8S_VERSION:-v1.37.2}
HELM_VERSION=${PARLEY_DEPS_HELM_VERSION:-v3.22.0}
PROM_OPERATOR_VERSION=${PARLEY_DEPS_PROM_OPERATOR_VERSION:-v0.85.0}
PORT=${PARLEY_DEPS_KUBE_PORT:-56443}
ETCD_PORT=${PARLEY_DEPS_ETCD_PORT:-52379}
ETCD_PEER_PORT=${PARLEY_DEPS_ETCD_PEER_PORT:-52380}
READY_TIMEOUT=90

K8S_DIR=$CACHE_DIR/kubernetes/$K8S_VERSION
HELM_BIN=$CACHE_DIR/helm/$HELM_VERSION/helm
CRD_DIR=$CACHE_DIR/prometheus-operator/$PROM_OPERATOR_VERSION/crds
ETCD_BIN=/usr/bin/etcd
PROMTOOL=/usr/bin/promtool
KUBECONFIG_FILE=$RUN_DIR/kubeconfig

find_go() {
  command -v go || { [ -x /usr/local/go/bin/go ] && echo /usr/local/go/bin/go; }
}

go_env() {  # the deps cache's Go caches, shared with deps/s3.sh
  env GOMODCACHE="$CACHE_DIR/go/mod" GOCACHE="$CACHE_DIR/go/build" GOTOOLCHAIN="${GOTOOLCHAIN:-auto}" \
    GOFLAGS="-modcacherw ${GOFLAGS_EXTRA:-}" "$@"
}

need_go() {
  find_go >/dev/null || apt_install golang-go
  GO=$(find_go)
}

# kube-apiserver and kubectl of one Kubernetes release. `go install` refuses k8s.io/kubernetes (its
# go.mod replaces the staging modules with local folders), so a wrapper module requires it and
# replaces each staging module with its published v0.Y.Z.
build_kubernetes() {
  [ -x "$K8S_DIR/kube-apiserver" ] && [ -x "$K8S_DIR/kubectl" ] && return 0
  need_go
  local t0 w gomod minor staging
  t0=$(now_ms); w=$K8S_DIR/src
  rm -rf "$w" && mkdir -p "$w"
  say "building kube-apiserver and kubectl $K8S_VERSION from the Go module proxy (~5 min on 2 cores)"
  gomod=$(cd "$w" && go_env "$GO" mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  [ -f "$gomod" ] || die "could not download k8s.io/kubernetes@$K8S_VERSION"
  minor=${K8S_VERSION#v1.}  # 37.2
  staging=$(grep -oE '^\s*k8s\.io/[a-z0-9-]+ => \./staging/src/k8s\.io/[a-z0-9-]+' "$gomod" | awk '{print $1}' | sort -u)
  [ -n "$staging" ] || die "no staging replaces found in $gomod"
  {
    echo "module parley.local/kube-build"
    echo
    grep -m1 -E '^go [0-9.]+' "$gomod"
    echo
    echo "require k8s.io/kubernetes $K8S_VERSION"
    echo
    for m in $staging; do echo "replace $m => $m v0.$minor"; done
  } >"$w/go.mod"
  printf 'package main\n\nimport _ "k8s.io/kubernetes/cmd/kube-apiserver/app"\n\nfunc main() {}\n' >"$w/main.go"
  local pkg=k8s.io/component-base/version cpkg=k8s.io/client-go/pkg/version major=1 mnr=${minor%%.*}
  local ld="-s -w"
  for p in $pkg $cpkg; do
    ld+=" -X $p.gitVersion=$K8S_VERSION -X $p.gitMajor=$major -X $p.gitMinor=$mnr -X $p.gitTreeState=clean"
  done
  (
    cd "$w"
    go_env GOFLAGS="-modcacherw -mod=mod" CGO_ENABLED=0 "$GO" mod tidy >"$w/build.log" 2>&1 || true
    go_env GOFLAGS="-modcacherw -mod=mod" CGO_ENABLED=0 "$GO" build -trimpath -ldflags "$ld" \
      -o "$K8S_DIR/" k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kubectl >>"$w/build.log" 2>&1
  ) || { tail -n 30 "$w/build.log" >&2; die "building Kubernetes $K8S_VERSION failed (log: $w/build.log)"; }
  "$K8S_DIR/kube-apiserver" --version | grep -q "$K8S_VERSION" || die "kube-apiserver reports $("$K8S_DIR/kube-apiserver" --version)"
  say "built kube-apiserver and kubectl $K8S_VERSION in $(secs_since "$t0") s"
}

build_helm() {
  # A binary from an earlier recipe (no version stamp) is rebuilt.
  [ -x "$HELM_BIN" ] && "$HELM_BIN" version --short 2>/dev/null | grep -q "^$HELM_VERSION" && return 0
  need_go
  local t0 gomod k8s_minor ld p; t0=$(now_ms)
  mkdir -p "$RUN_DIR"
  say "building helm $HELM_VERSION with go install (~1 min)"
  gomod=$(go_env "$GO" mod download -json "helm.sh/helm/v3@$HELM_VERSION" | sed -n 's/.*"GoMod": "\(.*\)".*/\1/p')
  k8s_minor=$(sed -n 's/^\s*k8s\.io\/client-go v0\.\([0-9]*\)\..*/\1/p' "$gomod" | head -1)
  [ -n "$k8s_minor" ] || die "cannot read the Kubernetes version of helm $HELM_VERSION from $gomod"
  # As helm's Makefile does: its version, and the Kubernetes version it assumes without a cluster
  # (`helm template`, `helm lint`; the default would be v1.20).
  ld="-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
    ld+=" -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$k8s_minor"
  done
  go_env GOBIN="$(dirname "$HELM_BIN")" CGO_ENABLED=0 "$GO" install -ldflags "$ld" "helm.sh/helm/v3/cmd/helm@$HELM_VERSION" \
    >"$RUN_DIR/helm-build.log" 2>&1 \
    || { tail -n 20 "$RUN_DIR/helm-build.log" >&2; die "go install of helm $HELM_VERSION failed"; }
  say "built helm $("$HELM_BIN" version --short) (Kubernetes 1.$k8s_minor by default) in $(secs_since "$t0") s"
}

fetch_crds() {
  [ -f "$CRD_DIR/complete" ] && return 0
  need_go
  local t0 dir; t0=$(now_ms)
  dir=$(go_env "$GO" mod download -json "github.com/prometheus-operator/prometheus-operator@$PROM_OPERATOR_VERSION" \
    | sed -n 's/.*"Dir": "\(.*\)".*/\1/p')
  [ -d "$dir/example/prometheus-operator-crd" ] || die "no CRDs in prometheus-operator $PROM_OPERATOR_VERSION"
  rm -rf "$CRD_DIR" && mkdir -p "$CRD_DIR"
  cp "$dir"/example/prometheus-operator-crd/*.yaml "$CRD_DIR/"
  touch "$CRD_DIR/complete"
  say "fetched the Prometheus Operator $PROM_OPERATOR_VERSION CRDs in $(secs_since "$t0") s"
}

do_install() {
  mkdir -p "$CACHE_DIR"
  exec 7>"$CACHE_DIR/kube.lock"  # another clone may be building into the same cache
  flock -w 1800 7 || die "timed out waiting for $CACHE_DIR/kube.lock"
  [ -x "$ETCD_BIN" ] && [ -x "$PROMTOOL" ] || apt_install etcd-server prometheus
  build_kubernetes
  build_helm
  fetch_crds
  exec 7>&-
}

# A CA, the serving certificate, the service-account key pair and a static admin token.
make_pki() {
  local pki=$RUN_DIR/pki
  [ -f "$pki/complete" ] && return 0
  rm -rf "$pki" && mkdir -p "$pki"
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=parley-test-ca -keyout ca.key -out ca.crt
    openssl req -newkey rsa:2048 -nodes -subj /CN=kube-apiserver -keyout server.key -out server.csr
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes.default.svc\n' >san.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 -extfile san.ext -out server.crt
    openssl genrsa -out sa.key 2048 && openssl rsa -in sa.key -pubout -out sa.pub
    printf '%s,admin,admin,"system:masters"\n' "$(openssl rand -hex 24)" >tokens.csv
  ) >"$RUN_DIR/pki.log" 2>&1 || die "openssl failed (log: $RUN_DIR/pki.log)"
  chmod 600 "$pki"/*.key "$pki/tokens.csv"
  local token; token=$(cut -d, -f1 "$pki/tokens.csv")
  cat >"$KUBECONFIG_FILE" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: parley-test
  cluster:
    server: https://127.0.0.1:$PORT
    certificate-authority: $pki/ca.crt
users:
- name: admin
  user:
    token: $token
contexts:
- name: parley-test
  context: {cluster: parley-test, user: admin}
current-context: parley-test
EOF
  chmod 600 "$KUBECONFIG_FILE"
  touch "$pki/complete"
}

do_launch() {
  ports_free "$PORT" "$ETCD_PORT" "$ETCD_PEER_PORT"
  # A test API server starts empty: without a controller-manager, deleted namespaces would stay
  # Terminating for ever, so nothing from an earlier run is kept.
  rm -rf "$RUN_DIR/etcd" && mkdir -p "$RUN_DIR/etcd"
  make_pki
  local pki=$RUN_DIR/pki
  # etcd and the API server run as one unit (`kube.sh _run`), so stop_server's SIGTERM stops both.
  launch bash "$DEPS_SRC/kube.sh" _run "$RUN_DIR"
}

# The foreground unit that do_launch supervises (internal).
run_both() {
  local pki=$RUN_DIR/pki e a
  echo "--- etcd start $(date -u +%FT%TZ)" >>"$RUN_DIR/etcd.log"
  "$ETCD_BIN" --name parley-test --data-dir "$RUN_DIR/etcd" \
    --listen-client-urls "http://127.0.0.1:$ETCD_PORT" --advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "parley-test=http://127.0.0.1:$ETCD_PEER_PORT" \
    --quota-backend-bytes 1073741824 --log-level warn >>"$RUN_DIR/etcd.log" 2>&1 &
  e=$!
  echo $e >"$RUN_DIR/etcd.pid"
  # The API server first (it retries etcd while it shuts down), then etcd.
  trap 'kill $a 2>/dev/null; wait $a; kill $e 2>/dev/null; wait $e; exit 0' TERM INT
  # The API server gives etcd only 20 s before it exits; under CI's disk load (an image build
  # beside it) etcd once had not opened its port 30 s after start. Wait for etcd here instead.
  local started; started=$(now_ms)
  until port_open "$ETCD_PORT"; do
    if ! kill -0 $e 2>/dev/null; then
      echo "etcd exited during start-up; last lines of $RUN_DIR/etcd.log:"; tail -n 20 "$RUN_DIR/etcd.log"; exit 1
    fi
    if [ $(( $(now_ms) - started )) -gt $(( (READY_TIMEOUT - 10) * 1000 )) ]; then
      echo "etcd not listening after $((READY_TIMEOUT - 10)) s; last lines of $RUN_DIR/etcd.log:"; tail -n 20 "$RUN_DIR/etcd.log"; exit 1
    fi
    sleep 0.1
  done
  echo "etcd listening after $(secs_since "$started") s"
  "$K8S_DIR/kube-apiserver" --etcd-servers "http://127.0.0.1:$ETCD_PORT" \
    --bind-address 127.0.0.1 --secure-port "$PORT" \
    --tls-cert-file "$pki/server.crt" --tls-private-key-file "$pki/server.key" --client-ca-file "$pki/ca.crt" \
    --service-account-issuer https://kubernetes.default.svc --service-account-key-file "$pki/sa.pub" \
    --service-account-signing-key-file "$pki/sa.key" --api-audiences https://kubernetes.default.svc \
    --service-cluster-ip-range 10.96.0.0/16 --authorization-mode AlwaysAllow \
    --token-auth-file "$pki/tokens.csv" --anonymous-auth=false --allow-privileged=true \
    --enable-priority-and-fairness=false --profiling=false \
    --disable-admission-plugins StorageObjectInUseProtection &
  a=$!
  echo $a >"$RUN_DIR/apiserver.pid"
  wait $a
}

is_ready() {
  local token; token=$(cut -d, -f1 "$RUN_DIR/pki/tokens.csv" 2>/dev/null) || return 1
  curl -sf --max-time 3 --cacert "$RUN_DIR/pki/ca.crt" -H "Authorization: Bearer $token" \
    "https://127.0.0.1:$PORT/readyz" >/dev/null 2>&1
}
is_up() { is_ready; }
do_stop() {
  stop_server TERM 30
  # Should the unit have been killed, its children are ours by their command lines.
  local f pid
  for f in apiserver etcd; do
    pid=$(cat "$RUN_DIR/$f.pid" 2>/dev/null) || continue
    if alive "$pid" && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$RUN_DIR"; then
      kill -s KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$RUN_DIR/$f.pid"
  done
}
env_lines() {
  echo "PARLEY_TEST_KUBECONFIG=$KUBECONFIG_FILE"
  echo "PARLEY_TEST_KUBECTL=$K8S_DIR/kubectl"
  echo "PARLEY_TEST_HELM=$HELM_BIN"
  echo "PARLEY_TEST_PROMTOOL=$PROMTOOL"
  echo "PARLEY_TEST_PROM_CRDS=$CRD_DIR"
  echo "PARLEY_TEST_K8S_VERSION=$K8S_VERSION"
}

if [ "${1:-}" = _run ]; then run_both; exit $?; fi
server_main "$@"
