"""`compile_model`: the typed Python API behind `edgeforge compile`."""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import os
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeforge._files import write_text_atomic
from edgeforge.errors import DataError, OutputError, UnsupportedError
from edgeforge.models.formats import describe_model_file
from edgeforge.pipeline.isolation import run_worker
from edgeforge.pipeline.plan import plan_conversions, resolve_recipe
from edgeforge.pipeline.target_checks import check_compatibility, energy_estimate, target_latency
from edgeforge.pipeline.validation import budget_figures, validate_artifacts
from edgeforge.report.manifest import build_manifest, check_up_to_date, write_build_manifest
from edgeforge.report.writer import build_report, report_json
from edgeforge.targets import TargetProfile, load_target
from edgeforge.validate.budgets import check_budgets, validate_budgets

log = logging.getLogger(__name__)

REPORT_FILE = "report.json"
HTML_FILE = "report.html"


@dataclass
class BuildResult:
    """The output folder, report path and report content of one compile.

    `skipped` is True when the folder already held a build of the same inputs.
    """

    out_dir: Path
    report_path: Path
    report: dict[str, Any]
    skipped: bool = False
    skip_reason: str = ""

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
    robustness: bool = True,
    latency_runs: int = 200,
    safe_mode: bool = True,
    custom_objects_module: str | None = None,
    strict: bool = False,
    force: bool = False,
    junit_path: str | Path | None = None,
    device: str | None = None,
    ssh: Any = None,
    adb: Any = None,
) -> BuildResult:
    """Compile `model` for `target` and write the artifacts and report.json into `out_dir`.

    `data` gives calibration samples and, unless `eval_data` is set, a held-out
    evaluation split of `eval_fraction`. `budgets` overrides the profile's
    budgets by name. The build runs in a staging folder inside `out_dir`.
    Files move into place only when every step succeeded, report.json last,
    and then manifest.json is written, whose hashes let an unchanged build be
    skipped (unless `force`). `safe_mode=False` lets Keras load Lambda layers, so use it
    only for trusted files. `custom_objects_module` names a module with the
    model's custom layers, and `strict` makes a recipe step that cannot apply
    an error.
    `device` (local, ssh://user@host[:port], adb://SERIAL) measures the
    artifact's latency on the target device, with `ssh` or `adb` options.
    """
    started = time.perf_counter()
    profile = target if isinstance(target, TargetProfile) else load_target(target, targets_dirs)
    model_path = Path(model)
    model_info = describe_model_file(model_path)
    if model_info.format in ("tflite", "onnx") and profile.artifact_format != "openvino-ir":
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
    # Compatibility errors gate every build like a budget whose limit is zero.
    limits = {**dict(profile.budgets), "compatibility_errors": 0}
    limits.update(validate_budgets(budgets or {}))

    options = {
        "profile": profile.data, "budgets": limits, "eval_fraction": eval_fraction,
        "calibration_samples": calibration_samples, "validate": validate, "robustness": robustness,
        "safe_mode": safe_mode, "custom_objects_module": custom_objects_module, "strict": strict,
        "device": device,
    }
    data_roles = {"calibration": data_path, **({"evaluation": Path(eval_data)} if eval_data is not None else {})}
    manifest = build_manifest(model=model_path, target_profile=profile.path, recipe=recipe_spec.path,
                              data=data_roles, seed=seed, options=options)
    if not force:
        status = check_up_to_date(out_dir, manifest)
        if status.up_to_date:
            report_path = out_dir / REPORT_FILE
            report = json.loads(report_path.read_text(encoding="utf-8"))
            _write_junit(report, junit_path)
            return BuildResult(out_dir, report_path, report, skipped=True, skip_reason=status.reason)

    stage_dir = _make_stage_dir(out_dir)
    try:
        jobs = plan_conversions(profile, recipe_spec, stage_dir)
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
            "recipe_path": str(recipe_spec.path),
            "target": {"name": profile.name, "path": str(profile.path), "data": profile.data},
            "conversions": [dataclasses.asdict(job) for job in jobs],
            "predict_baseline": validate,
        }
        # The HTML report needs matplotlib (about 0.6 s to import); import it while the worker runs.
        threading.Thread(target=importlib.import_module, args=("edgeforge.report.html",), daemon=True).start()
        response = run_worker(request)
        validation = None
        if validate:
            validation = validate_artifacts(profile, response, stage_dir, latency_runs=latency_runs,
                                            robustness=robustness, seed=seed)
        staged = Path(next(a for a in response["artifacts"] if a["role"] == "artifact")["path"])
        compatibility = check_compatibility(profile, staged)
        device_record, latency_figure = target_latency(profile, staged, device=device, ssh=ssh, adb=adb)
        if device_record is not None and validation is not None:
            validation["latency"].append(dict(device_record, artifact="artifact"))
        energy = energy_estimate(profile, staged, latency_figure.get("value"))
        firmware = _emit_firmware(profile, response, stage_dir)
        staged_files = [Path(f) for a in response["artifacts"] for f in a["files"]]
        staged_files += [Path(f) for f in (firmware or {}).get("files", [])]
        artifacts = [_relocate(a, out_dir) for a in response["artifacts"]]
        firmware = _relocate(firmware, out_dir) if firmware else None
        compatibility["artifact"] = str(out_dir / staged.name)
        arena_bytes = (firmware["arena_bytes"] if firmware
                       else compatibility.get("summary", {}).get("tensor_arena_estimate_bytes"))
        ram_kib = arena_bytes / 1024.0 if arena_bytes else None
        report = build_report(
            profile=profile,
            model_path=model_path,
            data_path=data_path,
            eval_path=Path(eval_data) if eval_data is not None else None,
            recipe=recipe_spec,
            response=response,
            artifacts=artifacts,
            validation=validation,
            budgets=check_budgets(limits, budget_figures(profile, artifacts, validation, ram_kib=ram_kib,
                                                         latency=latency_figure or None,
                                                         compatibility=compatibility)),
            wall_s=time.perf_counter() - started,
            firmware=firmware,
            seed=seed,
            extra={"compatibility": compatibility, "energy": energy,
                   "target_latency": device_record},
        )
        staged_files += _write_reports(report, stage_dir)
        outputs = _publish(staged_files, out_dir)
        write_build_manifest(out_dir, manifest, outputs=[path.resolve() for path in outputs])
    finally:
        shutil.rmtree(stage_dir, ignore_errors=True)
    _write_junit(report, junit_path)
    return BuildResult(out_dir, out_dir / REPORT_FILE, report)


def _make_stage_dir(out_dir: Path) -> Path:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        return Path(tempfile.mkdtemp(prefix=".staging-", dir=out_dir))
    except OSError as err:
        raise OutputError(
            f"cannot write to output folder {out_dir}: {err.strerror}; pass --out with a writable folder"
        ) from err


def _relocate(item: dict[str, Any], out_dir: Path) -> dict[str, Any]:
    """Return a copy of an artifact or firmware record with its staged paths replaced by final ones."""
    moved = dict(item)
    for key in ("path", "header", "source"):
        if key in moved:
            moved[key] = str(out_dir / Path(moved[key]).name)
    moved["files"] = [str(out_dir / Path(f).name) for f in item["files"]]
    return moved


def _publish(staged_files: list[Path], out_dir: Path) -> list[Path]:
    """Rename staged files into `out_dir`, report.json last; return the final paths.

    Everything, report.json included, was written and checked in the staging
    folder first, so a failure before this point leaves the previous build as
    it was. The earlier report.json and manifest.json go first, so a build
    stopped between two renames never leaves a report that describes a mix of
    old and new files, and is never taken as up to date. Each rename is atomic
    because the staging folder is inside `out_dir`.
    """
    for stale in (REPORT_FILE, "manifest.json", "SHA256SUMS"):
        (out_dir / stale).unlink(missing_ok=True)
    ordered = sorted(staged_files, key=lambda path: path.name == REPORT_FILE)
    return [_rename(path, out_dir) for path in ordered]


def _rename(staged: Path, out_dir: Path) -> Path:
    final = out_dir / staged.name
    try:
        os.replace(staged, final)
    except OSError as err:
        raise OutputError(f"cannot move {staged} to {final}: {err.strerror}") from err
    return final


def _emit_firmware(profile: TargetProfile, response: dict[str, Any], stage_dir: Path) -> dict[str, Any] | None:
    """Write the C source and header of the artifact for targets whose format is c-array."""
    if profile.artifact_format != "c-array":
        return None
    from edgeforge.emit.c_array import emit_c_array

    artifact = next(a for a in response["artifacts"] if a["role"] == "artifact")
    return emit_c_array(artifact["path"], out_dir=stage_dir)


def _write_reports(report: dict[str, Any], stage_dir: Path) -> list[Path]:
    """Write report.json and report.html into the staging folder; return their paths."""
    from edgeforge.report.html import write_html_report

    json_path = stage_dir / REPORT_FILE
    write_text_atomic(json_path, report_json(report))
    html = write_html_report(report, stage_dir / HTML_FILE)
    return [json_path, Path(html)]


def _write_junit(report: dict[str, Any], junit_path: str | Path | None) -> None:
    if junit_path is None:
        return
    from edgeforge.report.junit import write_junit

    write_junit(report, junit_path)
