"""Run LiteRT's `benchmark_model` binary on an Android device over adb and parse its log.

The user supplies the binary, built for the device's ABI from the LiteRT
sources or taken from the LiteRT releases. edgeforge pushes it and the model
to a temporary folder under /data/local/tmp and removes the folder afterwards.
"""

from __future__ import annotations

import logging
import re
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeforge.devices.spec import AdbDevice
from edgeforge.errors import DeviceError, InputError

log = logging.getLogger(__name__)

_TIMINGS = re.compile(r"Inference timings in us:(?P<body>[^\n]*)")
_STAT_LINE = re.compile(r"count=(?P<count>\d+)(?P<rest>[^\n]*)")
_KEY_VALUE = re.compile(r"([A-Za-z0-9_]+)=([-+0-9.eE]+)")


@dataclass(frozen=True)
class AdbOptions:
    """How to reach an adb device. Times are in seconds."""

    benchmark_binary: Path | None = None
    """LiteRT `benchmark_model` built for the device; required."""
    adb_path: str = "adb"
    server_port: int | None = None
    """adb server port (`adb -P`); None uses adb's default, 5037."""
    timeout_s: float = 600.0
    remote_dir: str = "/data/local/tmp"


def parse_benchmark_model_output(text: str) -> dict[str, Any]:
    """Parse the log of LiteRT `benchmark_model` into milliseconds.

    The timed-run statistics come from the last `count=... min=... avg=... std=...`
    line (the earlier one covers warm-up). `benchmark_model` prints no median or
    p90, so those are None unless a `median=`/`p90=` field is present.
    """
    summary = _TIMINGS.search(text)
    if summary is None:
        raise DeviceError(
            "benchmark_model output has no 'Inference timings in us' line; the run failed or the "
            f"binary is not LiteRT benchmark_model. Last output: {text.strip()[-400:]!r}"
        )
    fields = dict(_KEY_VALUE.findall(summary.group("body").replace(": ", "=").replace(" (avg)", "_avg")))
    stats_lines = [m for m in _STAT_LINE.finditer(text[: summary.start()])]
    record: dict[str, Any] = {
        "init_ms": _ms(fields.get("Init")),
        "first_ms": _ms(fields.get("inference")),
        "mean_ms": _ms(fields.get("Inference_avg")),
        "median_ms": None, "p90_ms": None, "std_ms": None, "min_ms": None, "max_ms": None,
        "runs": None,
    }
    if stats_lines:
        last = stats_lines[-1]
        values = dict(_KEY_VALUE.findall(last.group("rest")))
        record["runs"] = int(last.group("count"))
        if "(all same)" in last.group("rest"):
            same = _ms(values.get("curr"))
            record.update(min_ms=same, max_ms=same, std_ms=0.0, median_ms=same, p90_ms=same)
        else:
            record.update(min_ms=_ms(values.get("min")), max_ms=_ms(values.get("max")),
                          std_ms=_ms(values.get("std")), median_ms=_ms(values.get("median") or values.get("p50")),
                          p90_ms=_ms(values.get("p90")))
            if record["mean_ms"] is None:
                record["mean_ms"] = _ms(values.get("avg"))
    if record["mean_ms"] is None:
        raise DeviceError(f"benchmark_model output has no average inference time: {summary.group(0)!r}")
    return record


def _ms(value_us: str | None) -> float | None:
    return None if value_us is None else float(value_us) / 1000.0


def _adb(options: AdbOptions, serial: str | None, args: list[str], *, timeout_s: float, what: str) -> str:
    command = [options.adb_path]
    if options.server_port is not None:
        command += ["-P", str(options.server_port)]
    if serial is not None:
        command += ["-s", serial]
    command += args
    try:
        result = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)
    except FileNotFoundError as err:
        raise DeviceError(
            f"adb not found at {options.adb_path!r}; install Android platform tools "
            "(for example 'apt-get install adb') or pass the adb path"
        ) from err
    except subprocess.TimeoutExpired as err:
        raise DeviceError(f"{what} on adb://{serial} timed out after {timeout_s:.0f} s") from err
    output = result.stdout.decode("utf-8", "replace")
    if result.returncode != 0:
        message = (result.stderr.decode("utf-8", "replace") + output).strip()[-400:]
        hint = ""
        if "not found" in message or "no devices" in message or "offline" in message:
            hint = "; run 'adb devices' to list the connected devices and their serials"
        raise DeviceError(f"{what} on adb://{serial} failed (exit code {result.returncode}): {message}{hint}")
    return output


def run_on_adb(
    device: AdbDevice, artifact: Path, *, threads: int, warmup: int, runs: int, options: AdbOptions,
) -> dict[str, Any]:
    """Push `artifact` and benchmark_model, run it, remove both; return the parsed timings."""
    binary = options.benchmark_binary
    if binary is None:
        raise InputError(
            "adb devices need the LiteRT benchmark_model binary for the device; pass its path "
            "(--benchmark-binary)"
        )
    if not Path(binary).is_file():
        raise InputError(f"benchmark_model binary {binary} not found; pass the path of the file")
    state = _adb(options, device.serial, ["get-state"], timeout_s=30, what="checking the device state").strip()
    if state != "device":
        raise DeviceError(f"adb://{device.serial} is in state {state!r}, expected 'device'; unlock or authorize it")
    folder = f"{options.remote_dir.rstrip('/')}/edgeforge-{secrets.token_hex(4)}"
    remote_model = f"{folder}/{artifact.name}"
    remote_binary = f"{folder}/benchmark_model"
    _adb(options, device.serial, ["shell", "mkdir", "-p", folder], timeout_s=30, what="creating a folder")
    try:
        _adb(options, device.serial, ["push", str(artifact), remote_model], timeout_s=options.timeout_s,
             what="pushing the model")
        _adb(options, device.serial, ["push", str(binary), remote_binary], timeout_s=options.timeout_s,
             what="pushing benchmark_model")
        _adb(options, device.serial, ["shell", "chmod", "755", remote_binary], timeout_s=30,
             what="making benchmark_model executable")
        output = _adb(options, device.serial, [
            "shell", remote_binary, f"--graph={remote_model}", f"--num_threads={threads}",
            f"--warmup_runs={warmup}", "--warmup_min_secs=0", f"--num_runs={runs}", "--min_secs=0",
            f"--max_secs={int(options.timeout_s)}",
        ], timeout_s=options.timeout_s + 30, what="running benchmark_model")
        record = parse_benchmark_model_output(output)
        model = _adb(options, device.serial, ["shell", "getprop", "ro.product.model"], timeout_s=30,
                     what="reading the device model").strip()
        abi = _adb(options, device.serial, ["shell", "getprop", "ro.product.cpu.abi"], timeout_s=30,
                   what="reading the CPU ABI").strip()
        record.update(cpu=f"{model} ({abi})", machine=abi, runtime="litert-benchmark_model",
                      runtime_version=None)
        return record
    finally:
        try:
            _adb(options, device.serial, ["shell", "rm", "-rf", folder], timeout_s=30, what="removing the folder")
        except DeviceError as err:
            log.warning("could not remove %s on %s: %s", folder, device, err)
