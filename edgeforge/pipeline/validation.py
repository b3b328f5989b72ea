"""Validate staged artifacts in their runtimes and turn the figures into budget values."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from edgeforge.data.dataset import Dataset
from edgeforge.models.spec import ModelSignature
from edgeforge.pipeline.worker import BASELINE_FILE, EVAL_FILE
from edgeforge.targets import TargetProfile
from edgeforge.validate.latency import host_threads

log = logging.getLogger(__name__)


def load_evaluation(stage_dir: Path) -> tuple[Dataset, dict[str, np.ndarray]]:
    """Read the evaluation split and the original model's outputs that the worker saved."""
    with np.load(stage_dir / EVAL_FILE) as archive:
        inputs = {key.split(":", 1)[1]: archive[key] for key in archive.files if key.startswith("input:")}
        labels = archive["labels"] if "labels" in archive.files else None
    with np.load(stage_dir / BASELINE_FILE) as archive:
        baseline = {key: archive[key] for key in archive.files}
    return Dataset(inputs, labels, "evaluation split"), baseline


def validate_artifacts(
    profile: TargetProfile,
    response: dict[str, Any],
    stage_dir: Path,
    *,
    latency_runs: int,
    robustness: bool,
    seed: int,
) -> dict[str, Any]:
    """Measure accuracy, output error and host latency of each artifact, and robustness of the artifact."""
    from edgeforge.runtime import open_runner
    from edgeforge.validate.accuracy import compare_outputs, primary_output, run_dataset, top1
    from edgeforge.validate.latency import measure_latency

    log.info("validating on the evaluation split")
    evaluation, baseline = load_evaluation(stage_dir)
    signature = ModelSignature.from_dict(response["signature"])
    output_names = [spec.name for spec in signature.outputs]
    primary = primary_output({spec.name: spec.shape for spec in signature.outputs})
    threads = host_threads(profile.threads)
    sample = {name: array[:1] for name, array in evaluation.inputs.items()}
    result: dict[str, Any] = {"primary_output": primary, "labels": evaluation.labels is not None,
                              "samples": len(evaluation), "threads_requested": profile.threads,
                              "artifacts": {}, "latency": []}
    if evaluation.labels is not None:
        result["baseline"] = {"top1": top1(baseline[primary], evaluation.labels)}
    runners = {}
    for artifact in response["artifacts"]:
        runner = open_runner(artifact["path"], artifact["format"], threads=threads, precision_hint="f32")
        runners[artifact["role"]] = runner
        outputs = run_dataset(runner, evaluation, output_names)
        result["artifacts"][artifact["role"]] = compare_outputs(
            baseline, outputs, labels=evaluation.labels, primary=primary
        )
        hints = ["default", "f32"] if artifact["format"] == "openvino-ir" else [None]
        for hint in hints:
            timed = runner if hint in (None, "f32") else open_runner(
                artifact["path"], artifact["format"], threads=threads, precision_hint=hint)
            record = measure_latency(timed, sample, threads=threads, runs=latency_runs)
            record["artifact"] = artifact["role"]
            if hint is not None:
                record["precision_hint"] = hint
            result["latency"].append(record)
    if robustness and evaluation.labels is not None:
        result["robustness"] = _robustness(runners, evaluation, output_names, primary, seed)
    return result


def _robustness(runners: dict, evaluation: Dataset, output_names: list[str], primary: str, seed: int) -> dict:
    """Compare the float conversion and the artifact on perturbed copies of the evaluation data."""
    from edgeforge.validate.accuracy import run_dataset
    from edgeforge.validate.robustness import evaluate_robustness

    def predictor(runner):
        def predict(batch: dict[str, np.ndarray]) -> np.ndarray:
            return run_dataset(runner, Dataset(dict(batch)), output_names)[primary]

        return predict

    log.info("measuring robustness on perturbed evaluation data")
    result = evaluate_robustness(
        predictor(runners["float-reference"]), predictor(runners["artifact"]), evaluation,
        evaluation.labels, seed=seed,
    )
    result["original_stand_in"] = (
        "the float conversion (model_float), whose outputs match the original model within "
        "accuracy.float_reference.max_abs_error"
    )
    return result


def budget_figures(profile: TargetProfile, artifacts: list[dict[str, Any]], validation: dict[str, Any] | None,
                   *, ram_kib: float | None = None, latency: dict[str, Any] | None = None,
                   compatibility: dict[str, Any] | None = None) -> dict[str, dict]:
    """Return each budget's value and how it was obtained (None with the reason when missing)."""
    artifact = next(a for a in artifacts if a["role"] == "artifact")
    figures: dict[str, dict[str, Any]] = {
        "max_size_kib": {"value": artifact["size_bytes"] / 1024.0, "basis": "measured: artifact file size"},
        "max_ram_kib": {"value": ram_kib, "basis": "estimated: tensor arena from tensor lifetimes"}
        if ram_kib is not None else {"value": None, "basis": "not computed for this artifact format"},
    }
    if validation is None:
        reason = "not measured: validation was skipped"
        for name in ("max_accuracy_drop", "max_latency_ms", "max_robustness_gap"):
            figures[name] = {"value": None, "basis": reason}
        if latency is not None:
            figures["max_latency_ms"] = latency
        if compatibility is not None:
            errors = [f for f in compatibility.get("findings", []) if f["severity"] == "error"]
            figures["compatibility_errors"] = {"value": len(errors), "basis": "checked by the target's rules"}
        return figures
    scores = validation["artifacts"]["artifact"]
    if "baseline" in validation:
        drop = (validation["baseline"]["top1"] - scores["top1"]) * 100.0
        figures["max_accuracy_drop"] = {"value": drop, "basis": "measured on the evaluation split"}
    else:
        figures["max_accuracy_drop"] = {"value": None, "basis": "not measured: the evaluation data has no labels"}
    if latency is not None:
        figures["max_latency_ms"] = latency
    elif profile.data.get("host", False):
        record = next(r for r in validation["latency"] if r["artifact"] == "artifact")
        figures["max_latency_ms"] = {"value": record["median_ms"], "basis": "measured on this host (median)"}
    else:
        figures["max_latency_ms"] = {
            "value": None,
            "basis": f"not checked: host latency is not the latency of {profile.name}, and no device or estimate was given",
        }
    if compatibility is not None:
        errors = [f for f in compatibility.get("findings", []) if f["severity"] == "error"]
        figures["compatibility_errors"] = {
            "value": len(errors),
            "basis": "checked: " + ("; ".join(sorted({f["rule"] for f in errors})) if errors else "no errors"),
        }
    if "robustness" in validation:
        figures["max_robustness_gap"] = {"value": validation["robustness"]["max_gap_points"],
                                         "basis": "measured: largest accuracy gap under perturbation"}
    else:
        figures["max_robustness_gap"] = {"value": None, "basis": "not measured: needs labels and robustness on"}
    return figures
