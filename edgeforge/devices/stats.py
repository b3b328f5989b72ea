"""Summary statistics of repeated latency measurements."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from edgeforge.errors import DeviceError


def summarize_times(times_ms: Sequence[float]) -> dict[str, float]:
    """Return median, p90, mean, population std, min and max of `times_ms`, in milliseconds."""
    values = np.asarray(times_ms, dtype=np.float64)
    if values.size == 0 or not np.all(np.isfinite(values)):
        raise DeviceError(f"the benchmark returned no usable timings ({values.size} values); rerun with runs >= 1")
    return {
        "median_ms": float(np.median(values)),
        "p90_ms": float(np.percentile(values, 90)),
        "mean_ms": float(values.mean()),
        "std_ms": float(values.std()),
        "min_ms": float(values.min()),
        "max_ms": float(values.max()),
    }
