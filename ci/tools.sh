#!/usr/bin/env bash
# Build the real Kubernetes tools the tests use from their Go modules, at the
# versions pinned in ci/tools/versions.env, into a cache outside the repo.
#
#   ci/tools.sh [TOOL...]     TOOL: helm3 helm4 kwok kwokctl kind etcd
#                                   kube-apiserver kube-controller-manager
#                                   kube-scheduler local-path-provisioner
#                                   prometheus-operator, `all`,
#                                   or `kwok-cluster` (what --provider kwok runs)
#                             no TOOL: helm3 helm4 actionlint
#
# Binaries land in $CACHE/bin (CACHE=${CLEANROOM_TOOLS:-$HOME/.cache/cleanroom/tools});
# the last line printed is `tools: $CACHE/bin`. A tool whose binary and stamp
# match the pinned version is not rebuilt (CLEANROOM_TOOLS_REBUILD=1 forces it).
# Without Go, it says so in one line and exits 0. Any build failure names the
# tool, shows the end of go's output and makes the exit status non-zero.
# See ci/tools/README.md.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=ci/tools/versions.env
source "$here/tools/versions.env"

ALL_TOOLS=(helm3 helm4 actionlint kwok kwokctl kind etcd kube-apiserver kube-controller-manager kube-scheduler local-path-provisioner prometheus-operator)
# What `cleanroom run --provider kwok` starts (harness/src/providers/kwok_setup.rs names the same set),
# and the operator it runs for the flagship's operator pod (kwok_pods.rs; optional there).
KWOK_CLUSTER_TOOLS=(kwokctl kwok etcd kube-apiserver kube-controller-manager kube-scheduler local-path-provisioner prometheus-operator)
DEFAULT_TOOLS=(helm3 helm4 actionlint)

CACHE="${CLEANROOM_TOOLS:-$HOME/.cache/cleanroom/tools}"
BIN="$CACHE/bin"
STAMPS="$CACHE/stamps"
LOGS="$CACHE/logs"
WORK="$CACHE/work"

usage() {
  echo "usage: ci/tools.sh [all | kwok-cluster | TOOL...]   TOOL: ${ALL_TOOLS[*]} (default: ${DEFAULT_TOOLS[*]}; kwok-cluster: ${KWOK_CLUSTER_TOOLS[*]})"
}

# ---------------------------------------------------------------- arguments
tools=()
if [[ $# -eq 0 ]]; then
  tools=("${DEFAULT_TOOLS[@]}")
fi
for arg in "$@"; do
  case "$arg" in
    -h | --help) usage; exit 0 ;;
    all) tools+=("${ALL_TOOLS[@]}") ;;
    kwok-cluster) tools+=("${KWOK_CLUSTER_TOOLS[@]}") ;;
    helm3 | helm4 | actionlint | kwok | kwokctl | kind | etcd | kube-apiserver | kube-controller-manager | kube-scheduler | local-path-provisioner | prometheus-operator)
      tools+=("$arg") ;;
    *) echo "tools: unknown tool '$arg'" >&2; usage >&2; exit 2 ;;
  esac
done
# Drop duplicates, keep order.
declare -A seen=()
wanted=()
for t in "${tools[@]}"; do
  [[ -n "${seen[$t]:-}" ]] && continue
  seen[$t]=1
  wanted+=("$t")
done

# ---------------------------------------------------------------- per-tool facts
version_of() {
  case "$1" in
    helm3) echo "$HELM3_VERSION" ;;
    helm4) echo "$HELM4_VERSION" ;;
    kwok | kwokctl) echo "$KWOK_VERSION" ;;
    kind) echo "$KIND_VERSION" ;;
    actionlint) echo "$ACTIONLINT_VERSION" ;;
    etcd) echo "$ETCD_VERSION" ;;
    kube-*) echo "$KUBERNETES_VERSION" ;;
    local-path-provisioner) echo "$LOCAL_PATH_PROVISIONER_VERSION" ;;
    prometheus-operator) echo "$PROMETHEUS_OPERATOR_VERSION" ;;
  esac
}

# The built binary must report the pinned version: prints the command's
# output; the caller checks it contains expected_version_text.
version_output() {
  local tool="$1" bin="$BIN/$1"
  case "$tool" in
    helm3 | helm4) "$bin" version --template '{{.Version}}' ;;
    kind) "$bin" version ;;
    actionlint) "$bin" -version ;;
    kwok | kwokctl | kube-*) "$bin" --version ;;
    etcd | local-path-provisioner | prometheus-operator) "$bin" --version ;;
  esac
}
expected_version_text() {
  local tool="$1" v
  v="$(version_of "$tool")"
  case "$tool" in
    helm3 | helm4) echo "$v" ;;
    kind) echo "kind $v " ;;
    actionlint) echo "${v#v}" ;;
    kwok | kwokctl) echo "$v" ;;
    etcd) echo "etcd Version: ${v#v}" ;;
    kube-*) echo "Kubernetes $v" ;;
    local-path-provisioner) echo "version $v" ;;
    prometheus-operator) echo "version ${v#v} " ;;
  esac
}

is_cached() {
  local tool="$1"
  [[ "${CLEANROOM_TOOLS_REBUILD:-}" != 1 ]] \
    && [[ -x "$BIN/$tool" ]] \
    && [[ -f "$STAMPS/$tool" ]] \
    && [[ "$(cat "$STAMPS/$tool")" == "$(version_of "$tool")" ]]
}

link_helm() {
  if [[ -x "$BIN/helm4" ]]; then
    ln -sfn helm4 "$BIN/helm"
  fi
}

mkdir -p "$BIN" "$STAMPS" "$LOGS" "$WORK"

# One build at a time per cache: concurrent callers wait for each other.
if command -v flock >/dev/null 2>&1; then
  exec 9>"$CACHE/.lock"
  flock 9
fi

# ---------------------------------------------------------------- cached / no Go
to_build=()
for t in "${wanted[@]}"; do
  if is_cached "$t"; then
    echo "$t $(version_of "$t"): cached"
  else
    to_build+=("$t")
  fi
done

# The go command: $CLEANROOM_GO if set, else `go` on PATH, else the standard
# install location.
GO="${CLEANROOM_GO:-$(command -v go || true)}"
if [[ -z "$GO" && -x /usr/local/go/bin/go ]]; then
  GO=/usr/local/go/bin/go
fi
if [[ -n "$GO" && ! -x "$GO" ]]; then
  GO=""
fi
if [[ ${#to_build[@]} -gt 0 && -z "$GO" ]]; then
  echo "tools: Go is missing (no 'go' on PATH, in /usr/local/go/bin or \$CLEANROOM_GO), so Go-built tools are skipped: ${to_build[*]}"
  to_build=()
fi
if [[ " ${wanted[*]} " == *" helm4 "* ]]; then
  link_helm
fi
if [[ ${#to_build[@]} -eq 0 ]]; then
  echo "tools: $BIN"
  exit 0
fi

# ---------------------------------------------------------------- go helpers
# Fixed, explicit build environment: static binaries, no surprise toolchain
# downloads (a module needing a newer Go fails with a clear message instead).
export CGO_ENABLED=0 GOTOOLCHAIN=local GOWORK=off GO111MODULE=on

# Current log file of the running step; every go command appends to it.
log=/dev/null
run() { "$@" >>"$log" 2>&1; }

# `go mod download -json MOD@VER` fields: prints the value of FIELD.
json_field() { sed -n "s/^[[:space:]]*\"$1\": *\"\\([^\"]*\\)\".*/\\1/p" | head -n 1; }
# MOD@VER -> the module's own go.mod, its commit hash and its commit time.
mod_info() {
  local out
  # On failure go reports the reason in the JSON ("Error"): keep it in the log.
  if ! out="$(cd "$WORK" && "$GO" mod download -json "$1" 2>>"$log")"; then
    printf 'go mod download -json %s:\n%s\n' "$1" "$out" >>"$log"
    return 1
  fi
  printf '%s\n' "$out"
}
mod_gomod() { mod_info "$1" | json_field GoMod; }
mod_hash() { mod_info "$1" | json_field Hash; }
mod_time() {
  local info
  info="$(mod_info "$1" | json_field Info)"
  sed -n 's/.*"Time": *"\([^"]*\)".*/\1/p' "$info" | head -n 1
}

# go install PKG@VERSION into a private GOBIN, then move the binary into
# place as NAME: a module without replace directives builds exactly as its
# own go.mod/go.sum say.
go_install() {
  local name="$1" pkg="$2" version="$3" ldflags="$4"
  local gobin="$WORK/gobin-$name"
  rm -rf "$gobin"
  mkdir -p "$gobin"
  (cd "$WORK" && GOBIN="$gobin" run "$GO" install -trimpath -ldflags "$ldflags" "$pkg@$version")
  mv -f "$gobin/$(basename "$pkg")" "$BIN/$name"
  rm -rf "$gobin"
}

# A generated wrapper module in $WORK/<dir> whose tool directives name the
# main packages; `go build` there builds them against the pinned module.
go_build_in() {
  local dir="$1" name="$2" pkg="$3" tags="$4" ldflags="$5"
  (cd "$dir" && run "$GO" build -trimpath -tags "$tags" -ldflags "$ldflags" -o "$BIN/.$name.tmp" "$pkg")
  mv -f "$BIN/.$name.tmp" "$BIN/$name"
}

# (Re)generate a wrapper module unless it is already there for this version:
#   wrapper DIR MODULE-NAME ROOT-MOD@VER TOOL-PKG...
# It requires ROOT-MOD@VER, takes the go and godebug lines of ROOT's own
# go.mod (same language version and GODEBUG defaults as upstream's build),
# adds the extra `go mod edit` flags in the array wrapper_edits, lists the
# main packages as tool directives and lets `go mod tidy` write go.sum. The
# dependency versions come from the go.mod files of the pinned modules
# (minimal version selection), and every download is checked against the Go
# checksum database, so nothing here is committed to the repo.
wrapper_edits=()
wrapper() {
  local dir="$1" module="$2" root="$3"
  shift 3
  local gomod goline line
  gomod="$(mod_gomod "$root")"
  goline="$(awk '$1 == "go" { print $2; exit }' "$gomod")"
  local edits=("-require=$root" "-go=$goline")
  while read -r line; do
    edits+=("-godebug=$line")
  done < <(awk '$1 == "godebug" && $2 != "(" { print $2 }' "$gomod")
  edits+=("${wrapper_edits[@]}")
  local key="${edits[*]} $*"
  if [[ -f "$dir/.key" && "$(cat "$dir/.key")" == "$key" && -f "$dir/go.sum" ]]; then
    return 0
  fi
  rm -rf "$dir"
  mkdir -p "$dir"
  local t
  for t in "$@"; do edits+=("-tool=$t"); done
  (
    cd "$dir"
    run "$GO" mod init "$module"
    run "$GO" mod edit "${edits[@]}"
    run "$GO" mod tidy
  )
  printf '%s\n' "$key" >"$dir/.key"
}

# ---------------------------------------------------------------- builders
build_helm() {
  local name="$1" major="$2" version="$3"
  local mod="helm.sh/helm/$major" hash ldflags
  hash="$(mod_hash "$mod@$version")"
  ldflags="-s -w -X $mod/internal/version.version=$version"
  if [[ -n "$hash" ]]; then
    ldflags+=" -X $mod/internal/version.gitCommit=$hash -X $mod/internal/version.gitTreeState=clean"
  fi
  if [[ "$major" == v3 ]]; then
    # As helm's Makefile: the Kubernetes version helm assumes by default
    # (lint, capabilities) is derived from its k8s.io/client-go requirement.
    local gomod client_go kmaj kmin
    gomod="$(mod_gomod "$mod@$version")"
    client_go="$(awk '$1 == "k8s.io/client-go" { print $2; exit }' "$gomod")"
    client_go="${client_go#v}"
    kmaj=$((${client_go%%.*} + 1))
    kmin="$(cut -d. -f2 <<<"$client_go")"
    ldflags+=" -X $mod/pkg/lint/rules.k8sVersionMajor=$kmaj -X $mod/pkg/lint/rules.k8sVersionMinor=$kmin"
    ldflags+=" -X $mod/pkg/chartutil.k8sVersionMajor=$kmaj -X $mod/pkg/chartutil.k8sVersionMinor=$kmin"
  fi
  go_install "$name" "$mod/cmd/helm" "$version" "$ldflags"
}

build_kind() {
  local hash ldflags="-s -w"
  hash="$(mod_hash "sigs.k8s.io/kind@$KIND_VERSION")"
  if [[ -n "$hash" ]]; then
    ldflags+=" -X sigs.k8s.io/kind/pkg/cmd/kind/version.gitCommit=$hash"
  fi
  go_install kind sigs.k8s.io/kind "$KIND_VERSION" "$ldflags"
}

build_actionlint() {
  # actionlint reads its version from the module's build info.
  go_install actionlint github.com/rhysd/actionlint/cmd/actionlint "$ACTIONLINT_VERSION" "-s -w"
}

build_kwok() {
  local name="$1"
  # As kwok's release script: the version, and the Kubernetes version kwokctl
  # sets clusters up for -- here the one this script builds.
  go_install "$name" "sigs.k8s.io/kwok/cmd/$name" "$KWOK_VERSION" \
    "-s -w -X sigs.k8s.io/kwok/pkg/consts.Version=$KWOK_VERSION -X sigs.k8s.io/kwok/pkg/consts.KubeVersion=${KUBERNETES_VERSION#v}"
}

build_etcd() {
  # etcd's server module has replace directives (sibling modules by path), so
  # `go install @version` refuses it: build it from a wrapper module instead.
  local root="go.etcd.io/etcd/server/v3" hash ldflags="-s -w"
  wrapper_edits=()
  wrapper "$WORK/etcd" cleanroom.invalid/etcd-tools "$root@$ETCD_VERSION" "$root"
  hash="$(mod_hash "$root@$ETCD_VERSION")"
  if [[ -n "$hash" ]]; then
    ldflags+=" -X go.etcd.io/etcd/api/v3/version.GitSHA=${hash:0:8}"
  fi
  go_build_in "$WORK/etcd" etcd "$root" "" "$ldflags"
}

build_local_path() {
  # As its scripts/build: the version through main.VERSION. No replace directives, so `go install`.
  go_install local-path-provisioner github.com/rancher/local-path-provisioner "$LOCAL_PATH_PROVISIONER_VERSION" \
    "-s -w -X main.VERSION=$LOCAL_PATH_PROVISIONER_VERSION"
}

build_prometheus_operator() {
  # Its go.mod replaces its own pkg/apis/monitoring and pkg/client modules by
  # paths, so `go install @version` refuses it. The wrapper module takes the
  # upstream go.mod's requirements as they are (so every dependency is the
  # version upstream builds with; `go mod tidy` would resolve test-only
  # imports of dependencies and hit ambiguous packages) and requires the two
  # submodules at their published release instead of the paths.
  local root="github.com/prometheus-operator/prometheus-operator" v="$PROMETHEUS_OPERATOR_VERSION"
  local dir="$WORK/prometheus-operator" gomod hash ldflags="-s -w"
  gomod="$(mod_gomod "$root@$v")"
  if [[ ! -f "$dir/.key" || "$(cat "$dir/.key")" != "$v" ]]; then
    rm -rf "$dir"
    mkdir -p "$dir"
    awk -v root="$root" '
      /^replace[[:space:]]*\(/ { skip = 1; next }
      skip && /^\)/ { skip = 0; next }
      skip || /^replace / { next }
      $1 == "module" { print "module cleanroom.invalid/prometheus-operator-tools"; next }
      $1 == root "/pkg/apis/monitoring" || $1 == root "/pkg/client" { next }
      { print }
    ' "$gomod" >"$dir/go.mod"
    printf 'require (\n\t%s %s\n\t%s/pkg/apis/monitoring %s\n\t%s/pkg/client %s\n)\n' \
      "$root" "$v" "$root" "$v" "$root" "$v" >>"$dir/go.mod"
    printf '%s\n' "$v" >"$dir/.key"
  fi
  # As its Makefile: the version through prometheus/common's version package.
  hash="$(mod_hash "$root@$v")"
  ldflags+=" -X github.com/prometheus/common/version.Version=${v#v} -X github.com/prometheus/common/version.Branch=release"
  if [[ -n "$hash" ]]; then
    ldflags+=" -X github.com/prometheus/common/version.Revision=$hash"
  fi
  # -mod=mod: go.sum is filled from the checksum database as the build downloads.
  (cd "$dir" && run "$GO" build -mod=mod -trimpath -ldflags "$ldflags" -o "$BIN/.prometheus-operator.tmp" "$root/cmd/operator")
  mv -f "$BIN/.prometheus-operator.tmp" "$BIN/prometheus-operator"
}

KUBE_CMDS=(kube-apiserver kube-controller-manager kube-scheduler)
build_kube() {
  local name="$1" v="$KUBERNETES_VERSION"
  local root="k8s.io/kubernetes@$v"
  # k8s.io/kubernetes requires its staging modules (k8s.io/api, client-go, ...)
  # at v0.0.0 and replaces them by ./staging paths that are not in its module
  # zip; pin each to its published v0.<minor>.<patch> release instead.
  local gomod staging_v m
  gomod="$(mod_gomod "$root")"
  staging_v="v0.${v#v1.}"
  wrapper_edits=()
  while read -r m; do
    wrapper_edits+=("-replace=$m=$m@$staging_v")
  done < <(awk '$1 ~ /^k8s\.io\// && $2 == "v0.0.0" { print $1 }' "$gomod" | sort -u)
  local tool_pkgs=() c
  for c in "${KUBE_CMDS[@]}"; do tool_pkgs+=("k8s.io/kubernetes/cmd/$c"); done
  wrapper "$WORK/k8s" cleanroom.invalid/k8s-tools "$root" "${tool_pkgs[@]}"

  # As hack/lib/golang.sh and hack/lib/version.sh for a release build.
  local hash date major minor ldflags="-s -w" key val
  hash="$(mod_hash "$root")"
  date="$(mod_time "$root")"
  major="$(cut -d. -f1 <<<"${v#v}")"
  minor="$(cut -d. -f2 <<<"$v")"
  local kvs=("gitVersion=$v" "gitMajor=$major" "gitMinor=$minor")
  if [[ -n "$hash" ]]; then kvs+=("gitCommit=$hash" "gitTreeState=clean"); fi
  if [[ -n "$date" ]]; then kvs+=("buildDate=$date"); fi
  for pkg in k8s.io/client-go/pkg/version k8s.io/component-base/version; do
    for kv in "${kvs[@]}"; do
      key="${kv%%=*}"
      val="${kv#*=}"
      ldflags+=" -X $pkg.$key=$val"
    done
  done
  go_build_in "$WORK/k8s" "$name" "k8s.io/kubernetes/cmd/$name" "selinux,notest,grpcnotrace" "$ldflags"
}

build() {
  case "$1" in
    helm3) build_helm helm3 v3 "$HELM3_VERSION" ;;
    helm4) build_helm helm4 v4 "$HELM4_VERSION" ;;
    kind) build_kind ;;
    actionlint) build_actionlint ;;
    kwok | kwokctl) build_kwok "$1" ;;
    etcd) build_etcd ;;
    kube-*) build_kube "$1" ;;
    local-path-provisioner) build_local_path ;;
    prometheus-operator) build_prometheus_operator ;;
  esac
}

# ---------------------------------------------------------------- main loop
failed=()
for t in "${to_build[@]}"; do
  v="$(version_of "$t")"
  log="$LOGS/$t.log"
  : >"$log"
  echo "building $t $v (log: $log)"
  start=$SECONDS
  rm -f "$STAMPS/$t"
  # A subshell with its own errexit (inside `if !` bash would ignore it).
  set +e
  (set -e; build "$t")
  rc=$?
  set -e
  if [[ $rc -ne 0 ]]; then
    failed+=("$t")
    echo "tools: FAILED to build $t $v; last lines of go's output ($log):" >&2
    tail -n 25 "$log" | sed 's/^/  | /' >&2
    continue
  fi
  want="$(expected_version_text "$t")"
  got="$(version_output "$t" 2>&1 || true)"
  if [[ "$got" != *"$want"* ]]; then
    failed+=("$t")
    echo "tools: FAILED: built $t but it does not report $v (expected '$want' in its version output):" >&2
    head -n 5 <<<"$got" | sed 's/^/  | /' >&2
    continue
  fi
  printf '%s\n' "$v" >"$STAMPS/$t"
  echo "built $t $v in $((SECONDS - start)) s"
  if [[ "$t" == helm4 ]]; then
    link_helm
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "tools: failed to build: ${failed[*]} (see messages above and $LOGS)" >&2
  echo "tools: $BIN"
  exit 1
fi
echo "tools: $BIN"
