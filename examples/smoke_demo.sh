#!/usr/bin/env bash
# Smoke inference demo: record reference outputs on the CPU (signed), check them, then
# alter one weight and re-sign the model: the signature still verifies, the smoke check
# fails (exit 1) and says which output moved, by how much, and where.
#
#   bash examples/smoke_demo.sh [OUT_DIR]      (default: demo-out/smoke)
#
# Uses `weightguard` and `python` from PATH (put the project venv's bin first, as
# `make demo` does) and runs from the repository root so that the reference factories
# import as examples.models.*.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-demo-out}/smoke
rm -rf "$OUT" && mkdir -p "$OUT"
MODEL="$OUT/mlp.safetensors"
RECORD="$OUT/mlp.smoke.json"
FACTORIES=(--factory examples.models.mlp:build --input-factory examples.models.mlp:example_input)

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
expect() { # expect RC CMD...: run, show, and fail the demo if the exit code differs
  local want=$1; shift; printf '$ %s\n' "$*"; "$@"; local rc=$?
  printf '(exit %d, expected %d)\n' "$rc" "$want"
  [ "$rc" -eq "$want" ] || { echo "smoke demo: unexpected exit code" >&2; exit 1; }
}

step "smoke 1. reference MLP weights (deterministic), release key, OMS signature"
expect 0 python examples/models/generate_weights.py "$OUT" mlp
expect 0 weightguard keygen --out "$OUT/release.pem"
expect 0 weightguard sign "$MODEL" --key "$OUT/release.pem"

step "smoke 2. release time: record the outputs on the CPU, signed with the release key"
expect 0 weightguard smoke record "$MODEL" "${FACTORIES[@]}" --device cpu \
  --sign-key "$OUT/release.pem" --out "$RECORD"

step "smoke 3. deploy time: verify the signature, then the smoke check (auto device)"
expect 0 weightguard verify "$MODEL" --key "$OUT/release.pub.pem"
expect 0 weightguard smoke check "$MODEL" --record "$RECORD" --record-key "$OUT/release.pub.pem" \
  "${FACTORIES[@]}"

step "smoke 4. alter one weight (head.weight[0, 0] += 0.05) and re-sign the model"
expect 0 python - "$MODEL" <<'PY'
import sys
from safetensors.numpy import load_file, save_file
path = sys.argv[1]
tensors = load_file(path)
tensors["head.weight"][0, 0] += 0.05
save_file(tensors, path, metadata={"format": "pt"})
PY
expect 0 weightguard sign "$MODEL" --key "$OUT/release.pem" --force  # replaces the first bundle
expect 0 weightguard verify "$MODEL" --key "$OUT/release.pub.pem"

step "smoke 5. the signature passes, the smoke check catches it (exit 1)"
expect 1 weightguard smoke check "$MODEL" --record "$RECORD" --record-key "$OUT/release.pub.pem" \
  "${FACTORIES[@]}"
printf '\nsmoke demo: all steps behaved as expected\n'
