"""PyTorch checkpoint layouts: persistent-id validators and the legacy stacked/tar formats.

Facts from torch/serialization.py (torch 2.13):
- zip (`_load`): `persistent_load` accepts only ``('storage', storage_type, key, location,
  numel)`` and reads record ``<archive>/data/<key>`` of ``numel * element_size`` bytes.
- legacy stacked (`_legacy_load`): five pickles (magic number, protocol version 1001,
  sys_info, the object, the storage key list), then for each key an int64 element count
  and the raw bytes; persistent ids are ``('storage', type, root_key, location, numel,
  view_metadata)`` or ``('module', cls, source_file, source)``.
- legacy tar (`legacy_load`): members ``storages`` (count, then per storage a
  ``(key, location, storage_type)`` pickle and raw data, then a views pickle),
  ``tensors`` (count, then per tensor a ``(key, storage_id, type)`` pickle and its
  ndim/size/stride/offset words) and ``pickle`` (persistent ids are keys).
"""

from __future__ import annotations

import struct
from collections.abc import Callable

from weightguard.pickle.values import Global, PersistentRef, Tuple, Value

ELEMENT_SIZE: dict[str, int] = {
    "Float": 4,
    "Half": 2,
    "BFloat16": 2,
    "Double": 8,
    "Long": 8,
    "Int": 4,
    "Short": 2,
    "Char": 1,
    "Byte": 1,
    "Bool": 1,
    "ComplexFloat": 8,
    "ComplexDouble": 16,
    "QInt8": 1,
    "QUInt8": 1,
    "QInt32": 4,
    "QUInt4x2": 1,
    "QUInt2x4": 1,
    "Untyped": 1,
}

TORCH_MAGIC = 0x1950A86A20F9469CFC6C
TORCH_PROTOCOL = 1001


def element_size(tag: Value) -> int | None:
    """Bytes per element of a storage type global (``torch.FloatStorage`` -> 4)."""
    if not isinstance(tag, Global):
        return None
    name = tag.name
    if tag.module not in ("torch", "torch.storage", "torch.cuda") or not name.endswith("Storage"):
        return None
    if name == "TypedStorage":
        return None
    return ELEMENT_SIZE.get(name[: -len("Storage")])


def _items(ref: PersistentRef) -> tuple[Value, ...] | None:
    return ref.pid.items if isinstance(ref.pid, Tuple) else None


def zip_persid(records: dict[str, int], prefix: str) -> Callable[[PersistentRef], str | None]:
    """Validator for torch zip persistent ids against the archive's record sizes."""

    def check(ref: PersistentRef) -> str | None:
        items = _items(ref)
        if items is None or len(items) != 5 or items[0] != "storage":
            return "persistent id is not ('storage', type, key, location, numel)"
        _tag, tag, key, location, numel = items
        size = element_size(tag)
        if size is None:
            return "storage type is not a torch storage class"
        if not isinstance(key, str) or not isinstance(location, str):
            return "storage key and location must be strings"
        if type(numel) is not int or numel < 0:
            return "storage numel is not a non-negative int"
        record = f"{prefix}data/{key}"
        if record not in records:
            return f"storage record {record} does not exist"
        if records[record] < numel * size:
            return f"storage record {record} holds {records[record]} bytes, {numel * size} claimed"
        return None

    return check


class LegacyStorages:
    """Collects legacy persistent ids: key -> element size and count (for the data check)."""

    def __init__(self) -> None:
        self.storages: dict[str, tuple[int, int]] = {}

    def check(self, ref: PersistentRef) -> str | None:
        """Validate one legacy persistent id."""
        items = _items(ref)
        if items is None or not items:
            return "legacy persistent id is not a tuple"
        if items[0] == "module":
            if len(items) != 4 or not isinstance(items[1], Global):
                return "module persistent id is not ('module', class, file, source)"
            return None  # the class itself is judged as a global (VALUE role or better)
        if items[0] != "storage" or len(items) != 6:
            return "persistent id is not ('storage', type, key, location, numel, view)"
        _t, tag, key, location, numel, view = items
        size = element_size(tag)
        if size is None:
            return "storage type is not a torch storage class"
        if not isinstance(key, str) or not isinstance(location, str):
            return "storage key and location must be strings"
        if type(numel) is not int or numel < 0:
            return "storage numel is not a non-negative int"
        assert isinstance(numel, int)
        if view is not None:
            ok = (
                isinstance(view, Tuple)
                and len(view.items) == 3
                and isinstance(view.items[0], str)
                and all(type(v) is int and v >= 0 for v in view.items[1:])
            )
            if not ok:
                return "storage view metadata is not (key, offset, size)"
            assert isinstance(view, Tuple)
            off, vsize = view.items[1], view.items[2]
            assert isinstance(off, int)
            assert isinstance(vsize, int)
            if off + vsize > numel:
                return "storage view lies outside its storage"
        previous = self.storages.get(key)
        if previous is not None and previous != (size, numel):
            return f"storage {key!r} is declared twice with different sizes"
        self.storages[key] = (size, numel)
        return None


def tar_persid(ref: PersistentRef) -> str | None:
    """Legacy tar ids: a key string/int, or a ``(cls, file, source)`` module tuple."""
    pid = ref.pid
    if isinstance(pid, str | int) and not isinstance(pid, bool):
        return None
    if isinstance(pid, Tuple) and len(pid.items) == 3 and isinstance(pid.items[0], Global):
        return None
    return "legacy tar persistent id is not a storage key"


_I8 = struct.Struct("<q")


def read_int64(raw: bytes) -> int:
    """A little-endian int64 (legacy storage element counts)."""
    return int(_I8.unpack(raw)[0])
