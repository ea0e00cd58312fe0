"""weightguard.cli.options: sizes with explicit units, progress with total/percent/ETA."""

from __future__ import annotations

import pytest

from weightguard.cli.options import ProgressBar, parse_size
from weightguard.errors import UsageError


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1000", 1000),
        ("1KiB", 1024),
        ("512MiB", 512 * 2**20),
        ("1GiB", 2**30),
        ("1Gi", 2**30),
        ("1GB", 10**9),
        ("4kB", 4000),
        ("2 TB", 2 * 10**12),
    ],
)
def test_sizes_with_units(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["1M", "1G", "0", "-1", "1.5GiB", "GiB", "1 XB", ""])
def test_ambiguous_or_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_size(text)
    assert err.value.code == "usage.size"
    if text in ("1M", "1G"):
        assert err.value.hint is not None and "iB" in err.value.hint


def test_progress_line_has_total_percent_and_eta() -> None:
    bar = ProgressBar("hashing", total=4 * 2**20)
    bar._start = 0.0  # noqa: SLF001 - a fixed clock for the line's arithmetic
    bar._done = 2**20  # noqa: SLF001
    line = bar.line(1.0)  # 1 MiB in 1 s, 3 MiB left
    assert line == "hashing: 1/4 MiB  25% ETA 0:03 (1 MiB/s)"
    unknown = ProgressBar("hashing")
    unknown._start, unknown._done = 0.0, 2**20  # noqa: SLF001
    assert unknown.line(1.0) == "hashing: 1 MiB (1 MiB/s)"
