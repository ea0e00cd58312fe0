#!/usr/bin/env bash
# make demo, convert step: a pickle checkpoint is scanned, converted to safetensors
# without being unpickled, signed, and verified (record, OMS signature, policy).
set -uo pipefail
OUT=$1
D="$OUT/convert"
rm -rf "$D" && mkdir -p "$D/model"
expect() { local want=$1; shift; printf '$ %s\n' "$*"; "$@"; local rc=$?
  printf '(exit %d, expected %d)\n' "$rc" "$want"; [ "$rc" -eq "$want" ] || exit 1; }

# A training checkpoint as torch writes it: nested state dict, tied embedding, extras.
python - "$D/pytorch_model.bin" <<'PY'
import sys, torch
from torch import nn
torch.manual_seed(0)
lm = nn.ModuleDict({"embed_tokens": nn.Embedding(64, 16), "norm": nn.LayerNorm(16),
                    "lm_head": nn.Linear(16, 64, bias=False)})
lm["lm_head"].weight = lm["embed_tokens"].weight  # tied
torch.save({"state_dict": lm.state_dict(), "epoch": 3, "lr": 3e-4}, sys.argv[1])
PY
# And one that runs a command when torch.load / pickle.load opens it.
python - "$D/evil.pt" <<'PY'
import os, pickle, sys
class Payload:
    def __reduce__(self): return (os.system, ("echo pwned",))
pickle.dump({"weight": Payload()}, open(sys.argv[1], "wb"), protocol=4)
PY

expect 0 weightguard scan "$D/pytorch_model.bin"
expect 1 weightguard convert "$D/evil.pt"
[ ! -e "$D/evil.safetensors" ] && echo "nothing was written for evil.pt"

expect 0 weightguard convert "$D/pytorch_model.bin" -o "$D/model/model.safetensors" \
  --sign-key "$OUT/release.pem" --attest "$D/model.provenance.json"

# The record verifies and binds the input and output digests (library API).
python - "$D" "$OUT/release.pub.pem" <<'PY'
import sys
from pathlib import Path
from weightguard.convert import verify_record
from weightguard.signing.ec import EcKeyVerifier
d = Path(sys.argv[1])
rec = verify_record(d / "model.provenance.json", EcKeyVerifier.from_files([sys.argv[2]]),
                    output=d / "model/model.safetensors", input=d / "pytorch_model.bin")
print(f"provenance OK: {rec.input_name} sha256:{rec.input_sha256[:16]}... -> "
      f"{rec.output_name} sha256:{rec.output_sha256[:16]}..., scan {rec.scan_verdict}, "
      f"weightguard {rec.converter_version}")
PY

# Sign the converted model (OMS) and verify it, then gate it with a policy that also
# requires the signed conversion record for every safetensors file.
expect 0 weightguard sign "$D/model" --key "$OUT/release.pem"
expect 0 weightguard verify "$D/model" --key "$OUT/release.pub.pem"
KEYID=$(python -c 'import sys; from weightguard.signing.keys import key_hint, load_public_key; print("sha256:" + key_hint(load_public_key(sys.argv[1])))' "$OUT/release.pub.pem")
cat > "$D/policy.yaml" <<YAML
apiVersion: weightguard.dev/v1
kind: Policy
metadata: {name: converted-weights}
spec:
  mode: enforce
  signers:
    release:
      key: {publicKey: $(cd "$OUT" && pwd)/release.pub.pem, keyId: "$KEYID"}
  rules:
    - name: weights
      paths: ["**/*.safetensors"]
      signatures: {anyOf: [release]}
      formats: {allow: [safetensors]}
      attestations:
        - predicateType: https://slsa.dev/provenance/v1
          signers: [release]
          subject: file
          where:
            buildDefinition.buildType: https://weightguard.dev/convert/pickle-to-safetensors/v1
YAML
expect 0 weightguard verify "$D/model" --policy "$D/policy.yaml" --attestation "$D/model.provenance.json"
