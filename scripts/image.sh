#!/usr/bin/env bash
# make image: build the weightguard image with podman on this machine and smoke-run it.
#
#   scripts/image.sh                   # local debootstrap base (no registry needed), build, run
#   scripts/image.sh --pinned-base     # the Dockerfile's pinned python:3.11-slim-bookworm
#   scripts/image.sh --wheelhouse-only # only fill build/wheelhouse/ (then `docker build .`)
#   scripts/image.sh --no-smoke        # build only
#
# Idempotent; every step is skipped when its result is already there. As root it installs
# what it lacks (apt-get: podman runc debootstrap) and configures podman the way this kind of
# host needs: the runc runtime (crun fails on its cgroups) and `default_ulimits = []`.
# The build itself has no network: the wheels come from build/wheelhouse/, downloaded here
# by pip and checked against the hashes pinned in requirements/*.txt (inside the build too).
#
# Environment: IMAGE (tag, default localhost/weightguard:dev), WEIGHTGUARD_CACHE (where the
# debootstrap base is kept, default /var/cache/weightguard-test), PIP (default python3 -m pip).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
IMAGE=${IMAGE:-localhost/weightguard:dev}
CACHE=${WEIGHTGUARD_CACHE:-/var/cache/weightguard-test}
LOCAL_BASE=localhost/weightguard-base-bookworm:latest
PODMAN=(podman --runtime runc)
read -r -a PIP <<< "${PIP:-python3 -m pip}"

base=local smoke=1 only_wheels=0
for arg in "$@"; do
  case "$arg" in
    --pinned-base) base=pinned ;;
    --no-smoke) smoke=0 ;;
    --wheelhouse-only) only_wheels=1 ;;
    *) echo "usage: $0 [--pinned-base] [--no-smoke] [--wheelhouse-only]" >&2; exit 2 ;;
  esac
done

log() { printf '== %s\n' "$*" >&2; }

wheelhouse() {
  local dir="$REPO/build/wheelhouse" stamp
  stamp=$(cat "$REPO/requirements/image.txt" "$REPO/requirements/build.txt" | sha256sum | cut -c1-16)
  if [[ -f "$dir/.stamp" && $(cat "$dir/.stamp") == "$stamp" ]]; then return; fi
  log "wheelhouse: pip download (hash-checked) into build/wheelhouse/"
  rm -rf "$dir" && mkdir -p "$dir"
  # The image's interpreter, not necessarily this one: CPython 3.11, glibc 2.36 (bookworm).
  # pip does not widen --platform to older manylinux tags itself: list them.
  local platforms=() arch v
  arch=$(uname -m)
  for v in $(seq 36 -1 17); do platforms+=(--platform "manylinux_2_${v}_${arch}"); done
  platforms+=(--platform "manylinux2014_${arch}")
  "${PIP[@]}" download --quiet --no-deps --only-binary=:all: --require-hashes \
    --python-version 3.11 --implementation cp --abi cp311 "${platforms[@]}" \
    -r "$REPO/requirements/image.txt" -r "$REPO/requirements/build.txt" -d "$dir"
  echo "$stamp" > "$dir/.stamp"
}

tools() {
  local missing=()
  for t in podman runc debootstrap; do command -v "$t" > /dev/null || missing+=("$t"); done
  if ((${#missing[@]})); then
    [[ $(id -u) == 0 ]] || { echo "need root to apt-get install ${missing[*]}" >&2; exit 2; }
    log "apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap > /dev/null
  fi
  local conf=/etc/containers/containers.conf
  if ! grep -qs '^default_ulimits *= *\[\]' "$conf"; then
    log "podman: default_ulimits = [] in $conf"
    mkdir -p /etc/containers
    if grep -qs '^\[containers\]' "$conf"; then
      sed -i 's/^\[containers\]$/[containers]\ndefault_ulimits = []/' "$conf"
    else
      printf '\n[containers]\ndefault_ulimits = []\n' >> "$conf"
    fi
  fi
}

local_base() {
  if "${PODMAN[@]}" image exists "$LOCAL_BASE"; then return; fi
  mkdir -p "$CACHE"
  local tarball="$CACHE/bookworm-python.tar"
  if [[ ! -f "$tarball" ]]; then
    local root="$CACHE/rootfs"
    if [[ ! -f "$root/.complete" ]]; then
      log "debootstrap --variant=minbase bookworm (+python3, python3-venv) into $root"
      rm -rf "$root"
      debootstrap --variant=minbase --include=python3,python3-venv bookworm "$root" \
        "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" > "$CACHE/debootstrap.log"
      touch "$root/.complete"
    fi
    # Smaller and reproducible enough: no apt lists, caches or docs in the base.
    rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc \
      "$root"/usr/share/man "$root"/usr/share/locale
    tar --numeric-owner --exclude=./.complete -C "$root" -cf "$tarball.tmp" . && mv "$tarball.tmp" "$tarball"
  fi
  log "podman import $tarball -> $LOCAL_BASE"
  "${PODMAN[@]}" import --quiet "$tarball" "$LOCAL_BASE" > /dev/null
}

build() {
  local args=()
  if [[ $base == local ]]; then
    args+=(--build-arg "PYTHON_BASE=$LOCAL_BASE" --pull=never)
  fi
  log "podman build -t $IMAGE (${base} base, no network)"
  "${PODMAN[@]}" build --quiet --network none "${args[@]}" -t "$IMAGE" "$REPO" > /dev/null
  "${PODMAN[@]}" image inspect --format '{{.Id}} {{.Size}}' "$IMAGE" |
    awk -v tag="$IMAGE" '{printf "== image %s: id %s, %.1f MB\n", tag, substr($1,1,12), $2/1e6}' >&2
}

smoke_run() {
  # The example model (as tests/integration/podsim.py writes it), signed inside the image
  # with a throwaway key, then verified the way the init container runs: read-only root,
  # no network, uid 65532, model and trust mounted read-only.
  local work
  work=$(mktemp -d)
  trap 'rm -rf "$work"' RETURN
  mkdir -p "$work/model" "$work/keys"
  python3 - "$work/model" <<'PY'
import json, struct, sys
from pathlib import Path
d = Path(sys.argv[1])
values = [0.5 * i for i in range(64)]
data = struct.pack(f"<{len(values)}f", *values)
header = json.dumps({"weight": {"dtype": "F32", "shape": [len(values)],
                                "data_offsets": [0, len(data)]}}, separators=(",", ":")).encode()
header += b" " * (-len(header) % 8)
(d / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header + data)
(d / "config.json").write_text('{"architectures": ["TinyLM"], "hidden_size": 8}\n')
PY
  chmod -R a+rwX "$work"
  local run=("${PODMAN[@]}" run --rm --read-only --network none --user 65532:65532)
  "${run[@]}" -v "$work/keys:/keys" "$IMAGE" keygen --out /keys/release.pem > /dev/null
  "${run[@]}" -v "$work/keys:/keys:ro" -v "$work/model:/models/m" "$IMAGE" \
    sign /models/m --key /keys/release.pem > /dev/null
  local t0 t1
  t0=$(date +%s.%N)
  "${run[@]}" -v "$work/model:/models/m:ro" -v "$work/keys/release.pub.pem:/trust/key.pem:ro" \
    "$IMAGE" verify /models/m --key /trust/key.pem
  t1=$(date +%s.%N)
  awk -v a="$t0" -v b="$t1" 'BEGIN{printf "== verify in the container (start-up included): %.2f s\n", b-a}' >&2
  echo "corrupt" >> "$work/model/config.json"
  if "${run[@]}" -v "$work/model:/models/m:ro" -v "$work/keys/release.pub.pem:/trust/key.pem:ro" \
    "$IMAGE" verify /models/m --key /trust/key.pem > /dev/null 2>&1; then
    echo "a tampered model was accepted" >&2; exit 1
  fi
  log "smoke: signed model accepted, tampered model refused"
}

wheelhouse
((only_wheels)) && exit 0
tools
[[ $base == local ]] && local_base
build
((smoke)) && smoke_run
exit 0
