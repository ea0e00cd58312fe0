"""Benchmark `weightguard scan` against picklescan (a script, not a test).

Builds under bench-out/scan/ (git-ignored): a ~2 GiB torch zip state_dict, a ~500 MiB
legacy (non-zip) torch checkpoint, and a directory of 1000 small checkpoints.

Like with like: picklescan is a regular install, so both tools are installed the same
way into one throwaway virtual environment (bench-out/scan/venv, `python -m venv`, no
system site-packages): this checkout as a regular, non-editable package (with its core
dependencies) and picklescan (the version installed here, if any). An editable install
would put setuptools' path finder (~15 ms) on weightguard's start-up only. Each tool
runs as a fresh process through its console script; after one warm-up run each, the
runs alternate (weightguard then picklescan, then the other way round, ...) so both see
the same machine load, each round starting once the CPUs are quiet (bounded wait),
and the median wall times are compared. Also reported: median CPU time (user+sys) and
peak RSS of the child (GNU time, in the warm-up run), the bytes weightguard read from the 2 GiB file (its
own counter, from the JSON report), and that scanning it imports neither torch nor
numpy (checked with this interpreter, where both are installed). Big files and the venv
are deleted at the end unless --keep.

Usage: python benchmarks/bench_scan.py [--keep] [--runs N] [--checkout DIR]
       [--quiet-threshold F] [--max-wait S]
Needs: torch (to build the inputs) and pip access to the package index or its cache
(to install the benchmark venv); picklescan is installed into that venv.
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
from importlib import metadata
from pathlib import Path

from quiet import QuietGate  # benchmarks/quiet.py (scripts run from this folder)

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-out" / "scan"
VENV = OUT / "venv"
VENV_BIN = VENV / ("Scripts" if os.name == "nt" else "bin")


def build_inputs() -> dict[str, Path]:
    big = OUT / "big_2g.pt"
    legacy = OUT / "legacy_500m.pt"
    small = OUT / "small_dir"
    inputs = {"2 GiB torch zip": big, "500 MiB legacy torch": legacy, "1000 small ckpts": small}
    if big.exists() and legacy.exists() and small.exists():
        return inputs
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
    return inputs


def build_venv(checkout: Path) -> str:
    """Install `checkout` (regular, non-editable) and picklescan into a fresh venv."""
    if VENV.exists():
        shutil.rmtree(VENV)
    subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    # Build from a copy of the package sources: the checkout stays untouched (no build/
    # or egg-info), and bench-out/ (gigabytes of inputs) is never part of the build.
    src = OUT / "src"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    shutil.copytree(
        checkout / "weightguard", src / "weightguard", ignore=shutil.ignore_patterns("__pycache__")
    )
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (checkout / name).exists():
            shutil.copy2(checkout / name, src / name)
    try:
        picklescan = f"picklescan=={metadata.version('picklescan')}"
    except metadata.PackageNotFoundError:
        picklescan = "picklescan"
    pip = [
        str(VENV_BIN / "python"),
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ]
    done = subprocess.run([*pip, str(src), picklescan], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(
            f"cannot install the benchmark venv (needs the package index or its "
            f"cache):\n{done.stderr[-2000:]}"
        )
    shutil.rmtree(src)
    probe = (
        "import sys; from importlib import metadata as m; "
        "print(sys.version.split()[0], m.version('weightguard'), m.version('picklescan'))"
    )
    out = subprocess.run(
        [str(VENV_BIN / "python"), "-c", probe], capture_output=True, text=True, check=True
    ).stdout.split()
    direct = subprocess.run(
        [str(VENV_BIN / "python"), "-m", "pip", "show", "-f", "weightguard"],
        capture_output=True,
        text=True,
    ).stdout
    editable = "Editable project location" in direct or "__editable__" in direct
    return (
        f"Python {out[0]}; weightguard {out[1]} ({'EDITABLE' if editable else 'regular'} "
        f"install) and picklescan {out[2]} (regular install), both in {VENV.relative_to(ROOT)}"
    )


TIME = shutil.which("time", path="/usr/bin:/bin")  # GNU time, for the child's own RSS


def run(cmd: list[str]) -> tuple[float, float, int, str]:
    """Wall seconds, CPU seconds (user+sys, wait4), exit code and stdout of one process."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    return wall, usage.ru_utime + usage.ru_stime, code, out.decode(errors="replace")


def peak_rss_kib(cmd: list[str]) -> int:
    """Peak RSS of one run of `cmd`, in KiB.

    From GNU time when it is installed: it forks the command from its own small process,
    whereas a child forked straight from this Python process reports our RSS from before
    its exec (Linux carries that high-water mark over). GNU time also adds tens of
    milliseconds of wall time, so the timed runs do without it.
    """
    if TIME is None:
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return os.wait4(proc.pid, 0)[2].ru_maxrss
    report = OUT / ".time"
    subprocess.run(
        [TIME, "-f", "%M", "-o", str(report), *cmd],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
    )
    rss = int(report.read_text().split()[-1])
    report.unlink()
    return rss


def measure_pair(cmds: list[list[str]], runs: int, gate: QuietGate) -> list[dict[str, float]]:
    """Alternate the commands `runs` times after one warm-up each; medians per command.

    The order flips every round (A B, B A, ...): the first process after the quiet
    gate's idle wait starts on colder caches, and that must not always be the same tool.
    The warm-up run (page cache, .pyc files) measures peak RSS.
    """
    rss = [peak_rss_kib(cmd) for cmd in cmds]
    results: list[list[tuple[float, float, int, str]]] = [[] for _ in cmds]
    for round_no in range(runs):
        gate.wait()
        order = list(range(len(cmds)))
        if round_no % 2:
            order.reverse()
        for i in order:
            results[i].append(run(cmds[i]))
    return [
        {
            "wall": statistics.median(r[0] for r in res),
            "cpu": statistics.median(r[1] for r in res),
            "rss_mib": peak / 1024,
            "exit": res[-1][2],
        }
        for res, peak in zip(results, rss)
    ]


def imported_heavy(path: Path) -> list[str]:
    # The report goes to a real file: `--output /dev/null` would have write_atomic
    # rename a temp file over the device node when run as root.
    report = OUT / "heavy-check.json"
    code = (
        "import atexit, json, sys\n"
        "atexit.register(lambda: print('HEAVY', json.dumps(sorted(m for m in "
        "('torch', 'numpy', 'joblib') if m in sys.modules))))\n"
        "from weightguard.cli import main\n"
        f"main(['scan', {str(path)!r}, '--format', 'json', '--output', {str(report)!r}])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout
    report.unlink(missing_ok=True)
    line = next(x for x in out.splitlines() if x.startswith("HEAVY "))
    return list(json.loads(line[len("HEAVY ") :]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keep", action="store_true", help="keep the inputs and the venv")
    parser.add_argument("--runs", type=int, default=16, help="alternating runs per tool")
    parser.add_argument(
        "--quiet-threshold",
        type=float,
        default=0.25,
        help="max busy CPU share before a round starts (1 = never wait)",
    )
    parser.add_argument(
        "--max-wait", type=float, default=3.0, help="seconds to wait for quiet per round"
    )
    parser.add_argument(
        "--checkout",
        type=Path,
        default=ROOT,
        help="benchmark the package of another checkout (e.g. a git worktree of an older "
        "commit, for before/after numbers); default: this one",
    )
    parser.add_argument("--build-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.build_only:
        build_inputs()
        return
    # Build in a child process: a parent grown by torch tensors would inflate every
    # child's peak RSS (fork copies the parent's resident set until exec).
    subprocess.run([sys.executable, __file__, "--build-only"], check=True)
    inputs = build_inputs()
    print(build_venv(args.checkout.resolve()))
    if args.checkout.resolve() != ROOT:
        print(f"package sources from {args.checkout.resolve()}")
    print(
        f"{args.runs} alternating runs per tool after one warm-up each; medians; "
        f"ratio = weightguard / picklescan wall time (target <= 1.00)"
    )
    gate = QuietGate(args.quiet_threshold, args.max_wait)
    wg = [str(VENV_BIN / "weightguard"), "scan"]
    ps = [str(VENV_BIN / "picklescan"), "-p"]
    print(
        f"{'input':22} {'size':>8} {'wg wall':>9} {'ps wall':>9} {'ratio':>6} "
        f"{'wg cpu':>8} {'ps cpu':>8} {'wg RSS':>8} {'ps RSS':>8} {'wg/ps exit':>10}"
    )
    ok = True
    for label, path in inputs.items():
        files = list(path.rglob("*")) if path.is_dir() else [path]
        size = sum(p.stat().st_size for p in files)
        w, p = measure_pair([[*wg, str(path)], [*ps, str(path)]], args.runs, gate)
        ratio = w["wall"] / p["wall"]
        ok &= ratio <= 1.0 and w["rss_mib"] < 64 and w["exit"] == 0
        print(
            f"{label:22} {size / (1 << 20):6.0f}Mi {w['wall']:8.3f}s {p['wall']:8.3f}s "
            f"{ratio:6.2f} {w['cpu']:7.3f}s {p['cpu']:7.3f}s {w['rss_mib']:6.1f}Mi "
            f"{p['rss_mib']:6.1f}Mi {w['exit']:>5}/{p['exit']}"
        )
    big = inputs["2 GiB torch zip"]
    out = run([*wg, str(big), "--format", "json"])[3]
    read = json.loads(out)["files"][0]["bytes_read"]
    share = read / big.stat().st_size
    heavy = imported_heavy(big)
    ok &= share < 0.01 and not heavy
    print(f"bytes read from the 2 GiB checkpoint: {read} ({share:.5%} of {big.stat().st_size})")
    print(f"heavy modules imported by weightguard scan: {', '.join(heavy) or 'none'}")
    print(
        f"quiet gate: {gate.busy} of {gate.rounds} rounds started with the CPUs more than "
        f"{args.quiet_threshold:.0%} busy (after waiting {args.max_wait:g} s); "
        f"peak RSS {'from GNU time' if TIME else 'from wait4 (no GNU time: upper bound)'}"
    )
    print("targets met" if ok else "TARGETS MISSED")
    if not args.keep:
        shutil.rmtree(OUT)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
