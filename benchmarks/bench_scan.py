"""Benchmark `weightguard scan` against picklescan (a script, not a test).

Builds under bench-out/scan/ (git-ignored): a ~2 GiB torch zip state_dict, a ~500 MiB
legacy (non-zip) torch checkpoint, and a directory of 1000 small checkpoints. Each tool
runs as a fresh process: one cold-ish run, then 3 warm runs; the median warm wall time
is reported with the child's peak RSS (wait4). For the 2 GiB file it also reports the
bytes weightguard read (its own counter, from the JSON report) and confirms that neither
torch nor numpy was imported. Big files are deleted at the end unless --keep.

Usage: python benchmarks/bench_scan.py [--keep] [--runs N]
Needs: torch (to build the inputs) and `pip install picklescan` (not a test dependency).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-out" / "scan"
BIN = Path(sys.executable).parent
GIB = 1 << 30


def build_inputs() -> dict[str, Path]:
    big = OUT / "big_2g.pt"
    legacy = OUT / "legacy_500m.pt"
    small = OUT / "small_dir"
    if big.exists() and legacy.exists() and small.exists():
        return {"2 GiB torch zip": big, "500 MiB legacy torch": legacy, "1000 small ckpts": small}
    import torch

    OUT.mkdir(parents=True, exist_ok=True)
    if not big.exists():
        # 16 x 32 Mi float32 = 2 GiB plus a few small tensors, transformer-like names.
        sd = {f"layers.{i}.mlp.weight": torch.zeros(8192, 4096) for i in range(16)}
        sd.update({f"layers.{i}.norm.weight": torch.ones(4096) for i in range(16)})
        torch.save(sd, big)
        del sd
    if not legacy.exists():
        sd = {f"block.{i}.weight": torch.zeros(4096, 4096) for i in range(8)}
        torch.save(sd, legacy, _use_new_zipfile_serialization=False)
        del sd
    if not small.exists():
        small.mkdir()
        model = torch.nn.Sequential(torch.nn.Linear(16, 16), torch.nn.Linear(16, 4))
        for i in range(1000):
            torch.save(model.state_dict(), small / f"ckpt_{i:04d}.pt")
    return {"2 GiB torch zip": big, "500 MiB legacy torch": legacy, "1000 small ckpts": small}


def run(cmd: list[str]) -> tuple[float, int, int, str]:
    """Wall seconds, peak RSS KiB, exit code and stdout of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_maxrss, proc.returncode, out.decode(errors="replace")


def measure(cmd: list[str], runs: int) -> dict[str, float]:
    run(cmd)  # first run: page cache and .pyc warm-up
    results = [run(cmd) for _ in range(runs)]
    return {
        "wall": statistics.median(r[0] for r in results),
        "rss_mib": max(r[1] for r in results) / 1024,
        "exit": results[-1][2],
    }


def imported_heavy(path: Path) -> list[str]:
    code = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('HEAVY', sorted(m for m in ('torch', 'numpy', 'joblib')"
        " if m in sys.modules)))\n"
        "from weightguard.cli import main\n"
        f"main(['scan', {str(path)!r}, '--format', 'json', '--output', '/dev/null'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    line = next(x for x in out.splitlines() if x.startswith("HEAVY"))
    return eval(line[len("HEAVY ") :])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", action="store_true", help="keep the generated inputs")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        build_inputs()
        return
    if shutil.which("picklescan", path=str(BIN)) is None:
        sys.exit("picklescan is not installed in this venv: pip install picklescan")
    # Build in a child process: a parent grown by torch tensors would inflate every
    # child's peak RSS (fork copies the parent's resident set until exec).
    subprocess.run([sys.executable, __file__, "--build-only"], check=True)
    inputs = build_inputs()
    wg = [str(BIN / "weightguard"), "scan"]
    ps = [str(BIN / "picklescan"), "-p"]
    print(f"{'input':24} {'size':>10} {'weightguard':>12} {'picklescan':>11} {'ratio':>6} "
          f"{'wg RSS':>8} {'ps RSS':>8} {'wg exit':>7} {'ps exit':>7}")
    ok = True
    for label, path in inputs.items():
        size = sum(p.stat().st_size for p in path.rglob("*")) if path.is_dir() \
            else path.stat().st_size
        w = measure([*wg, str(path)], args.runs)
        p = measure([*ps, str(path)], args.runs)
        ratio = w["wall"] / p["wall"]
        ok &= ratio <= 1.0 and w["rss_mib"] < 64 and w["exit"] == 0
        print(f"{label:24} {size / (1 << 20):8.0f}Mi {w['wall']:11.3f}s {p['wall']:10.3f}s "
              f"{ratio:6.2f} {w['rss_mib']:6.1f}Mi {p['rss_mib']:6.1f}Mi {w['exit']:>7} "
              f"{p['exit']:>7}")
    big = inputs["2 GiB torch zip"]
    _wall, _rss, _code, out = run([*wg, str(big), "--format", "json"])
    read = json.loads(out)["files"][0]["bytes_read"]
    share = read / big.stat().st_size
    heavy = imported_heavy(big)
    ok &= share < 0.01 and not heavy
    print(f"bytes read from the 2 GiB checkpoint: {read} ({share:.5%} of "
          f"{big.stat().st_size})")
    print(f"heavy modules imported by weightguard scan: {heavy or 'none'}")
    print("targets met" if ok else "TARGETS MISSED")
    if not args.keep:
        shutil.rmtree(OUT)


if __name__ == "__main__":
    main()
