"""Building a Hugging Face `transformers` architecture from a model folder's config.json.

Owns: reading `config.json` (strict JSON, a regular file inside the folder, no symlink),
refusing anything that would run code from the folder or the network (``auto_map``,
unknown ``model_type``, an architecture name that is not a model class of the installed
`transformers` itself), and instantiating the module with its parameters on the meta
device, then materialising them, uninitialised, on the run device. The strict loader
then overwrites every parameter, so nothing of the random init is ever computed or
kept: host memory never holds the weights twice.

Buffers are the exception: non-persistent buffers (rotary `inv_freq`, `position_ids`)
are not in the weight files, so they are computed for real at construction, as
`accelerate.init_empty_weights(include_buffers=False)` does; they are small.

The attacker writes config.json: every value it sets (sizes, activations, rope
scaling) only parameterises library code; code itself is never taken from the folder
(`trust_remote_code` is never passed, so `transformers` refuses dynamic modules).
transformers and torch are imported inside the functions; HF_HUB_OFFLINE is set first.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weightguard.errors import UsageError
from weightguard.smoke.factory import ModelBuildError

CONFIG_NAME = "config.json"
MAX_CONFIG_BYTES = 1 << 20  # real configs are a few KB; refuse a huge file before parsing


class ConfigRefused(ModelBuildError):
    """config.json is unusable or asks for code outside `transformers` (exit 3)."""

    default_code = "smoke.config_refused"


@dataclass(frozen=True)
class HfModel:
    """A built transformers module and what it was built from."""

    module: Any
    architecture: str  # class name, e.g. LlamaForCausalLM
    model_type: str
    dtype: str
    vocab_size: int | None
    config_sha256: str


def read_config(model_dir: Path) -> tuple[dict[str, Any], bytes]:
    """The parsed config.json of a model folder and its raw bytes.

    Raises:
        UsageError: MODEL is a file, not a folder. ConfigRefused: missing, a symlink or
            special file, too large, not a JSON object, or remote code (``auto_map``).
    """
    if not model_dir.is_dir():
        raise UsageError(
            "--transformers needs a model folder with config.json", path=str(model_dir)
        )
    path = model_dir / CONFIG_NAME
    where = str(path)
    try:
        # O_NOFOLLOW: a config.json symlink could point anywhere on the deploy host.
        fd = os.open(
            path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
        )
    except FileNotFoundError:
        raise ConfigRefused("no config.json in the model folder", path=where) from None
    except OSError as exc:
        raise ConfigRefused(f"cannot open config.json: {exc.strerror}", path=where) from exc
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            raise ConfigRefused("config.json is not a regular file", path=where)
        raw = fh.read(MAX_CONFIG_BYTES + 1)
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigRefused(f"config.json is larger than {MAX_CONFIG_BYTES} bytes", path=where)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ConfigRefused(f"config.json is not valid JSON: {exc}", path=where) from exc
    if not isinstance(doc, dict):
        raise ConfigRefused("config.json is not a JSON object", path=where)
    if "auto_map" in doc:
        raise ConfigRefused(
            "config.json has auto_map: the architecture is code shipped with the model "
            "(trust_remote_code); weightguard never runs it",
            path=where,
            code="smoke.remote_code",
        )
    return doc, raw


def _config_object(doc: Mapping[str, Any], where: str) -> Any:
    from transformers import CONFIG_MAPPING

    model_type = doc.get("model_type")
    if not isinstance(model_type, str) or model_type not in CONFIG_MAPPING:
        raise ConfigRefused(
            f"config.json model_type {model_type!r} is not an architecture of the installed "
            "transformers",
            path=where,
        )
    try:
        return CONFIG_MAPPING[model_type].from_dict(dict(doc))
    except Exception as exc:  # transformers validates values (sizes, rope scaling...)
        raise ConfigRefused(
            f"config.json rejected by transformers: {type(exc).__name__}: {exc}", path=where
        ) from exc


def _model_class(config: Any, doc: Mapping[str, Any], where: str) -> Any:
    """The class named in `architectures`, only if it is transformers' own model class."""
    import transformers
    from transformers import PreTrainedModel

    names = doc.get("architectures")
    if names is None:
        from transformers import AutoModel

        try:
            return AutoModel._model_mapping[type(config)]
        except KeyError:
            raise ConfigRefused("no model class for this config", path=where) from None
    if not isinstance(names, list) or len(names) != 1 or not isinstance(names[0], str):
        raise ConfigRefused("config.json architectures must name exactly one class", path=where)
    name = names[0]
    cls = getattr(transformers, name, None) if name.isidentifier() else None
    config_class: Any = getattr(cls, "config_class", None)
    if (
        not isinstance(cls, type)
        or not issubclass(cls, PreTrainedModel)
        or not cls.__module__.startswith("transformers.models.")
        or not isinstance(config_class, type)
        or not isinstance(config, config_class)
    ):
        raise ConfigRefused(
            f"architecture {name!r} is not a {type(config).__name__} model class of the "
            "installed transformers",
            path=where,
        )
    return cls


@contextmanager
def _parameters_on_meta() -> Iterator[None]:
    """Register every new Parameter on the meta device; buffers stay real (on the CPU)."""
    import torch

    original = torch.nn.Module.register_parameter

    def register(module: Any, name: str, param: Any) -> None:
        original(module, name, param)
        if param is not None and param.device.type != "meta":
            kind = type(module._parameters[name])
            moved = module._parameters[name].to("meta")
            module._parameters[name] = kind(moved, requires_grad=param.requires_grad)

    torch.nn.Module.register_parameter = register  # type: ignore[method-assign,assignment]
    try:
        yield
    finally:
        torch.nn.Module.register_parameter = original  # type: ignore[method-assign]


def _materialise(module: Any, device: str) -> None:
    """Replace meta parameters with uninitialised ones on `device`, keeping ties."""
    import torch

    made: dict[int, Any] = {}
    for sub in module.modules():
        for name, param in list(sub._parameters.items()):
            if param is None or param.device.type != "meta":
                continue
            if id(param) not in made:
                made[id(param)] = torch.nn.Parameter(
                    torch.empty_like(param, device=device), requires_grad=False
                )
            sub._parameters[name] = made[id(param)]
    module.to(device)  # the (real) buffers


def build_hf_model(model_dir: Path, device: str, dtype: str | None) -> HfModel:
    """Build the folder's architecture on `device`, parameters uninitialised, in eval mode.

    `dtype` overrides config.json's ``dtype`` / ``torch_dtype`` (default float32).

    Raises:
        UsageError, ConfigRefused, ModelBuildError.
    """
    import hashlib

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import torch
        import transformers  # noqa: F401
    except ImportError as exc:
        raise UsageError(
            "--transformers needs the transformers package: "
            "pip install './weightguard[transformers]' from a checkout of this project",
            code="smoke.transformers_missing",
        ) from exc
    from weightguard.smoke.factory import DTYPES

    doc, raw = read_config(model_dir)
    where = str(model_dir / CONFIG_NAME)
    config = _config_object(doc, where)
    cls = _model_class(config, doc, where)
    declared = doc.get("dtype", doc.get("torch_dtype"))
    name = dtype or (declared if isinstance(declared, str) else "float32")
    if name not in DTYPES:
        raise ConfigRefused(
            f"config.json dtype {name!r} is not one of {', '.join(DTYPES)}", path=where
        )
    config.use_cache = False  # outputs are tensors only; decoding re-runs the full prefix
    if hasattr(config, "_attn_implementation"):
        config._attn_implementation = "eager"  # the same kernels on every machine
    try:
        with _parameters_on_meta():
            module = cls._from_config(config, dtype=getattr(torch, name))
        _materialise(module, device)
    except Exception as exc:  # a config value transformers accepts but cannot build
        raise ModelBuildError(
            f"building {cls.__name__} from config.json failed: {type(exc).__name__}: {exc}",
            path=where,
        ) from exc
    vocab = getattr(config, "vocab_size", None)
    return HfModel(
        module.eval(),
        cls.__name__,
        str(doc["model_type"]),
        name,
        vocab if isinstance(vocab, int) else None,
        hashlib.sha256(raw).hexdigest(),
    )
