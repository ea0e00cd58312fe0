"""The benign corpus: real checkpoints from torch, numpy, joblib and pickle scan clean."""

from __future__ import annotations

import pytest

import weightguard.scan as wscan
from weightguard.scan import Outcome

pytestmark = pytest.mark.torch


def test_corpus_is_large(benign_corpus: list) -> None:
    assert len(benign_corpus) >= 40


def test_every_benign_sample_is_clean(benign_corpus: list) -> None:
    bad = []
    for sample in benign_corpus:
        result = wscan.scan(sample.path, profiles=("torch", "numpy", *sample.profiles))
        f = result.files[0]
        if f.outcome is not Outcome.CLEAN or result.errors:
            bad.append((sample.name, f.format, [x.message for x in f.findings][:2]))
    assert bad == []


def test_opt_in_profiles_are_needed(benign_corpus: list) -> None:
    rng = [s for s in benign_corpus if "numpy-rng" in s.profiles]
    assert rng
    for sample in rng:
        f = wscan.scan(sample.path).files[0]
        assert f.outcome is Outcome.UNSAFE
        assert any(x.hint == "--profile numpy-rng" for x in f.findings)


def test_zip_checkpoints_are_read_sparingly(benign_corpus: list) -> None:
    for sample in benign_corpus:
        f = wscan.scan(sample.path, profiles=("torch", "numpy", *sample.profiles)).files[0]
        if f.format == "torch-zip":
            # Small files are re-read whole (sniff + directory); the benchmark checks big ones.
            assert f.bytes_read <= 4 * sample.path.stat().st_size + 8192


def test_formats_detected(benign_corpus: list) -> None:
    kinds = {wscan.detect_format(s.path) for s in benign_corpus}
    assert {
        "torch-zip",
        "torch-legacy",
        "numpy",
        "npz",
        "joblib",
        "pickle",
        "zlib",
        "gzip",
        "bz2",
        "xz",
        "lzma",
    } <= kinds
