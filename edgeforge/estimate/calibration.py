"""Fit a device's cost-model coefficients from benchmark models measured on it.

`calibrate` converts the calibration suite (single layers and small networks)
in each precision and measures every model with `edgeforge.devices.bench_artifact`.
It fits the coefficients, measures the held-out suite for the error figures, and
writes a copy of the target profile with the fitted `cost_model`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import jsonschema
import yaml

from edgeforge.devices import AdbOptions, SshOptions, bench_artifact
from edgeforge.errors import InputError, OutputError, ProfileError
from edgeforge.estimate.convert import convert_keras
from edgeforge.estimate.cost_model import CostModel, error_summary, fit_cost_model
from edgeforge.estimate.features import OpCost, op_costs
from edgeforge.estimate.suites import ModelCase, calibration_suite, held_out_suite
from edgeforge.graph.tflite import read_tflite
from edgeforge.targets.registry import TargetProfile
from edgeforge.targets.schema import PROFILE_SCHEMA

log = logging.getLogger(__name__)

CALIBRATION_PRECISIONS = ("fp32", "int8")
TARGET_MEASURE_S = 0.25
"""Seconds of timed runs per model and repeat; the run count follows from a short probe."""
REPEATS = 3
"""Measurements per model, taken in rounds over all models. The lowest is kept because other load
on the device only adds time. With rounds, a burst of load spoils one measurement of a model
rather than all of them."""


@dataclass
class MeasuredModel:
    """One benchmark model with its operator costs, its measurement and, after the fit, its estimate."""

    name: str
    family: str
    precision: str
    path: Path
    costs: list[OpCost]
    measured_ms: float
    estimated_ms: float | None = None

    @property
    def error_pct(self) -> float | None:
        if self.estimated_ms is None:
            return None
        return abs(self.estimated_ms - self.measured_ms) / self.measured_ms * 100.0

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "family": self.family, "precision": self.precision,
                "measured_ms": self.measured_ms, "estimated_ms": self.estimated_ms, "error_pct": self.error_pct}


@dataclass
class CalibrationResult:
    """The fitted model, the models it was fitted and checked on, and the profile copy written."""

    cost_model: CostModel
    calibration: list[MeasuredModel]
    held_out: list[MeasuredModel]
    error: dict[str, Any]
    profile_path: Path | None = None
    notes: list[str] = field(default_factory=list)


def convert_cases(
    cases: Sequence[ModelCase], precisions: Sequence[str], work_dir: Path,
) -> list[tuple[ModelCase, str, Path]]:
    """Convert every case in every precision into `work_dir`; files already there are reused."""
    converted = []
    for case in cases:
        model = None
        for precision in precisions:
            path = work_dir / f"{case.name}.{precision}.tflite"
            if not path.is_file():
                if model is None:
                    model = case.build()
                convert_keras(model, path, precision=precision)
            converted.append((case, precision, path))
    return converted


def _run_count(path: Path, *, device: str, threads: int, ssh: SshOptions | None, adb: AdbOptions | None) -> int:
    """Return how many timed runs fill about TARGET_MEASURE_S seconds, from a short probe."""
    probe = bench_artifact(path, device=device, threads=threads, warmup=2, runs=3, ssh=ssh, adb=adb)
    per_run_s = max(probe["min_ms"], 1e-3) / 1000.0
    return int(min(2000, max(10, TARGET_MEASURE_S / per_run_s)))


def _measure_once(
    path: Path, runs: int, *, device: str, threads: int, ssh: SshOptions | None, adb: AdbOptions | None,
    statistic: str,
) -> float:
    record = bench_artifact(path, device=device, threads=threads, warmup=max(3, runs // 10), runs=runs,
                            ssh=ssh, adb=adb)
    value = record.get(statistic) if record.get(statistic) is not None else record["mean_ms"]
    return float(value)


def measure_latency_ms(
    path: Path, *, device: str, threads: int, ssh: SshOptions | None = None, adb: AdbOptions | None = None,
    statistic: str = "median_ms",
) -> float:
    """Return the lowest of REPEATS measurements of `path`, each over about TARGET_MEASURE_S seconds of runs.

    `statistic` is the record key taken from each measurement: "median_ms", or "min_ms" on a shared,
    noisy machine where other load only adds time.
    """
    runs = _run_count(path, device=device, threads=threads, ssh=ssh, adb=adb)
    return min(_measure_once(path, runs, device=device, threads=threads, ssh=ssh, adb=adb, statistic=statistic)
               for _ in range(REPEATS))


def measure_cases(
    converted: list[tuple[ModelCase, str, Path]], *, device: str, threads: int,
    ssh: SshOptions | None = None, adb: AdbOptions | None = None, statistic: str = "median_ms",
    progress: Callable[[str], None] | None = None, repeats: int = REPEATS,
) -> list[MeasuredModel]:
    """Measure each converted model on `device` and pair it with its operator costs.

    The `repeats` measurements of each model are taken in rounds: every model once, then every
    model again. Each model keeps its lowest measurement.
    """
    if repeats < 1:
        raise InputError(f"repeats is {repeats}; expected at least 1 measurement per model")
    options = {"device": device, "threads": threads, "ssh": ssh, "adb": adb}
    run_counts = [_run_count(path, **options) for _, _, path in converted]
    values: list[list[float]] = [[] for _ in converted]
    for round_number in range(1, repeats + 1):
        for index, (case, precision, path) in enumerate(converted):
            values[index].append(_measure_once(path, run_counts[index], statistic=statistic, **options))
            if progress is not None:
                progress(f"{case.name} {precision} (round {round_number}/{repeats})")
        log.info("measured round %d/%d of %d models", round_number, repeats, len(converted))
    measured = []
    for (case, precision, path), latencies in zip(converted, values):
        latency = min(latencies)
        measured.append(MeasuredModel(case.name, case.family, precision, path, op_costs(read_tflite(path)), latency))
        log.info("measured %s %s: %.4f ms (lowest of %d)", case.name, precision, latency, len(latencies))
    return measured


def evaluate(model: CostModel, measured: list[MeasuredModel]) -> dict[str, Any]:
    """Fill in each model's estimate and return the error distribution."""
    for item in measured:
        item.estimated_ms = model.estimate(item.path)["estimated_ms"]
    return error_summary([m.estimated_ms for m in measured], [m.measured_ms for m in measured])


def calibrate(
    device: str,
    *,
    threads: int = 1,
    base_profile: TargetProfile | str | Path | None = None,
    output_profile: str | Path | None = None,
    work_dir: str | Path | None = None,
    precisions: Sequence[str] = CALIBRATION_PRECISIONS,
    held_out: bool = True,
    ssh: SshOptions | None = None,
    adb: AdbOptions | None = None,
    calibration_cases: Sequence[ModelCase] | None = None,
    held_out_cases: Sequence[ModelCase] | None = None,
    statistic: str = "median_ms",
    progress: Callable[[str], None] | None = None,
) -> CalibrationResult:
    """Measure the benchmark suites on `device`, fit the cost model and, if asked, write a profile copy.

    `output_profile` gets a copy of `base_profile` with key `cost_model` replaced
    and `name` set to the file's stem; the base profile file is never changed.
    `work_dir` keeps the converted models for reuse (a temporary folder if None).
    `statistic` ("median_ms" or "min_ms") is the measurement both the fit and the
    held-out error use.
    """
    if (output_profile is None) != (base_profile is None):
        raise InputError("pass both base_profile and output_profile to write a calibrated profile, or neither")
    owned = None
    if work_dir is None:
        owned = tempfile.TemporaryDirectory(prefix="edgeforge-calibrate-")
        work_dir = owned.name
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        fit_set = measure_cases(convert_cases(calibration_cases or calibration_suite(), precisions, work_dir),
                                device=device, threads=threads, ssh=ssh, adb=adb, statistic=statistic,
                                progress=progress)
        fitted = dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat()
        model = fit_cost_model([m.costs for m in fit_set], [m.measured_ms for m in fit_set],
                               device=device, threads=threads, fitted=fitted)
        fit_error = evaluate(model, fit_set)
        check_set: list[MeasuredModel] = []
        error: dict[str, Any] = {}
        if held_out:
            check_set = measure_cases(convert_cases(held_out_cases or held_out_suite(), precisions, work_dir),
                                      device=device, threads=threads, ssh=ssh, adb=adb, statistic=statistic,
                                      progress=progress)
            error = evaluate(model, check_set)
            error["families"] = sorted({m.family for m in check_set})
        model = dataclasses.replace(model, held_out_error=error)
        result = CalibrationResult(model, fit_set, check_set, error)
        result.notes.append(
            f"fit error on the calibration models: median {fit_error['median_abs_pct']:.1f}%, "
            f"p90 {fit_error['p90_abs_pct']:.1f}%"
        )
        if output_profile is not None:
            result.profile_path = write_calibrated_profile(base_profile, Path(output_profile), model)
        return result
    finally:
        if owned is not None:
            owned.cleanup()


def write_calibrated_profile(base: TargetProfile | str | Path, output: Path, model: CostModel) -> Path:
    """Write a copy of the base profile file with the fitted `cost_model`, atomically, to `output`."""
    base_path = base.path if isinstance(base, TargetProfile) else Path(base)
    if output.resolve() == base_path.resolve():
        raise OutputError(
            f"output path {output} is the base profile itself, and the base profile is never overwritten; "
            "pass another output path "
            "(for example a file in your --targets-dir)"
        )
    try:
        raw = yaml.safe_load(base_path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise ProfileError(f"cannot read the base profile {base_path}: {err}") from err
    if not isinstance(raw, dict):
        raise ProfileError(f"{base_path}: expected a mapping of profile keys at the top level")
    raw["name"] = output.stem
    raw["cost_model"] = model.to_profile()
    try:
        jsonschema.validate(raw["cost_model"], PROFILE_SCHEMA["properties"]["cost_model"])
    except jsonschema.ValidationError as err:
        raise ProfileError(f"the fitted cost_model does not match the profile schema: {err.message}") from err
    header = (f"# Calibrated copy of {base_path.name}; cost_model fitted on {model.device} "
              f"({model.threads} threads) at {model.fitted}.\n")
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        handle, temp = tempfile.mkstemp(dir=output.parent, suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(header + yaml.safe_dump(raw, sort_keys=False))
        os.replace(temp, output)
    except OSError as err:
        raise OutputError(f"cannot write the calibrated profile {output}: {err.strerror}") from err
    return output
