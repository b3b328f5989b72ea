"""`compile_model`: the typed Python API behind `edgeforge compile`."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgeforge.data.dataset import Dataset
from edgeforge.data.loading import file_sha256
from edgeforge.emit.atomic import write_text_atomic
from edgeforge.errors import DataError, OutputError, UnsupportedError
from edgeforge.models.formats import describe_model_file
from edgeforge.models.spec import ModelSignature
from edgeforge.pipeline.isolation import run_worker
from edgeforge.pipeline.plan import plan_conversions, resolve_recipe
from edgeforge.pipeline.worker import BASELINE_FILE, EVAL_FILE
from edgeforge.report.writer import build_report, report_json
from edgeforge.targets import TargetProfile, load_target
from edgeforge.validate.budgets import check_budgets
from edgeforge.validate.latency import host_threads

log = logging.getLogger(__name__)


@dataclass
class BuildResult:
    """The output folder, report path and report content of one compile."""

    out_dir: Path
    report_path: Path
    report: dict[str, Any]

    @property
    def missed_budgets(self) -> list[dict[str, Any]]:
        return [b for b in self.report["budgets"] if b["passed"] is False]


def compile_model(
    model: str | Path,
    *,
    target: str | TargetProfile,
    data: str | Path,
    eval_data: str | Path | None = None,
    out_dir: str | Path | None = None,
    recipe: str | Path | None = None,
    targets_dirs: tuple[str | Path, ...] = (),
    budgets: dict[str, float] | None = None,
    eval_fraction: float = 0.2,
    calibration_samples: int = 300,
    seed: int = 0,
    validate: bool = True,
    latency_runs: int = 200,
    safe_mode: bool = True,
    custom_objects_module: str | None = None,
    strict: bool = False,
) -> BuildResult:
    """Compile `model` for `target` and write the artifacts and report.json into `out_dir`.

    `data` gives calibration samples and, unless `eval_data` is set, a held-out
    evaluation split of `eval_fraction`. `budgets` overrides the profile's
    budgets by name. The build runs in a staging folder inside `out_dir`;
    files move into place only when every step succeeded, report.json last.
    `safe_mode=False` lets Keras load Lambda layers (only for trusted files);
    `custom_objects_module` names a module with the model's custom layers.
    `strict` makes a recipe step that cannot apply an error instead of a note.
    """
    started = time.perf_counter()
    profile = target if isinstance(target, TargetProfile) else load_target(target, targets_dirs)
    model_path = Path(model)
    model_info = describe_model_file(model_path)
    model_kind = model_info.format
    if model_kind in ("tflite", "onnx") and profile.artifact_format != "openvino-ir":
        raise UnsupportedError(
            f"{model_path}: {model_info.reason}; target {profile.name} emits {profile.artifact_format}. "
            "Pass the Keras model instead, or pick an Intel target (intel-cpu, intel-igpu, intel-npu)"
        )
    data_path = Path(data)
    if not data_path.exists():
        raise DataError(f"data not found: {data_path}; pass an .npz file or a folder of class sub-folders")
    if eval_data is not None and not Path(eval_data).exists():
        raise DataError(f"evaluation data not found: {eval_data}")
    if not 0.0 < eval_fraction < 1.0:
        raise DataError(f"eval_fraction must be between 0 and 1 (exclusive), found {eval_fraction}")
    recipe_spec = resolve_recipe(recipe, profile)
    out_dir = Path(out_dir) if out_dir is not None else Path("build") / profile.name
    stage_dir = _make_stage_dir(out_dir)
    try:
        jobs = plan_conversions(profile, recipe_spec.precision, stage_dir)
        request = {
            "work_dir": str(stage_dir),
            "model_path": str(model_path.resolve()),
            "safe_mode": safe_mode,
            "custom_objects_module": custom_objects_module,
            "strict": strict,
            "data_path": str(data_path.resolve()),
            "eval_path": str(Path(eval_data).resolve()) if eval_data is not None else None,
            "eval_fraction": eval_fraction,
            "calibration_samples": calibration_samples,
            "seed": seed,
            "passes": recipe_spec.passes,
            "conversions": [dataclasses.asdict(job) for job in jobs],
            "predict_baseline": validate,
        }
        response = run_worker(request)
        validation = _validate(profile, response, stage_dir, latency_runs) if validate else None
        artifacts = _move_into_place(response["artifacts"], stage_dir, out_dir)
        limits = dict(profile.budgets)
        limits.update(budgets or {})
        figures = _budget_figures(profile, artifacts, validation)
        report = build_report(
            profile=profile,
            model_path=model_path,
            model_kind=model_kind,
            data_path=data_path,
            eval_path=Path(eval_data) if eval_data is not None else None,
            recipe=recipe_spec,
            response=response,
            artifacts=artifacts,
            validation=validation,
            budgets=check_budgets(limits, figures),
            wall_s=time.perf_counter() - started,
        )
        report_path = out_dir / "report.json"
        write_text_atomic(report_path, report_json(report))
    finally:
        shutil.rmtree(stage_dir, ignore_errors=True)
    return BuildResult(out_dir, report_path, report)


def _make_stage_dir(out_dir: Path) -> Path:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    except OSError as err:
        raise OutputError(
            f"cannot write to output folder {out_dir}: {err.strerror}; pass --out with a writable folder"
        ) from err


def _move_into_place(artifacts: list[dict[str, Any]], stage_dir: Path, out_dir: Path) -> list[dict[str, Any]]:
    """Rename each staged file into `out_dir` (same file system, so each rename is atomic).

    An earlier report.json goes first, so a build stopped between two renames
    never leaves a report that describes a mix of old and new files.
    """
    stale_report = out_dir / "report.json"
    stale_report.unlink(missing_ok=True)
    placed = []
    for artifact in artifacts:
        files = []
        for staged in artifact["files"]:
            final = out_dir / Path(staged).name
            try:
                os.replace(staged, final)
            except OSError as err:
                raise OutputError(f"cannot move {staged} to {final}: {err.strerror}") from err
            files.append(str(final))
        placed.append(dict(artifact, files=files, path=str(out_dir / Path(artifact["path"]).name)))
    return placed


def _load_eval(stage_dir: Path) -> tuple[Dataset, dict[str, np.ndarray]]:
    with np.load(stage_dir / EVAL_FILE) as archive:
        inputs = {key.split(":", 1)[1]: archive[key] for key in archive.files if key.startswith("input:")}
        labels = archive["labels"] if "labels" in archive.files else None
    with np.load(stage_dir / BASELINE_FILE) as archive:
        baseline = {key: archive[key] for key in archive.files}
    return Dataset(inputs, labels, "evaluation split"), baseline


def _validate(profile: TargetProfile, response: dict[str, Any], stage_dir: Path, latency_runs: int) -> dict[str, Any]:
    from edgeforge.runtime import open_runner
    from edgeforge.validate.accuracy import compare_outputs, primary_output, run_dataset, top1
    from edgeforge.validate.latency import measure_latency

    log.info("validating on the evaluation split")
    evaluation, baseline = _load_eval(stage_dir)
    signature = ModelSignature.from_dict(response["signature"])
    output_names = [spec.name for spec in signature.outputs]
    primary = primary_output({spec.name: spec.shape for spec in signature.outputs})
    threads = host_threads(profile.threads)
    sample = {name: array[:1] for name, array in evaluation.inputs.items()}
    result: dict[str, Any] = {"primary_output": primary, "labels": evaluation.labels is not None,
                              "samples": len(evaluation), "threads_requested": profile.threads}
    if evaluation.labels is not None:
        result["baseline"] = {"top1": top1(baseline[primary], evaluation.labels)}
    result["artifacts"] = {}
    result["latency"] = []
    for artifact in response["artifacts"]:
        runner = open_runner(artifact["path"], artifact["format"], threads=threads, precision_hint="f32")
        outputs = run_dataset(runner, evaluation, output_names)
        result["artifacts"][artifact["role"]] = compare_outputs(
            baseline, outputs, labels=evaluation.labels, primary=primary
        )
        hints = ["default", "f32"] if artifact["format"] == "openvino-ir" else [None]
        for hint in hints:
            if hint is not None:
                runner = open_runner(artifact["path"], artifact["format"], threads=threads, precision_hint=hint)
            record = measure_latency(runner, sample, threads=threads, runs=latency_runs)
            record["artifact"] = artifact["role"]
            if hint is not None:
                record["precision_hint"] = hint
            result["latency"].append(record)
    return result


def _budget_figures(profile: TargetProfile, artifacts: list[dict[str, Any]], validation: dict[str, Any] | None):
    artifact = next(a for a in artifacts if a["role"] == "artifact")
    figures: dict[str, dict[str, Any]] = {
        "max_size_kib": {"value": artifact["size_bytes"] / 1024.0, "basis": "measured: artifact file size"},
    }
    if validation is None:
        reason = "not measured: validation was skipped"
        figures["max_accuracy_drop"] = {"value": None, "basis": reason}
        figures["max_latency_ms"] = {"value": None, "basis": reason}
        return figures
    scores = validation["artifacts"]["artifact"]
    if "baseline" in validation:
        drop = (validation["baseline"]["top1"] - scores["top1"]) * 100.0
        figures["max_accuracy_drop"] = {"value": drop, "basis": "measured on the evaluation split"}
    else:
        figures["max_accuracy_drop"] = {"value": None, "basis": "not measured: the evaluation data has no labels"}
    if profile.data.get("host", False):
        latency = next(r for r in validation["latency"] if r["artifact"] == "artifact")
        figures["max_latency_ms"] = {"value": latency["median_ms"], "basis": "measured on this host (median)"}
    else:
        figures["max_latency_ms"] = {
            "value": None,
            "basis": f"not checked: host latency is not the latency of {profile.name}, and no device or estimate was given",
        }
    figures["max_ram_kib"] = {"value": None, "basis": "not computed by this build"}
    return figures
