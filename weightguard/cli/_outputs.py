"""Where a command may write its report and termination log: never into the model.

Owns: refusing `--report` / `--termination-log` paths that land inside the model
directory, on a single-file model or its sidecars (`F.sig`, `F.sig.d/`), or on a bundle
the command reads (`--signature`, `--attestation`). A report written there would change
the artifact the gate just judged (a new unsigned file, or `model.sig` overwritten by
JSON: the next verification fails, or a pipeline ships the changed folder); one over the
policy file would change what the next run trusts. Paths are
compared after resolving symlinks and `..`, so a link into the model is caught too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path

from weightguard.errors import UsageError


def _real(path: str | os.PathLike[str]) -> Path:
    return Path(os.path.realpath(path))


def _within(path: Path, area: Path) -> bool:
    return path == area or area in path.parents


def protected_areas(
    model: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]] = ()
) -> list[Path]:
    """The resolved paths no output may touch (or lie under)."""
    from weightguard.api import default_evidence_dir, default_signature_path

    areas = [_real(model)]
    if not os.path.isdir(model):
        areas += [_real(default_signature_path(model)), _real(default_evidence_dir(model))]
    areas += [_real(p) for p in inputs]
    return areas


def refused_output(
    model: str | os.PathLike[str] | None,
    outputs: Sequence[tuple[str, str | os.PathLike[str] | None]],
    inputs: Iterable[str | os.PathLike[str]] = (),
) -> tuple[str, UsageError] | None:
    """(flag, error) for the first output that would land in the model, else None."""
    if model is None:
        return None
    areas = protected_areas(model, inputs)
    for flag, target in outputs:
        if not target:
            continue
        real = _real(target)
        if any(_within(real, area) for area in areas):
            return flag, UsageError(
                f"{flag} {target} is inside the model or on one of its signature files; "
                "write it elsewhere (the gate never changes what it verifies)",
                code="usage.output_in_model",
            )
    return None
