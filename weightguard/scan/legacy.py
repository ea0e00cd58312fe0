"""Legacy PyTorch layouts: the stacked-pickle file and the parts of a legacy tar checkpoint.

Layouts from torch/serialization.py (`_legacy_load`, `legacy_load`; see
`weightguard.pickle.torchfmt`): a legacy file is five pickles (magic number, protocol
1001, sys_info, the object, the storage keys) followed by each storage's int64 element
count and raw bytes, which are skipped after checking them against the persistent ids;
a legacy tar holds ``storages`` and ``tensors`` records (pickled headers around raw data)
and a ``pickle`` member. Imported by `weightguard.scan.containers` and
`weightguard.scan.archives` when one is met.
"""

from __future__ import annotations

import struct
from typing import BinaryIO

from weightguard.pickle import torchfmt
from weightguard.pickle.reader import Reader, StreamError
from weightguard.pickle.values import List, Tuple, Value
from weightguard.pickle.vm import parse_pickle
from weightguard.scan.filescan import FileScan, Walker
from weightguard.scan.model import Outcome, Severity


def scan_torch_legacy(
    scanner: Walker, fs: FileScan, fh: BinaryIO, size: int, member: str | None
) -> None:
    """The five stacked pickles of a legacy file, then every storage header after them."""
    storages = torchfmt.LegacyStorages()
    reader = Reader(fh, start=0, limit=size)
    nested = scanner.nested(fs, fh, 0, member, 0)
    fs.members.append(member or "<legacy>")
    roots: list[Value] = []
    for check in (None, None, None, storages.check, None):
        program = parse_pickle(reader, limits=scanner.limits, budget=fs.budget)
        scanner.judge(fs, program, member, 0, check, nested)
        if program.error is not None:
            return
        roots.append(program.root)
    keys = roots[4]
    if (
        roots[0] != torchfmt.TORCH_MAGIC
        or roots[1] != torchfmt.TORCH_PROTOCOL
        or not isinstance(keys, List)
        or not all(isinstance(k, str) for k in keys.items)
    ):
        fs.incomplete(
            "torch.legacy_layout",
            "not laid out as torch's legacy format "
            "(magic, protocol 1001, sys_info, object, storage keys)",
            member,
        )
        return
    offset = reader.offset
    for key in keys.items:
        assert isinstance(key, str)
        if key not in storages.storages:
            fs.incomplete("torch.legacy_layout", f"storage {key!r} is never referenced", member)
            return
        elsize, numel = storages.storages[key]
        fh.seek(offset)
        raw = fh.read(8)
        if len(raw) != 8 or torchfmt.read_int64(raw) != numel:
            fs.incomplete(
                "torch.legacy_layout",
                f"storage {key!r} header does not match its {numel} elements",
                member,
            )
            return
        offset += 8 + numel * elsize
    if offset > size:
        fs.incomplete("torch.legacy_layout", "storage data runs past the end", member)
    elif offset < size:
        fs.add(
            "torch.trailing_data",
            Outcome.UNSAFE,
            Severity.MEDIUM,
            f"{size - offset} bytes follow the last storage (appended payload?)",
            member=member,
            offset=offset,
        )


class _Stop(Exception):
    pass


class _Layout(Exception):
    pass


def scan_torch_tar_part(
    scanner: Walker, fs: FileScan, fh: BinaryIO, size: int, name: str, label: str, depth: int
) -> None:
    """The ``storages`` or ``tensors`` member of a legacy tar: headers judged, data skipped."""
    reader = Reader(fh, start=0, limit=size)
    fs.members.append(label)
    nested = scanner.nested(fs, fh, 0, label, depth)

    def one() -> Value:
        program = parse_pickle(reader, limits=scanner.limits, budget=fs.budget)
        scanner.judge(fs, program, label, 0, None, nested)
        if program.error is not None:
            raise _Stop
        return program.root

    try:
        count = one()
        if type(count) is not int or count < 0:
            raise _Layout(f"{name}: count is not an int")
        for _ in range(count):
            args = one()
            items = args.items if isinstance(args, Tuple) else ()
            if name == "storages":
                elsize = torchfmt.element_size(items[2]) if len(items) == 3 else None
                if elsize is None:
                    raise _Layout("storage type is not a torch storage class")
                numel = torchfmt.read_int64(reader.read(8))
                reader.skip(numel * elsize)
            else:
                (ndim,) = struct.unpack("<i", reader.read(4))
                if ndim < 0:
                    raise _Layout("negative tensor rank")
                reader.skip(4 + 16 * ndim + 8)
        if name == "storages":
            one()  # storage views
        if not reader.at_end():
            fs.add(
                "pickle.trailing_data",
                Outcome.UNSAFE,
                Severity.MEDIUM,
                f"bytes follow the {name} records",
                member=label,
            )
    except _Stop:
        return
    except (_Layout, StreamError, struct.error, OverflowError, IndexError) as exc:
        fs.incomplete("torch.legacy_layout", f"legacy tar {name}: {exc}", label)
