"""Issue 11, class 5: symlinks cannot redirect what was signed.

With symlinks allowed (`--allow-symlinks` or a bundle signed with `allow_symlinks`), the
OMS rule (model-signing 1.1.1) never descends into a symlinked directory: it is silently
left out of the listing. An attacker who can write to the model folder used that to make
content reachable under the model's own names without the signature covering it:

- a signed subfolder moved into an ignored place (`model.sig.d/`, `.git/`) and replaced by
  a directory symlink to it, with an extra file beside the signed ones: the signed files
  are still found (through the link) and match, the extra file is never listed;
- a new directory symlink added to a signed model: not noticed at all.

weightguard is stricter than OMS here (README, "deliberately differs"): a symlinked
directory anywhere in the model is refused (`model.symlink_dir`) when signing and when
verifying, and a signed file is never read through a symlinked parent directory.
Each test below was accepted by the code before the fix (verdict `accepted`).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.models import KeyPair, make_keypair, ordering_trap_model, write
from weightguard.api import sign, verify
from weightguard.errors import RejectedError
from weightguard.manifest import enumerate_model
from weightguard.signing.ec import EcKeySigner, EcKeyVerifier


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> KeyPair:
    return make_keypair(tmp_path_factory.mktemp("keys"), "k")


def _signed(tmp_path: Path, keys: KeyPair) -> Path:
    model = ordering_trap_model(tmp_path / "m")
    sign(model, EcKeySigner.from_file(keys.private), allow_symlinks=True)
    return model


def _codes(model: Path, keys: KeyPair, **kw: object) -> list[str]:
    result = verify(model, EcKeyVerifier.from_files([keys.public]), **kw)  # type: ignore[arg-type]
    return [r.code for r in result.reasons if r.severity == "error"]


@pytest.mark.parametrize("hideout", ["model.sig.d/cache", ".git/objects", ".github/w"])
def test_signed_folder_swapped_for_a_link_into_an_ignored_place(
    tmp_path: Path, keys: KeyPair, hideout: str
) -> None:
    """`weights/` moved under an ignored folder, an extra file put beside the signed ones,
    `weights` made a directory symlink to it: before the fix, verify accepted (the signed
    files matched through the link; `weights/backdoor.py` was never listed)."""
    model = _signed(tmp_path, keys)
    target = model / hideout
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(model / "weights", target)
    write(target / "backdoor.py", b"import os; os.system('id')\n")
    (model / "weights").symlink_to(hideout, target_is_directory=True)
    assert (model / "weights" / "backdoor.py").is_file()  # what a loader would see
    assert _codes(model, keys) == ["model.symlink_dir"]
    assert _codes(model, keys, allow_symlinks=True) == ["model.symlink_dir"]


def test_directory_symlink_added_to_a_signed_model(tmp_path: Path, keys: KeyPair) -> None:
    """A new `adapter -> weights/sub` link adds loadable content (`adapter/deep.bin`) that
    no signature names; before the fix the link was skipped and verify accepted."""
    model = _signed(tmp_path, keys)
    (model / "adapter").symlink_to("weights/sub", target_is_directory=True)
    assert _codes(model, keys) == ["model.symlink_dir"]


def test_directory_symlink_to_the_signature_folder(tmp_path: Path, keys: KeyPair) -> None:
    """`extra -> model.sig.d`: attacker-chosen files under a model name; accepted before."""
    model = _signed(tmp_path, keys)
    write(model / "model.sig.d" / "payload.bin", b"evil")
    (model / "extra").symlink_to("model.sig.d", target_is_directory=True)
    assert _codes(model, keys) == ["model.symlink_dir"]


def test_signing_refuses_a_directory_symlink(tmp_path: Path, keys: KeyPair) -> None:
    """Signing used to leave the linked folder out of the bundle, silently: whoever
    loads `linked/deep.bin` later gets bytes the signature never covered."""
    model = ordering_trap_model(tmp_path / "m")
    (model / "linked").symlink_to("weights/sub", target_is_directory=True)
    with pytest.raises(RejectedError) as info:
        sign(model, EcKeySigner.from_file(keys.private), allow_symlinks=True)
    assert info.value.code == "model.symlink_dir" and info.value.path == "linked"


def test_ignored_link_cannot_carry_signed_files(tmp_path: Path, keys: KeyPair) -> None:
    """`--ignore weights` skips listing `weights/`; the signed files under it must then not
    be read through a directory symlink, even one that stays inside the model (before the
    fix: accepted, with `weights/backdoor.py` unseen)."""
    model = _signed(tmp_path, keys)
    shutil.move(model / "weights", model / "model.sig.d")
    write(model / "model.sig.d" / "backdoor.py", b"x")
    (model / "weights").symlink_to("model.sig.d", target_is_directory=True)
    codes = _codes(model, keys, allow_symlinks=True, ignore_paths=["weights"])
    assert codes and set(codes) == {"file.missing"}


def test_gate_refuses_directory_symlink(tmp_path: Path) -> None:
    """The policy gate lists the model with the same rule (`allowSymlinks: true`)."""
    model = ordering_trap_model(tmp_path / "m")
    (model / "more").symlink_to("weights", target_is_directory=True)
    with pytest.raises(RejectedError) as info:
        enumerate_model(model, allow_symlinks=True, ignore_paths=["model.sig", "model.sig.d"])
    assert info.value.code == "model.symlink_dir"
