"""Crafted LLM smoke records and model folders: rejected or refused, never a crash (exit 4).

The attacker writes the record (when a deploy accepts unsigned records) and everything in
the model folder; the verdict must stay a clean 1 (rejected) or 3 (incomplete).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

pytest.importorskip("torch")
pytest.importorskip("safetensors")
pytest.importorskip("transformers")
pytestmark = pytest.mark.torch

REPO = Path(__file__).resolve().parents[2]


def cli(*args: Any) -> Any:
    from weightguard.cli import cli as group

    return CliRunner().invoke(group, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Path]]:
    added = str(REPO) not in sys.path
    if added:
        sys.path.insert(0, str(REPO))
    from examples.models.hf_tiny import make

    d = tmp_path_factory.mktemp("adv-llm")
    model = make("gpt2", d / "gpt2")
    rec = d / "gpt2.smoke.json"
    r = cli("smoke", "record", model, "--transformers", "--llm", "--new-tokens", "3",
            "--device", "cpu", "--out", rec)  # fmt: skip
    assert r.exit_code == 0, r.output
    yield {"model": model, "record": rec, "dir": d}
    if added:
        sys.path.remove(str(REPO))


def crafted(base: dict[str, Path], name: str, change: Any) -> Path:
    stmt = json.loads(base["record"].read_text())
    change(stmt["predicate"])
    out = base["dir"] / name
    out.write_text(json.dumps(stmt))
    return out


def check(base: dict[str, Path], rec: Path) -> Any:
    # Unsigned on purpose: what is under test is that a crafted record never crashes the
    # check (a trusted signer's tooling bug must not turn into exit 3/4 either).
    return cli("smoke", "check", base["model"], "--transformers", "--record", rec,
               "--device", "cpu", "--format", "json", "--allow-unsigned-record")  # fmt: skip


def test_recorded_token_outside_vocab_is_rejected_not_a_run_failure(
    base: dict[str, Path],
) -> None:
    # Before: the replay fed token 10**6 to the embedding -> IndexError -> exit 3
    # ("could not run"), which a lenient gate may treat as "skip". Now: a bad record, exit 1.
    def change(p: dict[str, Any]) -> None:
        p["llm"]["sequences"][0]["tokens"][0] = 10**6

    r = check(base, crafted(base, "oov.json", change))
    assert r.exit_code == 1, r.output
    assert "smoke.prompt_out_of_vocab" in r.output


@pytest.mark.parametrize(
    "change",
    [
        lambda p: p["llm"]["sequences"][0].update(tokens=["a", "b", "c"]),
        lambda p: p["llm"]["sequences"][0]["top"][0].update(logprobs=[1e308] * 5),
        lambda p: p["llm"].update(new_tokens=10**9),
        lambda p: p["llm"].update(sequences=[]),
        lambda p: p["llm"].update(prompts=[[]]),
        lambda p: p.update(llm="x"),
        lambda p: p["input"].update(kind="pickle"),
        lambda p: p["model"].update(builder="remote"),
    ],
)
def test_malformed_llm_sections_are_rejected(base: dict[str, Path], change: Any) -> None:
    r = check(base, crafted(base, "bad.json", change))
    assert r.exit_code == 1, r.output
    assert "smoke.record_malformed" in r.output


def test_a_check_record_is_not_a_reference(base: dict[str, Path]) -> None:
    r = check(base, crafted(base, "check.json", lambda p: p.update(outcome="passed")))
    assert r.exit_code == 2 and "check record" in r.output


def test_record_inside_model_dir_refused_except_sig_d(base: dict[str, Path]) -> None:
    r = cli("smoke", "record", base["model"], "--transformers", "--device", "cpu",
            "--out", base["model"] / "x.smoke.json")  # fmt: skip
    assert r.exit_code == 2
    (base["model"] / "model.sig.d").mkdir(exist_ok=True)
    r = cli("smoke", "record", base["model"], "--transformers", "--device", "cpu",
            "--out", base["model"] / "model.sig.d" / "x.smoke.json")  # fmt: skip
    assert r.exit_code == 0, r.output
    r = check(base, base["model"] / "model.sig.d" / "x.smoke.json")
    assert r.exit_code == 0, r.output  # model.sig.d is not part of the digest
