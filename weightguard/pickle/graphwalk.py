"""One walk over a pickle's value graph per question, never one per path.

The graph a pickle builds is a DAG with sharing (a memoised node fetched twice is one
node) and may hold cycles (a list appended to itself). A recursive "is every node in
here plain?" visits a shared node once per path to it: 30 levels of ``[x, x]`` made by
memo GETs are a 300-byte file and 2**30 visits (a 273-byte file took 31 s). Here each
node is checked once per question, iteratively (no recursion limit, whatever the
nesting), and the answer is cached for the whole stream, so all the conditions a judge
evaluates together cost time linear in the graph, which the VM's item budget bounds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from weightguard.pickle.values import Dict, List, Tuple, Value

# What a node's walk cached: its container height, or BAD (something not allowed inside,
# or a cycle). The node itself is kept so its id is never reused while the cache lives.
BAD = -1
Cache = dict[tuple[str, int], tuple[Value, int]]


def _children(node: Value) -> Iterator[Value]:
    if isinstance(node, Dict):
        for key, value in node.items:
            yield key
            yield value
    elif isinstance(node, Tuple | List):
        yield from node.items


def height(
    root: Value,
    question: str,
    leaf_ok: Callable[[Value], bool],
    containers: tuple[type, ...],
    cache: Cache,
) -> int:
    """Longest chain of containers below `root` (0 for a flat one), or BAD.

    Args:
        root: where to start; not a container: 0 if `leaf_ok(root)`, else BAD.
        question: names the check (results of different checks are cached apart).
        leaf_ok: whether a non-container node is acceptable.
        containers: the node types walked into (among Tuple, List and Dict).
        cache: shared by every call for one stream's graph.
    """
    if not isinstance(root, containers):
        return 0 if leaf_ok(root) else BAD
    hit = cache.get((question, id(root)))
    if hit is not None:
        return hit[1]
    on_path: set[int] = {id(root)}
    # Frames: node, its children, the tallest finished child so far (-1 = none).
    frames: list[tuple[Value, Iterator[Value], list[int]]] = [(root, _children(root), [-1])]
    result = BAD
    while frames:
        node, children, tallest = frames[-1]
        failed = False
        pushed = False
        for child in children:
            if not isinstance(child, containers):
                if not leaf_ok(child):
                    failed = True
                    break
                continue
            key = id(child)
            hit = cache.get((question, key))
            if hit is not None:
                if hit[1] == BAD:
                    failed = True
                    break
                tallest[0] = max(tallest[0], hit[1])
                continue
            if key in on_path:  # a cycle: never plain data
                failed = True
                break
            on_path.add(key)
            frames.append((child, _children(child), [-1]))
            pushed = True
            break
        if failed:
            # Everything on the path holds the bad node (or the cycle).
            for path_node, _, _ in frames:
                cache[(question, id(path_node))] = (path_node, BAD)
            return BAD
        if pushed:
            continue
        frames.pop()
        on_path.discard(id(node))
        result = tallest[0] + 1
        cache[(question, id(node))] = (node, result)
        if frames:
            parent = frames[-1][2]
            parent[0] = max(parent[0], result)
    return result


def within(
    root: Value,
    question: str,
    leaf_ok: Callable[[Value], bool],
    containers: tuple[type, ...],
    cache: Cache,
    max_depth: int,
) -> bool:
    """True if `root` holds only acceptable leaves, no cycle, and nests at most `max_depth`.

    `max_depth` counts containers below the root, as the recursive checks it replaces
    did (their ``depth > max_depth`` failure).
    """
    h = height(root, question, leaf_ok, containers, cache)
    return h != BAD and h <= max_depth
