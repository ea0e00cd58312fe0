"""`weightguard smoke record|check`: exit codes 0/1/2/3, text and JSON reports, signed records.

Most tests run the click group in-process (torch is imported once for the module); a
few run the real entry point in a subprocess. GPU tests (marker `gpu`) record on the CPU
and check on CUDA; they skip without a CUDA device.
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

torch = pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytestmark = pytest.mark.torch

REPO = Path(__file__).resolve().parents[2]
MODELS = ("mlp", "cnn", "transformer")
HAS_CUDA = torch.cuda.is_available()


def _factories(name: str) -> list[str]:
    return [
        "--factory",
        f"examples.models.{name}:build",
        "--input-factory",
        f"examples.models.{name}:example_input",
    ]


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    """Example weights, a key pair, and `examples` importable by name."""
    added = str(REPO) not in sys.path
    if added:
        sys.path.insert(0, str(REPO))
    from examples.models.generate_weights import generate
    from weightguard.signing.keys import generate_private_key, private_pem, public_pem

    d = tmp_path_factory.mktemp("smoke-cli")
    paths = {name: generate(name, d / "weights") for name in MODELS}
    key = generate_private_key("p256")
    (d / "release.pem").write_bytes(private_pem(key))
    (d / "release.pub.pem").write_bytes(public_pem(key.public_key()))
    paths.update(key=d / "release.pem", pub=d / "release.pub.pem", dir=d)
    yield paths
    if added:
        sys.path.remove(str(REPO))


def cli(*args: Any) -> Any:
    from weightguard.cli import cli as group

    return CliRunner().invoke(group, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def signed_record(env: dict[str, Path]) -> Path:
    out = env["dir"] / "mlp.smoke.json"
    r = cli(
        "smoke",
        "record",
        env["mlp"],
        *_factories("mlp"),
        "--device",
        "cpu",
        "--sign-key",
        env["key"],
        "--out",
        out,
    )
    assert r.exit_code == 0, r.output
    return out


def _json(result: Any) -> dict[str, Any]:
    doc = json.loads(result.stdout)
    assert doc["schema"] == "https://weightguard.dev/report/v1"
    assert doc["exit_code"] == result.exit_code
    return doc


def test_record_writes_a_signed_bundle_and_reports(
    env: dict[str, Path], signed_record: Path
) -> None:
    doc = json.loads(signed_record.read_text())
    assert "dsseEnvelope" in doc
    stmt = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    assert stmt["predicateType"] == "https://weightguard.dev/smoke/v1"
    r = cli(
        "smoke",
        "record",
        env["mlp"],
        *_factories("mlp"),
        "--device",
        "cpu",
        "--out",
        env["dir"] / "plain.json",
        "--format",
        "json",
    )
    report = _json(r)
    assert report["command"] == "smoke record" and report["verdict"] == "accepted"
    assert report["record"]["signed"] is False and report["device"]["used"] == "cpu"
    assert {"load_seconds", "run_seconds"} <= set(report)
    assert "_type" in json.loads((env["dir"] / "plain.json").read_text())


def test_record_default_path_is_beside_the_model(env: dict[str, Path]) -> None:
    r = cli("smoke", "record", env["cnn"], *_factories("cnn"), "--device", "cpu")
    assert r.exit_code == 0, r.output
    assert (env["cnn"].parent / "cnn.safetensors.smoke.json").is_file()
    assert "output.features: float32[2, 16, 16, 16] (projection)" in r.stdout


def test_check_passes_with_text_and_json(env: dict[str, Path], signed_record: Path) -> None:
    args = [
        "smoke",
        "check",
        env["mlp"],
        "--record",
        signed_record,
        "--record-key",
        env["pub"],
        *_factories("mlp"),
    ]
    r = cli(*args)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith("ACCEPTED: ")
    assert "signed by sha256:" in r.stdout and "load " in r.stdout and "run " in r.stdout
    doc = _json(cli(*args, "--format", "json"))
    assert doc["verdict"] == "accepted" and doc["record"]["signer"]["kind"] == "key"
    assert doc["outputs"][0]["ok"] is True and doc["numerics"]["tf32"] is False


def test_auto_device_says_what_it_used(env: dict[str, Path], signed_record: Path) -> None:
    doc = _json(
        cli(
            "smoke",
            "check",
            env["mlp"],
            "--record",
            signed_record,
            "--allow-unsigned-record",
            *_factories("mlp"),
            "--format",
            "json",
        )
    )
    assert doc["device"]["requested"] == "auto"
    assert doc["device"]["used"] == ("cuda:0" if HAS_CUDA else "cpu") and doc["device"]["why"]
    # an unverified record is accepted only when asked for explicitly, and loudly (issue 14)
    codes = [r["code"] for r in doc["reasons"]]
    assert codes[:2] == ["smoke.record_unverified_allowed", "smoke.record_unverified"]


def _perturbed(env: dict[str, Path], tmp_path: Path) -> Path:
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(env["mlp"]))
    tensors["head.weight"][2, 5] += 0.01
    out = tmp_path / "mlp.safetensors"
    save_file(tensors, str(out))
    return out


def test_perturbed_weight_exits_1_with_the_deviation(
    env: dict[str, Path], signed_record: Path, tmp_path: Path
) -> None:
    changed = _perturbed(env, tmp_path)
    r = cli(
        "smoke",
        "check",
        changed,
        "--record",
        signed_record,
        "--record-key",
        env["pub"],
        *_factories("mlp"),
    )
    assert r.exit_code == 1, r.output
    assert r.stdout.startswith("REJECTED: ")
    assert "[smoke.digest_mismatch]" in r.stdout and "[smoke.output_mismatch] output:" in r.stdout
    doc = _json(
        cli(
            "smoke",
            "check",
            changed,
            "--record",
            signed_record,
            "--record-key",
            env["pub"],
            *_factories("mlp"),
            "--format",
            "json",
        )
    )
    (out,) = doc["outputs"]
    assert out["ok"] is False and out["where"].endswith(", 2]") and out["max_deviation"] > 1e-4


@pytest.mark.parametrize(
    ("variant", "needle"),
    [
        ("mlp_extra_layer", "missing: norm.bias, norm.weight"),
        ("mlp_without_head_bias", "unexpected: head.bias"),
        ("mlp_wide", "shape mismatch: fc1.bias"),
        ("mlp_float64", "dtype mismatch: fc1.bias"),
    ],
)
def test_model_that_cannot_load_exits_3(
    env: dict[str, Path], signed_record: Path, variant: str, needle: str
) -> None:
    r = cli(
        "smoke",
        "check",
        env["mlp"],
        "--record",
        signed_record,
        "--record-key",
        env["pub"],
        "--factory",
        f"examples.models.variants:{variant}",
        "--input-factory",
        "examples.models.mlp:example_input",
        "--format",
        "json",
    )
    assert r.exit_code == 3, r.output
    doc = _json(r)
    assert doc["verdict"] == "incomplete"
    codes = {x["code"] for x in doc["reasons"]}
    assert codes & {
        "smoke.missing_key",
        "smoke.unexpected_key",
        "smoke.shape_mismatch",
        "smoke.dtype_mismatch",
    }
    text = cli(
        "smoke",
        "check",
        env["mlp"],
        "--record",
        signed_record,
        "--record-key",
        env["pub"],
        "--factory",
        f"examples.models.variants:{variant}",
        "--input-factory",
        "examples.models.mlp:example_input",
    )
    assert text.exit_code == 3 and needle.split(":")[1].split(",")[0].strip() in text.stdout


def test_record_about_other_weights_exits_1(env: dict[str, Path], signed_record: Path) -> None:
    r = cli(
        "smoke",
        "check",
        env["cnn"],
        "--record",
        signed_record,
        "--record-key",
        env["pub"],
        *_factories("cnn"),
        "--format",
        "json",
    )
    assert r.exit_code == 1
    doc = _json(r)
    assert doc["reasons"][0]["code"] == "smoke.digest_mismatch"


def test_tampered_record_fails_its_signature(
    env: dict[str, Path], signed_record: Path, tmp_path: Path
) -> None:
    doc = json.loads(signed_record.read_text())
    stmt = json.loads(base64.b64decode(doc["dsseEnvelope"]["payload"]))
    stmt["predicate"]["tolerance"]["rtol"] = 0.5  # loosen the check
    doc["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(stmt).encode()).decode()
    bad = tmp_path / "tampered.json"
    bad.write_text(json.dumps(doc))
    r = cli(
        "smoke",
        "check",
        env["mlp"],
        "--record",
        bad,
        "--record-key",
        env["pub"],
        *_factories("mlp"),
        "--format",
        "json",
    )
    assert r.exit_code == 1
    assert _json(r)["reasons"][0]["code"] == "signature.invalid"


def test_unsigned_record_when_a_key_is_given_exits_1(env: dict[str, Path]) -> None:
    plain = env["dir"] / "plain-mlp.json"
    assert (
        cli(
            "smoke", "record", env["mlp"], *_factories("mlp"), "--device", "cpu", "--out", plain
        ).exit_code
        == 0
    )
    r = cli(
        "smoke",
        "check",
        env["mlp"],
        "--record",
        plain,
        "--record-key",
        env["pub"],
        *_factories("mlp"),
    )
    assert r.exit_code == 1 and "[smoke.record_unsigned]" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--factory", "nocolon"], "must look like"),
        (["--factory", "no_such_mod_xyz:build"], "not found"),
        (["--factory", "examples.models.mlp:build"], "exactly one of --input-factory"),
        (["--factory", "examples.models.mlp:build", "--input-shape", "8,x"], "not a shape"),
        ([*_factories("mlp"), "--device", "tpu"], "unknown device"),
        ([*_factories("mlp"), "--rtol", "-1"], "must not be negative"),
    ],
)
def test_record_usage_errors_exit_2(env: dict[str, Path], args: list[str], message: str) -> None:
    r = cli(
        "smoke",
        "record",
        env["mlp"],
        *args,
        "--device" if "--device" not in args else "--seed",
        "cpu" if "--device" not in args else "0",
        "--out",
        env["dir"] / "never.json",
    )
    assert r.exit_code == 2, r.output
    assert message in r.output
    assert not (env["dir"] / "never.json").exists()


def test_record_inside_the_model_directory_is_refused(env: dict[str, Path], tmp_path: Path) -> None:
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(env["mlp"].read_bytes())
    r = cli(
        "smoke",
        "record",
        model,
        *_factories("mlp"),
        "--device",
        "cpu",
        "--out",
        model / "smoke.json",
    )
    assert r.exit_code == 2 and "inside the model directory" in r.output
    r = cli("smoke", "record", model, *_factories("mlp"), "--device", "cpu")
    assert r.exit_code == 0 and (tmp_path / "model.smoke.json").is_file()


@pytest.mark.skipif(HAS_CUDA, reason="this machine has CUDA")
def test_cuda_without_cuda_exits_2_in_a_real_process(
    env: dict[str, Path], signed_record: Path
) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "weightguard",
            "smoke",
            "check",
            str(env["mlp"]),
            "--record",
            str(signed_record),
            "--record-key",
            str(env["pub"]),
            *_factories("mlp"),
            "--device",
            "cuda",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.startswith("weightguard: error: --device cuda was asked for")
    assert "hint: use --device cpu" in proc.stderr


def test_verify_and_smoke_modules_do_not_import_torch() -> None:
    code = (
        "import sys, weightguard.smoke, weightguard.cli.smoke, weightguard.cli.verify;"
        "from weightguard.cli import cli;"
        "bad = [m for m in ('torch', 'safetensors', 'numpy') if m in sys.modules];"
        "assert not bad, bad"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )
    assert proc.returncode == 0, proc.stderr


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("name", MODELS)
def test_record_on_cpu_check_on_cuda(env: dict[str, Path], name: str) -> None:
    record = env["dir"] / f"{name}.cpu-record.json"
    r = cli(
        "smoke",
        "record",
        env[name],
        *_factories(name),
        "--device",
        "cpu",
        "--sign-key",
        env["key"],
        "--out",
        record,
    )
    assert r.exit_code == 0, r.output
    r = cli(
        "smoke",
        "check",
        env[name],
        "--record",
        record,
        "--record-key",
        env["pub"],
        *_factories(name),
        "--device",
        "cuda",
        "--format",
        "json",
    )
    doc = json.loads(r.stdout)
    print(
        json.dumps(
            {
                "model": name,
                "device": doc.get("device"),
                "outputs": doc.get("outputs"),
                "load_seconds": doc.get("load_seconds"),
                "run_seconds": doc.get("run_seconds"),
            }
        )
    )
    assert r.exit_code == 0, r.output
    assert doc["device"]["used"].startswith("cuda") and doc["numerics"]["deterministic_algorithms"]
