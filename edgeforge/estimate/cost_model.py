"""Linear latency cost model over per-operator features, fitted with non-negative least squares.

Estimated latency (ms) = invoke overhead
    + sum over operators of  a[group, precision] * MMACs      (compute term)
                           + c[group, precision]             (per-operator overhead)
                           + b[precision] * MB moved           (memory term)

The compute and memory terms are added rather than maxed, which keeps the fit
linear so that scipy.optimize.nnls can solve it; on cache-resident edge
models compute dominates and the sum stays close to the roofline maximum.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from edgeforge.errors import ProfileError
from edgeforge.estimate.features import OpCost, op_costs
from edgeforge.graph.tflite import TFLiteGraph

MODEL_KIND = "linear-nnls"
INVOKE = "invoke"
_PRECISION_FALLBACK = {"dynamic": "fp32", "fp16": "fp32", "int16": "int8"}


def _keys(cost: OpCost, precision: str) -> tuple[str, str, str]:
    return f"{cost.group}.{precision}.mmacs", f"{cost.group}.{precision}.ops", f"{precision}.mbytes"


def feature_vector(costs: Iterable[OpCost]) -> dict[str, float]:
    """Sum the per-operator features of one model; keys name group, precision and unit."""
    features: dict[str, float] = defaultdict(float)
    features[INVOKE] = 1.0
    for cost in costs:
        mmacs, count, mbytes = _keys(cost, cost.precision)
        features[mmacs] += cost.macs / 1e6
        features[count] += 1.0
        features[mbytes] += cost.bytes_moved / 1e6
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

    def _coefficient(self, key: str) -> float | None:
        return self.coefficients.get(key)

    def op_latency_ms(self, cost: OpCost) -> tuple[float, bool]:
        """Return the estimated time of one operator and whether its features were covered by the fit."""
        for precision in (cost.precision, _PRECISION_FALLBACK.get(cost.precision)):
            if precision is None:
                continue
            mmacs, count, mbytes = _keys(cost, precision)
            if mmacs in self.coefficients or count in self.coefficients:
                value = (self.coefficients.get(mmacs, 0.0) * cost.macs / 1e6
                         + self.coefficients.get(count, 0.0)
                         + self.coefficients.get(mbytes, 0.0) * cost.bytes_moved / 1e6)
                return value, precision == cost.precision
        return 0.0, False

    def estimate(self, graph: TFLiteGraph | str | Path) -> dict[str, Any]:
        """Return the estimated latency in ms, the per-operator split and the operators the fit did not cover."""
        costs = op_costs(graph)
        per_op = []
        uncovered: list[str] = []
        total = self.coefficients.get(INVOKE, 0.0)
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


def fit_cost_model(
    features: list[dict[str, float]], measured_ms: list[float], *, device: str, threads: int, fitted: str = "",
) -> CostModel:
    """Fit non-negative coefficients that minimise the relative error over the given models.

    Each row is divided by its measured latency, so a 10 us layer and a 5 ms
    network weigh the same in the fit.
    """
    from scipy.optimize import nnls

    if len(features) != len(measured_ms) or not features:
        raise ValueError("features and measured_ms must be non-empty and of equal length")
    keys = sorted({key for row in features for key, value in row.items() if value > 0})
    matrix = np.array([[row.get(key, 0.0) for key in keys] for row in features], dtype=np.float64)
    target = np.asarray(measured_ms, dtype=np.float64)
    weighted = matrix / target[:, None]
    solution, _ = nnls(weighted, np.ones_like(target), maxiter=50 * len(keys))
    coefficients = {key: float(value) for key, value in zip(keys, solution)}
    return CostModel(coefficients=coefficients, device=device, threads=threads, fitted=fitted,
                     calibration_models=len(features))


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
