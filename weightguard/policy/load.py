"""Loading a policy file: YAML bytes in, a `Policy` (`weightguard.policy.values`) out.

Owns: the entry points `load_policy`, `parse_policy` and `read_policy_bytes`. Reading is
strict and done by the readers below this module, each importing only the value types
and the reader vocabulary, never each other in a circle:

    _yaml      YAML text -> dicts and lists that remember their lines
    _read      the vocabulary (mapping, string, list...) and `PolicyProblem`/`PolicyError`
    _signers   spec.signers, with their trust files read and pinned
    _rules     spec.rules and the pieces other sections share (globs, times, evidence)
    _spec      the document: header, metadata, spec (deny, rollback, exceptions)

Every problem (unknown key, wrong type, undefined signer, unreadable trust file, bad
glob...) is collected with its line and key path; any problem makes `load_policy` raise
`PolicyError` (a `ConfigError`, exit 2) listing them all. Trust material (public keys,
root certificates, trusted roots) is read and parsed here, at load time.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

from weightguard.policy._read import Ctx, PolicyError, PolicyProblem
from weightguard.policy._spec import read_document
from weightguard.policy._yaml import YamlProblem, load_yaml
from weightguard.policy.values import Policy
from weightguard.untrusted import read_regular

__all__ = ["PolicyError", "PolicyProblem", "load_policy", "parse_policy", "read_policy_bytes"]


def read_policy_bytes(path: str | os.PathLike[str]) -> bytes:
    """The policy file's bytes; an unreadable file is a PolicyError."""
    try:
        return read_regular(path)
    except OSError as exc:
        raise PolicyError(
            [
                PolicyProblem(
                    str(path), 0, "", f"cannot read policy: {exc.strerror}", "policy.unreadable"
                )
            ]
        ) from exc


def parse_policy(
    data: bytes, path: str, *, now: dt.datetime | None = None
) -> tuple[Policy | None, list[PolicyProblem]]:
    """Parse policy bytes; returns the policy (None if any problem) and every problem.

    Trust files named in the policy are read relative to the policy file's directory.
    `now` is accepted and unused: an exception's expiry is checked when a model is
    evaluated (expired: a warning there), never when the policy is loaded.
    """
    ctx = Ctx(path)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        ctx.add(0, "", f"the policy is not UTF-8 (byte {exc.start})", "policy.yaml_syntax")
        return None, ctx.problems
    try:
        doc = load_yaml(text)
    except YamlProblem as exc:
        ctx.add(exc.line, "", exc.message, "policy.yaml_syntax")
        return None, ctx.problems
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    policy = read_document(ctx, doc, path, digest, Path(path).parent)
    if ctx.problems:
        return None, ctx.problems
    return policy, []


def load_policy(path: str | os.PathLike[str], *, now: dt.datetime | None = None) -> Policy:
    """Read and validate a policy file.

    Raises:
        PolicyError: (exit 2) listing every problem, each with file, line and key path.
    """
    data = read_policy_bytes(path)
    policy, problems = parse_policy(data, str(path), now=now)
    if problems:
        raise PolicyError(problems)
    assert policy is not None
    return policy
