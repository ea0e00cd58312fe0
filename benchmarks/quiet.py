"""Shared by the benchmark scripts: start each measurement on a mostly idle machine.

Other jobs on a shared 2-vCPU VM can halve a two-thread run's speed; the gate waits
(bounded) until /proc/stat shows the CPUs mostly idle and counts the rounds it could not.
"""

from __future__ import annotations

import time
from pathlib import Path


def cpu_busy(interval: float = 0.25) -> float:
    """Fraction of all CPUs busy over `interval` (from /proc/stat; 0.0 if unavailable)."""
    try:

        def sample() -> tuple[int, int]:
            fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
            return sum(fields), fields[3] + fields[4]  # total, idle + iowait

        t0, i0 = sample()
        time.sleep(interval)
        t1, i1 = sample()
    except (OSError, ValueError, IndexError):
        return 0.0
    return 1.0 - (i1 - i0) / max(t1 - t0, 1)


class QuietGate:
    """Before each round or case, wait (at most `max_wait` s) for the CPUs to go quiet.

    `threshold` >= 1 disables the gate. Counters: `rounds` waited for, `busy` rounds that
    started anyway on a busy machine, `waited` seconds spent waiting in total.
    """

    def __init__(self, threshold: float, max_wait: float) -> None:
        self.threshold = threshold
        self.max_wait = max_wait
        self.rounds = 0
        self.busy = 0
        self.waited = 0.0

    def wait(self) -> None:
        """Block until quiet or until `max_wait` has passed."""
        self.rounds += 1
        if self.threshold >= 1:
            return
        start = time.monotonic()
        while cpu_busy() > self.threshold:
            if time.monotonic() - start > self.max_wait:
                self.busy += 1
                break
            time.sleep(0.25)
        self.waited += time.monotonic() - start
