"""Energy-per-inference estimate from the profile's energy per operation and per byte moved.

energy = sum over operators of ops * pj_per_op[precision] + bytes * pj_per_byte[precision]
         (+ static_mw * latency when a latency is given)

The figures are an estimate: they come from the profile (with the source it
names), not from a power measurement.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from edgeforge.errors import ProfileError
from edgeforge.estimate.features import OpCost, op_costs
from edgeforge.targets.registry import TargetProfile

_FALLBACK = {"dynamic": "fp32", "int16": "int8", "fp16": "fp32"}


def _lookup(table: dict[str, float], precision: str, used: dict[str, str]) -> float | None:
    for candidate in (precision, _FALLBACK.get(precision)):
        if candidate is not None and candidate in table:
            if candidate != precision:
                used[precision] = candidate
            return float(table[candidate])
    return None


def estimate_energy(
    ops: Sequence[OpCost] | str | Path, profile: TargetProfile, *, latency_ms: float | None = None,
) -> dict[str, Any]:
    """Return the estimated energy per inference in microjoules, split into compute, memory and static parts.

    `ops` is the result of `op_costs` or a .tflite path. Raises ProfileError when the
    profile has no `energy` key or lacks figures for a precision the model uses.
    """
    energy = profile.data.get("energy")
    if not energy:
        raise ProfileError(
            f"{profile.path}: target {profile.name} has no 'energy' key; add energy.pj_per_op and "
            "energy.pj_per_byte per precision with their source to estimate energy"
        )
    if not isinstance(ops, (list, tuple)):
        ops = op_costs(ops)
    per_op = energy.get("pj_per_op", {})
    per_byte = energy.get("pj_per_byte", {})
    substituted: dict[str, str] = {}
    compute_pj = memory_pj = 0.0
    for cost in ops:
        op_pj = _lookup(per_op, cost.precision, substituted)
        byte_pj = _lookup(per_byte, cost.precision, substituted)
        if op_pj is None or byte_pj is None:
            raise ProfileError(
                f"{profile.path}: energy.pj_per_op and energy.pj_per_byte need a figure for precision "
                f"{cost.precision!r} (operator {cost.op_type} #{cost.index}); add it to the profile"
            )
        compute_pj += cost.macs * op_pj
        memory_pj += cost.bytes_moved * byte_pj
    static_uj = None
    if energy.get("static_mw") and latency_ms is not None:
        static_uj = float(energy["static_mw"]) * latency_ms  # mW * ms = uJ
    total_uj = (compute_pj + memory_pj) * 1e-6 + (static_uj or 0.0)
    return {
        "kind": "estimated",
        "label": "estimate from the profile's energy figures, not a measurement",
        "energy_uj": total_uj,
        "compute_uj": compute_pj * 1e-6,
        "memory_uj": memory_pj * 1e-6,
        "static_uj": static_uj,
        "source": energy["source"],
        "substituted_precisions": substituted,
    }
