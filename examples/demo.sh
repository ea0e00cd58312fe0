#!/usr/bin/env bash
# make demo: the main job on the shipped example, in a few seconds.
# Expects `weightguard` on PATH (the Makefile puts the project venv first).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=demo-out
rm -rf "$OUT" && mkdir -p "$OUT"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; rc=$?; printf '(exit %d)\n' "$rc"; return 0; }
expect() { # expect RC CMD...: run, show, and fail the demo if the exit code differs
  local want=$1; shift; printf '$ %s\n' "$*"; "$@"; local rc=$?
  printf '(exit %d, expected %d)\n' "$rc" "$want"
  [ "$rc" -eq "$want" ] || { echo "demo: unexpected exit code" >&2; exit 1; }
}

step "1. a tiny example model"
python examples/make_tiny_model.py "$OUT/tiny-model"
find "$OUT/tiny-model" -type f | sort

step "2. keygen, sign (OMS bundle, model-signing compatible), digest"
expect 0 weightguard keygen --out "$OUT/release.pem"
expect 0 weightguard sign "$OUT/tiny-model" --key "$OUT/release.pem"
expect 0 weightguard digest "$OUT/tiny-model"

step "3. verify: accepted"
expect 0 weightguard verify "$OUT/tiny-model" --key "$OUT/release.pub.pem"

step "4. tamper a copy (one weight byte flipped, one file added), verify again: rejected"
cp -r "$OUT/tiny-model" "$OUT/tampered"
python - "$OUT/tampered/model.safetensors" <<'PY'
import sys
p = sys.argv[1]; b = bytearray(open(p, "rb").read()); b[-3] ^= 0x01; open(p, "wb").write(b)
PY
echo "surprise" > "$OUT/tampered/extra.txt"
expect 1 weightguard verify "$OUT/tampered" --key "$OUT/release.pub.pem"

step "5. the same verdict as JSON, for CI gates"
expect 1 weightguard verify "$OUT/tampered" --key "$OUT/release.pub.pem" --format json

for extra in examples/demo.d/*.sh; do
  [ -e "$extra" ] || continue
  step "$(basename "$extra" .sh)"
  bash "$extra" "$OUT" || { echo "demo: $extra failed" >&2; exit 1; }
done
printf '\ndemo: all steps behaved as expected\n'
