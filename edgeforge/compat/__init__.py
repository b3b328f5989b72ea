"""Check a compiled artifact against a target profile before deployment."""

from __future__ import annotations

from pathlib import Path

from edgeforge.compat.arena import plan_arena
from edgeforge.compat.report import CompatReport, Finding, OpLogEntry
from edgeforge.errors import InputError
from edgeforge.targets.registry import TargetProfile


def check_artifact(artifact_path: str | Path, target: TargetProfile) -> CompatReport:
    """Check a .tflite file or an OpenVINO IR (.xml) against `target` and return the report.

    The report lists every operator with its precision and placement, and one
    finding per broken rule naming the operator, the rule and the fix.
    """
    path = Path(artifact_path)
    if not path.is_file():
        raise InputError(f"artifact {path} not found; pass a .tflite file or an OpenVINO .xml file")
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        from edgeforge.compat.tflite_rules import check_tflite
        from edgeforge.graph.tflite import read_tflite

        return check_tflite(read_tflite(path), target)
    if suffix == ".xml":
        from edgeforge.compat.openvino_rules import check_openvino

        return check_openvino(path, target)
    raise InputError(f"cannot check {path}: unknown artifact type {suffix!r}; expected .tflite or .xml (OpenVINO IR)")


__all__ = ["CompatReport", "Finding", "OpLogEntry", "check_artifact", "plan_arena"]
