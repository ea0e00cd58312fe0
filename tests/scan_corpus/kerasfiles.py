"""Keras v3 `.keras` archives built by hand (keras is not installed here).

The layout follows `keras/src/saving/saving_lib.py`: a zip with ``metadata.json``,
``config.json`` (the model as nested module/class_name/config/registered_name objects,
as `serialization_lib.serialize_keras_object` writes them) and ``model.weights.h5``
(HDF5) or ``model.weights.npz`` (the NumPy store).
"""

from __future__ import annotations

import copy
import io
import json
import zipfile
from typing import Any

HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"

_DTYPE = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
          "registered_name": None}


def dense(name: str, units: int, activation: Any = "relu") -> dict[str, Any]:
    """A Dense layer as Keras 3 serialises it."""
    return {
        "module": "keras.layers", "class_name": "Dense", "registered_name": None,
        "config": {
            "name": name, "trainable": True, "dtype": _DTYPE, "units": units,
            "activation": activation, "use_bias": True,
            "kernel_initializer": {"module": "keras.initializers", "class_name": "GlorotUniform",
                                   "config": {"seed": None}, "registered_name": None},
            "bias_initializer": {"module": "keras.initializers", "class_name": "Zeros",
                                 "config": {}, "registered_name": None},
            "kernel_regularizer": None, "bias_regularizer": None,
        },
        "build_config": {"input_shape": [None, 4]},
    }


def sequential(*layers: dict[str, Any]) -> dict[str, Any]:
    """A Sequential model config holding an input layer and `layers`."""
    inp = {"module": "keras.layers", "class_name": "InputLayer", "registered_name": None,
           "config": {"batch_shape": [None, 4], "dtype": "float32", "sparse": False,
                      "name": "input_layer"}}
    return {
        "module": "keras", "class_name": "Sequential", "registered_name": None,
        "config": {"name": "sequential", "trainable": True, "dtype": _DTYPE,
                   "layers": [inp, *copy.deepcopy(list(layers))]},
        "build_config": {"input_shape": [None, 4]}, "compile_config": None,
    }


def honest_config() -> dict[str, Any]:
    return sequential(dense("dense", 8), dense("dense_1", 2, "softmax"))


def npz_weights() -> bytes:
    """model.weights.npz as keras' NpzIOStore writes it (np.savez of float arrays)."""
    import numpy as np

    buf = io.BytesIO()
    np.savez(buf, **{"layers/dense/vars/0": np.zeros((4, 8), "float32"),
                     "layers/dense/vars/1": np.zeros(8, "float32")})
    return buf.getvalue()


def archive(config: Any, *, weights: str = "h5", metadata: bool = True,
            extra: list[tuple[str, bytes]] | None = None) -> bytes:
    """A .keras zip; `config` is a dict (dumped) or raw bytes."""
    raw = config if isinstance(config, bytes) else json.dumps(config).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        if metadata:
            z.writestr("metadata.json", json.dumps(
                {"keras_version": "3.6.0", "date_saved": "2025-01-01@00:00:00"}))
        z.writestr("config.json", raw)
        if weights == "h5":
            z.writestr("model.weights.h5", HDF5_MAGIC + b"\x00" * 504)
        elif weights == "npz":
            z.writestr("model.weights.npz", npz_weights())
        for name, data in extra or []:
            z.writestr(name, data)
    return buf.getvalue()


def lambda_layer() -> dict[str, Any]:
    """A Lambda layer whose function is marshalled bytecode (serialization_lib)."""
    return {
        "module": "keras.layers", "class_name": "Lambda", "registered_name": None,
        "config": {"name": "lambda", "trainable": True, "dtype": _DTYPE,
                   "function": {"class_name": "__lambda__",
                                "config": {"code": "4wEAAAAAAAAAAAAAAAEAAAADAAAA8wQAAACXAHwAUwCpAU6p",
                                           "defaults": None, "closure": None}},
                   "output_shape": None, "arguments": {}},
    }
