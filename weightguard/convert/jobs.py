"""What a conversion will read and write: inputs, their formats, and output names.

Planning only: nothing is written here. Outputs are checked up front (never the input,
never an existing file without ``force``, no two inputs onto one output); the same
checks hold again, atomically, when the outputs are published.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from weightguard.convert.shards import INDEX_SUFFIX, IndexRewrite, index_target, plan_index
from weightguard.convert.source import CONVERTIBLE_FORMATS
from weightguard.digest import FileState
from weightguard.errors import ModelReadError, UsageError

SUFFIX = ".safetensors"


@dataclass(frozen=True)
class Job:
    source: Path
    target: Path
    name_in: str
    name_out: str
    fmt: str
    state: FileState
    display: str


def default_output(path: Path) -> Path:
    """``model.pt`` -> ``model.safetensors``; ``pytorch_model*.bin`` -> ``model*.safetensors``
    (the renaming of Hugging Face's converter)."""
    stem = path.stem if path.suffix else path.name
    if stem.startswith("pytorch_model"):
        stem = "model" + stem[len("pytorch_model") :]
    return path.with_name(stem + SUFFIX)


def _detect(path: Path) -> str:
    from weightguard.pickle import detect_format

    try:
        return detect_format(path)
    except OSError as exc:
        raise ModelReadError(f"cannot read: {exc.strerror or exc}", path=str(path)) from exc


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".git"))
        for name in sorted(filenames):
            yield Path(dirpath) / name


def _same_file(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve() or (b.exists() and os.path.samefile(a, b))
    except OSError:
        return False


def plan_jobs(
    source: Path, output: Path | None, force: bool
) -> tuple[list[Job], list[str], bool, list[IndexRewrite]]:
    """(jobs, skipped files, directory mode, rewritten shard indexes)."""
    if not source.exists():
        raise UsageError(f"{source}: no such file or directory", code="convert.no_input")
    jobs: list[Job] = []
    skipped: list[str] = []
    indexes: list[IndexRewrite] = []
    directory = source.is_dir()
    if directory:
        out_root = output or source
        if out_root.exists() and not out_root.is_dir():
            raise UsageError("a directory converts into a directory", path=str(out_root))
        for path in _walk(source):
            if path.is_symlink() or not path.is_file() or path.name.endswith(SUFFIX):
                skipped.append(str(path))
                continue
            fmt = _detect(path)
            if fmt not in CONVERTIBLE_FORMATS:
                skipped.append(str(path))
                continue
            rel = path.relative_to(source)
            target = out_root / default_output(rel)
            jobs.append(
                Job(
                    path,
                    target,
                    rel.as_posix(),
                    target.relative_to(out_root).as_posix(),
                    fmt,
                    FileState.of(path.stat()),
                    str(path),
                )
            )
        if not jobs:
            raise UsageError(
                f"{source}: no pickle checkpoint to convert (looked for "
                f"{', '.join(CONVERTIBLE_FORMATS)} files)",
                code="convert.no_input",
            )
        converted = {j.source: j.target for j in jobs}
        for name in list(skipped):
            path = Path(name)
            if path.name.endswith(INDEX_SUFFIX) and not path.is_symlink():
                target = out_root / index_target(path.relative_to(source), default_output)
                rewrite = plan_index(path, target, converted)
                if isinstance(rewrite, IndexRewrite):
                    indexes.append(rewrite)
                    skipped.remove(name)
    else:
        real = source.resolve()
        target = output or default_output(source)
        if output is not None and output.is_dir():
            target = output / default_output(source).name
        jobs.append(
            Job(
                real,
                target,
                source.name,
                target.name,
                _detect(real),
                FileState.of(real.stat()),
                str(source),
            )
        )
    targets = [j.target.resolve() for j in jobs] + [i.target.resolve() for i in indexes]
    if len(set(targets)) != len(targets):
        raise UsageError(
            "two inputs would convert to the same output name", code="convert.output_clash"
        )
    for job in jobs:
        if _same_file(job.source, job.target):
            raise UsageError(
                "the output would overwrite the input", path=str(job.target), code="output.is_input"
            )
    for target in [j.target for j in jobs] + [i.target for i in indexes]:
        if target.exists() and not force:
            raise UsageError(
                "the output exists (use --force to replace it)",
                path=str(target),
                code="output.exists",
            )
    return jobs, skipped, directory, indexes
