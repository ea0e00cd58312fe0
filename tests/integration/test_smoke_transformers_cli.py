"""`weightguard smoke record|check --transformers`: Hugging Face folders, LLM decoding, variants.

Tiny random Llama / GPT-2 / BERT models are made here with transformers (no downloads),
signed, recorded on the CPU and checked on the CPU. Every tampering below must fail
with exit 1 and name the first diverging token or the largest error; a folder the model
cannot be built from or loaded into is exit 3. The click group runs in-process
(transformers is imported once for the module).
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytest.importorskip("transformers")
pytestmark = pytest.mark.torch

REPO = Path(__file__).resolve().parents[2]


def cli(*args: Any) -> Any:
    from weightguard.cli import cli as group

    return CliRunner().invoke(group, [str(a) for a in args], catch_exceptions=False)


def as_json(result: Any) -> dict[str, Any]:
    return json.loads(result.output)


def codes(report: dict[str, Any]) -> list[str]:
    return [r["code"] for r in report["reasons"]]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Tiny models (Llama sharded, GPT-2, BERT), an alternative Llama, a release key."""
    added = str(REPO) not in sys.path
    if added:
        sys.path.insert(0, str(REPO))
    from examples.models.hf_tiny import make
    from weightguard.signing.keys import generate_private_key, private_pem, public_pem

    d = tmp_path_factory.mktemp("hf-smoke")
    paths = {
        "llama": make("llama", d / "llama", shard_kb=20),
        "llama_other": make("llama", d / "llama-other", seed=1, shard_kb=20),
        "gpt2": make("gpt2", d / "gpt2"),
        "bert": make("bert", d / "bert"),
    }
    key = generate_private_key("p256")
    (d / "release.pem").write_bytes(private_pem(key))
    (d / "release.pub.pem").write_bytes(public_pem(key.public_key()))
    paths.update(key=d / "release.pem", pub=d / "release.pub.pem", dir=d)
    yield paths
    if added:
        sys.path.remove(str(REPO))


def record(env: dict[str, Path], name: str, *extra: Any) -> Path:
    out = env["dir"] / f"{name}.smoke.json"
    if not out.exists():
        args = ["--llm", "--new-tokens", "6"] if name != "bert" else []
        r = cli(
            "smoke", "record", env[name], "--transformers", *args, "--device", "cpu",
            "--sign-key", env["key"], "--out", out, "--format", "json", *extra,
        )  # fmt: skip
        assert r.exit_code == 0, r.output
    return out


def check(env: dict[str, Path], model: Path, rec: Path, *extra: Any) -> Any:
    return cli(
        "smoke", "check", model, "--transformers", "--record", rec, "--record-key", env["pub"],
        "--device", "cpu", "--format", "json", *extra,
    )  # fmt: skip


def copy(env: dict[str, Path], name: str, new: str) -> Path:
    dst = env["dir"] / new
    shutil.rmtree(dst, ignore_errors=True)
    shutil.copytree(env[name], dst)
    return dst


def edit_config(model: Path, change: Any) -> None:
    cfg = json.loads((model / "config.json").read_text())
    change(cfg)
    (model / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize("name", ["llama", "gpt2", "bert"])
def test_record_then_check_passes(env: dict[str, Path], name: str) -> None:
    rec = record(env, name)
    doc = json.loads(rec.read_text())
    assert "dsseEnvelope" in doc  # signed with the release key
    r = check(env, env[name], rec)
    assert r.exit_code == 0, r.output
    report = as_json(r)
    assert report["verdict"] == "accepted"
    assert report["record"]["signer"] is not None
    if name != "bert":
        seqs = report["drift"]["sequences"]
        assert seqs and all(s["first_divergence"] is None for s in seqs)
        assert report["drift"]["measured"]["top1"] == 1.0


def test_llm_record_holds_tokens_and_topk(env: dict[str, Path]) -> None:
    from weightguard.signing.ec import EcKeyVerifier
    from weightguard.smoke import load_record

    rec = load_record(record(env, "llama"), EcKeyVerifier.from_files([str(env["pub"])]))
    assert rec.builder == "transformers" and rec.factory == "transformers:LlamaForCausalLM"
    llm = rec.llm
    assert llm is not None and llm["new_tokens"] == 6 and len(llm["prompts"]) == 2
    for seq in llm["sequences"]:
        assert len(seq["tokens"]) == 6
        assert all(len(step["ids"]) == 5 for step in seq["top"])
        # greedy: the recorded token is the top-1 of its position
        assert [step["ids"][0] for step in seq["top"]] == seq["tokens"]


def test_changed_layer_fails_naming_first_diverging_token(env: dict[str, Path]) -> None:
    from safetensors.torch import load_file, save_file

    rec = record(env, "llama")
    bad = copy(env, "llama", "llama-changed")
    index = json.loads((bad / "model.safetensors.index.json").read_text())["weight_map"]
    shard = bad / index["lm_head.weight"]
    tensors = load_file(str(shard))
    tensors["lm_head.weight"] = tensors["lm_head.weight"].flip(0).contiguous()  # permute rows
    save_file(tensors, str(shard), metadata={"format": "pt"})
    r = check(env, bad, rec)
    assert r.exit_code == 1, r.output
    report = as_json(r)
    assert "smoke.token_mismatch" in codes(report)
    assert "smoke.output_mismatch" in codes(report)
    mismatch = next(x for x in report["reasons"] if x["code"] == "smoke.token_mismatch")
    assert "diverges at generated token 0" in mismatch["message"]
    text = check(env, bad, rec, "--format", "text").output
    assert "first diverging token at 0" in text and "largest deviation" in text


def test_shard_from_another_checkpoint_fails(env: dict[str, Path]) -> None:
    rec = record(env, "llama")
    bad = copy(env, "llama", "llama-swapped")
    index = json.loads((bad / "model.safetensors.index.json").read_text())["weight_map"]
    shard = index["model.layers.1.mlp.down_proj.weight"]
    shutil.copyfile(env["llama_other"] / shard, bad / shard)  # same names, other values
    r = check(env, bad, rec)
    assert r.exit_code == 1, r.output
    report = as_json(r)
    assert {"smoke.digest_mismatch", "smoke.output_mismatch"} <= set(codes(report))
    assert report["drift"]["measured"]["max_abs"] > 0


def test_shards_renamed_against_index_is_incomplete(env: dict[str, Path]) -> None:
    rec = record(env, "llama")
    bad = copy(env, "llama", "llama-renamed")
    a, b = sorted(bad.glob("model-*.safetensors"))[:2]
    tmp = bad / "tmp.bin"
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)
    r = check(env, bad, rec)
    # other bytes under the shard names: the digest differs (exit 1), and the load
    # names every tensor that is not where the index says
    assert r.exit_code == 1, r.output
    assert {"smoke.digest_mismatch", "smoke.index_mismatch"} <= set(codes(as_json(r)))
    r = cli("smoke", "record", bad, "--transformers", "--device", "cpu", "--out",
            env["dir"] / "renamed.smoke.json")  # fmt: skip
    assert r.exit_code == 3, r.output
    assert "shard index disagrees" in r.output


def test_missing_tensor_is_incomplete(env: dict[str, Path]) -> None:
    from safetensors.torch import load_file, save_file

    rec = record(env, "llama")
    bad = copy(env, "llama", "llama-missing")
    index = json.loads((bad / "model.safetensors.index.json").read_text())["weight_map"]
    shard = bad / index["model.norm.weight"]
    tensors = load_file(str(shard))
    del tensors["model.norm.weight"]
    save_file(tensors, str(shard), metadata={"format": "pt"})
    r = check(env, bad, rec)
    assert r.exit_code == 1, r.output  # other weights than recorded; nothing ran
    assert {"smoke.digest_mismatch", "smoke.missing_key"} <= set(codes(as_json(r)))
    r = cli("smoke", "record", bad, "--transformers", "--device", "cpu", "--out",
            env["dir"] / "missing.smoke.json")  # fmt: skip
    assert r.exit_code == 3, r.output
    assert "missing: model.norm.weight" in r.output


def test_different_rope_setting_fails(env: dict[str, Path]) -> None:
    rec = record(env, "llama")
    bad = copy(env, "llama", "llama-rope")

    def rope(cfg: dict[str, Any]) -> None:
        params = cfg.get("rope_parameters") or {}
        params["rope_theta"] = 100.0
        cfg["rope_parameters"] = params
        cfg["rope_theta"] = 100.0

    edit_config(bad, rope)
    r = check(env, bad, rec)
    assert r.exit_code == 1, r.output
    report = as_json(r)
    assert "smoke.output_mismatch" in codes(report)
    assert report["drift"]["measured"]["max_abs"] > 0


def test_different_activation_fails(env: dict[str, Path]) -> None:
    rec = record(env, "gpt2")
    bad = copy(env, "gpt2", "gpt2-relu")
    edit_config(bad, lambda cfg: cfg.update(activation_function="relu"))
    r = check(env, bad, rec)
    assert r.exit_code == 1, r.output
    report = as_json(r)
    assert "smoke.output_mismatch" in codes(report)
    worst = next(x for x in report["reasons"] if x["code"] == "smoke.output_mismatch")
    assert worst["path"].startswith("logits.") and "largest deviation" in worst["message"]


def test_bert_hidden_act_change_fails(env: dict[str, Path]) -> None:
    rec = record(env, "bert")
    bad = copy(env, "bert", "bert-act")
    edit_config(bad, lambda cfg: cfg.update(hidden_act="relu"))
    r = check(env, bad, rec)
    assert r.exit_code == 1, r.output
    assert "smoke.output_mismatch" in codes(as_json(r))


def test_int8_variant_passes_loose_budget_fails_tight(env: dict[str, Path]) -> None:
    rec = record(env, "llama")
    loose = check(
        env, env["llama"], rec, "--quantize", "int8-dynamic",
        "--budget", "max_rel=0.5,top1=0.5,kl=0.5",
    )  # fmt: skip
    assert loose.exit_code == 0, loose.output
    measured = as_json(loose)["drift"]["measured"]
    assert 0 < measured["max_abs"] and measured["kl"] < 0.5
    tight = check(
        env, env["llama"], rec, "--quantize", "int8-dynamic", "--budget", "max_abs=1e-7,kl=1e-9"
    )
    assert tight.exit_code == 1, tight.output
    report = as_json(tight)
    exceeded = [x for x in report["reasons"] if x["code"] == "smoke.drift_exceeded"]
    assert {x["path"] for x in exceeded} == {"max_abs", "kl"}
    assert all(x["actual"] for x in exceeded)


def test_bf16_variant_folder_checked_against_fp32_record(env: dict[str, Path]) -> None:
    from examples.models.hf_tiny import make

    rec = record(env, "llama")
    variant = make("llama", env["dir"] / "llama-bf16", dtype="bfloat16")
    r = check(env, variant, rec, "--budget", "max_rel=0.2,top1=0.5")
    assert r.exit_code == 0, r.output
    report = as_json(r)
    assert report["dtype"] == "bfloat16"
    assert "smoke.variant_digest" in codes(report)
    # without a budget the variant is other weights: rejected
    assert check(env, variant, rec).exit_code == 1


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda c: c.update(auto_map={"AutoModel": "modeling_evil.Evil"}), "trust_remote_code"),
        (lambda c: c.update(model_type="evil"), "is not an architecture"),
        (lambda c: c.update(architectures=["AutoTokenizer"]), "not a LlamaConfig model class"),
        (lambda c: c.update(architectures=["BertModel"]), "not a LlamaConfig model class"),
        (lambda c: c.update(architectures=["os.system"]), "not a LlamaConfig model class"),
        (lambda c: c.update(hidden_size="big"), "rejected by transformers"),
    ],
)
def test_config_refused(env: dict[str, Path], change: Any, words: str) -> None:
    bad = copy(env, "llama", "llama-bad-config")
    edit_config(bad, change)
    r = cli("smoke", "record", bad, "--transformers", "--device", "cpu",
            "--out", env["dir"] / "bad-config.smoke.json")  # fmt: skip
    assert r.exit_code == 3, r.output
    assert words in r.output and "config.json" in r.output


def test_config_symlink_refused(env: dict[str, Path], tmp_path: Path) -> None:
    from weightguard.smoke.hf import ConfigRefused, read_config

    bad = copy(env, "llama", "llama-link")
    outside = tmp_path / "config.json"
    shutil.copyfile(bad / "config.json", outside)
    (bad / "config.json").unlink()
    (bad / "config.json").symlink_to(outside)
    r = cli("smoke", "record", bad, "--transformers", "--device", "cpu",
            "--out", env["dir"] / "link.smoke.json")  # fmt: skip
    assert r.exit_code == 1 and "symlink" in r.output  # the digest refuses it first
    with pytest.raises(ConfigRefused):  # and the builder on its own
        read_config(bad)


def test_check_record_failed_and_passed(env: dict[str, Path]) -> None:
    from weightguard.signing.ec import EcKeyVerifier
    from weightguard.smoke import load_record

    rec = record(env, "gpt2")
    verifier = EcKeyVerifier.from_files([str(env["pub"])])
    ok_out = env["dir"] / "gpt2.check.json"
    r = check(env, env["gpt2"], rec, "--write-record", ok_out, "--sign-key", env["key"])
    assert r.exit_code == 0, r.output
    passed = load_record(ok_out, verifier)
    assert passed.outcome == "passed"
    assert (
        passed.predicate["check"]["reference"]["root_digest"]
        == f"sha256:{load_record(rec).root_digest}"
    )
    bad = copy(env, "gpt2", "gpt2-checked")
    edit_config(bad, lambda cfg: cfg.update(activation_function="relu"))
    bad_out = env["dir"] / "gpt2-bad.check.json"
    r = check(env, bad, rec, "--write-record", bad_out, "--sign-key", env["key"])
    assert r.exit_code == 1
    failed = load_record(bad_out, verifier)
    assert failed.outcome == "failed"
    assert "smoke.output_mismatch" in [x["code"] for x in failed.predicate["check"]["reasons"]]


def test_flags_are_checked(env: dict[str, Path]) -> None:
    rec = record(env, "llama")
    both = cli("smoke", "check", env["llama"], "--transformers", "--factory", "a.b:c",
               "--record", rec)  # fmt: skip
    assert both.exit_code == 2
    no_flag = cli("smoke", "check", env["llama"], "--factory", "examples.models.mlp:build",
                  "--record", rec, "--record-key", env["pub"], "--device", "cpu")  # fmt: skip
    assert no_flag.exit_code == 2 and "--transformers" in no_flag.output
    bad_budget = check(env, env["llama"], rec, "--budget", "speed=3")
    assert bad_budget.exit_code == 2
    prompts = env["dir"] / "prompts.json"
    prompts.write_text("[[1, 2, 3], [4, 5]]")
    out = env["dir"] / "from-file.smoke.json"
    r = cli("smoke", "record", env["llama"], "--transformers", "--llm", "--prompts-file", prompts,
            "--new-tokens", "3", "--device", "cpu", "--out", out)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert check(env, env["llama"], out, "--record-key", env["pub"]).exit_code == 1  # unsigned
    r = cli("smoke", "check", env["llama"], "--transformers", "--record", out, "--device", "cpu",
            "--allow-unsigned-record")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "smoke.record_unverified_allowed" in r.output or "allow-unsigned-record" in r.output
    prompts.write_text("[[1, 2, 999]]")  # outside the vocabulary
    r = cli("smoke", "record", env["llama"], "--transformers", "--llm", "--prompts-file", prompts,
            "--device", "cpu", "--out", env["dir"] / "oov.smoke.json")  # fmt: skip
    assert r.exit_code == 1, r.output


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("name", ["llama", "gpt2", "bert"])
def test_recorded_on_cpu_checks_on_cuda(env: dict[str, Path], name: str) -> None:
    rec = record(env, name)
    r = check(env, env[name], rec, "--device", "cuda")
    assert r.exit_code == 0, r.output
    report = as_json(r)
    assert report["device"]["used"].startswith("cuda")
    int8 = check(env, env[name], rec, "--device", "cuda", "--quantize", "int8-dynamic",
                 "--budget", "top1=0.5")  # fmt: skip
    assert int8.exit_code == 2  # dynamic int8 kernels are CPU-only: refused, never faked
