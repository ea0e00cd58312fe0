"""The opt-in profiles: ``numpy-rng``, ``hf-trainer``, ``lightning`` and ``sklearn``.

Each entry's `why` is its justification (quoted in docs/scanning.md). Imported only when
one of these profiles is enabled, or to name the profile that would permit a global in
a finding's hint.
"""

from __future__ import annotations

from weightguard.scan import conditions as c
from weightguard.scan import conditions_numpy as cn
from weightguard.scan.entries import BUILD, CALL, NEW, VALUE, Entry, entries

_RNG_CLASSES = [
    "numpy.random._mt19937.MT19937",
    "numpy.random._pcg64.PCG64",
    "numpy.random._pcg64.PCG64DXSM",
    "numpy.random._philox.Philox",
    "numpy.random._sfc64.SFC64",
    "numpy.random.bit_generator.SeedSequence",
]
_NUMPY_RNG = [
    *entries(
        "numpy-rng",
        [
            "numpy.random._pickle.__randomstate_ctor",
            "numpy.random._pickle.__bit_generator_ctor",
            "numpy.random._pickle.__generator_ctor",
        ],
        [CALL, BUILD],
        "RNG constructors; the bit generator argument is pinned to numpy's own classes",
        call=cn.rng_ctor,
        state=cn.rng_state,
    ),
    *entries(
        "numpy-rng",
        _RNG_CLASSES,
        [VALUE, NEW, BUILD],
        "numpy bit generator classes (state is a plain dict)",
        state=c.strdict_state,
    ),
    *entries(
        "numpy-rng",
        ["numpy.random.bit_generator.__pyx_unpickle_SeedSequence"],
        [CALL, BUILD],
        "Cython unpickle helper pinned to SeedSequence; BUILD state is plain numbers/arrays",
        call=cn.seedseq_unpickle,
        state=cn.plain_state,
    ),
]

_HF_TRAINER = [
    *entries(
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
    *entries(
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
    *entries(
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
    *entries(
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
    *entries("lightning", ["typing.Any"], [VALUE], "type annotation constant"),
    *entries(
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
    *entries(
        "sklearn",
        _SKLEARN_CLASSES,
        [NEW, BUILD, VALUE],
        "estimator restored from its fitted attributes (no callables stored)",
        state=c.strdict_state,
    ),
    *entries(
        "sklearn",
        ["sklearn.tree._tree.Tree"],
        [CALL, BUILD],
        "decision tree arrays: (n_features, n_classes, n_outputs) then node arrays",
        call=c.plain_args,
        state=c.strdict_state,
    ),
]

PROFILES: dict[str, list[Entry]] = {
    "numpy-rng": _NUMPY_RNG,
    "hf-trainer": _HF_TRAINER,
    "lightning": _LIGHTNING,
    "sklearn": _SKLEARN,
}
