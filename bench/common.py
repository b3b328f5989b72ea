"""Measurement helpers shared by the benchmark sections."""

from __future__ import annotations

import platform
import subprocess
import time
from pathlib import Path

import numpy as np
import psutil

from edgeforge.runtime.litert import LiteRTRunner
from edgeforge.validate.latency import cpu_name


def run_measured(command: list[str], *, env: dict | None = None) -> dict:
    """Run `command`; return wall seconds and the peak summed RSS (MiB) of it and its children.

    RSS is sampled every 20 ms, so a peak shorter than that can be missed.
    """
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    root = psutil.Process(process.pid)
    peak = 0
    while process.poll() is None:
        try:
            members = [root] + root.children(recursive=True)
            peak = max(peak, sum(_rss(p) for p in members))
        except psutil.NoSuchProcess:
            pass
        time.sleep(0.02)
    wall = time.perf_counter() - start
    stderr = process.stderr.read().decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{command} failed with code {process.returncode}:\n{stderr[-2000:]}")
    return {"wall_s": wall, "peak_rss_mib": peak / 2**20}


def _rss(process: psutil.Process) -> int:
    try:
        return process.memory_info().rss
    except psutil.NoSuchProcess:
        return 0


def tflite_accuracy(path: Path, x: np.ndarray, y: np.ndarray) -> float:
    runner = LiteRTRunner(path, threads=1)
    name = runner.input_names[0]
    output = runner.output_names[0]
    hits = 0
    for index in range(len(x)):
        hits += int(runner.run({name: x[index:index + 1]})[output].argmax() == y[index])
    return hits / len(x)


def interleaved_latency(paths: dict[str, Path], x: np.ndarray, *, threads: int = 1, rounds: int = 7,
                        runs: int = 200) -> dict[str, float]:
    """Median latency (ms) per artifact, alternating artifacts round by round so machine noise hits all alike."""
    runners = {label: LiteRTRunner(path, threads=threads) for label, path in paths.items()}
    medians: dict[str, list[float]] = {label: [] for label in paths}
    for _ in range(rounds):
        for label, runner in runners.items():
            sample = {runner.input_names[0]: x[:1]}
            times = runner.time_runs(sample, warmup=20, runs=runs, max_seconds=5.0)
            medians[label].append(float(np.median(times)))
    return {label: float(np.median(values)) for label, values in medians.items()}


def machine_line() -> str:
    return f"{cpu_name()}, {psutil.cpu_count()} logical CPUs, {psutil.virtual_memory().total / 2**30:.0f} GiB, " \
           f"Python {platform.python_version()}"
