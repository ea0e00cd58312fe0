"""Benign corpus: real checkpoints made by torch.save, numpy.save, joblib.dump and pickle.

Every sample must scan clean under the profiles listed with it. Run as a script to write
the corpus: ``python benign.py OUT``. Needs torch, numpy and joblib.
"""

from __future__ import annotations

import collections
import io
import pickle
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Sample:
    """One benign file and the profiles it needs beyond the defaults."""

    name: str
    path: Path
    profiles: tuple[str, ...] = ()


def build(root: Path) -> list[Sample]:
    """Write every benign sample under `root`."""
    import joblib
    import numpy as np
    import torch
    from torch import nn

    torch.manual_seed(0)
    root.mkdir(parents=True, exist_ok=True)
    samples: list[Sample] = []

    def tsave(name: str, obj: object, *, profiles: tuple[str, ...] = (), **kw: object) -> None:
        path = root / f"{name}.pt"
        torch.save(obj, path, **kw)  # type: ignore[arg-type]
        samples.append(Sample(name, path, profiles))

    def psave(name: str, obj: object, protocol: int, profiles: tuple[str, ...] = ()) -> None:
        path = root / f"{name}.pkl"
        path.write_bytes(pickle.dumps(obj, protocol=protocol))
        samples.append(Sample(name, path, profiles))

    # state_dicts of many architectures
    models = {
        "linear": nn.Linear(8, 4),
        "conv": nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.MaxPool2d(2)),
        "lstm": nn.LSTM(8, 16, num_layers=2),
        "gru": nn.GRU(8, 8, bidirectional=True),
        "transformer": nn.TransformerEncoderLayer(16, 2, dim_feedforward=32),
        "embedding": nn.Embedding(50, 8),
        "mha": nn.MultiheadAttention(16, 4),
        "layernorm_mlp": nn.Sequential(nn.LayerNorm(8), nn.Linear(8, 8), nn.GELU()),
    }
    for name, model in models.items():
        tsave(f"sd_{name}", model.state_dict())
    tied = nn.Sequential(nn.Embedding(20, 8), nn.Linear(8, 20, bias=False))
    tied[1].weight = tied[0].weight
    tsave("sd_tied", tied.state_dict())
    # every dtype
    for dtype in (
        torch.float32,
        torch.float16,
        torch.bfloat16,
        torch.float64,
        torch.int8,
        torch.int16,
        torch.int32,
        torch.int64,
        torch.uint8,
        torch.bool,
        torch.complex64,
        torch.complex128,
        torch.float8_e4m3fn,
        torch.float8_e5m2,
        torch.uint16,
        torch.uint32,
    ):
        tsave(f"dtype_{str(dtype).split('.')[1]}", {"t": torch.zeros(3, 2).to(dtype)})
    # optimizers, schedulers, scaler, RNG
    model = nn.Linear(4, 2)
    for opt_name, opt in (
        ("adam", torch.optim.Adam(model.parameters())),
        ("adamw", torch.optim.AdamW(model.parameters())),
        ("sgd", torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)),
    ):
        model(torch.ones(1, 4)).sum().backward()
        opt.step()
        tsave(f"optim_{opt_name}", opt.state_dict())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    tsave("sched_step", torch.optim.lr_scheduler.StepLR(opt, 2).state_dict())
    tsave(
        "sched_onecycle", torch.optim.lr_scheduler.OneCycleLR(opt, 1.0, total_steps=10).state_dict()
    )
    tsave("grad_scaler", torch.amp.GradScaler("cpu").state_dict())
    tsave("rng_state", {"torch": torch.get_rng_state()})
    # protocols and formats
    for proto in (2, 3, 4, 5):
        tsave(f"proto{proto}", model.state_dict(), pickle_protocol=proto)
    tsave("legacy", model.state_dict(), _use_new_zipfile_serialization=False)
    tsave(
        "legacy_views",
        {"a": torch.arange(10.0), "b": torch.arange(10.0)[2:5]},
        _use_new_zipfile_serialization=False,
    )
    # special tensors
    tsave("sparse_coo", {"s": torch.eye(3).to_sparse()})
    tsave("sparse_csr", {"s": torch.eye(3).to_sparse_csr()})
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tsave("quantized", {"q": torch.quantize_per_tensor(torch.ones(4), 0.1, 0, torch.qint8)})
    tsave("meta", {"m": torch.empty(3, device="meta")})
    tsave("parameters", {"p": nn.Parameter(torch.ones(2)), "q": nn.Parameter(torch.ones(1), False)})
    tagged = torch.ones(2)
    tagged.note = "x"  # type: ignore[attr-defined]
    tsave("tensor_attribute", {"t": tagged})
    tsave(
        "views_noncontiguous",
        {"t": torch.arange(12.0).reshape(3, 4).t(), "s": torch.arange(12.0)[3:7]},
    )
    tsave(
        "train_checkpoint",
        {
            "model": models["linear"].state_dict(),
            "optimizer": opt.state_dict(),
            "epoch": 3,
            "args": {"lr": 0.1, "name": "run"},
            "size": torch.Size([2, 3]),
            "device": torch.device("cpu"),
            "dtype": torch.float16,
            "history": collections.defaultdict(list, {"loss": [1.0, 0.5]}),
            "counts": collections.Counter(a=2),
            "set": {1, 2},
            "bytes": b"\x00\x01",
            "numpy": np.arange(3.0),
            "np_scalar": np.float32(1.5),
        },
    )
    # numpy files
    for name, arr in (
        ("np_float", np.random.rand(4, 3)),
        ("np_int", np.arange(10)),
        ("np_bool", np.ones(3, bool)),
        ("np_str", np.array(["a", "bc"])),
        ("np_struct", np.zeros(2, dtype=[("x", "<f4"), ("y", "<i8")])),
    ):
        path = root / f"{name}.npy"
        np.save(path, arr)
        samples.append(Sample(name, path))
    path = root / "np_object.npy"
    np.save(path, np.array([1, "two", None, 3.0], dtype=object), allow_pickle=True)
    samples.append(Sample("np_object", path))
    for name, fn in (("npz", np.savez), ("npz_compressed", np.savez_compressed)):
        path = root / f"{name}.npz"
        fn(path, a=np.arange(4), b=np.ones((2, 2)))
        samples.append(Sample(name, path))
    # joblib
    payload = {
        "w": np.random.rand(5, 5),
        "ids": np.arange(7),
        "obj": np.array([1, "x"], object),
        "meta": {"k": 1},
    }
    for name, compress in (
        ("joblib_plain", 0),
        ("joblib_zlib", 3),
        ("joblib_gzip", ("gzip", 3)),
        ("joblib_bz2", ("bz2", 3)),
        ("joblib_xz", ("xz", 3)),
        ("joblib_lzma", ("lzma", 3)),
    ):
        path = root / f"{name}.joblib"
        joblib.dump(payload, path, compress=compress)
        samples.append(Sample(name, path))
    # plain pickle, every protocol
    plain = {
        "a": [1, 2.5, "x", b"y", None, True],
        "od": collections.OrderedDict(k=1),
        "s": {1, 2},
        "fs": frozenset([3]),
        "t": (1,),
        "ba": bytearray(b"z"),
        "c": 1 + 2j,
        "big": 2**100,
        "dd": collections.defaultdict(int, a=1),
        "dq": collections.deque([1]),
    }
    for proto in range(6):
        psave(f"plain_p{proto}", plain, proto)
    psave("np_rng_legacy_state", np.random.get_state(), 2)
    psave("np_arrays_p5", [np.arange(3), np.float64(2.0), np.dtype("f4"), np.zeros((2, 2))], 5)
    psave("np_arrays_p2", [np.arange(3), np.int64(2), np.array(["ab"])], 2)
    psave("np_generator", np.random.default_rng(0), 4, profiles=("numpy-rng",))
    psave("np_randomstate", np.random.RandomState(1), 2, profiles=("numpy-rng",))
    buf = io.BytesIO()
    torch.save({"x": 1}, buf)
    return samples


def main() -> None:
    """Write the corpus into the directory given on the command line."""
    import sys

    for s in build(Path(sys.argv[1])):
        print(s.path.name, s.profiles)


if __name__ == "__main__":
    main()
