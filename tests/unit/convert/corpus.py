"""Converter corpus: small benign checkpoints with everything that makes conversion hard.

Every dtype torch writes (random bit patterns, so NaNs and odd exponents are included),
views and offsets, tied and partly shared storages, legacy serialization, nested state
dicts, numpy arrays in pickles, joblib and torch files, big-endian data. `build` writes
them and returns (name, path, expectation) triples; the expectation is ``"ok"`` or the
error code conversion must fail with. Needs torch, numpy and joblib (test-only).
"""

from __future__ import annotations

import io
import pickle
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Case:
    """One checkpoint and what converting it must do."""

    name: str
    path: Path
    expect: str = "ok"


def random_tensor(shape: tuple[int, ...], dtype: object, seed: int) -> object:
    """A tensor of `dtype` filled with random bits (every bit pattern may occur)."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    itemsize = dtype.itemsize  # type: ignore[attr-defined]
    count = 1
    for d in shape:
        count *= d
    raw = torch.randint(0, 256, (count * itemsize,), dtype=torch.uint8, generator=gen)
    if dtype is torch.bool:
        return (raw % 2).to(torch.bool).reshape(shape)
    return raw.view(dtype).reshape(shape)  # type: ignore[arg-type]


def big_endian_copy(src: Path, dst: Path) -> None:
    """Rewrite a torch zip as a big-endian machine would have written it.

    The ``byteorder`` record says ``big`` and every storage is byte-swapped per element
    (torch.load swaps back: torch/serialization.py `_load`, ``byteorderdata``). Only
    valid for a checkpoint whose storages all have `itemsize`-wide elements.
    """
    import torch

    obj = torch.load(src, weights_only=True)
    sizes = {}
    for t in obj.values():
        unit = t.dtype.itemsize // (2 if t.dtype.is_complex else 1)
        sizes[t.untyped_storage().data_ptr()] = unit
    assert len(set(sizes.values())) == 1, "one element width per file"
    unit = sizes.popitem()[1]
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename.endswith("/byteorder"):
                data = b"big"
            elif "/data/" in info.filename and unit > 1:
                data = b"".join(data[i : i + unit][::-1] for i in range(0, len(data), unit))
            zout.writestr(info.filename, data)


def build(root: Path) -> list[Case]:
    """Write the corpus under `root`."""
    import joblib
    import numpy as np
    import torch
    from torch import nn

    torch.manual_seed(0)
    root.mkdir(parents=True, exist_ok=True)
    cases: list[Case] = []

    def tsave(name: str, obj: object, expect: str = "ok", **kw: object) -> Path:
        path = root / f"{name}.pt"
        torch.save(obj, path, **kw)  # type: ignore[arg-type]
        cases.append(Case(name, path, expect))
        return path

    # every dtype, random bits, zip and legacy where torch can load it back
    dtypes = [
        torch.float32,
        torch.float64,
        torch.float16,
        torch.bfloat16,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.uint8,
        torch.uint16,
        torch.uint32,
        torch.uint64,
        torch.bool,
        torch.complex64,
        torch.float8_e4m3fn,
        torch.float8_e5m2,
        torch.float8_e4m3fnuz,
        torch.float8_e5m2fnuz,
        torch.float8_e8m0fnu,
        torch.float4_e2m1fn_x2,
    ]
    every = {str(d).split(".")[1]: random_tensor((3, 4), d, i) for i, d in enumerate(dtypes)}
    tsave("dtypes", every)
    legacy_ok = {
        k: v for k, v in every.items() if v.dtype in torch.storage._dtype_to_storage_type_map()
    }
    tsave("dtypes_legacy", legacy_ok, _use_new_zipfile_serialization=False)
    for bad in (torch.complex128, torch.complex32):
        tsave(
            f"refuse_{str(bad).split('.')[1]}",
            {"c": torch.zeros(2, dtype=bad)},
            "convert.unsupported_tensor",
        )

    # views: transposes, steps, offsets, broadcasts, scalars, empties; aliases and overlaps
    base = random_tensor((6, 8), torch.float32, 100)
    cube = random_tensor((3, 4, 5), torch.bfloat16, 101)
    views = {
        "base": base,
        "transposed": base.t(),
        "row": base[2],
        "offset_tail": base.view(-1)[5:17],
        "stepped": base[::2, 1::3],
        "column": base[:, 3],
        "permuted": cube.permute(2, 0, 1),
        "cube_slice": cube[1:, :, ::2],
        "broadcast": torch.arange(4.0).expand(3, 4),
        "scalar": torch.tensor(3.5),
        "scalar_view": base[1, 1],
        "empty": torch.zeros(0, 3),
        "empty_view": base[3:3],
        "f8_t": random_tensor((4, 6), torch.float8_e5m2, 102).t(),
        "f4_slice": random_tensor((4, 6), torch.float4_e2m1fn_x2, 103)[1:3],
    }
    views["tied"] = views["base"]  # same object: an exact alias
    views["tied_view"] = base.view(6, 8)  # a different object, same view: also an alias
    tsave("views", views)
    tsave(
        "views_legacy",
        {k: v for k, v in views.items() if not k.startswith(("f8", "f4"))},
        _use_new_zipfile_serialization=False,
    )

    # architectures, as real state dicts (parameters, buffers, tied weights)
    models = {
        "linear": nn.Linear(8, 4),
        "conv": nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)),
        "layernorm": nn.LayerNorm(8),
        "embedding": nn.Embedding(20, 8),
        "lstm": nn.LSTM(8, 8, num_layers=2),
        "transformer": nn.TransformerEncoderLayer(16, 2, dim_feedforward=32),
    }
    for name, model in models.items():
        tsave(f"arch_{name}", model.state_dict())
    lm = nn.ModuleDict(
        {"embed_tokens": nn.Embedding(30, 8), "lm_head": nn.Linear(8, 30, bias=False)}
    )
    lm["lm_head"].weight = lm["embed_tokens"].weight
    tsave("tied_lm", lm.state_dict())
    tsave(
        "tied_lm_bf16",
        {k: v.to(torch.bfloat16) for k, v in lm.state_dict().items()},
        pickle_protocol=4,
    )
    tsave(
        "parameters", {"p": nn.Parameter(torch.ones(3)), "q": nn.Parameter(torch.zeros(2), False)}
    )

    # nesting: Lightning, DeepSpeed, plain training checkpoints with extras
    sd = models["linear"].state_dict()
    opt = torch.optim.Adam(models["linear"].parameters())
    models["linear"](torch.ones(1, 8)).sum().backward()
    opt.step()
    tsave(
        "nested_state_dict",
        {
            "state_dict": sd,
            "epoch": 7,
            "global_step": 70,
            "hyper_parameters": {"lr": 0.001, "layers": [8, 4], "name": "x"},
            "optimizer_states": [opt.state_dict()],
        },
    )
    tsave(
        "nested_model_module",
        {"model": {"module": sd}, "iteration": 3, "rng": torch.get_rng_state()},
    )
    tsave("nested_module", {"module": sd, "dp_world_size": 2, "loss": float("nan")})
    tsave("legacy_nested", {"model": sd, "epoch": 1}, _use_new_zipfile_serialization=False)
    tsave("protocol_1", sd, pickle_protocol=1)

    # numpy: in torch files, plain pickles (protocols 2, 4, 5) and joblib
    arrays = {
        "f32": np.arange(12, dtype=np.float32).reshape(3, 4),
        "fortran": np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4)),
        "big_endian": np.arange(6, dtype=">i4").reshape(2, 3),
        "bool": np.array([True, False, True]),
        "complex": (np.arange(4) + 1j).astype(np.complex64),
        "scalar0d": np.array(2.5, dtype=np.float16),
        # over 1 MiB: the parser keeps a reference to its bytes in the file (BytesRef)
        "big": np.random.default_rng(0).random((600, 600)).astype(np.float32),
    }
    tsave("torch_with_numpy", {"t": torch.ones(2), "a": arrays["f32"]})
    for proto in (2, 4, 5):
        path = root / f"numpy_p{proto}.pkl"
        path.write_bytes(pickle.dumps(arrays, protocol=proto))
        cases.append(Case(f"numpy_p{proto}", path))
    path = root / "arrays.joblib"
    joblib.dump(arrays, path)
    cases.append(Case("joblib", path))
    path = root / "numpy_c16.pkl"
    path.write_bytes(pickle.dumps({"c": np.zeros(2, np.complex128)}, protocol=4))
    cases.append(Case("numpy_c16", path, "convert.unsupported_tensor"))

    # big-endian torch zip (as written on s390x), and other refusals
    be_f32 = random_tensor((4, 3), torch.float32, 7)
    for name, tensors in (
        ("be_f32", {"a": be_f32, "at": be_f32.t(), "b": random_tensor((5,), torch.float32, 9)}),
        ("be_i64", {"i": torch.arange(5)}),
        ("be_c64", {"c": random_tensor((3,), torch.complex64, 8)}),
    ):
        src = root / f"{name}_le.pt"
        torch.save(tensors, src)
        big_endian_copy(src, root / f"{name}.pt")
        cases.append(Case(name, root / f"{name}.pt"))
    # torch would not swap a uint16 held in an untyped storage: refused as ambiguous
    torch.save({"u": random_tensor((4,), torch.uint16, 11)}, root / "be_u16_le.pt")
    big_endian_copy(root / "be_u16_le.pt", root / "be_u16.pt")
    cases.append(Case("be_u16", root / "be_u16.pt", "convert.unsupported_tensor"))
    tsave("refuse_sparse", {"s": torch.eye(3).to_sparse()}, "convert.unsupported_tensor")
    tsave("refuse_meta", {"m": torch.empty(3, device="meta")}, "convert.unsupported_tensor")
    tsave("no_tensors", {"epoch": 1, "name": "x"}, "convert.no_tensors")
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buf)
    compressed = root / "compressed_record.pt"
    with (
        zipfile.ZipFile(io.BytesIO(buf.getvalue())) as zin,
        zipfile.ZipFile(compressed, "w", zipfile.ZIP_DEFLATED) as zout,
    ):
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))
    cases.append(Case("compressed_record", compressed, "convert.compressed_record"))
    return cases
