"""Run an artifact on held-out data and compare it with the original model."""

from __future__ import annotations

import numpy as np

from edgeforge.data.dataset import Dataset
from edgeforge.runtime.base import Runner


def run_dataset(runner: Runner, evaluation: Dataset, output_names: list[str]) -> dict[str, np.ndarray]:
    """Run every sample one at a time (artifacts are usually compiled for batch 1)."""
    collected: dict[str, list[np.ndarray]] = {name: [] for name in output_names}
    missing = [name for name in output_names if name not in runner.output_names]
    if missing:
        raise ValueError(f"artifact outputs {runner.output_names} lack model outputs {missing}")
    for index in range(len(evaluation)):
        sample = {name: array[index:index + 1] for name, array in evaluation.inputs.items()}
        outputs = runner.run(sample)
        for name in output_names:
            collected[name].append(outputs[name])
    return {name: np.concatenate(parts, axis=0) for name, parts in collected.items()}


def primary_output(output_shapes: dict[str, tuple]) -> str:
    """Pick the output that labels refer to: the first with more than one class, else the first."""
    for name, shape in output_shapes.items():
        if shape and shape[-1] not in (None, 1):
            return name
    return next(iter(output_shapes))


def top1(outputs: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(outputs.reshape(len(outputs), -1).argmax(axis=1) == labels))


def compare_outputs(
    reference: dict[str, np.ndarray],
    candidate: dict[str, np.ndarray],
    *,
    labels: np.ndarray | None,
    primary: str,
) -> dict:
    """Accuracy of `candidate`, its top-1 agreement with `reference`, and output error per output."""
    result: dict = {}
    if labels is not None:
        result["top1"] = top1(candidate[primary], labels)
    flat_ref = reference[primary].reshape(len(labels) if labels is not None else len(reference[primary]), -1)
    flat_cand = candidate[primary].reshape(flat_ref.shape)
    result["top1_agreement"] = float(np.mean(flat_ref.argmax(axis=1) == flat_cand.argmax(axis=1)))
    errors = {}
    for name, ref in reference.items():
        diff = candidate[name].astype(np.float64) - ref.astype(np.float64)
        noise = float(np.sum(diff ** 2))
        signal = float(np.sum(ref.astype(np.float64) ** 2))
        snr = float("inf") if noise == 0 else 10.0 * np.log10(max(signal, 1e-30) / noise)
        errors[name] = {
            "max_abs_error": float(np.max(np.abs(diff))),
            "mean_abs_error": float(np.mean(np.abs(diff))),
            "snr_db": round(snr, 2) if np.isfinite(snr) else None,
        }
    result["outputs"] = errors
    result["max_abs_error"] = max(e["max_abs_error"] for e in errors.values())
    result["mean_abs_error"] = float(np.mean([e["mean_abs_error"] for e in errors.values()]))
    return result
