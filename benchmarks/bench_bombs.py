"""Worst-case scan cost per MB of input: the bomb corpus (a script, not a test).

Each sample is about the same size (--mb, default 6) and built to be expensive for a
symbolic unpickler: no-op opcodes, a memo chain, nested one-tuples, marks nested
without end, one list appended to itself through the memo, and a deflate-compressed
torch zip whose data.pkl inflates to ~100x the sample size. Each is scanned by a fresh
`python -m weightguard scan` (this checkout first on the path), under GNU time when
present; printed per sample: exit code (3 = incomplete, 1 = unsafe), wall seconds,
seconds per MB on disk, and peak RSS. The last line is the worst time per MB.

Usage: python benchmarks/bench_bombs.py [--mb N] [--keep]
"""

from __future__ import annotations

import argparse
import io
import os
import shutil
import subprocess
import sys
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench-out" / "bombs"
SYSTEM = b"cos\nsystem\n(S'echo pwned'\ntR"


def samples(size: int) -> dict[str, bytes]:
    p2 = b"\x80\x02"
    half, third = size // 2, size // 3
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        with z.open("archive/data.pkl", "w") as member:  # ~100x the sample size, streamed
            member.write(p2)
            chunk = b"N0" * (1 << 20)
            for _ in range(max(1, 100 * size // len(chunk))):
                member.write(chunk)
            member.write(SYSTEM + b".")
        z.writestr("archive/byteorder", b"little")
    return {
        "noop opcodes (N0)": p2 + b"N0" * half + SYSTEM + b".",
        "memo chain [[[..]]]": p2 + b"]\x94" * third + b"a" * (third - 1) + b"0" + SYSTEM + b".",
        "nested one-tuples": p2 + b"N" + b"\x85\x94" * half + b"0" + SYSTEM + b".",
        "marks nested": p2 + b"(" * size + SYSTEM + b".",
        "self-append via memo": p2 + b"]\x94" + b"h\x00a" * third + SYSTEM + b".",
        "big tuple of lists": p2 + b"(" + b"]\x94" * half + b"t0" + SYSTEM + b".",
        "inflating torch zip": buf.getvalue(),
    }


def scan(path: Path) -> tuple[int, float, float]:
    """Exit code, wall seconds, peak RSS MiB (nan without GNU time) of one scan process."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "weightguard", "scan", str(path)]
    gnu_time = Path("/usr/bin/time")
    rss_file = OUT / "rss.txt"
    if gnu_time.exists():
        cmd = [str(gnu_time), "-f", "%M", "-o", str(rss_file), *cmd]
    started = time.monotonic()
    done = subprocess.run(cmd, capture_output=True, env=env, check=False)
    wall = time.monotonic() - started
    try:
        rss = int(rss_file.read_text().strip().splitlines()[-1]) / 1024
    except (OSError, ValueError, IndexError):
        rss = float("nan")
    return done.returncode, wall, rss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=float, default=6.0, help="size of each sample in MB")
    parser.add_argument("--keep", action="store_true", help="keep bench-out/bombs")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    worst = 0.0
    print(f"{'sample':26} {'exit':>4} {'MB':>6} {'wall s':>7} {'s/MB':>6} {'peak MiB':>9}")
    for name, data in samples(int(args.mb * 1_000_000)).items():
        path = OUT / (name.split()[0] + ".pkl")
        path.write_bytes(data)
        mb = len(data) / 1e6
        code, wall, rss = scan(path)
        worst = max(worst, wall / mb)
        print(f"{name:26} {code:>4} {mb:>6.2f} {wall:>7.2f} {wall / mb:>6.2f} {rss:>9.0f}")
    print(f"worst case: {worst:.2f} s per MB on disk")
    if not args.keep:
        shutil.rmtree(OUT, ignore_errors=True)


if __name__ == "__main__":
    main()
