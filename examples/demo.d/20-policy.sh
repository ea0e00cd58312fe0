#!/usr/bin/env bash
# make demo, policy step: the same gate, driven by a policy file (policies/default.yaml
# with the demo's release key in place of the example team keys).
set -uo pipefail
OUT=$1
D="$OUT/policy"
mkdir -p "$D/trust"
cp "$OUT/release.pub.pem" "$D/trust/ml-team-alice.pub.pem"
KEYID=$(python -c 'import sys; from weightguard.signing.keys import key_hint, load_public_key; print("sha256:" + key_hint(load_public_key(sys.argv[1])))' "$D/trust/ml-team-alice.pub.pem")
OLD=$(python -c 'import sys; from weightguard.signing.keys import key_hint, load_public_key; print("sha256:" + key_hint(load_public_key(sys.argv[1])))' policies/trust/ml-team-alice.pub.pem)
cp policies/trust/ml-team-bob.pub.pem "$D/trust/"
sed "s/$OLD/$KEYID/" policies/default.yaml > "$D/default.yaml"
expect() { local want=$1; shift; printf '$ %s\n' "$*"; "$@"; local rc=$?
  printf '(exit %d, expected %d)\n' "$rc" "$want"; [ "$rc" -eq "$want" ] || exit 1; }

expect 0 weightguard policy lint "$D/default.yaml"
expect 0 weightguard policy explain "$D/default.yaml" "$OUT/tiny-model"
expect 0 weightguard verify "$OUT/tiny-model" --policy "$D/default.yaml"
# The tampered copy from step 4 (a flipped weight byte, an unsigned extra file): rejected.
expect 1 weightguard verify "$OUT/tampered" --policy "$D/default.yaml"
# Flags cannot loosen an enforce policy unless the policy allows it: exit 2.
expect 2 weightguard verify "$OUT/tampered" --policy "$D/default.yaml" --mode warn
