"""LLM mode pieces: prompts, greedy decoding, token comparison, KL bound, drift budgets."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from weightguard.errors import BundleError, UsageError
from weightguard.smoke.budget import Budget, judge, parse_budget
from weightguard.smoke.llm import (
    LlmRequest,
    LlmSpec,
    compare_sequence,
    decode,
    encode_sequences,
    parse_llm,
    read_prompts,
    replay,
    seeded_prompts,
)

torch = pytest.importorskip("torch")


class Bigram(torch.nn.Module):
    """Next token = f(last token): logits from a fixed table (deterministic, tiny)."""

    def __init__(self, vocab: int = 7) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(3)
        self.table = torch.nn.Parameter(torch.randn(vocab, vocab, generator=gen) * 3)

    def forward(self, input_ids: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"logits": self.table[input_ids]}


def test_seeded_prompts_are_reproducible_and_in_vocab() -> None:
    a = seeded_prompts(5, 3, 4, 11)
    assert a == seeded_prompts(5, 3, 4, 11) != seeded_prompts(6, 3, 4, 11)
    assert len(a) == 3 and all(len(p) == 4 and all(0 <= t < 11 for t in p) for p in a)
    with pytest.raises(UsageError):
        seeded_prompts(0, 0, 4, 11)


def test_read_prompts(tmp_path: Path) -> None:
    f = tmp_path / "p.json"
    f.write_text("[[1, 2], [3]]")
    assert read_prompts(f) == ((1, 2), (3,))
    for bad in ("[]", "[[]]", "[[1, -2]]", '[["a"]]', "[[true]]", "{}", "[[1.5]]", "nope"):
        f.write_text(bad)
        with pytest.raises(UsageError):
            read_prompts(f)


def test_greedy_decode_then_replay_agrees() -> None:
    model = Bigram()
    spec = LlmSpec(((1, 2), (4,)), "seeded", 5, 3)
    decoded = decode(model, spec, "cpu")
    for d in decoded:
        tokens = [*d.prompt, *d.tokens]
        for j in range(len(d.tokens)):  # each token is the argmax after its prefix
            assert tokens[len(d.prompt) + j] == int(
                torch.argmax(model.table[tokens[len(d.prompt) + j - 1]])
            )
    seqs = encode_sequences(decoded, 3)
    parse_llm({"prompts": [[1, 2], [4]], "new_tokens": 5, "top_k": 3, "sequences": seqs})
    again = replay(model, spec, [s["tokens"] for s in seqs], "cpu")
    for i, (seq, d) in enumerate(zip(seqs, again)):
        c = compare_sequence(i, seq, d.logprobs)
        assert c.first_divergence is None and c.top1_agree == 5
        assert c.max_kl == 0.0 and c.max_logprob_error == 0.0


def test_first_divergence_is_named_after_a_change() -> None:
    model = Bigram()
    spec = LlmSpec(((1,),), "seeded", 6, 4)
    seqs = encode_sequences(decode(model, spec, "cpu"), 4)
    tokens = seqs[0]["tokens"]
    with torch.no_grad():  # make token tokens[2] never the argmax after tokens[1]
        model.table[tokens[1], tokens[2]] = -100.0
    d = replay(model, spec, [tokens], "cpu")[0]
    c = compare_sequence(0, seqs[0], d.logprobs)
    assert c.first_divergence == 2 and c.expected_token == tokens[2]
    assert c.actual_token != tokens[2] and c.max_kl > 0.1
    reason = c.reason(1)
    assert reason.code == "smoke.token_mismatch" and "generated token 2" in reason.message


def test_kl_over_topk_plus_rest_is_a_lower_bound() -> None:
    gen = torch.Generator().manual_seed(0)
    p = torch.log_softmax(torch.randn(1, 50, generator=gen, dtype=torch.float64), -1)
    q = torch.log_softmax(torch.randn(1, 50, generator=gen, dtype=torch.float64), -1)
    full = float((p.exp() * (p - q)).sum())
    vals, idx = torch.topk(p[0], 5)
    seq = {"tokens": [int(idx[0])], "top": [{"ids": idx.tolist(), "logprobs": vals.tolist()}]}
    c = compare_sequence(0, seq, q)
    assert 0 < c.max_kl <= full + 1e-12


def test_parse_llm_refuses_malformed_sections() -> None:
    good = {
        "prompts": [[1]],
        "new_tokens": 1,
        "top_k": 2,
        "sequences": [{"tokens": [3], "top": [{"ids": [3, 1], "logprobs": [-0.1, -2.0]}]}],
    }
    parse_llm(good)
    bads = [
        {**good, "new_tokens": 10**9},
        {**good, "top_k": 0},
        {**good, "prompts": [[1], [2]]},
        {**good, "sequences": [{"tokens": ["3"], "top": good["sequences"][0]["top"]}]},
        {**good, "sequences": [{"tokens": [3], "top": [{"ids": [3], "logprobs": [0.5]}]}]},
        {**good, "sequences": [{"tokens": [3], "top": [{"ids": [3], "logprobs": [math.nan]}]}]},
        {**good, "sequences": [{"tokens": [3], "top": [{"ids": [3, 1, 2], "logprobs": [-1] * 3}]}]},
        [],
    ]
    for bad in bads:
        with pytest.raises(BundleError):
            parse_llm(bad)


def test_llm_request_needs_vocab_for_seeded_prompts() -> None:
    with pytest.raises(UsageError):
        LlmRequest().resolve(0, None)
    assert LlmRequest(prompts=((1,),), source="f.json").resolve(0, None).prompts == ((1,),)
    with pytest.raises(UsageError):
        LlmSpec(((1,),), "x", 0, 1)


def test_budget_parse_and_judge() -> None:
    b = parse_budget("max_abs=0.5, top1=0.9,kl=1e-3")
    assert b == Budget(max_abs=0.5, top1=0.9, kl=1e-3)
    for bad in ("", "speed=1", "kl=1,kl=2", "top1=1.5", "kl=-1", "kl=nan", "kl"):
        with pytest.raises(UsageError):
            parse_budget(bad)
    assert judge(b, {"max_abs": 0.4, "top1": 0.95, "kl": 1e-4}) == []
    failed = judge(b, {"max_abs": 0.6, "top1": 0.8, "kl": 1e-4})
    assert [r.path for r in failed] == ["max_abs", "top1"]
    assert all(r.code == "smoke.drift_exceeded" for r in failed)
    unmeasured = judge(Budget(kl=1.0), {"max_abs": 0.0})
    assert [r.code for r in unmeasured] == ["smoke.drift_unmeasured"]
