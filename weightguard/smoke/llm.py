"""LLM smoke mode: fixed prompts, greedy decoding, per-token top-k log-probabilities.

Owns: the prompts (seeded token ids, or a JSON file of token-id lists: no tokenizer is
ever needed), greedy decoding of N tokens, what a record keeps of it, and comparing a
new run with it.

Recording decodes each prompt token by token (argmax, re-running the whole prefix: no
KV cache, so no cache code path differs between machines), then runs ONE forward pass
over prompt + generated tokens and keeps, for every generated position, the top-k
log-probabilities of that teacher-forced pass. A check runs that same teacher-forced
pass over the recorded sequence: position j's argmax equals the recorded token j for
every j exactly when free-running greedy decoding would reproduce the recorded tokens
(induction on j), so one forward pass names the first diverging position, and the
log-probabilities line up position by position even after a divergence.

KL divergence is computed over the recorded top-k tokens plus one "rest" bucket
(1 - their total probability): a lower bound of the full-vocabulary KL(reference || new)
(coarse-graining never increases KL), exact when the reference mass is in the top-k.
torch is imported inside the functions.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from weightguard.errors import BundleError, UsageError
from weightguard.report import Reason
from weightguard.smoke.factory import ModelBuildError

MAX_PROMPTS = 64
MAX_PROMPT_TOKENS = 4096
MAX_NEW_TOKENS = 1024
MAX_TOP_K = 64


@dataclass(frozen=True)
class LlmSpec:
    """What to decode: prompts (token ids), how many new tokens, how many log-probs kept."""

    prompts: tuple[tuple[int, ...], ...]
    source: str  # "seeded" or the prompts file name
    new_tokens: int
    top_k: int

    def __post_init__(self) -> None:
        if not 1 <= self.new_tokens <= MAX_NEW_TOKENS:
            raise UsageError(f"--new-tokens must be 1..{MAX_NEW_TOKENS}", code="smoke.llm")
        if not 1 <= self.top_k <= MAX_TOP_K:
            raise UsageError(f"--top-k must be 1..{MAX_TOP_K}", code="smoke.llm")

    def sha256(self) -> str:
        """Digest of the prompt ids (canonical JSON)."""
        text = json.dumps([list(p) for p in self.prompts], separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()


def _valid_prompts(raw: Any) -> tuple[tuple[int, ...], ...] | None:
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_PROMPTS:
        return None
    out = []
    for p in raw:
        if (
            not isinstance(p, list)
            or not 1 <= len(p) <= MAX_PROMPT_TOKENS
            or not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in p)
        ):
            return None
        out.append(tuple(p))
    return tuple(out)


def read_prompts(path: Path) -> tuple[tuple[int, ...], ...]:
    """A prompts file: a JSON list of token-id lists, e.g. ``[[1, 15, 27], [1, 9]]``.

    Raises:
        UsageError: unreadable or not a list of 1..64 non-empty lists of token ids.
    """
    try:
        raw = json.loads(path.read_bytes()[: 16 << 20].decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise UsageError(f"cannot read prompts: {exc}", path=str(path), code="smoke.llm") from exc
    prompts = _valid_prompts(raw)
    if prompts is None:
        raise UsageError(
            f"prompts must be a JSON list of 1..{MAX_PROMPTS} lists of token ids",
            path=str(path),
            code="smoke.llm",
        )
    return prompts


def seeded_prompts(seed: int, count: int, length: int, vocab: int) -> tuple[tuple[int, ...], ...]:
    """`count` prompts of `length` token ids drawn from a CPU generator seeded with `seed`."""
    import torch

    if not 1 <= count <= MAX_PROMPTS or not 1 <= length <= MAX_PROMPT_TOKENS:
        raise UsageError(
            f"--prompts N,L: 1..{MAX_PROMPTS} prompts of 1..{MAX_PROMPT_TOKENS} tokens",
            code="smoke.llm",
        )
    gen = torch.Generator(device="cpu").manual_seed(seed)
    ids = torch.randint(0, vocab, (count, length), generator=gen)
    return tuple(tuple(int(t) for t in row) for row in ids.tolist())


def logits_of(result: Any) -> Any:
    """The [batch, positions, vocab] logits of a forward result (tensor, .logits, dict, tuple)."""
    import torch

    if isinstance(result, torch.Tensor):
        logits = result
    elif isinstance(result, Mapping) and "logits" in result:
        logits = result["logits"]
    elif hasattr(result, "logits"):
        logits = result.logits
    elif isinstance(result, tuple | list) and result and isinstance(result[0], torch.Tensor):
        logits = result[0]
    else:
        raise ModelBuildError(
            f"LLM mode: the model returned {type(result).__name__}, not logits",
            code="smoke.run_failed",
        )
    if not isinstance(logits, torch.Tensor) or logits.dim() != 3:
        raise ModelBuildError(
            "LLM mode: logits must be a [batch, positions, vocab] tensor", code="smoke.run_failed"
        )
    return logits


def _forward(module: Any, ids: Sequence[int], device: str) -> Any:
    import torch

    x = torch.tensor([list(ids)], dtype=torch.int64, device=device)
    try:
        return logits_of(module(input_ids=x))
    except ModelBuildError:
        raise
    except Exception as exc:
        raise ModelBuildError(
            f"the forward pass raised {type(exc).__name__}: {exc}", code="smoke.run_failed"
        ) from exc


def check_vocab(prompts: Sequence[Sequence[int]], vocab: int | None) -> None:
    """Refuse token ids outside the vocabulary (they come from a record or a file)."""
    if vocab is None:
        return
    for i, p in enumerate(prompts):
        bad = [t for t in p if t >= vocab]
        if bad:
            raise BundleError(
                f"prompt {i} has token id {bad[0]} outside the vocabulary (size {vocab})",
                code="smoke.prompt_out_of_vocab",
            )


def teacher_forced(module: Any, prompt: Sequence[int], tokens: Sequence[int], device: str) -> Any:
    """float64 log-probabilities [len(tokens), vocab] predicting each token from its prefix."""
    import torch

    logits = _forward(module, [*prompt, *tokens[:-1]], device)[0, len(prompt) - 1 :]
    return torch.log_softmax(logits.to("cpu", torch.float64), dim=-1)


@dataclass(frozen=True)
class Decoded:
    """One prompt's greedy continuation, its teacher-forced log-probs, its prompt logits."""

    prompt: tuple[int, ...]
    tokens: tuple[int, ...]
    logprobs: Any  # float64 [new_tokens, vocab]
    prompt_logits: Any  # [1, len(prompt), vocab], model dtype, CPU


def decode(module: Any, spec: LlmSpec, device: str) -> list[Decoded]:
    """Greedy-decode every prompt (inference mode; the caller pins numerics)."""
    import torch

    out = []
    with torch.inference_mode():
        for prompt in spec.prompts:
            ids = list(prompt)
            prompt_logits = None
            for _ in range(spec.new_tokens):
                logits = _forward(module, ids, device)
                if prompt_logits is None:
                    prompt_logits = logits.detach().to("cpu")
                ids.append(int(torch.argmax(logits[0, -1])))
            tokens = tuple(ids[len(prompt) :])
            out.append(
                Decoded(
                    prompt, tokens, teacher_forced(module, prompt, tokens, device), prompt_logits
                )
            )
    return out


def encode_sequences(decoded: Sequence[Decoded], top_k: int) -> list[dict[str, Any]]:
    """The record's ``llm.sequences``: tokens and per-position top-k (ids, log-probs)."""
    import torch

    seqs = []
    for d in decoded:
        k = min(top_k, d.logprobs.shape[-1])
        vals, idx = torch.topk(d.logprobs, k, dim=-1)
        if not bool(torch.isfinite(vals).all()):
            raise ModelBuildError("LLM mode: non-finite log-probabilities", code="smoke.run_failed")
        seqs.append(
            {
                "tokens": list(d.tokens),
                "top": [
                    {"ids": i, "logprobs": v}
                    for i, v in zip(idx.tolist(), vals.tolist(), strict=True)
                ],
            }
        )
    return seqs


def parse_llm(raw: Any) -> dict[str, Any]:
    """Validate a record's ``llm`` section (attacker-controlled when unsigned).

    Raises:
        BundleError: malformed.
    """

    def bad(what: str) -> BundleError:
        return BundleError(f"smoke record: llm.{what}", code="smoke.record_malformed")

    if not isinstance(raw, dict):
        raise bad("is not an object")
    prompts = _valid_prompts(raw.get("prompts"))
    if prompts is None:
        raise bad("prompts must be lists of token ids")
    n, k = raw.get("new_tokens"), raw.get("top_k")
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_NEW_TOKENS:
        raise bad("new_tokens is out of range")
    if not isinstance(k, int) or isinstance(k, bool) or not 1 <= k <= MAX_TOP_K:
        raise bad("top_k is out of range")
    seqs = raw.get("sequences")
    if not isinstance(seqs, list) or len(seqs) != len(prompts):
        raise bad("sequences must have one entry per prompt")
    for s in seqs:
        if not isinstance(s, dict):
            raise bad("sequences entries must be objects")
        tokens, top = s.get("tokens"), s.get("top")
        if (
            not isinstance(tokens, list)
            or len(tokens) != n
            or not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in tokens)
        ):
            raise bad("sequences[].tokens must be new_tokens token ids")
        if not isinstance(top, list) or len(top) != n:
            raise bad("sequences[].top must have new_tokens entries")
        for step in top:
            ids = step.get("ids") if isinstance(step, dict) else None
            lps = step.get("logprobs") if isinstance(step, dict) else None
            if (
                not isinstance(ids, list)
                or not isinstance(lps, list)
                or len(ids) != len(lps)
                or not 1 <= len(ids) <= k
                or not all(isinstance(t, int) and not isinstance(t, bool) and t >= 0 for t in ids)
                or not all(
                    isinstance(v, int | float)
                    and not isinstance(v, bool)
                    and math.isfinite(v)
                    and v <= 0
                    for v in lps
                )
            ):
                raise bad("sequences[].top entries need ids and log-probs (<= 0)")
    return raw


@dataclass(frozen=True)
class TokenComparison:
    """One prompt: where greedy decoding first diverges, and the log-prob drift."""

    prompt: int
    first_divergence: int | None  # generated position, None when all tokens agree
    expected_token: int | None
    actual_token: int | None
    top1_agree: int
    positions: int
    max_logprob_error: float
    max_kl: float

    def to_json_dict(self) -> dict[str, Any]:
        """JSON form for reports."""
        return {
            "prompt": self.prompt,
            "first_divergence": self.first_divergence,
            "expected_token": self.expected_token,
            "actual_token": self.actual_token,
            "top1_agreement": self.top1_agree / self.positions,
            "max_logprob_error": self.max_logprob_error,
            "max_kl": self.max_kl,
        }

    def reason(self, prompt_len: int, severity: str = "error") -> Reason:
        """The finding for a diverging prompt."""
        assert self.first_divergence is not None
        return Reason(
            "smoke.token_mismatch",
            f"prompt {self.prompt}: greedy decoding diverges at generated token "
            f"{self.first_divergence} (sequence position {prompt_len + self.first_divergence}); "
            f"{self.top1_agree} of {self.positions} tokens agree",
            path=f"llm.sequences[{self.prompt}]",
            expected=str(self.expected_token),
            actual=str(self.actual_token),
            severity=severity,
        )


def compare_sequence(index: int, recorded: Mapping[str, Any], logprobs: Any) -> TokenComparison:
    """Compare a teacher-forced run ([N, vocab] float64) with one recorded sequence."""
    import torch

    tokens = list(recorded["tokens"])
    argmax = torch.argmax(logprobs, dim=-1).tolist()
    first = next((j for j, (a, b) in enumerate(zip(argmax, tokens)) if a != b), None)
    vocab = logprobs.shape[-1]
    worst_lp, worst_kl = 0.0, 0.0
    for j, step in enumerate(recorded["top"]):
        ids = [i for i in step["ids"] if i < vocab]
        if len(ids) != len(step["ids"]):
            worst_lp, worst_kl = math.inf, math.inf
            continue
        ref = torch.tensor(step["logprobs"], dtype=torch.float64)
        new = logprobs[j, torch.tensor(ids, dtype=torch.int64)]
        worst_lp = max(worst_lp, float((new - ref).abs().max()))
        p, q = ref.exp(), new.exp()
        kl = float((p * (ref - new)).sum())
        p_rest, q_rest = max(0.0, 1.0 - float(p.sum())), max(0.0, 1.0 - float(q.sum()))
        if p_rest > 1e-12:
            kl += p_rest * (math.log(p_rest) - math.log(max(q_rest, 1e-300)))
        worst_kl = max(worst_kl, max(kl, 0.0))
    agree = sum(a == b for a, b in zip(argmax, tokens))
    return TokenComparison(
        index,
        first,
        tokens[first] if first is not None else None,
        argmax[first] if first is not None else None,
        agree,
        len(tokens),
        worst_lp,
        worst_kl,
    )


@dataclass(frozen=True)
class LlmRequest:
    """LLM mode as asked on the command line: prompts given, or seeded (count x length)."""

    new_tokens: int = 8
    top_k: int = 5
    prompts: tuple[tuple[int, ...], ...] | None = None
    source: str = "seeded"
    count: int = 2
    length: int = 8

    def resolve(self, seed: int, vocab: int | None) -> LlmSpec:
        """The concrete prompts (seeded ones need the model's vocabulary size)."""
        if self.prompts is not None:
            return LlmSpec(self.prompts, self.source, self.new_tokens, self.top_k)
        if vocab is None:
            raise UsageError(
                "seeded prompts need the vocabulary size: use --transformers, or give "
                "--prompts-file with token ids",
                code="smoke.llm",
            )
        prompts = seeded_prompts(seed, self.count, self.length, vocab)
        return LlmSpec(prompts, "seeded", self.new_tokens, self.top_k)


def replay(
    module: Any, spec: LlmSpec, sequences: Sequence[Sequence[int]], device: str
) -> list[Decoded]:
    """A check's run: prompt logits and teacher-forced log-probs of the recorded tokens."""
    import torch

    out = []
    with torch.inference_mode():
        for prompt, tokens in zip(spec.prompts, sequences, strict=True):
            prompt_logits = _forward(module, prompt, device).detach().to("cpu")
            logprobs = teacher_forced(module, prompt, list(tokens), device)
            out.append(Decoded(prompt, tuple(tokens), logprobs, prompt_logits))
    return out
