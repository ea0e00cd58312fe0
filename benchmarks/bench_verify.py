#!/usr/bin/env python3
"""Benchmark `weightguard verify` against OpenSSL and model-signing 1.1.1 (issue 2).

A script, not a test: `make bench` or `.venv/bin/python benchmarks/bench_verify.py`.
Data goes to `bench-out/` (git-ignored); the big files are deleted at the end unless
`--keep`. Each case runs as a child process under GNU time (wall clock measured here;
peak RSS and user+sys CPU of the child, descendants included). Cases are interleaved
round by round on a warm page cache, each started only once the machine is quiet (other
jobs sharing the CPUs skew wall times), and the tables report medians. The targets are
issue 2's "Performance" section; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from quiet import QuietGate  # benchmarks/quiet.py (scripts run from this folder)

REPO = Path(__file__).resolve().parent.parent
PY = sys.executable
# Like with like: model_signing is a regular install whose bytecode pip wrote, while this
# checkout is an editable install; with PYTHONDONTWRITEBYTECODE set (as on our build machines)
# every weightguard run would recompile every module it imports. Deployed images ship
# bytecode, so both tools run with it (the warm-up round writes weightguard's).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
GiB = 1 << 30
TIME = shutil.which("time", path="/usr/bin:/bin")


@dataclass
class Case:
    """One command measured over several rounds."""

    name: str
    argv: Sequence[str]
    walls: list[float] = field(default_factory=list)
    cpus: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(self.walls)

    @property
    def best(self) -> float:
        return min(self.walls)

    @property
    def cpu(self) -> float:
        return statistics.median(self.cpus)

    @property
    def rss_mib(self) -> float:
        return max(self.rss_kib) / 1024


def run_measured(argv: Sequence[str], cwd: Path) -> tuple[float, float, int]:
    """Run argv to completion; return (wall s, user+sys CPU s, peak RSS KiB). Fails loudly.

    RSS and CPU come from GNU time, which forks the command from its own small process: a
    child spawned straight from this Python process would inherit (and report) our RSS
    from before its exec, because Linux carries the pre-exec high-water mark over.
    """
    out = cwd / ".time"
    prefix = [TIME, "-f", "%M %U %S", "-o", str(out)] if TIME else []
    start = time.perf_counter()
    proc = subprocess.run(
        [*prefix, *argv], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        err = proc.stderr.decode(errors="replace")
        raise SystemExit(f"benchmark command failed ({proc.returncode}): {' '.join(argv)}\n{err}")
    if not TIME:
        return wall, float("nan"), 0
    rss, user, system = out.read_text().split()[-3:]
    return wall, float(user) + float(system), int(rss)


def run_rounds(cases: Sequence[Case], rounds: int, cwd: Path, gate: QuietGate) -> None:
    """Interleave the cases round-robin; round 0 is a warm-up and is not recorded."""
    for r in range(rounds + 1):
        for case in cases:
            gate.wait()
            wall, cpu, rss = run_measured(case.argv, cwd)
            if r:
                case.walls.append(wall)
                case.cpus.append(cpu)
                case.rss_kib.append(rss)
        if r:
            line = ", ".join(f"{c.name} {c.walls[-1]:.2f}s" for c in cases)
            print(f"  round {r}/{rounds}: {line}", flush=True)


def make_big_files(directory: Path, count: int, size: int) -> list[Path]:
    """`count` files of `size` random bytes (reused when already there with that size)."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        p = directory / f"shard-{i:02d}.bin"
        if not (p.exists() and p.stat().st_size == size):
            with open(p, "wb") as fh:
                left = size
                while left:
                    n = min(left, 64 << 20)
                    fh.write(os.urandom(n))
                    left -= n
        paths.append(p)
    return paths


def make_small_files(directory: Path, count: int, size: int) -> None:
    for i in range(count):
        p = directory / f"d{i % 16:02d}" / f"f{i:05d}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(hashlib.sha256(b"%d" % i).digest() * (size // 32))


def warm(paths: Sequence[Path]) -> None:
    for p in paths:
        with open(p, "rb") as fh:
            while fh.read(8 << 20):
                pass


@dataclass(frozen=True)
class Target:
    """A target line of the table: a measured value, its limit and how to compare."""

    label: str
    value: float
    limit: float
    unit: str
    at_least: bool = False
    best_value: float | None = None  # the same ratio from the fastest runs, for context
    cpu_value: float | None = None  # the same ratio from CPU time, for context

    @property
    def ok(self) -> bool:
        return self.value >= self.limit if self.at_least else self.value <= self.limit

    def row(self) -> str:
        op = ">=" if self.at_least else "<="

        def fmt(v: float | None) -> str:
            return f"{v:6.2f}{self.unit}" if v is not None else ""

        return (
            f"| {self.label:<56} | {self.value:7.2f}{self.unit:<3} | {op} {self.limit:g}{self.unit:<3} "
            f"| {fmt(self.best_value):>8} | {fmt(self.cpu_value):>8} | {'PASS' if self.ok else 'FAIL'} |"
        )


def ratio(label: str, a: Case, b: Case, limit: float, *, at_least: bool = False) -> Target:
    """Target on a/b of median wall times; minima and CPU ratios shown for context."""
    return Target(
        label,
        a.wall / b.wall,
        limit,
        "x",
        at_least=at_least,
        best_value=a.best / b.best,
        cpu_value=a.cpu / b.cpu,
    )


def wg(*args: str | Path) -> list[str]:
    return [PY, "-m", "weightguard", *map(str, args)]


def ms(*args: str | Path) -> list[str]:
    return [PY, "-m", "model_signing", *map(str, args)]


def sign_all(
    model: Path, out: Path, key: Path, tag: str, extra: Sequence[str] = ()
) -> dict[str, Path]:
    """Bundles for one model: weightguard sha256 (and extra hashes), model-signing key."""
    sigs = {"wg": out / f"{tag}-wg.sig", "ms": out / f"{tag}-ms.sig"}
    run_measured(wg("sign", model, "--key", key, "--signature", sigs["wg"], "--force"), out)
    for hash_type in extra:
        sigs[hash_type] = out / f"{tag}-wg-{hash_type}.sig"
        run_measured(
            wg("sign", model, "--key", key, "--hash", hash_type, "--signature", sigs[hash_type], "--force"),
            out,
        )
    run_measured(ms("sign", "key", model, "--private_key", key, "--signature", sigs["ms"]), out)
    return sigs


def verify_cases(model: Path, sigs: dict[str, Path], pub: Path, tag: str) -> list[Case]:
    cases = [
        Case(
            f"{tag}: weightguard sha256",
            wg("verify", model, "--signature", sigs["wg"], "--key", pub),
        )
    ]
    if "blake3" in sigs:
        cases.append(
            Case(
                f"{tag}: weightguard blake3",
                wg("verify", model, "--signature", sigs["blake3"], "--key", pub),
            )
        )
    cases.append(
        Case(
            f"{tag}: model_signing verify key",
            ms("verify", "key", model, "--signature", sigs["ms"], "--public_key", pub),
        )
    )
    return cases


HEAVY = {"sigstore", "torch", "numpy", "safetensors", "in_toto", "model_signing", "pydantic"}
HEAVY_MODULES = {"weightguard.signing.sigstore", "weightguard.scan", "weightguard.policy"}


def heavy_imports(model: Path, sig: Path, pub: Path, cwd: Path) -> list[str]:
    """Heavy packages `python -X importtime` shows on the key verification path."""
    proc = subprocess.run(
        [
            PY,
            "-X",
            "importtime",
            "-m",
            "weightguard",
            "verify",
            str(model),
            "--signature",
            str(sig),
            "--key",
            str(pub),
        ],
        capture_output=True,
        text=True,
        cwd=cwd,
        check=True,
    )
    names = {m.group(1) for m in re.finditer(r"\|\s+(\S+)\s*$", proc.stderr, re.M)}
    return sorted(n for n in names if n.split(".")[0] in HEAVY or n in HEAVY_MODULES)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--out", type=Path, default=REPO / "bench-out")
    ap.add_argument("--rounds", type=int, default=5, help="rounds for the big files")
    ap.add_argument("--size-gib", type=float, default=1.0, help="size of each of the 4 big files")
    ap.add_argument("--small-files", type=int, default=2000)
    ap.add_argument(
        "--quiet-threshold",
        type=float,
        default=0.25,
        help="max busy CPU share before a case starts (1 = never wait)",
    )
    ap.add_argument(
        "--max-wait", type=float, default=20.0, help="seconds to wait for quiet per case"
    )
    ap.add_argument("--keep", action="store_true", help="keep the big files for another run")
    args = ap.parse_args(argv)
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    ncpu = os.cpu_count() or 1
    gate = QuietGate(args.quiet_threshold, args.max_wait)
    print(f"weightguard verify benchmark: {ncpu} CPUs, data in {out}", flush=True)
    if not TIME:
        print("GNU time not found: peak RSS and CPU are not measured", flush=True)

    key, pub = out / "bench.pem", out / "bench.pub.pem"
    if not key.exists():
        run_measured(wg("keygen", "--out", key, "--force"), out)
    big = out / "big"
    size = int(args.size_gib * GiB)
    files = make_big_files(big, 4, size)
    small = out / f"small-{args.small_files}"
    if not small.exists():
        make_small_files(small, args.small_files, 4096)
    one = out / "one"
    if not one.exists():
        one.mkdir()
        (one / "model.safetensors").write_bytes(b"\0" * 4096)

    print("signing ...", flush=True)
    big_sigs = sign_all(big, out, key, "big", extra=("blake3",))
    small_sigs = sign_all(small, out, key, "small")
    one_sigs = sign_all(one / "model.safetensors", out, key, "one")
    warm(files)

    label = f"4x{args.size_gib:g} GiB"
    openssl = Case(
        f"{label}: openssl dgst -sha256, xargs -P{ncpu}",
        ["bash", "-c", f'ls "{big}"/*.bin | xargs -P{ncpu} -n1 openssl dgst -sha256 >/dev/null'],
    )
    big_cases = [openssl, *verify_cases(big, big_sigs, pub, label)]
    small_cases = verify_cases(small, small_sigs, pub, f"{args.small_files} small files")
    one_cases = verify_cases(one / "model.safetensors", one_sigs, pub, "one-file model")

    print(f"big files: {args.rounds} interleaved rounds", flush=True)
    run_rounds(big_cases, args.rounds, out, gate)
    print(f"small files and start-up: {args.rounds * 2} interleaved rounds", flush=True)
    run_rounds([*small_cases, *one_cases], args.rounds * 2, out, gate)
    imports = heavy_imports(one / "model.safetensors", one_sigs["wg"], pub, out)

    print()
    print(
        f"| {'case':<56} | {'wall s (median)':>15} | {'min':>5} | {'CPU s':>6} | {'peak RSS MiB':>12} |"
    )
    print(f"|{'-' * 58}|{'-' * 17}|{'-' * 7}|{'-' * 8}|{'-' * 14}|")
    for c in [*big_cases, *small_cases, *one_cases]:
        print(
            f"| {c.name:<56} | {c.wall:15.2f} | {c.best:5.2f} | {c.cpu:6.2f} | {c.rss_mib:12.1f} |"
        )
    ssl, wg_sha, wg_b3, ms_big = big_cases
    wg_small, ms_small = small_cases
    wg_one, ms_one = one_cases
    targets = [
        ratio("sha256 verify / parallel openssl (4 big files)", wg_sha, ssl, 1.10),
        ratio("sha256 verify / model_signing verify key (4 big files)", wg_sha, ms_big, 0.9),
        ratio("blake3 mode speed-up over sha256 mode", wg_sha, wg_b3, 2.5, at_least=True),
        Target("peak RSS, blake3 verify (4 big files)", wg_b3.rss_mib, 128, "MiB"),
        Target("peak RSS, sha256 verify (4 big files)", wg_sha.rss_mib, 100, "MiB"),
        ratio(
            f"{args.small_files} small files: weightguard / model_signing", wg_small, ms_small, 0.6
        ),
        ratio("start-up, one-file model: weightguard / model_signing", wg_one, ms_one, 0.4),
        Target(
            f"heavy imports on the key path: {', '.join(imports) or 'none'}", len(imports), 0, ""
        ),
    ]
    print()
    print(
        f"| {'target (wall-clock ratio of medians)':<56} | {'measured':>10} | {'limit':>9} "
        f"| {'of mins':>8} | {'by CPU':>8} |      |"
    )
    print(f"|{'-' * 58}|{'-' * 12}|{'-' * 11}|{'-' * 10}|{'-' * 10}|------|")
    for t in targets:
        print(t.row())
    if not args.keep:
        shutil.rmtree(big, ignore_errors=True)
    failed = [t.label for t in targets if not t.ok]
    print(
        f"\nquiet gate: waited {gate.waited:.0f} s in total; {gate.busy} case(s) started "
        f"on a busy machine (busy > {args.quiet_threshold:.0%} after {args.max_wait:g} s)"
    )
    print(
        f"{len(targets) - len(failed)}/{len(targets)} targets met"
        + (f"; FAILED: {failed}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
