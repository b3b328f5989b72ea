"""The interface every runtime runner implements."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod

import numpy as np


class Runner(ABC):
    """An artifact loaded in its runtime, fed and read by tensor name with float values."""

    runtime: str
    version: str

    @abstractmethod
    def run(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run one batch; inputs and outputs are float arrays keyed by model tensor name."""

    @abstractmethod
    def _invoke(self) -> None:
        """Run the inputs already set, for timing."""

    @abstractmethod
    def _set(self, inputs: dict[str, np.ndarray]) -> None:
        """Quantize (where needed) and set inputs without running."""

    def time_runs(self, inputs: dict[str, np.ndarray], *, warmup: int, runs: int, max_seconds: float) -> list[float]:
        """Return per-run wall times in ms after `warmup` runs; stop early after `max_seconds`."""
        self._set(inputs)
        for _ in range(warmup):
            self._invoke()
        times = []
        deadline = time.perf_counter() + max_seconds
        for _ in range(runs):
            start = time.perf_counter()
            self._invoke()
            times.append((time.perf_counter() - start) * 1000.0)
            if time.perf_counter() > deadline and len(times) >= 10:
                break
        return times


def quantize(values: np.ndarray, dtype: np.dtype, scale: float, zero_point: int) -> np.ndarray:
    """Map float values to `dtype` with the tensor's own scale and zero point (round, then clip)."""
    if scale == 0:
        return values.astype(dtype)
    info = np.iinfo(dtype)
    return np.clip(np.round(values / scale + zero_point), info.min, info.max).astype(dtype)


def dequantize(values: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    if scale == 0:
        return values.astype(np.float32)
    return (values.astype(np.float32) - zero_point) * scale
