"""Budgets that bound every symbolic pickle run, container walk and decompression.

A frozen value shared by the machine (`weightguard.pickle.machine`), the format
detector (`weightguard.pickle.formats`), the scanner (`weightguard.scan`) and the
converter (`weightguard.convert`). Exceeding a budget never raises past the machine: the
run stops with a `pickle.budget` error and the caller makes the file incomplete.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Budgets that bound every scan (exceeding one makes the file incomplete).

    Attributes:
        max_opcodes: opcodes per pickle stream.
        max_memo: memo entries per pickle.
        max_stack: stack depth plus open marks.
        max_items: container items created in one pickle (sum over all containers).
        max_string: length of one str/bytes constant, and of one text argument.
        inline_bytes: bytes constants longer than this are skipped, not kept in memory.
        max_nested_pickle: size of a literal bytes constant we re-scan as a nested pickle.
        max_decompressed: bytes one decompression may produce.
        max_ratio: decompressed/compressed ratio one decompression may reach.
        max_depth: nesting of archives and nested pickles.
        max_files: files scanned by one call (directory walks included).
        max_members: members of one archive.
        max_pickles: stacked pickles read from one stream where several are allowed.
        ops_base / ops_per_byte: opcodes one input file may make all its pickles run,
            `ops_base + ops_per_byte * size` (`weightguard.pickle.machine.OpBudget`), so a
            decompression or opcode bomb costs time linear in the bytes on disk.
        stack_base / stack_per_byte / marks_per_byte, memo_base / memo_per_byte,
            items_base / items_per_byte: the same scheme for what one pickle keeps
            alive: stack depth, open marks (nesting of MARK frames), memo entries, and
            container items plus recorded events (the value graph). Each is
            `base + per_byte * size` of the input file, capped by the matching `max_*`,
            so time and memory are linear in the file with a small constant
            (`weightguard.pickle.machine.Machine`). The stack may hold one value per byte (an
            honest 1M-item tuple is MARK, 1M one-byte values, TUPLE), but marks nest
            only as deep as CPython's recursive pickler went, and memoised nodes
            (what a memo chain or nested-tuple bomb is made of) take 32 bytes each on
            average before the budget ends the scan as incomplete. Nesting depth needs
            no budget of its own: it is at most the number of nodes, and every walk
            over the value graph is iterative and memoised (`weightguard.pickle.graphwalk`).
    """

    max_opcodes: int = 100_000_000
    max_memo: int = 10_000_000
    max_stack: int = 1_000_000
    max_items: int = 50_000_000
    max_string: int = 256 * 1024 * 1024
    inline_bytes: int = 1024 * 1024
    max_nested_pickle: int = 256 * 1024 * 1024
    max_decompressed: int = 16 * 1024 * 1024 * 1024
    max_ratio: int = 1100
    max_depth: int = 6
    max_files: int = 1_000_000
    max_members: int = 100_000
    max_pickles: int = 16
    ops_base: int = 1_000_000
    ops_per_byte: int = 8
    stack_base: int = 65_536
    stack_per_byte: float = 1.0
    marks_per_byte: float = 1 / 64
    memo_base: int = 250_000
    memo_per_byte: float = 1 / 32
    items_base: int = 1_000_000
    items_per_byte: float = 1 / 2
