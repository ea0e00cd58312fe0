"""Argument and state conditions for conditional allowlist entries (design note 8.2).

A condition looks at the symbolic call (`Obj`) or BUILD state and returns None when
the use is safe, or a one-line reason when it is not. Conditions matter for globals
that are safe only with pinned arguments: `_rebuild_from_type_v2` calls its first
argument, `defaultdict` calls its factory, `copyreg` reconstructors instantiate their
class argument, numpy `_reconstruct` instantiates its subtype. Everything here is pure:
no imports of the libraries named, no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Protocol

from weightguard.scan.model import Role
from weightguard.scan.values import (
    Buffer,
    ByteArray,
    BytesRef,
    Dict,
    Global,
    List,
    Obj,
    PersistentRef,
    Tuple,
    Value,
    callee_global,
)


class Context(Protocol):
    """What conditions may ask the judge."""

    def allows(self, node: Value, role: Role) -> bool:
        """True if `node` is a Global allowlisted for `role`."""

    def check_call(self, callee: Global, args: Tuple) -> str | None:
        """Judge a call the callee makes itself (``_rebuild_from_type_v2``)."""


Cond = Callable[[Obj, Context], "str | None"]
StateCond = Callable[[Value, Context], "str | None"]

_DTYPE_STR = re.compile(r"[<>|=]?[a-zA-Z?]\d*(\[[a-zA-Z0-9]+\])?")


def _args(obj: Obj) -> tuple[Value, ...]:
    return obj.args.items if isinstance(obj.args, Tuple) else ()


def is_int(v: Value) -> bool:
    """An int that is not a bool."""
    return type(v) is int


def int_tuple(v: Value) -> tuple[int, ...] | None:
    """A tuple of ints as Python ints, else None."""
    if not isinstance(v, Tuple) or not all(is_int(x) for x in v.items):
        return None
    return tuple(x for x in v.items if isinstance(x, int))


def is_plain(v: Value, ctx: Context, depth: int = 0) -> bool:
    """Constants and plain containers of them (no calls, no globals but allowed values)."""
    if v is None or isinstance(v, bool | int | float | complex | str | bytes | BytesRef):
        return True
    if depth > 32:
        return False
    if isinstance(v, Tuple | List):
        items = v.items
        return all(is_plain(x, ctx, depth + 1) for x in items)
    if isinstance(v, Dict):
        return all(is_plain(k, ctx, depth + 1) and is_plain(x, ctx, depth + 1) for k, x in v.items)
    return False


def made_by(v: Value, *qualnames: str) -> bool:
    """True if `v` is an object made by calling one of the named globals."""
    g = callee_global(v)
    return g is not None and g.qualname in qualnames


def empty_ordered_dict(v: Value) -> bool:
    """``OrderedDict()`` with nothing added (torch's backward_hooks)."""
    return (
        isinstance(v, Obj)
        and made_by(v, "collections.OrderedDict")
        and not v.items
        and not v.state
        and not _args(v)
    )


# -- Python core ---------------------------------------------------------------------


def no_args(obj: Obj, ctx: Context) -> str | None:
    """Called with no arguments (OrderedDict's reduce)."""
    return None if not _args(obj) and obj.kwargs is None else "expected no arguments"


def plain_args(obj: Obj, ctx: Context) -> str | None:
    """Only constants and plain containers as arguments."""
    if obj.kwargs is not None and not is_plain(obj.kwargs, ctx):
        return "keyword arguments are not plain values"
    return None if is_plain(obj.args, ctx) else "arguments are not plain values"


def set_args(obj: Obj, ctx: Context) -> str | None:
    """``set()``, ``set([...])`` with plain items."""
    args = _args(obj)
    if not args or (len(args) == 1 and isinstance(args[0], List | Tuple)):
        return plain_args(obj, ctx) if not args else None
    return "set/frozenset takes one list"


def bytearray_args(obj: Obj, ctx: Context) -> str | None:
    """``bytearray()``, ``bytearray(b'..')`` or ``bytearray(str, 'latin-1')`` (protocol 2)."""
    args = _args(obj)
    if not args or (len(args) == 1 and isinstance(args[0], bytes | BytesRef)):
        return None
    if len(args) == 1 and made_by(args[0], "_codecs.encode"):
        return None
    if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin-1", "latin1"):
        return None
    return "bytearray arguments are not literal bytes"


def codecs_encode(obj: Obj, ctx: Context) -> str | None:
    """``_codecs.encode(str, 'latin1')``: how protocol 2 spells bytes."""
    args = _args(obj)
    if len(args) == 2 and isinstance(args[0], str) and args[1] in ("latin1", "latin-1"):
        return None
    return "_codecs.encode is only allowed as encode(str, 'latin1')"


_FACTORIES = frozenset(
    f"builtins.{n}" for n in ("list", "dict", "set", "int", "float", "str", "tuple", "frozenset")
) | {"collections.OrderedDict", "collections.Counter"}


def defaultdict_args(obj: Obj, ctx: Context) -> str | None:
    """``defaultdict(factory)``: the factory runs on a missing key, so it is pinned."""
    args = _args(obj)
    if not args:
        return None
    factory = args[0]
    if factory is None or (isinstance(factory, Global) and factory.qualname in _FACTORIES):
        return None if len(args) == 1 else "defaultdict takes only a factory"
    return "defaultdict factory must be a plain container or number type"


def deque_args(obj: Obj, ctx: Context) -> str | None:
    """``deque(iterable, maxlen)`` with plain values."""
    args = _args(obj)
    if len(args) <= 2 and all(is_plain(a, ctx) for a in args):
        return None
    return "deque arguments are not plain values"


_RECON_BASES = frozenset(f"builtins.{n}" for n in ("object", "dict", "list", "set", "tuple"))


def copyreg_reconstructor(obj: Obj, ctx: Context) -> str | None:
    """``_reconstructor(cls, base, state)`` instantiates `cls`: both are pinned."""
    args = _args(obj)
    if len(args) != 3:
        return "expected (cls, base, state)"
    cls, base, state = args
    if not ctx.allows(cls, Role.NEW):
        return "the class it instantiates is not allowlisted for construction"
    if not isinstance(base, Global) or base.qualname not in _RECON_BASES:
        return "base must be object, dict, list, set or tuple"
    return None if is_plain(state, ctx) else "state is not a plain value"


def copyreg_newobj(obj: Obj, ctx: Context) -> str | None:
    """``__newobj__(cls, *args)`` is ``cls.__new__(cls, *args)``: cls is pinned."""
    args = _args(obj)
    if not args or not ctx.allows(args[0], Role.NEW):
        return "the class it instantiates is not allowlisted for construction"
    return None if all(is_plain(a, ctx) for a in args[1:]) else "arguments are not plain"


def enum_args(obj: Obj, ctx: Context) -> str | None:
    """``SomeEnum(value)``: a lookup by literal value."""
    args = _args(obj)
    ok = len(args) == 1 and isinstance(args[0], str | int) and obj.kwargs is None
    return None if ok else "enum lookup takes one literal value"


def str_args(obj: Obj, ctx: Context) -> str | None:
    """Only str arguments (pathlib parts)."""
    ok = obj.kwargs is None and all(isinstance(a, str) for a in _args(obj))
    return None if ok else "arguments must be strings"


def strdict_state(state: Value, ctx: Context) -> str | None:
    """BUILD state: a dict with str keys and no dunder keys (blocks BUILD-as-setattr)."""
    if isinstance(state, Tuple) and len(state.items) == 2:
        # (dict_state, slot_state): Lib/pickle.py load_build handles both halves.
        first, second = state.items
        return strdict_state(first, ctx) or (None if second is None else strdict_state(second, ctx))
    if state is None:
        return None
    if not isinstance(state, Dict):
        return "BUILD state is not a dict"
    for key, _value in state.items:
        if not isinstance(key, str):
            return "BUILD state has a non-str key"
        if key.startswith("__") and key.endswith("__"):
            return f"BUILD state sets the special attribute {key!r}"
    return None


# -- torch ---------------------------------------------------------------------------


def _tensor_view(args: tuple[Value, ...], n_extra: int) -> str | None:
    storage, offset, size, stride = args[:4]
    if not isinstance(storage, PersistentRef):
        return "tensor storage is not a persistent-id storage"
    dims, steps = int_tuple(size), int_tuple(stride)
    if not is_int(offset) or dims is None or steps is None or len(dims) != len(steps):
        return "tensor offset, size and stride must be ints of matching rank"
    assert isinstance(offset, int)
    if offset < 0 or any(d < 0 for d in dims) or any(s < 0 for s in steps):
        return "negative tensor offset, size or stride"
    numel = storage_numel(storage)
    if numel is not None and all(dims):
        last = offset + sum((d - 1) * s for d, s in zip(dims, steps))
        if last >= numel:
            return f"tensor view reaches element {last} of a {numel}-element storage"
    return None


def storage_numel(ref: PersistentRef) -> int | None:
    """Elements a torch storage persistent id claims (its view size in legacy files)."""
    pid = ref.pid
    if not isinstance(pid, Tuple) or len(pid.items) < 5 or not is_int(pid.items[4]):
        return None
    if len(pid.items) == 6 and isinstance(pid.items[5], Tuple):
        view = pid.items[5].items
        if len(view) == 3 and is_int(view[2]):
            return view[2] if isinstance(view[2], int) else None
    numel = pid.items[4]
    return numel if isinstance(numel, int) else None


def rebuild_tensor(obj: Obj, ctx: Context) -> str | None:
    """``_rebuild_tensor(storage, offset, size, stride)`` (v1)."""
    args = _args(obj)
    return "expected 4 arguments" if len(args) != 4 else _tensor_view(args, 0)


def _hooks_ok(requires_grad: Value, hooks: Value) -> str | None:
    if not isinstance(requires_grad, bool):
        return "requires_grad is not a bool"
    if not empty_ordered_dict(hooks):
        return "backward_hooks is not an empty OrderedDict"
    return None


def rebuild_tensor_v2(obj: Obj, ctx: Context) -> str | None:
    """``_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, meta])``."""
    args = _args(obj)
    if len(args) not in (6, 7):
        return "expected 6 or 7 arguments"
    bad = _tensor_view(args, 2) or _hooks_ok(args[4], args[5])
    if bad:
        return bad
    if len(args) == 7 and args[6] is not None and not is_plain(args[6], ctx):
        return "tensor metadata is not a plain dict"
    return None


def rebuild_tensor_v3(obj: Obj, ctx: Context) -> str | None:
    """``_rebuild_tensor_v3(storage, offset, size, stride, grad, hooks, dtype[, meta])``."""
    args = _args(obj)
    if len(args) not in (7, 8):
        return "expected 7 or 8 arguments"
    bad = _tensor_view(args, 3) or _hooks_ok(args[4], args[5])
    if bad:
        return bad
    if not ctx.allows(args[6], Role.VALUE) or not isinstance(args[6], Global):
        return "dtype is not an allowlisted torch dtype"
    if len(args) == 8 and args[7] is not None and not is_plain(args[7], ctx):
        return "tensor metadata is not a plain dict"
    return None


_TENSOR_RESULTS = (
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_qtensor",
    "torch._utils._rebuild_sparse_tensor",
    "torch._utils._rebuild_meta_tensor_no_storage",
    "torch._tensor._rebuild_from_type_v2",
)


def rebuild_parameter(obj: Obj, ctx: Context) -> str | None:
    """``_rebuild_parameter(tensor, requires_grad, hooks[, state])``."""
    args = _args(obj)
    if len(args) not in (3, 4) or not made_by(args[0], *_TENSOR_RESULTS):
        return "expected (tensor, requires_grad, backward_hooks[, state])"
    bad = _hooks_ok(args[1], args[2])
    if bad:
        return bad
    if len(args) == 4 and strdict_state(args[3], ctx):
        return "parameter state is not a str-keyed dict"
    return None


def rebuild_qtensor(obj: Obj, ctx: Context) -> str | None:
    """``_rebuild_qtensor(storage, offset, size, stride, qparams, requires_grad, hooks)``."""
    args = _args(obj)
    if len(args) != 7:
        return "expected 7 arguments"
    bad = _tensor_view(args, 3) or _hooks_ok(args[5], args[6])
    if bad:
        return bad
    qparams = args[4]
    if not isinstance(qparams, Tuple) or not qparams.items:
        return "quantizer parameters are not a tuple"
    if not ctx.allows(qparams.items[0], Role.VALUE):
        return "quantization scheme is not an allowlisted torch qscheme"
    for item in qparams.items[1:]:
        if not (is_plain(item, ctx) or made_by(item, *_TENSOR_RESULTS)):
            return "quantizer parameters are not numbers or tensors"
    return None


def rebuild_sparse(obj: Obj, ctx: Context) -> str | None:
    """``_rebuild_sparse_tensor(layout, data)``: layout from ``_get_layout``, tensors."""
    args = _args(obj)
    if len(args) != 2 or not made_by(args[0], "torch.serialization._get_layout"):
        return "expected (layout, data)"
    data = args[1]
    if not isinstance(data, Tuple):
        return "sparse data is not a tuple"
    for item in data.items:
        if not (is_plain(item, ctx) or made_by(item, *_TENSOR_RESULTS, "torch.Size")):
            return "sparse data holds something other than tensors and sizes"
    return None


def rebuild_meta(obj: Obj, ctx: Context) -> str | None:
    """``_rebuild_meta_tensor_no_storage(dtype, size, stride, requires_grad)``."""
    args = _args(obj)
    if len(args) != 4 or not ctx.allows(args[0], Role.VALUE):
        return "expected (dtype, size, stride, requires_grad)"
    if int_tuple(args[1]) is None or int_tuple(args[2]) is None:
        return "size and stride must be int tuples"
    return None


def rebuild_from_type_v2(obj: Obj, ctx: Context) -> str | None:
    """``_rebuild_from_type_v2(func, new_type, args, state)`` calls ``func(*args)``."""
    args = _args(obj)
    if len(args) != 4:
        return "expected (func, new_type, args, state)"
    func, new_type, inner, state = args
    if not isinstance(func, Global) or func.qualname not in _TENSOR_RESULTS[:3]:
        return "the function it calls is not a torch tensor rebuild function"
    if not isinstance(new_type, Global) or new_type.qualname not in (
        "torch.Tensor",
        "torch.nn.parameter.Parameter",
    ):
        return "new_type must be torch.Tensor or torch.nn.parameter.Parameter"
    if not isinstance(inner, Tuple):
        return "its arguments are not a tuple"
    bad = ctx.check_call(func, inner)
    if bad:
        return f"{func.qualname}: {bad}"
    return strdict_state(state, ctx)


def torch_size(obj: Obj, ctx: Context) -> str | None:
    """``torch.Size((ints))``."""
    args = _args(obj)
    ok = len(args) == 1 and int_tuple(args[0]) is not None
    return None if ok else "torch.Size takes one tuple of ints"


def torch_device(obj: Obj, ctx: Context) -> str | None:
    """``torch.device('cpu')`` or ``torch.device('cuda', 0)``."""
    args = _args(obj)
    ok = 1 <= len(args) <= 2 and isinstance(args[0], str) and all(is_int(a) for a in args[1:])
    return None if ok else "torch.device takes a string and an optional index"


def one_str(obj: Obj, ctx: Context) -> str | None:
    """Exactly one str argument (``_get_layout``)."""
    args = _args(obj)
    return None if len(args) == 1 and isinstance(args[0], str) else "takes one string"


# -- numpy ---------------------------------------------------------------------------

_ARRAY_TYPES = ("numpy.ndarray",)


def is_dtype(v: Value) -> bool:
    """An object made by ``numpy.dtype(...)``."""
    return made_by(v, "numpy.dtype")


def np_dtype(obj: Obj, ctx: Context) -> str | None:
    """``numpy.dtype('f8', align, copy)``: a type string, never an object."""
    args = _args(obj)
    if not args or not isinstance(args[0], str) or not _DTYPE_STR.fullmatch(args[0]):
        return "numpy.dtype needs a type string"
    return None if all(isinstance(a, bool) for a in args[1:3]) else "bad dtype flags"


def np_dtype_state(state: Value, ctx: Context) -> str | None:
    """dtype ``__setstate__`` tuple: constants, names, fields of nested dtypes only."""
    return None if _dtype_state_ok(state, 0) else "dtype state holds something else"


def _dtype_state_ok(v: Value, depth: int) -> bool:
    if v is None or isinstance(v, bool | int | float | str | bytes):
        return True
    if depth > 16:
        return False
    if isinstance(v, Tuple):
        return all(_dtype_state_ok(x, depth + 1) for x in v.items)
    if isinstance(v, Dict):
        return all(
            _dtype_state_ok(k, depth + 1) and _dtype_state_ok(x, depth + 1) for k, x in v.items
        )
    return is_dtype(v)


def np_reconstruct(obj: Obj, ctx: Context) -> str | None:
    """``_reconstruct(ndarray, (0,), b'b')``: allocates an empty array of the subtype."""
    args = _args(obj)
    if len(args) != 3 or not isinstance(args[0], Global) or args[0].qualname not in _ARRAY_TYPES:
        return "_reconstruct may only build numpy.ndarray"
    if int_tuple(args[1]) is None or not (
        isinstance(args[2], bytes | str) or made_by(args[2], "_codecs.encode")
    ):
        return "_reconstruct shape/dtype arguments are not literals"
    return None


def np_array_state(state: Value, ctx: Context) -> str | None:
    """ndarray ``__setstate__((version, shape, dtype, fortran, data))``."""
    if not isinstance(state, Tuple) or len(state.items) not in (4, 5):
        return "array state is not a 4/5-tuple"
    items = state.items
    if len(items) == 5:
        items = items[1:]
    shape, dtype, fortran, data = items
    if int_tuple(shape) is None or not is_dtype(dtype) or not isinstance(fortran, bool):
        return "array state shape/dtype/order are not literals"
    if isinstance(data, bytes | BytesRef | str):
        return None
    if made_by(data, "_codecs.encode"):
        return None
    if isinstance(data, List):
        # Object arrays: the elements are ordinary pickled values, judged on their own.
        return None
    return "array data is not bytes or a list"


def np_scalar(obj: Obj, ctx: Context) -> str | None:
    """``scalar(dtype, bytes)`` (or an object scalar holding a plain value)."""
    args = _args(obj)
    if len(args) not in (1, 2) or not is_dtype(args[0]):
        return "scalar takes a dtype and its bytes"
    if (
        len(args) == 2
        and not isinstance(args[1], bytes | str)
        and not made_by(args[1], "_codecs.encode")
        and not is_plain(args[1], ctx)
    ):
        return "scalar data is not bytes"
    return None


def np_frombuffer(obj: Obj, ctx: Context) -> str | None:
    """``_frombuffer(buffer, dtype, shape, order)`` (protocol 5 arrays)."""
    args = _args(obj)
    if len(args) != 4:
        return "expected (buffer, dtype, shape, order)"
    buf, dtype, shape, order = args
    if not isinstance(buf, bytes | BytesRef | ByteArray | Buffer):
        return "buffer is not bytes"
    if not is_dtype(dtype) or int_tuple(shape) is None or order not in ("C", "F"):
        return "dtype/shape/order are not literals"
    return None


def joblib_wrapper_state(state: Value, ctx: Context) -> str | None:
    """NumpyArrayWrapper state: subclass ndarray, literal shape/order, a dtype."""
    if not isinstance(state, Dict):
        return "wrapper state is not a dict"
    fields = {k: v for k, v in state.items if isinstance(k, str)}
    sub = fields.get("subclass")
    if not isinstance(sub, Global) or sub.qualname not in ("numpy.ndarray", "numpy.memmap"):
        return "wrapper subclass must be numpy.ndarray"
    if int_tuple(fields.get("shape")) is None or fields.get("order") not in ("C", "F"):
        return "wrapper shape/order are not literals"
    if not is_dtype(fields.get("dtype")):
        return "wrapper dtype is not a numpy dtype"
    extra = set(fields) - {
        "subclass",
        "shape",
        "order",
        "dtype",
        "allow_mmap",
        "numpy_array_alignment_bytes",
    }
    return f"unexpected wrapper fields {sorted(extra)}" if extra else None


def rng_ctor(obj: Obj, ctx: Context) -> str | None:
    """numpy.random ``__*_ctor(name-or-class[, ...])``: the bit generator is pinned."""
    for arg in _args(obj):
        if isinstance(arg, str):
            if arg not in ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64"):
                return f"unknown bit generator {arg!r}"
        elif isinstance(arg, Global):
            if not ctx.allows(arg, Role.VALUE):
                return "bit generator class is not allowlisted"
        elif not made_by(arg, "numpy.random._pickle.__bit_generator_ctor"):
            return "unexpected constructor argument"
    return None


def rng_state(state: Value, ctx: Context) -> str | None:
    """Bit generator state: a str-keyed dict, or (dict, SeedSequence) in numpy 2."""
    if isinstance(state, Tuple) and len(state.items) == 2:
        first, second = state.items
        if second is None or made_by(
            second, "numpy.random.bit_generator.__pyx_unpickle_SeedSequence"
        ):
            return strdict_state(first, ctx)
        return "bit generator state holds something other than a SeedSequence"
    return strdict_state(state, ctx)


def seedseq_unpickle(obj: Obj, ctx: Context) -> str | None:
    """Cython ``__pyx_unpickle_SeedSequence(type, checksum, state)``."""
    args = _args(obj)
    if (
        len(args) != 3
        or not isinstance(args[0], Global)
        or args[0].qualname != "numpy.random.bit_generator.SeedSequence"
    ):
        return "expected (SeedSequence, checksum, state)"
    return None if is_int(args[1]) else "checksum is not an int"


_ARRAY_MAKERS = tuple(
    f"{m}.{f}"
    for m in ("numpy.core", "numpy._core")
    for f in ("multiarray._reconstruct", "multiarray.scalar", "numeric._frombuffer")
)


def _is_data(v: Value, depth: int = 0) -> bool:
    if v is None or isinstance(v, bool | int | float | complex | str | bytes | BytesRef):
        return True
    if depth > 32:
        return False
    if isinstance(v, Tuple | List):
        return all(_is_data(x, depth + 1) for x in v.items)
    if isinstance(v, Dict):
        return all(_is_data(k, depth + 1) and _is_data(x, depth + 1) for k, x in v.items)
    return made_by(v, *_ARRAY_MAKERS)


def plain_state(state: Value, ctx: Context) -> str | None:
    """BUILD state made of plain values and numpy arrays only."""
    return None if _is_data(state) else "state is not plain data"
