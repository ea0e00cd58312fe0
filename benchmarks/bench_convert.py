#!/usr/bin/env python3
"""Benchmark `weightguard convert` against the torch.load + save_file recipe (issue 6).

A script, not a test: `.venv/bin/python benchmarks/bench_convert.py [--size-gib 2]`.
It writes a ~2 GiB torch zip checkpoint (fp32 and bf16 matrices and a tied weight; no
transposed view, which makes the recipe's de-duplication crash in `_end_ptr`) under
`bench-out/` (git-ignored), then measures, each as its own child
process under GNU time (wall clock and peak RSS), rounds interleaved on a warm page
cache, medians reported:

- recipe: ``torch.load(weights_only=True)`` -> HF de-duplication -> ``.contiguous()`` ->
  ``safetensors.torch.save_file`` (what Hugging Face's converter does, minus its reload);
- recipe-mmap: the same with ``torch.load(mmap=True)`` (the issue's reference bar);
- weightguard: ``weightguard.convert`` (scan, stream, verify by re-reading, input and
  output SHA-256), with an EC-signed provenance record, in a child that reports whether
  torch was imported.

Targets (issue 6): wall <= 0.5x recipe, peak RSS <= 0.1x checkpoint, torch not imported.
The data is deleted at the end unless `--keep`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
TIME = shutil.which("time", path="/usr/bin:/bin")

MAKE = """
import sys, torch
torch.manual_seed(0)
target = int(float(sys.argv[2]) * 2**30)
sd, n, i = {}, 0, 0
while n < target:
    t = torch.randn(2048, 4096)
    if i % 3 == 0:
        t = t.to(torch.bfloat16)
    sd[f"layers.{i}.weight"] = t
    n += t.nbytes
    i += 1
sd["embed.weight"] = torch.randn(8192, 1024)
sd["lm_head.weight"] = sd["embed.weight"]          # tied
torch.save({"state_dict": sd, "epoch": 3}, sys.argv[1])
"""

RECIPE = """
import sys, torch
from safetensors.torch import _remove_duplicate_names, save_file
obj = torch.load(sys.argv[1], map_location="cpu", weights_only=True, mmap=sys.argv[3] == "1")
sd = obj["state_dict"]
meta = {"format": "pt"}
for kept, names in _remove_duplicate_names(sd).items():
    for name in names:
        meta[name] = kept
        del sd[name]
save_file({k: v.contiguous() for k, v in sd.items()}, sys.argv[2], metadata=meta)
"""

WEIGHTGUARD = """
import json, sys
from weightguard.convert import convert
from weightguard.signing.ec import EcKeySigner
signer = EcKeySigner.from_file(sys.argv[3]) if sys.argv[3] != "-" else None
result = convert(sys.argv[1], sys.argv[2], force=True, signer=signer)
assert result.accepted
print(json.dumps({"torch_imported": "torch" in sys.modules,
                  "tensors": result.files[0].tensors, "aliases": result.files[0].aliases}))
"""


def measured(argv: list[str], cwd: Path) -> tuple[float, int, str]:
    """(wall seconds, peak RSS KiB of the child, its stdout); GNU time forks the child so
    the RSS is not inherited from this process (see bench_verify.py)."""
    prefix = [TIME, "-f", "%M", "-o", str(cwd / ".rss")] if TIME else []
    start = time.perf_counter()
    proc = subprocess.run([*prefix, *argv], cwd=cwd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(argv)}\n{proc.stderr}")
    rss = int((cwd / ".rss").read_text().split()[-1]) if TIME else 0
    return wall, rss, proc.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep bench-out/convert")
    args = parser.parse_args()
    out = REPO / "bench-out" / "convert"
    out.mkdir(parents=True, exist_ok=True)
    ckpt = out / "checkpoint.pt"
    try:
        if not ckpt.exists():
            print(f"writing a {args.size_gib:g} GiB torch zip checkpoint ...", flush=True)
            subprocess.run([PY, "-c", MAKE, str(ckpt), str(args.size_gib)], check=True)
        size = ckpt.stat().st_size
        key = out / "bench.pem"
        if not key.exists():
            subprocess.run(
                [PY, "-m", "weightguard", "keygen", "--out", str(key)],
                check=True,
                capture_output=True,
            )
        cases = {
            "recipe (torch.load + save_file)": [
                PY,
                "-c",
                RECIPE,
                str(ckpt),
                str(out / "recipe.safetensors"),
                "0",
            ],
            "recipe, torch.load(mmap=True)": [
                PY,
                "-c",
                RECIPE,
                str(ckpt),
                str(out / "mmap.safetensors"),
                "1",
            ],
            "weightguard convert (scan, verify)": [
                PY,
                "-c",
                WEIGHTGUARD,
                str(ckpt),
                str(out / "wg.safetensors"),
                "-",
            ],
            "weightguard convert + signed provenance": [
                PY,
                "-c",
                WEIGHTGUARD,
                str(ckpt),
                str(out / "wg-signed.safetensors"),
                str(key),
            ],
        }
        walls: dict[str, list[float]] = {k: [] for k in cases}
        rss: dict[str, list[int]] = {k: [] for k in cases}
        report: dict[str, object] = {}
        for r in range(args.rounds + 1):  # round 0 warms the page cache, not recorded
            for name, argv in cases.items():
                wall, peak, stdout = measured(argv, out)
                for produced in out.glob("*.safetensors*"):  # keep the page cache for the input
                    produced.unlink()
                if name.startswith("weightguard convert +"):
                    report = json.loads(stdout.strip().splitlines()[-1])
                if r:
                    walls[name].append(wall)
                    rss[name].append(peak)
            if r:
                print(
                    f"  round {r}: "
                    + ", ".join(f"{n.split(' (')[0]} {w[-1]:.2f}s" for n, w in walls.items()),
                    flush=True,
                )
        print(
            f"\ncheckpoint: {size / 2**30:.2f} GiB torch zip, {report.get('tensors')} tensors "
            f"written, aliases {report.get('aliases')}; median of {args.rounds} rounds"
        )
        print(
            f"| {'case':<40} | {'wall s':>7} | {'min s':>6} | {'peak RSS MiB':>12} "
            f"| {'RSS/ckpt':>8} |"
        )
        print(f"|{'-' * 42}|{'-' * 9}|{'-' * 8}|{'-' * 14}|{'-' * 10}|")
        for name in cases:
            w, m = statistics.median(walls[name]), max(rss[name]) / 1024
            print(
                f"| {name:<40} | {w:7.2f} | {min(walls[name]):6.2f} | {m:12.0f} "
                f"| {m * 2**20 / size:8.3f} |"
            )
        base = statistics.median(walls["recipe (torch.load + save_file)"])
        wg_wall = statistics.median(walls["weightguard convert (scan, verify)"])
        signed_wall = statistics.median(walls["weightguard convert + signed provenance"])
        wg_rss = max(max(rss[k]) for k in cases if k.startswith("weightguard")) * 1024
        checks = [
            (f"wall vs recipe {wg_wall / base:.3f}x", wg_wall / base <= 0.5, "<= 0.5x"),
            (
                f"wall vs recipe, with signed provenance {signed_wall / base:.3f}x",
                signed_wall / base <= 0.5,
                "<= 0.5x",
            ),
            (f"peak RSS vs checkpoint {wg_rss / size:.3f}x", wg_rss / size <= 0.1, "<= 0.1x"),
            (
                f"torch imported: {report.get('torch_imported')}",
                report.get("torch_imported") is False,
                "False",
            ),
        ]
        print()
        for label, ok, want in checks:
            print(f"  {'PASS' if ok else 'FAIL'}  {label} (target {want})")
        if not all(ok for _l, ok, _w in checks):
            sys.exit(1)
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)


if __name__ == "__main__":
    main()
