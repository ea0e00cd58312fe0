"""ONNX models (onnx.proto ModelProto), parsed by wire format, and TensorFlow SavedModel.

Owns: telling ONNX from SavedModel (both start with field 1 as a varint), checking that an
ONNX file is a well-formed ModelProto with a graph, and finding every `external_data`
location, in every graph and subgraph (initializers, sparse initializers, node attribute
tensors and graphs, training graphs, functions). onnx.load reads those files relative to
the model's folder: a location that is absolute, has a `..` component, a backslash or a
NUL escapes (or may escape) the model root and is refused.

SavedModel (saved_model.proto: SavedModel { int64 saved_model_schema_version = 1;
repeated MetaGraphDef meta_graphs = 2; }) is a TensorFlow graph: its ops run when loaded
and called (file I/O, py_func, ...), so it is reported as code-bearing, never data.
"""

from __future__ import annotations

from weightguard.pickle.datafmt_proto import Field, WireError, fields, sub

MAX_SIZE = 1 << 31  # protobuf itself refuses messages over 2 GiB
_MAX_DEPTH = 32

# Field numbers that hold sub-messages we walk, per message type.
_MODEL_GRAPH, _MODEL_TRAINING, _MODEL_FUNCTIONS = 7, 20, 25
_GRAPH = {1: "node", 5: "tensor", 15: "sparse"}
_NODE_ATTRIBUTE = 5
_ATTRIBUTE = {5: "tensor", 6: "graph", 10: "tensor", 11: "graph", 22: "sparse", 23: "sparse"}
_TRAINING = {1: "graph", 2: "graph"}
_FUNCTION_NODE = 7
_TENSOR_EXTERNAL = 13


class OnnxError(ValueError):
    """Why a file is not an acceptable ONNX model."""


def _all(data: bytes) -> list[Field]:
    try:
        return list(fields(data))
    except WireError as exc:
        raise OnnxError(f"not a protobuf message: {exc}") from None


def is_savedmodel(data: bytes) -> bool:
    """SavedModel: only fields 1 (varint) and 2 (MetaGraphDef messages), at least one graph."""
    try:
        top = list(fields(data))
        graphs = [v for n, w, v in top if n == 2 and w == 2]
        if not graphs or any((n, w) not in ((1, 0), (2, 2)) for n, w, _ in top):
            return False
        return all(any(n == 2 and w == 2 for n, w, _ in fields(sub(g))) for g in graphs)
    except WireError:
        return False


def external_locations(data: bytes) -> list[str]:
    """Validate an ONNX ModelProto and return every external_data location it names."""
    top = _all(data)
    if not top or top[0][:2] != (1, 0) or not any(n == _MODEL_GRAPH for n, _, _ in top):
        raise OnnxError("not an ONNX ModelProto (no ir_version or no graph)")
    out: list[str] = []
    for number, wire, value in top:
        if wire != 2:
            continue
        if number == _MODEL_GRAPH:
            _graph(sub(value), out, 0)
        elif number == _MODEL_TRAINING:
            for n, w, v in _all(sub(value)):
                if w == 2 and n in _TRAINING:
                    _graph(sub(v), out, 1)
        elif number == _MODEL_FUNCTIONS:
            for n, w, v in _all(sub(value)):
                if w == 2 and n == _FUNCTION_NODE:
                    _node(sub(v), out, 1)
    return out


def _walk(kind: str, data: bytes, out: list[str], depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise OnnxError("graphs are nested too deeply")
    if kind == "graph":
        _graph(data, out, depth)
    elif kind == "node":
        _node(data, out, depth)
    elif kind == "tensor":
        _tensor(data, out)
    else:  # SparseTensorProto: values = 1, indices = 2 (TensorProtos)
        for n, w, v in _all(data):
            if w == 2 and n in (1, 2):
                _tensor(sub(v), out)


def _graph(data: bytes, out: list[str], depth: int) -> None:
    for n, w, v in _all(data):
        if w == 2 and n in _GRAPH:
            _walk(_GRAPH[n], sub(v), out, depth + 1)


def _node(data: bytes, out: list[str], depth: int) -> None:
    for n, w, v in _all(data):
        if w == 2 and n == _NODE_ATTRIBUTE:
            for an, aw, av in _all(sub(v)):
                if aw == 2 and an in _ATTRIBUTE:
                    _walk(_ATTRIBUTE[an], sub(av), out, depth + 1)


def _tensor(data: bytes, out: list[str]) -> None:
    for n, w, v in _all(data):
        if w == 2 and n == _TENSOR_EXTERNAL:
            entry = {k: sub(val) for k, ww, val in _all(sub(v)) if ww == 2}
            if 1 in entry and entry[1] == b"location":
                try:
                    out.append(entry.get(2, b"").decode("utf-8"))
                except UnicodeDecodeError:
                    raise OnnxError("external_data location is not UTF-8") from None


def escaping(location: str) -> bool:
    """Whether an external_data location could name a file outside the model's folder."""
    parts = location.split("/")
    return (
        not location
        or location.startswith("/")
        or "\\" in location
        or "\x00" in location
        or ":" in parts[0]
        or any(p == ".." for p in parts)
    )
