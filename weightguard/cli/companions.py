"""Files that travel with converted weights: config.json, tokenizer files, model cards.

`weightguard convert DIR -o OUT` writes safetensors into OUT; a loader also needs the
model's configuration and tokenizer beside them. Data-only companions are copied (never
code: a `*.py` file next to weights is what `trust_remote_code` would run, so it stays
where it is, and the user is told). Copies are atomic and never replace a file without
--force; each decision becomes one note for the user.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Sequence
from pathlib import Path

# Data-only files loaders read beside weights (transformers, sentencepiece, tiktoken).
COMPANIONS = ("*.json", "*.txt", "*.model", "*.tiktoken", "*.md", "vocab.*", "*.jinja")
_LIMIT = 256 * 2**20  # companions are small; a bigger file is not a config file


def copy_companions(
    source: Path, output: Path, skipped: Sequence[str], *, force: bool
) -> tuple[str, ...]:
    """Copy the data-only skipped files of `source` into `output`; one note per file."""
    from weightguard.errors import WeightguardError
    from weightguard.fileio import write_atomic

    notes: list[str] = []
    for name in skipped:
        path = Path(name)
        try:
            rel = path.relative_to(source)
        except ValueError:
            continue
        target = output / rel
        if not any(fnmatch.fnmatch(path.name, p) for p in COMPANIONS):
            notes.append(
                f"not copied: {rel} (not a known config/tokenizer file; review it and "
                "copy it yourself if the model needs it)"
            )
            continue
        if path.is_symlink() or not path.is_file() or path.stat().st_size > _LIMIT:
            notes.append(f"not copied: {rel} (a symlink, special or oversized file)")
            continue
        if target.exists() and not force:
            notes.append(f"not copied: {rel} ({target} exists; --force replaces it)")
            continue
        try:
            os.makedirs(target.parent, exist_ok=True)
            write_atomic(target, path.read_bytes())
        except (OSError, WeightguardError) as exc:
            notes.append(f"not copied: {rel} ({exc})")
            continue
        notes.append(f"copied {rel} beside the converted weights")
    return tuple(notes)
