"""LLM smoke test on a ~500 MB model on the CPU: load and check times, peak RSS.

    .venv/bin/python benchmarks/bench_smoke_llm.py        # --rounds 3 --keep

1. makes a random Llama-style model in a Hugging Face folder (`bench-out/llm-500m/`,
   config.json + 100 MB safetensors shards + index; ~125 M float32 parameters, 499 MB);
2. runs `weightguard smoke record --transformers --llm` once, then `smoke check` for
   `--rounds` rounds, each as a child under GNU time (`%M`: peak RSS of the child);
3. measures the same child importing torch + transformers and building nothing (the
   floor a smoke run cannot go below), so the table shows what the weights add;
4. prints medians: wall time, the report's load_seconds (strict load into parameters
   already on the device) and run_seconds (decoding / replay), peak RSS, and peak RSS
   minus the import floor, against the weight bytes. Weights go straight to the device:
   the parameters are built on the meta device and each tensor is read from its shard
   into its parameter, so the extra RSS is about one copy of the weights (page cache of
   the shards is not RSS).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

from quiet import QuietGate  # noqa: E402

CONFIG = {
    "vocab_size": 32000,
    "hidden_size": 768,
    "intermediate_size": 2048,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "num_key_value_heads": 4,
    "max_position_embeddings": 512,
}
PY = sys.executable


def timed(args: list[str]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS KiB, stdout) of a child under GNU time."""
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        start = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-o", tf.name, "-f", "%M", *args],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
        )
        wall = time.perf_counter() - start
        rss = int(tf.read().strip().splitlines()[-1])
    if proc.returncode not in (0,):
        sys.exit(f"{' '.join(args)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    return wall, rss, proc.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--out", type=Path, default=REPO / "bench-out")
    ap.add_argument("--keep", action="store_true", help="keep the model for the next run")
    ap.add_argument("--quiet-threshold", type=float, default=0.5)
    ap.add_argument("--max-wait", type=float, default=20.0)
    a = ap.parse_args()
    model = a.out / "llm-500m"
    record = a.out / "llm-500m.smoke.json"
    if not (model / "config.json").exists():
        from examples.models.hf_tiny import make

        t = time.perf_counter()
        overrides: dict[str, Any] = dict(CONFIG)
        make("llama", model, shard_kb=100_000, **overrides)
        print(f"made {model} in {time.perf_counter() - t:.1f} s")
    weight_bytes = sum(p.stat().st_size for p in model.glob("*.safetensors"))
    gate = QuietGate(a.quiet_threshold, a.max_wait)
    wg = [PY, "-m", "weightguard", "smoke"]
    llm = ["--transformers", "--device", "cpu", "--format", "json"]
    floor_code = "import torch, transformers; from transformers import LlamaForCausalLM"
    rows: dict[str, list[tuple[float, int, dict[str, Any]]]] = {"import floor": []}
    gate.wait()
    wall, rss, out = timed(
        [*wg, "record", str(model), *llm, "--llm", "--prompts", "2,16", "--new-tokens", "8",
         "--out", str(record)]
    )  # fmt: skip
    rows["record (2 prompts x 16, 8 new tokens)"] = [(wall, rss, json.loads(out))]
    rows["check (replay, teacher-forced)"] = []
    rows["check --quantize int8-dynamic --budget"] = []
    for _ in range(a.rounds):
        gate.wait()
        w, r, _ = timed([PY, "-c", floor_code])
        rows["import floor"].append((w, r, {}))
        gate.wait()
        w, r, o = timed([*wg, "check", str(model), *llm, "--record", str(record)])
        rows["check (replay, teacher-forced)"].append((w, r, json.loads(o)))
        gate.wait()
        w, r, o = timed(
            [*wg, "check", str(model), *llm, "--record", str(record),
             "--quantize", "int8-dynamic", "--budget", "top1=0.5"]
        )  # fmt: skip
        rows["check --quantize int8-dynamic --budget"].append((w, r, json.loads(o)))
    floor = statistics.median(r for _, r, _ in rows["import floor"])
    print(f"\nmodel: {weight_bytes / 1e6:.0f} MB of float32 weights in "
          f"{len(list(model.glob('*.safetensors')))} shards; CPU: {os.cpu_count()} cores")  # fmt: skip
    print(f"{'case':44} {'wall s':>7} {'load s':>7} {'run s':>7} {'RSS MiB':>8} {'-floor':>7}")
    for name, results in rows.items():
        wall = statistics.median(w for w, _, _ in results)
        rss = statistics.median(r for _, r, _ in results)
        load = [d.get("load_seconds") for _, _, d in results if d.get("load_seconds") is not None]
        run = [d.get("run_seconds") for _, _, d in results if d.get("run_seconds") is not None]
        print(
            f"{name:44} {wall:7.2f} "
            f"{statistics.median(load) if load else float('nan'):7.2f} "
            f"{statistics.median(run) if run else float('nan'):7.2f} "
            f"{rss / 1024:8.0f} {(rss - floor) / 1024:7.0f}"
        )
    print(f"weights: {weight_bytes / 2**20:.0f} MiB; peak RSS above the import floor should be "
          "about one copy of them (no second host copy)")  # fmt: skip
    print(f"quiet gate: {gate.busy} of {gate.rounds} cases started on a busy machine")
    if not a.keep:
        shutil.rmtree(model)
        record.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
