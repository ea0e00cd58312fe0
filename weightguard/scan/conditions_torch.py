"""Argument conditions for the torch profile: tensor, parameter and storage rebuilds.

Facts from torch/_utils.py and torch/_tensor.py (torch 2.13): every tensor in a
checkpoint is rebuilt by one of the ``_rebuild_*`` functions from a persistent-id
storage and literal offset/size/stride, with an empty ``OrderedDict`` of backward hooks;
`_rebuild_from_type_v2` calls its first argument, so that argument is pinned to the
rebuild functions. Each condition returns None when the call is safe, else a reason.
"""

from __future__ import annotations

from weightguard.pickle.values import Global, Obj, PersistentRef, Tuple, Value
from weightguard.scan.conditions import (
    Context,
    args_of,
    empty_ordered_dict,
    int_tuple,
    is_int,
    is_plain,
    made_by,
    storage_numel,
    strdict_state,
)
from weightguard.scan.model import Role


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


def rebuild_tensor(obj: Obj, ctx: Context) -> str | None:
    """``_rebuild_tensor(storage, offset, size, stride)`` (v1)."""
    args = args_of(obj)
    return "expected 4 arguments" if len(args) != 4 else _tensor_view(args, 0)


def _hooks_ok(requires_grad: Value, hooks: Value) -> str | None:
    if not isinstance(requires_grad, bool):
        return "requires_grad is not a bool"
    if not empty_ordered_dict(hooks):
        return "backward_hooks is not an empty OrderedDict"
    return None


def rebuild_tensor_v2(obj: Obj, ctx: Context) -> str | None:
    """``_rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, meta])``."""
    args = args_of(obj)
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
    args = args_of(obj)
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
    args = args_of(obj)
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
    args = args_of(obj)
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
    args = args_of(obj)
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
    args = args_of(obj)
    if len(args) != 4 or not ctx.allows(args[0], Role.VALUE):
        return "expected (dtype, size, stride, requires_grad)"
    if int_tuple(args[1]) is None or int_tuple(args[2]) is None:
        return "size and stride must be int tuples"
    return None


def rebuild_from_type_v2(obj: Obj, ctx: Context) -> str | None:
    """``_rebuild_from_type_v2(func, new_type, args, state)`` calls ``func(*args)``."""
    args = args_of(obj)
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
    args = args_of(obj)
    ok = len(args) == 1 and int_tuple(args[0]) is not None
    return None if ok else "torch.Size takes one tuple of ints"


def torch_device(obj: Obj, ctx: Context) -> str | None:
    """``torch.device('cpu')`` or ``torch.device('cuda', 0)``."""
    args = args_of(obj)
    ok = 1 <= len(args) <= 2 and isinstance(args[0], str) and all(is_int(a) for a in args[1:])
    return None if ok else "torch.device takes a string and an optional index"


def one_str(obj: Obj, ctx: Context) -> str | None:
    """Exactly one str argument (``_get_layout``)."""
    args = args_of(obj)
    return None if len(args) == 1 and isinstance(args[0], str) else "takes one string"
