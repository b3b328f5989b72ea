"""Linear latency cost model over per-operator features, fitted with non-negative least squares.

Estimated latency (ms) = invoke overhead
    + sum over operators of  a[type, precision] * MMACs              (compute term)
                           + p[type, precision] * padded MMACs       (channel tiling, see features.py)
                           + o[type, precision] * M output elements  (per-output work such as
                                                                      requantization, for conv, depthwise
                                                                      and dense operators)
                           + c[type, precision]                      (per-operator overhead)
                           + b[precision] * MB moved                  (memory term)
    + sum over knees k and precisions q of
                             s[k, q] * MB of weights beyond k read by q operators (cache spill, see SPILL_KNEES)

The type is the operator's builtin name, or "NAME/variant" for pointwise convolutions
("CONV_2D/1x1") and broadcasting element-wise operators ("MUL/broadcast"), which run other
kernels at another speed (see `kernel_name`). An operator whose variant the fit never saw uses its
builtin type's coefficients, and operator types the fit never saw borrow the coefficients of a
fitted type of the same group (conv, depthwise, dense, pool, elementwise, reduce, data). The
estimate lists both kinds as uncovered.

The compute and memory terms are added rather than maxed, so the fit stays
linear and scipy.optimize.nnls can solve it. On cache-resident edge models
compute dominates, so the sum stays close to the roofline maximum. The spill
slopes are per precision because int8 layers wait on memory at smaller weight
sizes: on the benchmark host they computed about four times faster than fp32 ones.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from edgeforge.errors import InputError, ProfileError
from edgeforge.estimate.features import GROUP_OF, OpCost, op_costs
from edgeforge.graph.tflite import TFLiteGraph

MODEL_KIND = "linear-nnls"
INVOKE = "invoke"
SPILL_KNEES = tuple(int(mib * 2 ** 20) for mib in (1, 2, 4, 8, 12, 16))
"""Weight sizes in bytes (1, 2, 4, 8, 12 and 16 MiB) where a spill term starts. Weights beyond a cache
level are read from the next, slower level on every inference. Non-negative slopes per knee make the
time per byte a convex piecewise-linear function of the model's weight size. The closely spaced
knees let it bend gradually where the shared last-level cache runs out."""
_PRECISION_FALLBACK = {"dynamic": "fp32", "fp16": "fp32", "int16": "int8"}


def kernel_name(cost: OpCost) -> str:
    """Return the operator type the coefficients use: the builtin name, plus "/variant" for a distinct kernel path."""
    return f"{cost.op_type}/{cost.variant}" if cost.variant else cost.op_type


def _op_terms(cost: OpCost, precision: str, op_type: str | None = None) -> dict[str, float]:
    """Return {feature key: amount} for one operator; keys are "<op type>.<precision>.<unit>"."""
    name = f"{op_type or kernel_name(cost)}.{precision}"
    terms = {f"{name}.mmacs": cost.macs / 1e6, f"{name}.ops": 1.0, f"{precision}.mbytes": cost.bytes_moved / 1e6}
    if cost.padded_macs != cost.macs or cost.group in ("conv", "depthwise", "dense"):
        terms[f"{name}.padded_mmacs"] = cost.padded_macs / 1e6
    if cost.group in ("conv", "depthwise", "dense"):
        terms[f"{name}.out_melems"] = cost.out_elements / 1e6
    return terms


def spill_mbytes(costs: Iterable[OpCost], knee_bytes: int) -> float:
    """Return the MB of the model's weights beyond `knee_bytes`."""
    return max(0.0, sum(c.weight_bytes for c in costs) - knee_bytes) / 1e6


def _spill_key(knee_bytes: int, precision: str) -> str:
    return f"spill_{knee_bytes // 2 ** 20}mib.{precision}.mbytes"


def _spill_terms(costs: list[OpCost]) -> dict[str, float]:
    """Return the spill features, which are the model's MB of weights beyond each knee, split by precision.

    The knees compare all of the model's weights with each cache size, because all weights share
    the cache. Each operator adds its share of the weights to the terms of its own precision,
    since int8 and fp32 layers slow down by different amounts once the weights spill.
    """
    total = sum(c.weight_bytes for c in costs)
    terms: dict[str, float] = defaultdict(float)
    if total <= 0:
        return terms
    for cost in costs:
        if cost.weight_bytes <= 0:
            continue
        precision = _PRECISION_FALLBACK.get(cost.precision, cost.precision)
        share = cost.weight_bytes / total
        for knee in SPILL_KNEES:
            if total > knee:
                terms[_spill_key(knee, precision)] += share * (total - knee) / 1e6
    return terms


def feature_vector(costs: Iterable[OpCost]) -> dict[str, float]:
    """Sum the per-operator features of one model and add its weight spill beyond each knee."""
    costs = list(costs)
    features: dict[str, float] = defaultdict(float)
    features[INVOKE] = 1.0
    for cost in costs:
        for key, amount in _op_terms(cost, cost.precision).items():
            features[key] += amount
    for key, amount in _spill_terms(costs).items():
        features[key] += amount
    return dict(features)


@dataclass(frozen=True)
class CostModel:
    """Fitted coefficients in ms per unit of each feature, and what they were measured on."""

    coefficients: dict[str, float]
    device: str
    threads: int
    runtime: str = "litert"
    fitted: str = ""
    calibration_models: int = 0
    held_out_error: dict[str, Any] = field(default_factory=dict)

    def _covers(self, op_type: str, precision: str) -> bool:
        return f"{op_type}.{precision}.ops" in self.coefficients

    def _group_stand_in(self, cost: OpCost, precision: str) -> str | None:
        """Return a fitted operator type of the same group, for operator types the fit never saw."""
        for key in sorted(self.coefficients):
            op_type, _, rest = key.partition(".")
            base = op_type.partition("/")[0]
            if rest == f"{precision}.ops" and GROUP_OF.get(base, "elementwise") == cost.group:
                return op_type
        return None

    def op_latency_ms(self, cost: OpCost) -> tuple[float, bool]:
        """Return the estimated time of one operator and whether the fit covered its type and precision.

        An operator whose kernel path (`kernel_name`) the fit never saw uses its builtin type's
        coefficients, and one whose type it never saw uses a fitted type of the same group.
        """
        own = kernel_name(cost)
        for precision in (cost.precision, _PRECISION_FALLBACK.get(cost.precision)):
            if precision is None:
                continue
            op_type = next((name for name in (own, cost.op_type) if self._covers(name, precision)), None)
            if op_type is None:
                op_type = self._group_stand_in(cost, precision)
            if op_type is None:
                continue
            value = sum(self.coefficients.get(key, 0.0) * amount
                        for key, amount in _op_terms(cost, precision, op_type).items())
            return value, precision == cost.precision and op_type == own
        return 0.0, False

    def estimate(self, graph: TFLiteGraph | str | Path) -> dict[str, Any]:
        """Return the estimated latency in ms, the per-operator split and the operators the fit did not cover."""
        return self.estimate_costs(op_costs(graph))

    def estimate_costs(self, costs: list[OpCost]) -> dict[str, Any]:
        """Return the estimate for a model given as its `op_costs`."""
        per_op = []
        uncovered: list[str] = []
        total = self.coefficients.get(INVOKE, 0.0)
        for key, amount in _spill_terms(costs).items():
            total += self.coefficients.get(key, 0.0) * amount
        for cost in costs:
            value, covered = self.op_latency_ms(cost)
            total += value
            per_op.append({"index": cost.index, "op_type": cost.op_type, "precision": cost.precision,
                           "estimated_ms": value})
            if not covered:
                uncovered.append(f"{cost.op_type}#{cost.index} ({cost.group}, {cost.precision})")
        return {"estimated_ms": total, "ops": per_op, "uncovered": uncovered}

    def to_profile(self) -> dict[str, Any]:
        """Return the mapping stored under the profile key `cost_model`."""
        return {
            "kind": MODEL_KIND,
            "device": self.device,
            "runtime": self.runtime,
            "threads": self.threads,
            "fitted": self.fitted,
            "calibration_models": self.calibration_models,
            "coefficients": {key: float(value) for key, value in sorted(self.coefficients.items())},
            "held_out_error": dict(self.held_out_error),
        }

    @classmethod
    def from_profile(cls, data: dict[str, Any], *, source: str = "profile") -> "CostModel":
        """Build the model from a profile's `cost_model` mapping; raise ProfileError when it is not fitted."""
        if not data or "coefficients" not in data:
            raise ProfileError(
                f"{source}: key 'cost_model' has no fitted coefficients; run 'edgeforge calibrate --device DEVICE' "
                "to fit them, or measure on a device with --device"
            )
        if data.get("kind", MODEL_KIND) != MODEL_KIND:
            raise ProfileError(f"{source}: cost_model.kind is {data.get('kind')!r}, expected {MODEL_KIND!r}")
        return cls(
            coefficients={str(k): float(v) for k, v in data["coefficients"].items()},
            device=str(data.get("device", "unknown")),
            threads=int(data.get("threads", 1)),
            runtime=str(data.get("runtime", "litert")),
            fitted=str(data.get("fitted", "")),
            calibration_models=int(data.get("calibration_models", 0)),
            held_out_error=dict(data.get("held_out_error") or {}),
        )


def _solve(rows: list[dict[str, float]], measured: np.ndarray) -> tuple[dict[str, float], float]:
    """Fit non-negative coefficients to `rows`; return them and the RMS relative residual."""
    from scipy.optimize import nnls

    keys = sorted({key for row in rows for key, value in row.items() if value > 0})
    matrix = np.array([[row.get(key, 0.0) for key in keys] for row in rows], dtype=np.float64)
    weighted = matrix / measured[:, None]
    solution, residual = nnls(weighted, np.ones_like(measured), maxiter=50 * len(keys))
    return {key: float(value) for key, value in zip(keys, solution)}, float(residual / np.sqrt(len(rows)))


def fit_cost_model(
    models: list[list[OpCost]], measured_ms: list[float], *, device: str, threads: int, fitted: str = "",
) -> CostModel:
    """Fit non-negative coefficients that minimise the relative error over the given models.

    `models` contains each model's `op_costs`. Each row is divided by its measured
    latency, so a 10 us layer and a 5 ms network weigh the same in the fit.
    """
    if len(models) != len(measured_ms) or not models:
        raise InputError(
            f"cannot fit the cost model: {len(models)} models and {len(measured_ms)} measurements; "
            "expected the same non-zero number of each"
        )
    rows = [feature_vector(costs) for costs in models]
    coefficients, _ = _solve(rows, np.asarray(measured_ms, dtype=np.float64))
    return CostModel(coefficients=coefficients, device=device, threads=threads, fitted=fitted,
                     calibration_models=len(models))


def error_summary(predicted_ms: list[float], measured_ms: list[float]) -> dict[str, Any]:
    """Return the distribution of relative errors |estimate - measured| / measured, in percent."""
    predicted = np.asarray(predicted_ms, dtype=np.float64)
    measured = np.asarray(measured_ms, dtype=np.float64)
    errors = np.abs(predicted - measured) / measured * 100.0
    return {
        "models": int(errors.size),
        "median_abs_pct": float(np.median(errors)),
        "p90_abs_pct": float(np.percentile(errors, 90)),
        "max_abs_pct": float(errors.max()),
        "within_10pct_share": float(np.mean(errors <= 10.0)),
    }
