"""Allowlist profiles: exact ``module.qualname`` entries, each with its roles and conditions.

A global is acceptable only if an active entry names it exactly and allows the role it
is used in (`Role`); conditional entries also check arguments or BUILD state
(`weightguard.scan.conditions`). There is no wildcard and no module prefix: a dotted
name, a parent module or a C-module alias (``_operator``, ``posix``) is a different
global and is not allowed unless listed. The ``builtins``/``__builtin__`` and
``copy_reg``/``copyreg`` spellings need no alias here because the VM applies CPython's
own fix_imports mapping for protocols below 3 before judging; the numpy 1.x/2.x module
spellings (``numpy.core`` / ``numpy._core``) are listed explicitly.

Profiles: ``torch`` and ``numpy`` are on by default; ``numpy-rng``, ``hf-trainer``,
``lightning`` and ``sklearn`` are opt-in. Each entry's `why` is its justification
(quoted in docs/scanning.md).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from weightguard.scan import conditions as c
from weightguard.scan.model import Role

CALL, NEW, BUILD, PERSID, VALUE = Role.CALL, Role.NEW, Role.BUILD, Role.PERSID, Role.VALUE

DEFAULT_PROFILES = ("torch", "numpy")


@dataclass(frozen=True, slots=True)
class Entry:
    """One allowlisted global.

    Attributes:
        qualname: ``module.qualname`` exactly as the unpickler would resolve it.
        roles: the roles it may be used in.
        why: one line of justification.
        profile: the profile that contributes it (``allow`` for user entries).
        call: argument condition for CALL/NEW uses (None: any arguments).
        state: BUILD state condition (None with BUILD in roles: any str-keyed dict).
        setitems / appends: whether SETITEM(S) / APPEND(S) may target its objects.
    """

    qualname: str
    roles: frozenset[Role]
    why: str
    profile: str
    call: c.Cond | None = None
    state: c.StateCond | None = None
    setitems: bool = False
    appends: bool = False


def _e(
    profile: str,
    names: Iterable[str],
    roles: Iterable[Role],
    why: str,
    *,
    call: c.Cond | None = None,
    state: c.StateCond | None = None,
    setitems: bool = False,
    appends: bool = False,
) -> list[Entry]:
    return [Entry(n, frozenset(roles), why, profile, call, state, setitems, appends) for n in names]


_TORCH_DTYPES = [
    "float32",
    "float",
    "float64",
    "double",
    "float16",
    "half",
    "bfloat16",
    "complex32",
    "chalf",
    "complex64",
    "cfloat",
    "complex128",
    "cdouble",
    "uint8",
    "int8",
    "int16",
    "short",
    "int32",
    "int",
    "int64",
    "long",
    "bool",
    "qint8",
    "quint8",
    "qint32",
    "quint4x2",
    "quint2x4",
    "float8_e4m3fn",
    "float8_e5m2",
    "float8_e4m3fnuz",
    "float8_e5m2fnuz",
    "float8_e8m0fnu",
    "float4_e2m1fn_x2",
    "uint16",
    "uint32",
    "uint64",
    "bits1x8",
    "bits2x4",
    "bits4x2",
    "bits8",
    "bits16",
    "int1",
    "int2",
    "int3",
    "int4",
    "int5",
    "int6",
    "int7",
    "uint1",
    "uint2",
    "uint3",
    "uint4",
    "uint5",
    "uint6",
    "uint7",
]
_TORCH_STORAGES = [
    "Float",
    "Half",
    "BFloat16",
    "Double",
    "Long",
    "Int",
    "Short",
    "Char",
    "Byte",
    "Bool",
    "ComplexFloat",
    "ComplexDouble",
    "QInt8",
    "QUInt8",
    "QInt32",
    "QUInt4x2",
    "QUInt2x4",
]
_QSCHEMES = [
    "per_tensor_affine",
    "per_channel_affine",
    "per_tensor_symmetric",
    "per_channel_symmetric",
    "per_channel_affine_float_qparams",
]
_LAYOUTS = [
    "strided",
    "sparse_coo",
    "sparse_csr",
    "sparse_csc",
    "sparse_bsr",
    "sparse_bsc",
    "_mkldnn",
    "jagged",
]
_MEMORY_FORMATS = ["contiguous_format", "channels_last", "channels_last_3d", "preserve_format"]
_NP_SCALARS = [
    "bool_",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "longdouble",
    "complex64",
    "complex128",
    "clongdouble",
    "str_",
    "bytes_",
    "object_",
    "intc",
    "uintc",
    "intp",
    "uintp",
    "datetime64",
    "timedelta64",
    "void",
]
_NP_CORE = ("numpy.core", "numpy._core")  # numpy 1.x and 2.x spellings of one module

# Python building blocks shared by every profile: value constructors and containers.
_PYTHON = [
    *_e(
        "python",
        ["collections.OrderedDict"],
        [CALL, NEW, BUILD, VALUE],
        "plain ordered mapping; BUILD sets state_dict._metadata",
        call=c.no_args,
        state=c.strdict_state,
        setitems=True,
    ),
    *_e(
        "python",
        ["collections.defaultdict"],
        [CALL, VALUE],
        "mapping whose factory runs on a missing key; factory pinned to plain types",
        call=c.defaultdict_args,
        setitems=True,
    ),
    *_e(
        "python",
        ["collections.Counter"],
        [CALL, VALUE],
        "counting mapping of plain values",
        call=c.plain_args,
        setitems=True,
    ),
    *_e(
        "python",
        ["collections.deque"],
        [CALL, VALUE],
        "sequence of plain values",
        call=c.deque_args,
        appends=True,
    ),
    *_e(
        "python",
        ["builtins.set", "builtins.frozenset"],
        [CALL, VALUE],
        "protocol 0-3 spelling of set literals",
        call=c.set_args,
    ),
    *_e(
        "python",
        ["builtins.bytearray"],
        [CALL, VALUE],
        "protocol 0-4 spelling of bytearray literals",
        call=c.bytearray_args,
    ),
    *_e(
        "python",
        ["builtins.complex"],
        [CALL, VALUE],
        "complex number from two numbers",
        call=c.plain_args,
    ),
    *_e(
        "python",
        ["builtins.slice", "builtins.range"],
        [CALL, VALUE],
        "value types built from ints",
        call=c.plain_args,
    ),
    *_e(
        "python",
        ["_codecs.encode"],
        [CALL],
        "protocol 0-2 spelling of bytes literals",
        call=c.codecs_encode,
    ),
    *_e(
        "python",
        [
            f"builtins.{n}"
            for n in (
                "object",
                "list",
                "dict",
                "tuple",
                "int",
                "float",
                "str",
                "bool",
                "bytes",
                "NoneType",
            )
        ],
        [VALUE],
        "type objects used as factories and reconstructor bases; never called",
    ),
    *_e(
        "python",
        ["copyreg._reconstructor"],
        [CALL],
        "protocol 0/1 object reconstruction; its class must itself be allowlisted",
        call=c.copyreg_reconstructor,
    ),
    *_e(
        "python",
        ["copyreg.__newobj__"],
        [CALL],
        "cls.__new__(cls, *args); its class must itself be allowlisted",
        call=c.copyreg_newobj,
    ),
]

_TORCH = [
    *_e(
        "torch",
        ["torch._utils._rebuild_tensor"],
        [CALL],
        "tensor view on a persistent-id storage (pre-1.0 files)",
        call=c.rebuild_tensor,
    ),
    *_e(
        "torch",
        ["torch._utils._rebuild_tensor_v2"],
        [CALL],
        "tensor view on a persistent-id storage; ints, bools and empty hooks only",
        call=c.rebuild_tensor_v2,
    ),
    *_e(
        "torch",
        ["torch._utils._rebuild_tensor_v3"],
        [CALL],
        "tensor view with an explicit dtype (float8, uint16...)",
        call=c.rebuild_tensor_v3,
    ),
    *_e(
        "torch",
        ["torch._utils._rebuild_parameter"],
        [CALL],
        "wraps a rebuilt tensor as nn.Parameter",
        call=c.rebuild_parameter,
    ),
    *_e(
        "torch",
        ["torch._utils._rebuild_parameter_with_state"],
        [CALL],
        "nn.Parameter plus a str-keyed attribute dict",
        call=c.rebuild_parameter,
    ),
    *_e(
        "torch",
        ["torch._utils._rebuild_qtensor"],
        [CALL],
        "quantized tensor from a storage and numeric quantizer parameters",
        call=c.rebuild_qtensor,
    ),
    *_e(
        "torch",
        ["torch._utils._rebuild_sparse_tensor"],
        [CALL],
        "sparse tensor from index/value tensors",
        call=c.rebuild_sparse,
    ),
    *_e(
        "torch",
        ["torch._utils._rebuild_meta_tensor_no_storage"],
        [CALL],
        "meta tensor: dtype and shape, no data",
        call=c.rebuild_meta,
    ),
    *_e(
        "torch",
        ["torch._tensor._rebuild_from_type_v2"],
        [CALL],
        "calls its first argument: pinned to the tensor rebuild functions and Tensor/Parameter",
        call=c.rebuild_from_type_v2,
    ),
    *_e(
        "torch",
        ["torch.serialization._get_layout"],
        [CALL],
        "maps a layout name string to a layout constant",
        call=c.one_str,
    ),
    *_e("torch", ["torch.Size"], [CALL, VALUE], "tuple of ints", call=c.torch_size),
    *_e("torch", ["torch.device"], [CALL, VALUE], "device name and index", call=c.torch_device),
    *_e(
        "torch",
        ["torch.Tensor", "torch.nn.parameter.Parameter"],
        [VALUE],
        "type tags passed to _rebuild_from_type_v2; never called",
    ),
    *_e(
        "torch",
        [f"torch.{n}Storage" for n in _TORCH_STORAGES]
        + ["torch.UntypedStorage", "torch.storage.UntypedStorage", "torch.storage.TypedStorage"],
        [PERSID, VALUE],
        "storage type tags inside persistent ids; never called",
    ),
    *_e("torch", [f"torch.{n}" for n in _TORCH_DTYPES], [VALUE], "dtype constants"),
    *_e("torch", [f"torch.{n}" for n in _QSCHEMES], [VALUE], "quantization scheme constants"),
    *_e(
        "torch",
        [f"torch.{n}" for n in _LAYOUTS + _MEMORY_FORMATS],
        [VALUE],
        "layout and memory-format constants",
    ),
]

_NUMPY = [
    *_e(
        "numpy",
        [f"{m}.multiarray._reconstruct" for m in _NP_CORE],
        [CALL, BUILD],
        "allocates an empty numpy.ndarray (subtype pinned); BUILD fills shape/dtype/bytes",
        call=c.np_reconstruct,
        state=c.np_array_state,
    ),
    *_e(
        "numpy",
        [f"{m}.multiarray.scalar" for m in _NP_CORE],
        [CALL],
        "numpy scalar from a dtype and its bytes",
        call=c.np_scalar,
    ),
    *_e(
        "numpy",
        [f"{m}.numeric._frombuffer" for m in _NP_CORE],
        [CALL],
        "protocol 5 array from a buffer, dtype, shape and order",
        call=c.np_frombuffer,
    ),
    *_e(
        "numpy",
        ["numpy.dtype"],
        [CALL, BUILD, VALUE],
        "dtype from a type string; BUILD state is constants and nested dtypes",
        call=c.np_dtype,
        state=c.np_dtype_state,
    ),
    *_e(
        "numpy",
        ["numpy.ndarray", "numpy.memmap"],
        [VALUE],
        "array type tag for _reconstruct and joblib wrappers; never called",
    ),
    *_e("numpy", [f"numpy.{n}" for n in _NP_SCALARS], [VALUE], "scalar type objects"),
    *_e(
        "numpy",
        ["joblib.numpy_pickle.NumpyArrayWrapper"],
        [NEW, BUILD],
        "joblib array header; the raw array bytes after it are skipped, object arrays scanned",
        state=c.joblib_wrapper_state,
    ),
]

_RNG_CLASSES = [
    "numpy.random._mt19937.MT19937",
    "numpy.random._pcg64.PCG64",
    "numpy.random._pcg64.PCG64DXSM",
    "numpy.random._philox.Philox",
    "numpy.random._sfc64.SFC64",
    "numpy.random.bit_generator.SeedSequence",
]
_NUMPY_RNG = [
    *_e(
        "numpy-rng",
        [
            "numpy.random._pickle.__randomstate_ctor",
            "numpy.random._pickle.__bit_generator_ctor",
            "numpy.random._pickle.__generator_ctor",
        ],
        [CALL, BUILD],
        "RNG constructors; the bit generator argument is pinned to numpy's own classes",
        call=c.rng_ctor,
        state=c.rng_state,
    ),
    *_e(
        "numpy-rng",
        _RNG_CLASSES,
        [VALUE, NEW, BUILD],
        "numpy bit generator classes (state is a plain dict)",
        state=c.strdict_state,
    ),
    *_e(
        "numpy-rng",
        ["numpy.random.bit_generator.__pyx_unpickle_SeedSequence"],
        [CALL, BUILD],
        "Cython unpickle helper pinned to SeedSequence; BUILD state is plain numbers/arrays",
        call=c.seedseq_unpickle,
        state=c.plain_state,
    ),
]

_HF_TRAINER = [
    *_e(
        "hf-trainer",
        [
            "transformers.training_args.TrainingArguments",
            "transformers.training_args_seq2seq.Seq2SeqTrainingArguments",
            "argparse.Namespace",
            "accelerate.state.PartialState",
        ],
        [NEW, BUILD],
        "dataclass-like holders: __new__ plus a str-keyed dict, never __init__",
        state=c.strdict_state,
    ),
    *_e(
        "hf-trainer",
        [
            f"transformers.trainer_utils.{n}"
            for n in (
                "IntervalStrategy",
                "SchedulerType",
                "HubStrategy",
                "SaveStrategy",
                "EvaluationStrategy",
                "FSDPOption",
            )
        ]
        + [
            "transformers.training_args.OptimizerNames",
            "accelerate.utils.dataclasses.DistributedType",
        ],
        [CALL, VALUE],
        "enums: lookup by literal value",
        call=c.enum_args,
    ),
]

_LIGHTNING = [
    *_e(
        "lightning",
        [
            "omegaconf.dictconfig.DictConfig",
            "omegaconf.listconfig.ListConfig",
            "omegaconf.base.ContainerMetadata",
            "omegaconf.base.Metadata",
        ]
        + [
            f"omegaconf.nodes.{n}"
            for n in (
                "AnyNode",
                "StringNode",
                "IntegerNode",
                "FloatNode",
                "BooleanNode",
                "EnumNode",
                "BytesNode",
                "PathNode",
            )
        ],
        [NEW, BUILD],
        "omegaconf containers and nodes restored from a str-keyed dict "
        "(resolvers run on access, not on load)",
        state=c.strdict_state,
    ),
    *_e(
        "lightning",
        [
            "lightning.fabric.utilities.data.AttributeDict",
            "pytorch_lightning.utilities.parsing.AttributeDict",
            "lightning.pytorch.utilities.parsing.AttributeDict",
            "argparse.Namespace",
        ],
        [NEW, BUILD],
        "attribute dicts of hyperparameters",
        state=c.strdict_state,
        setitems=True,
    ),
    *_e("lightning", ["typing.Any"], [VALUE], "type annotation constant"),
    *_e(
        "lightning",
        [
            "pathlib.PosixPath",
            "pathlib.WindowsPath",
            "pathlib.PurePosixPath",
            "pathlib.PureWindowsPath",
        ],
        [CALL],
        "path objects from string parts",
        call=c.str_args,
    ),
]

_SKLEARN_CLASSES = [
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.linear_model._base.LinearRegression",
    "sklearn.linear_model._ridge.Ridge",
    "sklearn.linear_model._coordinate_descent.Lasso",
    "sklearn.preprocessing._data.StandardScaler",
    "sklearn.preprocessing._data.MinMaxScaler",
    "sklearn.preprocessing._encoders.OneHotEncoder",
    "sklearn.preprocessing._label.LabelEncoder",
    "sklearn.pipeline.Pipeline",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.tree._classes.DecisionTreeClassifier",
    "sklearn.tree._classes.DecisionTreeRegressor",
    "sklearn.ensemble._forest.RandomForestClassifier",
    "sklearn.ensemble._forest.RandomForestRegressor",
    "sklearn.decomposition._pca.PCA",
    "sklearn.cluster._kmeans.KMeans",
    "sklearn.svm._classes.SVC",
    "sklearn.neighbors._classification.KNeighborsClassifier",
]
_SKLEARN = [
    *_e(
        "sklearn",
        _SKLEARN_CLASSES,
        [NEW, BUILD, VALUE],
        "estimator restored from its fitted attributes (no callables stored)",
        state=c.strdict_state,
    ),
    *_e(
        "sklearn",
        ["sklearn.tree._tree.Tree"],
        [CALL, BUILD],
        "decision tree arrays: (n_features, n_classes, n_outputs) then node arrays",
        call=c.plain_args,
        state=c.strdict_state,
    ),
]

PROFILES: dict[str, list[Entry]] = {
    "torch": _PYTHON + _TORCH,
    "numpy": _PYTHON + _NUMPY,
    "numpy-rng": _NUMPY_RNG,
    "hf-trainer": _HF_TRAINER,
    "lightning": _LIGHTNING,
    "sklearn": _SKLEARN,
}


def user_entry(spec: str, why: str = "allowed on the command line") -> Entry:
    """An entry from ``--allow module.qualname`` (or ``module:qualname``).

    A user entry trusts the named global as a class or function: every role, BUILD
    with a str-keyed dict, no argument condition. It can never re-enable a
    known code-execution primitive (see `weightguard.scan.denylist`).
    """
    qualname = spec.replace(":", ".", 1) if ":" in spec else spec
    return Entry(qualname, frozenset(Role), why, "allow", state=c.strdict_state)


class Allowlist:
    """The active entries, by exact ``module.qualname``."""

    def __init__(self, profiles: Iterable[str], extra: Iterable[Entry] = ()) -> None:
        self.profiles = tuple(dict.fromkeys(profiles))
        unknown = [p for p in self.profiles if p not in PROFILES]
        if unknown:
            raise KeyError(unknown[0])
        self.entries: dict[str, Entry] = {}
        for name in self.profiles:
            for entry in PROFILES[name]:
                self.entries.setdefault(entry.qualname, entry)
        self.extra = tuple(extra)
        for entry in self.extra:
            self.entries[entry.qualname] = entry

    def get(self, qualname: str) -> Entry | None:
        """The entry for a global, if allowed at all."""
        return self.entries.get(qualname)


def profile_of(qualname: str) -> str | None:
    """The first profile (default ones first) that lists `qualname`, for fix hints."""
    for name, entries in PROFILES.items():
        if any(e.qualname == qualname for e in entries):
            return name
    return None
