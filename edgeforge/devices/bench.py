"""Measure an artifact's latency on a device and return a report latency record."""

from __future__ import annotations

import logging
import platform
from pathlib import Path
from typing import Any

from edgeforge.devices import remote_runner
from edgeforge.devices.adb import AdbOptions, run_on_adb
from edgeforge.devices.spec import AdbDevice, LocalDevice, SshDevice, parse_device
from edgeforge.devices.ssh import SshOptions, run_on_ssh
from edgeforge.devices.stats import summarize_times
from edgeforge.errors import DeviceError, InputError

log = logging.getLogger(__name__)

RUNTIMES = ("litert", "openvino")


def artifact_files(artifact_path: Path) -> tuple[str, list[Path]]:
    """Return the runtime for the artifact and the files it consists of (an IR is .xml plus .bin)."""
    if not artifact_path.is_file():
        raise InputError(f"artifact {artifact_path} not found; pass a .tflite file or an OpenVINO .xml file")
    suffix = artifact_path.suffix.lower()
    if suffix == ".tflite":
        return "litert", [artifact_path]
    if suffix == ".xml":
        weights = artifact_path.with_suffix(".bin")
        if not weights.is_file():
            raise InputError(f"OpenVINO IR {artifact_path} has no weights file {weights} beside it")
        return "openvino", [artifact_path, weights]
    raise InputError(
        f"cannot benchmark {artifact_path}: unknown artifact type {suffix!r}; expected .tflite or .xml (OpenVINO IR)"
    )


def _check_counts(threads: int, warmup: int, runs: int) -> None:
    for name, value, low in (("threads", threads, 1), ("warmup", warmup, 0), ("runs", runs, 1)):
        if not isinstance(value, int) or value < low:
            raise InputError(f"{name} must be an integer >= {low}, got {value!r}")


def bench_artifact(
    artifact_path: str | Path,
    *,
    device: str,
    threads: int,
    warmup: int = 10,
    runs: int = 50,
    openvino_device: str = "CPU",
    openvino_precision: str | None = None,
    ssh: SshOptions | None = None,
    adb: AdbOptions | None = None,
) -> dict[str, Any]:
    """Measure `artifact_path` on `device` and return a latency record (kind "measured").

    Keys: kind, device, cpu, machine, runtime, runtime_version, threads, warmup, runs,
    median_ms, p90_ms, mean_ms, std_ms, min_ms, max_ms. On adb devices median_ms and
    p90_ms are None because benchmark_model prints only mean, std, min and max.
    `openvino_precision` sets INFERENCE_PRECISION_HINT (for example "f32"); None keeps
    the device default (bf16 on CPUs that have it).
    """
    artifact_path = Path(artifact_path)
    _check_counts(threads, warmup, runs)
    parsed = parse_device(device)
    runtime, files = artifact_files(artifact_path)
    runner_args = ["--runtime", runtime, "--threads", str(threads), "--warmup", str(warmup), "--runs", str(runs),
                   "--openvino-device", openvino_device]
    if openvino_precision:
        runner_args += ["--openvino-precision", openvino_precision]

    if isinstance(parsed, AdbDevice):
        if runtime != "litert":
            raise InputError(f"adb devices run .tflite files with benchmark_model; {artifact_path} is an OpenVINO IR")
        result = run_on_adb(parsed, artifact_path, threads=threads, warmup=warmup, runs=runs,
                            options=adb or AdbOptions())
        return {"kind": "measured", "device": str(parsed), "cpu": result["cpu"], "machine": result["machine"],
                "runtime": result["runtime"], "runtime_version": result["runtime_version"], "threads": threads,
                "warmup": warmup, "runs": result["runs"] or runs,
                **{key: result[key] for key in ("median_ms", "p90_ms", "mean_ms", "std_ms", "min_ms", "max_ms")}}

    if isinstance(parsed, SshDevice):
        report = run_on_ssh(parsed, files, runner_args, ssh or SshOptions())
    else:
        report = _run_local(artifact_path, runtime, threads, warmup, runs, openvino_device, openvino_precision)
    log.info("measured %s on %s: %d runs", artifact_path.name, parsed, runs)
    return {"kind": "measured", "device": str(parsed), "cpu": report.get("cpu"), "machine": report.get("machine"),
            "runtime": report["runtime"], "runtime_version": report.get("runtime_version"), "threads": threads,
            "warmup": warmup, "runs": runs, **summarize_times(report["times_ms"])}


def _run_local(
    path: Path, runtime: str, threads: int, warmup: int, runs: int, ov_device: str, ov_precision: str | None,
) -> dict[str, Any]:
    try:
        if runtime == "litert":
            report = remote_runner.time_litert(str(path), threads, warmup, runs)
        else:
            report = remote_runner.time_openvino(str(path), threads, warmup, runs, ov_device, ov_precision)
    except (ValueError, RuntimeError) as err:
        raise DeviceError(f"running {path} with {runtime} on this machine failed: {err}") from err
    report.update(cpu=remote_runner.cpu_name(), machine=platform.machine())
    return report
