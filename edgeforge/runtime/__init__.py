"""Runners that execute artifacts in their real runtime (LiteRT, OpenVINO)."""

from __future__ import annotations

from pathlib import Path

from edgeforge.runtime.base import Runner


def open_runner(path: str | Path, artifact_format: str, *, threads: int, precision_hint: str = "f32") -> Runner:
    """Open an artifact in its runtime. `precision_hint` only applies to OpenVINO."""
    if artifact_format == "tflite":
        from edgeforge.runtime.litert import LiteRTRunner

        return LiteRTRunner(path, threads=threads)
    if artifact_format == "openvino-ir":
        from edgeforge.runtime.openvino import OpenVINORunner

        return OpenVINORunner(path, threads=threads, precision_hint=precision_hint)
    raise ValueError(f"no runner for artifact format {artifact_format!r}")
