#!/usr/bin/env bash
# Installs the services the OCI tests and the ML pipeline demo use, and checks they work:
#   buildah          (vfs storage, chroot isolation, no daemon) — build-image's buildah path
#   docker-registry  (distribution 2.8, /usr/bin/docker-registry) — the OCI registry store
# Tests start their own registry on a free loopback port with a temp config and storage
# (packages/store/src/oci/local-registry.ts); nothing needs to keep running.
# Options:
#   --start-registry [PORT]   also start a registry on 127.0.0.1:PORT (default 5000) in the
#                             background for manual use; prints its pid and storage folder.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
need=()
command -v buildah >/dev/null 2>&1 || need+=(buildah)
[ -x /usr/bin/docker-registry ] || need+=(docker-registry)
command -v git >/dev/null 2>&1 || need+=(git)
if [ "${#need[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

echo "buildah: $(buildah --version)"
echo "docker-registry: $(/usr/bin/docker-registry --version)"

# Smoke test: a scratch image with one file, vfs storage in a temp root, pushed to an OCI layout.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
b=(buildah --root "$tmp/root" --runroot "$tmp/runroot" --storage-driver vfs)
export BUILDAH_ISOLATION=chroot
echo ok > "$tmp/probe.txt"
ctr=$("${b[@]}" from --quiet scratch)
"${b[@]}" copy --quiet "$ctr" "$tmp/probe.txt" /probe.txt >/dev/null
"${b[@]}" commit --quiet --format oci --timestamp 0 "$ctr" localhost/custody-probe:latest >/dev/null
"${b[@]}" push --quiet localhost/custody-probe:latest "oci:$tmp/layout:latest"
"${b[@]}" rm "$ctr" >/dev/null
test -f "$tmp/layout/index.json"
echo "buildah vfs build: ok"

if [ "${1:-}" = "--start-registry" ]; then
  port=${2:-5000}
  dir=${REGISTRY_DIR:-/tmp/custody-registry-$port}
  mkdir -p "$dir/storage"
  cat > "$dir/config.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $dir/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: custody-local-registry
YAML
  nohup /usr/bin/docker-registry serve "$dir/config.yml" >"$dir/registry.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1; then
      echo "registry: http://127.0.0.1:$port (pid $pid, storage $dir/storage)"
      exit 0
    fi
    sleep 0.1
  done
  echo "registry did not start; see $dir/registry.log" >&2
  exit 1
fi
