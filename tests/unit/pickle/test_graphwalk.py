"""The memoised, iterative value-graph walk behind the "plain value" conditions."""

from __future__ import annotations

from weightguard.pickle.graphwalk import BAD, Cache, height, within
from weightguard.pickle.values import Dict, Global, List, Tuple
from weightguard.scan.conditions import is_constant

_C = (Tuple, List, Dict)


def test_heights_count_containers_below_the_root() -> None:
    cache: Cache = {}
    assert height(1, "q", is_constant, _C, cache) == 0
    assert height(Tuple((1, "a")), "q", is_constant, _C, cache) == 0
    assert height(List([Tuple((1,)), Dict([("k", List([]))])]), "q", is_constant, _C, cache) == 2
    assert height(Global("os", "system", 0, "GLOBAL"), "q", is_constant, _C, cache) == BAD


def test_depth_limit_matches_the_old_recursive_checks() -> None:
    # the old check failed on a container deeper than 32 below the root
    node: List = List([])
    for _ in range(32):
        node = List([node])
    assert within(node, "q", is_constant, _C, {}, 32)
    assert not within(List([node]), "q", is_constant, _C, {}, 32)


def test_cycles_and_bad_leaves_are_never_plain() -> None:
    loop = List([1])
    loop.items.append(loop)
    assert height(Tuple((loop,)), "q", is_constant, _C, {}) == BAD
    bad = List([1, 2, Global("os", "system", 0, "GLOBAL")])
    cache: Cache = {}
    assert height(Tuple((bad, bad)), "q", is_constant, _C, cache) == BAD
    assert cache[("q", id(bad))][1] == BAD  # remembered for the next condition


def test_shared_nodes_are_visited_once() -> None:
    seen: list[object] = []

    def leaf(v: object) -> bool:
        seen.append(v)
        return True

    node: object = 7
    for _ in range(60):  # 2**60 paths
        node = List([node, node])
    assert height(node, "q", leaf, _C, {}) == 59
    assert len(seen) == 2  # the leaf, reached from the innermost list's two slots


def test_a_deep_chain_needs_no_recursion() -> None:
    node: object = None
    for _ in range(100_000):  # far past sys.getrecursionlimit()
        node = Tuple((node,))
    assert height(node, "q", is_constant, _C, {}) == 99_999
    assert not within(node, "q", is_constant, _C, {}, 32)
