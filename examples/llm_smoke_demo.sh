#!/usr/bin/env bash
# LLM smoke walk-through (CPU, seconds): a tiny random Llama-style model in a Hugging Face
# folder (config.json + sharded safetensors + index), built by transformers from its
# config (no factory code, no download, no remote code).
#
#   CI (release):   sign the folder; `smoke record --transformers --llm`: greedy tokens and
#                   top-k log-probs of seeded prompts, signed, into MODEL/model.sig.d/.
#   Deploy:         verify; `smoke check` replays the prompts and writes a signed CHECK
#                   record (outcome passed/failed) beside it; an int8 variant is judged
#                   against the fp32 record with an explicit drift budget.
#   Policy:         `verify --policy` with a `smoke` rule: passes on a passed check,
#                   `smoke.failed` on a failed one.
#
#   bash examples/llm_smoke_demo.sh [OUT_DIR]      (default: demo-out/llm-smoke)
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-demo-out}/llm-smoke
rm -rf "$OUT" && mkdir -p "$OUT"
M="$OUT/tiny-llama"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
expect() { # expect RC CMD...: run, show, and fail the demo if the exit code differs
  local want=$1; shift; printf '$ %s\n' "$*"; "$@"; local rc=$?
  printf '(exit %d, expected %d)\n' "$rc" "$want"
  [ "$rc" -eq "$want" ] || { echo "llm smoke demo: unexpected exit code" >&2; exit 1; }
}

step "llm 1. CI: a tiny Llama folder (sharded), release key, OMS signature"
expect 0 python examples/models/hf_tiny.py "$M" llama --shard-kb 20
expect 0 weightguard keygen --out "$OUT/release.pem"
expect 0 weightguard sign "$M" --key "$OUT/release.pem"

step "llm 2. CI: record greedy tokens + top-5 log-probs of 2 seeded prompts (signed)"
mkdir -p "$M/model.sig.d"
expect 0 weightguard smoke record "$M" --transformers --llm --prompts 2,8 --new-tokens 8 \
  --device cpu --sign-key "$OUT/release.pem" --out "$M/model.sig.d/smoke.json"

step "llm 3. deploy: verify, replay the prompts, write a signed check record"
expect 0 weightguard verify "$M" --key "$OUT/release.pub.pem"
expect 0 weightguard smoke check "$M" --transformers --record "$M/model.sig.d/smoke.json" \
  --record-key "$OUT/release.pub.pem" --write-record "$M/model.sig.d/check.json" \
  --sign-key "$OUT/release.pem"

step "llm 4. an int8 variant (torch dynamic quantisation) against the fp32 record"
expect 0 weightguard smoke check "$M" --transformers --record "$M/model.sig.d/smoke.json" \
  --record-key "$OUT/release.pub.pem" --quantize int8-dynamic --budget max_rel=0.5,top1=0.5,kl=0.5
expect 1 weightguard smoke check "$M" --transformers --record "$M/model.sig.d/smoke.json" \
  --record-key "$OUT/release.pub.pem" --quantize int8-dynamic --budget max_abs=1e-6,kl=1e-9

step "llm 5. policy: the model needs trusted smoke evidence that did not fail"
KEYID=$(python -c 'import sys; from weightguard.signing.keys import key_hint, load_public_key; print("sha256:" + key_hint(load_public_key(sys.argv[1])))' "$OUT/release.pub.pem")
cat > "$OUT/policy.yaml" <<YAML
apiVersion: weightguard.dev/v1
kind: Policy
metadata: {name: llm-smoke-demo}
spec:
  mode: enforce
  signers:
    release: {key: {publicKey: release.pub.pem, keyId: "$KEYID"}}
  rules:
    - name: all
      paths: ["**"]
      signatures: {anyOf: [release]}
      smoke: {signers: [release]}
YAML
expect 0 weightguard verify "$M" --policy "$OUT/policy.yaml"

step "llm 6. a changed rope setting, re-signed: the signature passes, the check does not"
expect 0 python - "$M/config.json" <<'PY'
import json, sys
cfg = json.load(open(sys.argv[1]))
cfg.setdefault("rope_parameters", {})["rope_theta"] = 100.0
json.dump(cfg, open(sys.argv[1], "w"))
PY
expect 0 weightguard sign "$M" --key "$OUT/release.pem" --force  # replaces the release bundle
expect 1 weightguard smoke check "$M" --transformers --record "$M/model.sig.d/smoke.json" \
  --record-key "$OUT/release.pub.pem" --write-record "$M/model.sig.d/check.json" \
  --sign-key "$OUT/release.pem"
expect 1 weightguard verify "$M" --policy "$OUT/policy.yaml"
printf '\nllm smoke demo: all steps behaved as expected\n'
