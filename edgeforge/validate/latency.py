"""Measure artifact latency on this machine, like the runtimes' own benchmark tools."""

from __future__ import annotations

import os
import platform
from functools import lru_cache

import numpy as np

from edgeforge.runtime.base import Runner


@lru_cache(maxsize=1)
def cpu_name() -> str:
    """Return the CPU model from /proc/cpuinfo, or platform.processor() where that file is absent."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def host_threads(requested: int) -> int:
    """Cap a target's thread count at the host's CPU count, so runs do not oversubscribe."""
    return max(1, min(requested, os.cpu_count() or 1))


def measure_latency(
    runner: Runner,
    sample: dict[str, np.ndarray],
    *,
    threads: int,
    warmup: int = 20,
    runs: int = 200,
    max_seconds: float = 5.0,
) -> dict:
    """Time `runs` inferences of one sample after `warmup` runs; return the latency record.

    Runs stop early once `max_seconds` have passed (with at least 10 runs), so a
    large model does not stall the build. `runs` in the record is the count done.
    """
    times = np.asarray(runner.time_runs(sample, warmup=warmup, runs=runs, max_seconds=max_seconds))
    return {
        "kind": "measured",
        "device": "local",
        "cpu": cpu_name(),
        "runtime": f"{runner.runtime} {runner.version}",
        "threads": threads,
        "warmup": warmup,
        "runs": int(len(times)),
        "median_ms": round(float(np.median(times)), 4),
        "p90_ms": round(float(np.percentile(times, 90)), 4),
        "mean_ms": round(float(np.mean(times)), 4),
        "std_ms": round(float(np.std(times)), 4),
        "min_ms": round(float(np.min(times)), 4),
    }
