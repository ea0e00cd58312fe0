"""in-toto layouts in a policy: train -> convert links verified over the model, offline.

The layout is signed by the policy's `team-a` key (the owner); the steps are run by the
`team-b` functionary with the real `in_toto_run`. The chain's final products must be the
model's files. Layouts with inspections are refused at policy load (they would run
commands at verify time).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.unit.policy.kit import Kit, make_kit, safetensors_bytes

pytest.importorskip("in_toto", reason="in-toto extra not installed")
# in_toto_run (test side only) records artifacts through a deprecated pathspec API.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

from securesystemslib.signer import CryptoSigner  # noqa: E402

from weightguard.policy import PolicyError  # noqa: E402
from weightguard.policy.evaluate import Status  # noqa: E402
from weightguard.signing.keys import load_private_key  # noqa: E402


@pytest.fixture(scope="module")
def kit(tmp_path_factory: pytest.TempPathFactory) -> Kit:
    return make_kit(tmp_path_factory.mktemp("layout-kit"))


def _signer(kit: Kit, name: str) -> CryptoSigner:
    return CryptoSigner(load_private_key(kit.keys / f"{name}.pem"))


def write_layout(
    kit: Kit, dest: Path, *, owner: str = "team-a", inspect: bool = False, days: int = 30
) -> Path:
    from in_toto.models.layout import Inspection, Layout, Step
    from in_toto.models.metadata import Envelope

    func = _signer(kit, "team-b")
    key = {**func.public_key.to_dict(), "keyid": func.public_key.keyid}
    layout = Layout()
    layout.set_relative_expiration(days=days)
    layout.keys = {func.public_key.keyid: key}
    train = Step(name="train")
    train.pubkeys = [func.public_key.keyid]
    train.expected_products = [["CREATE", "model.pkl"], ["DISALLOW", "*"]]
    convert = Step(name="convert")
    convert.pubkeys = [func.public_key.keyid]
    convert.expected_materials = [
        ["MATCH", "model.pkl", "WITH", "PRODUCTS", "FROM", "train"],
        ["DISALLOW", "*"],
    ]
    convert.expected_products = [
        ["CREATE", "weights.safetensors"],
        ["CREATE", "config.json"],
        ["ALLOW", "model.pkl"],
        ["DISALLOW", "*"],
    ]
    layout.steps = [train, convert]
    if inspect:
        check = Inspection(name="untar")
        check.set_run_from_string("tar xf model.tar")
        layout.inspect = [check]
    envelope = Envelope.from_signable(layout)
    envelope.create_signature(_signer(kit, owner))
    dest.parent.mkdir(parents=True, exist_ok=True)
    envelope.dump(str(dest))
    return dest


def run_chain(kit: Kit, work: Path, model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run train and convert with in_toto_run in `work`, then ship the products to `model`."""
    from in_toto.runlib import in_toto_run

    func = _signer(kit, "team-b")
    links = model / "model.sig.d" / "in-toto"
    links.mkdir(parents=True)
    work.mkdir()
    monkeypatch.chdir(work)
    (work / "model.pkl").write_bytes(b"\x80\x04K\x01.")
    link = in_toto_run("train", [], ["model.pkl"], [], signer=func, use_dsse=True)
    link.dump(str(links / f"train.{func.public_key.keyid[:8]}.link"))
    (work / "weights.safetensors").write_bytes(safetensors_bytes())
    (work / "config.json").write_text('{"layers": 2}\n')
    link = in_toto_run(
        "convert",
        ["model.pkl"],
        ["model.pkl", "weights.safetensors", "config.json"],
        [],
        signer=func,
        use_dsse=True,
    )
    link.dump(str(links / f"convert.{func.public_key.keyid[:8]}.link"))
    for name in ("weights.safetensors", "config.json"):
        shutil.copy(work / name, model / name)


def layout_policy(kit: Kit, base: Path, layout: Path) -> Path:
    spec = (
        "  rules:\n  - name: chain\n    paths: ['**']\n    signatures: {anyOf: [team-a]}\n"
        f"    layout: {{file: {layout}, signers: [team-a]}}\n"
    )
    return kit.policy(base, spec)


def outcome(kit: Kit, model: Path, policy: Path) -> tuple[int, set[tuple[str, str]]]:
    result = kit.gate(model, policy)
    codes = {(c.status.value, c.code) for c in result.decision.checks}
    return int(result.report().exit_code), codes


def test_layout_verifies(kit: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "model"
    run_chain(kit, tmp_path / "work", model, monkeypatch)
    kit.sign(model, "team-a")
    policy = layout_policy(kit, tmp_path / "p", write_layout(kit, tmp_path / "root.layout"))
    rc, codes = outcome(kit, model, policy)
    assert rc == 0 and ("passed", "layout.ok") in codes


def test_model_changed_after_the_chain(
    kit: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "model"
    run_chain(kit, tmp_path / "work", model, monkeypatch)
    (model / "weights.safetensors").write_bytes(safetensors_bytes(4))
    kit.sign(model, "team-a")  # validly signed, but not what the supply chain produced
    policy = layout_policy(kit, tmp_path / "p", write_layout(kit, tmp_path / "root.layout"))
    rc, codes = outcome(kit, model, policy)
    assert rc == 1 and ("failed", "layout.products_mismatch") in codes


def test_links_missing(kit: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "model"
    run_chain(kit, tmp_path / "work", model, monkeypatch)
    for link in (model / "model.sig.d" / "in-toto").glob("convert.*"):
        link.unlink()
    kit.sign(model, "team-a")
    policy = layout_policy(kit, tmp_path / "p", write_layout(kit, tmp_path / "root.layout"))
    rc, codes = outcome(kit, model, policy)
    assert rc == 1 and ("failed", "layout.links_missing") in codes


def test_layout_signed_by_someone_else(
    kit: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = tmp_path / "model"
    run_chain(kit, tmp_path / "work", model, monkeypatch)
    kit.sign(model, "team-a")
    layout = write_layout(kit, tmp_path / "root.layout", owner="rogue")
    rc, codes = outcome(kit, model, layout_policy(kit, tmp_path / "p", layout))
    assert rc == 1 and ("failed", "layout.signature") in codes


def test_expired_layout(kit: Kit, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    model = tmp_path / "model"
    run_chain(kit, tmp_path / "work", model, monkeypatch)
    kit.sign(model, "team-a")
    layout = write_layout(kit, tmp_path / "root.layout", days=-1)
    rc, codes = outcome(kit, model, layout_policy(kit, tmp_path / "p", layout))
    assert rc == 1 and ("failed", "layout.expired") in codes


def test_inspections_are_refused_at_load(kit: Kit, tmp_path: Path) -> None:
    layout = write_layout(kit, tmp_path / "root.layout", inspect=True)
    with pytest.raises(PolicyError) as err:
        from weightguard.policy import load_policy

        load_policy(layout_policy(kit, tmp_path / "p", layout))
    assert err.value.code == "layout.inspection_refused" and err.value.exit_code == 2


def test_not_a_layout(kit: Kit, tmp_path: Path) -> None:
    bogus = tmp_path / "bogus.layout"
    bogus.write_text(json.dumps({"signed": {"_type": "nope"}, "signatures": []}))
    from weightguard.policy import load_policy

    with pytest.raises(PolicyError) as err:
        load_policy(layout_policy(kit, tmp_path / "p", bogus))
    assert err.value.code == "policy.layout_invalid"


def test_status_enum_has_layout_codes() -> None:
    assert Status.PASSED.value == "passed"
