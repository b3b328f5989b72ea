"""Tensor arena size from tensor lifetimes, planned greedily like the TFLite Micro greedy memory planner.

Every non-constant tensor lives from the operator that writes it (graph inputs:
from the start) to the last operator that reads it (graph outputs: to the end).
Tensors are placed largest first at the lowest offset that does not overlap a
placed tensor whose lifetime intersects. The result excludes the interpreter's
own bookkeeping, which adds a few kilobytes on TFLite Micro.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeforge.graph.tflite import TFLiteGraph

ALIGNMENT = 16


@dataclass(frozen=True)
class Placement:
    """A tensor's lifetime in operator indices and its planned byte range in the arena."""

    tensor: int
    first_op: int
    last_op: int
    offset: int
    size: int


def _align(value: int) -> int:
    return (value + ALIGNMENT - 1) // ALIGNMENT * ALIGNMENT


def tensor_lifetimes(graph: TFLiteGraph) -> dict[int, tuple[int, int]]:
    """Return {tensor index: (first op, last op)} for every tensor that needs arena memory."""
    constant = {t.index for t in graph.tensors if t.is_constant}
    last = len(graph.ops) - 1
    lifetimes: dict[int, list[int]] = {index: [0, 0] for index in graph.inputs if index not in constant}
    for op in graph.ops:
        for tensor in op.outputs:
            lifetimes.setdefault(tensor.index, [op.index, op.index])
        for tensor in op.inputs:
            if tensor.index in constant:
                continue
            span = lifetimes.setdefault(tensor.index, [op.index, op.index])
            span[1] = max(span[1], op.index)
    for index in graph.outputs:
        if index in lifetimes:
            lifetimes[index][1] = max(lifetimes[index][1], last)
    return {index: (span[0], span[1]) for index, span in lifetimes.items()}


def plan_arena(graph: TFLiteGraph) -> tuple[int, list[Placement]]:
    """Return the planned arena size in bytes and each tensor's placement."""
    sizes = {t.index: _align(t.nbytes) for t in graph.tensors}
    order = sorted(tensor_lifetimes(graph).items(), key=lambda item: (-sizes[item[0]], item[0]))
    placed: list[Placement] = []
    for index, (first, last) in order:
        size = sizes[index]
        busy = sorted((p.offset, p.offset + p.size) for p in placed
                      if not (p.last_op < first or last < p.first_op))
        offset = 0
        for start, end in busy:
            if offset + size <= start:
                break
            offset = max(offset, end)
        placed.append(Placement(index, first, last, offset, size))
    total = max((p.offset + p.size for p in placed), default=0)
    return total, placed
