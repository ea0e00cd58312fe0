"""Keras v3 `.keras` archives: the model config is code wherever it names code.

A `.keras` file is a zip that `keras.saving.saving_lib` writes with ``config.json``
(the model as nested ``{"module", "class_name", "config", "registered_name"}`` objects),
``metadata.json`` (versions, date) and ``model.weights.h5`` (HDF5; ``.npz`` with the
NumPy store), plus optional ``assets/``. `load_model` reads ``config.json`` with
``zipfile.ZipFile.open`` (exact name, the last entry of a duplicated name) and
``json.loads``, then `serialization_lib.deserialize_keras_object` turns each object into
a class or function: a ``Lambda`` layer (and tf.keras's ``TFOpLambda``) runs a Python
function stored in the file, a ``__lambda__`` object is marshalled bytecode, and a
``module`` outside the ``keras`` namespace is imported (`importlib.import_module`, the
CVE-2024-3660/2025-1550 class); a ``registered_name`` ``package>Name`` names a custom
object registered by user code. Each of those is reported as code (`keras.lambda`,
unsafe); a config we cannot read whole is incomplete (`keras.invalid`). The weights
member is HDF5, which is not parsed (`hdf5.unparsed`, incomplete), like a `.h5` file.

Keras needs no ``metadata.json`` to load (only a `.keras` file name and the config), so
every zip with a top-level ``config.json`` has that config checked; the archive is the
format ``keras`` when both JSON members are there (`is_keras`).
"""

from __future__ import annotations

from collections.abc import Iterator

CONFIG = "config.json"
METADATA = "metadata.json"
# Model configs are kilobytes to a few MB; more is not a config we read.
MAX_CONFIG = 32 << 20
# class_name values that carry Python code (keras/src/layers/core/lambda_layer.py,
# tf.keras TFOpLambda, serialization_lib's marshalled "__lambda__" functions).
_CODE_CLASSES = frozenset({"Lambda", "TFOpLambda", "__lambda__"})


class KerasError(ValueError):
    """config.json cannot be read as JSON."""


def is_keras(names: list[str]) -> bool:
    """A Keras v3 archive: ``config.json`` and ``metadata.json`` at the top level."""
    present = set(names)
    return CONFIG in present and METADATA in present


def _keras_module(module: str) -> bool:
    return module == "keras" or module.startswith("keras.")


def _objects(root: object) -> Iterator[dict[str, object]]:
    """Every JSON object in the document, iteratively (nesting costs no recursion)."""
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            yield node
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)


def code_in_config(data: bytes) -> str | None:
    """Why this ``config.json`` runs code when loaded, or None.

    Raises:
        KerasError: the bytes are not JSON (or nest deeper than json can read).
    """
    import json  # only when a config is met: a torch zip scan never loads it

    try:
        document = json.loads(data)  # as saving_lib does: bytes, any UTF encoding
    except (ValueError, RecursionError) as exc:
        raise KerasError(f"config.json is not JSON: {exc}") from None
    for obj in _objects(document):
        class_name = obj.get("class_name")
        if isinstance(class_name, str) and class_name in _CODE_CLASSES:
            return f"a {class_name} object (Python code stored in the model)"
        if obj.get("function_type") == "lambda":
            return "a lambda function (Python code stored in the model)"
        module = obj.get("module")
        if isinstance(module, str) and "class_name" in obj and not _keras_module(module):
            return f"module {module!r} is imported to build {class_name!r} (a custom object)"
        registered = obj.get("registered_name")
        if isinstance(registered, str) and ">" in registered:
            package = registered.split(">", 1)[0]
            if not _keras_module(package):
                return f"custom object {registered!r} registered by user code"
    return None
