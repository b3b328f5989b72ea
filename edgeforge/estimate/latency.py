"""Latency estimates for a compiled .tflite artifact from a target's fitted cost model."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any, Callable

from edgeforge.errors import InputError, ProfileError
from edgeforge.estimate.cost_model import CostModel
from edgeforge.targets.registry import TargetProfile

log = logging.getLogger(__name__)


def _cost_model(profile: TargetProfile | None, cost_model: CostModel | None) -> CostModel:
    if cost_model is not None:
        return cost_model
    if profile is None:
        raise InputError("pass a target profile with a fitted cost_model, or a CostModel")
    return CostModel.from_profile(profile.data.get("cost_model") or {}, source=str(profile.path))


def estimate_latency(
    artifact_path: str | Path, *, profile: TargetProfile | None = None, cost_model: CostModel | None = None,
) -> dict[str, Any]:
    """Return a latency record of kind "estimated" for a .tflite artifact.

    The record has the keys of a measured one: median_ms and mean_ms hold the
    estimate, and p90_ms, std_ms, warmup and runs are None. `estimator` adds the
    model kind, the device it was fitted on, its held-out error and the
    operators the fit did not cover.
    """
    path = Path(artifact_path)
    if path.suffix.lower() != ".tflite":
        raise InputError(f"cannot estimate the latency of {path}: the cost model reads .tflite artifacts only")
    model = _cost_model(profile, cost_model)
    result = model.estimate(path)
    if result["uncovered"]:
        log.warning("cost model has no coefficients for %d operators of %s; their estimate borrows "
                    "from operators of the same kind", len(result["uncovered"]), path.name)
    return {
        "kind": "estimated",
        "label": "estimate from a cost model, not a measurement",
        "device": profile.name if profile is not None else model.device,
        "cpu": None,
        "runtime": model.runtime,
        "threads": model.threads,
        "warmup": None,
        "runs": None,
        "median_ms": result["estimated_ms"],
        "p90_ms": None,
        "mean_ms": result["estimated_ms"],
        "std_ms": None,
        "estimator": {
            "kind": "linear-nnls",
            "calibrated_on": model.device,
            "fitted": model.fitted,
            "held_out_error": model.held_out_error,
            "uncovered_ops": result["uncovered"],
        },
    }


def _keras_application(name: str, **kwargs) -> Callable[[], object]:
    def build():
        from edgeforge._tf import keras

        return getattr(keras().applications, name)(weights=None, **kwargs)

    return build


PUBLISHED_MODELS: dict[str, Callable[[], object]] = {
    "mobilenet_v1_1.0_224": _keras_application("MobileNet", input_shape=(224, 224, 3), alpha=1.0),
    "mobilenet_v2_1.0_224": _keras_application("MobileNetV2", input_shape=(224, 224, 3), alpha=1.0),
    "efficientnet_b0_224": _keras_application("EfficientNetB0", input_shape=(224, 224, 3)),
    "resnet50_224": _keras_application("ResNet50", input_shape=(224, 224, 3)),
}
"""Builders for the model names that profiles cite under `published_benchmarks`; random weights."""


def compare_published(
    profile: TargetProfile,
    *,
    cost_model: CostModel | None = None,
    builders: dict[str, Callable[[], object]] | None = None,
    work_dir: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Estimate each model of the profile's `published_benchmarks` and compare with the published figure.

    Returns one row per entry: model, precision, published_ms, estimated_ms, error_pct, source; a
    model without a builder gets `skipped` with the reason instead of an estimate.
    """
    from edgeforge.estimate.convert import convert_keras

    entries = profile.data.get("published_benchmarks") or []
    if not entries:
        raise ProfileError(f"{profile.path}: target {profile.name} has no published_benchmarks to compare with")
    model = _cost_model(profile, cost_model)
    builders = PUBLISHED_MODELS if builders is None else builders
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeforge-published-") as scratch:
        folder = Path(work_dir) if work_dir is not None else Path(scratch)
        for entry in entries:
            precision = entry.get("precision", "fp32")
            row = {"model": entry["model"], "precision": precision, "published_ms": entry["latency_ms"],
                   "source": entry["source"], "estimated_ms": None, "error_pct": None}
            build = builders.get(entry["model"])
            if build is None:
                row["skipped"] = f"no builder for {entry['model']!r}; known: {', '.join(sorted(builders))}"
                rows.append(row)
                continue
            path = folder / f"{entry['model']}.{precision}.tflite"
            if not path.is_file():
                convert_keras(build(), path, precision=precision)
            estimated = model.estimate(path)["estimated_ms"]
            row.update(estimated_ms=estimated,
                       error_pct=abs(estimated - entry["latency_ms"]) / entry["latency_ms"] * 100.0)
            rows.append(row)
    return rows
