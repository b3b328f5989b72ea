"""Report dictionaries in the shape the compile pipeline writes, for report writer tests."""

from __future__ import annotations

import copy


def sample_report(target: str = "cortex-m4", *, latency_ms: float = 12.5, drop: float = 0.8, passed: bool = True) -> dict:
    report = {
        "schema_version": 1,
        "edgeforge_version": "0.1.0",
        "created": "2026-12-04T20:00:00+00:00",
        "target": {"name": target, "profile_path": f"targets/{target}.yaml", "runtime": "litert",
                   "artifact_format": "tflite", "device_class": "mcu"},
        "model": {"path": "models/digits.h5", "sha256": "ab" * 32, "format": "keras-h5",
                  "signature": {"inputs": [{"name": "x", "shape": [None, 8, 8, 1], "dtype": "float32"}],
                                "outputs": [{"name": "logits", "shape": [None, 10], "dtype": "float32"}]},
                  "parameters": 738, "size_bytes": 52000},
        "recipe": {"name": "ptq-int8", "path": "recipes/ptq-int8.yaml", "precision": "int8"},
        "artifacts": [
            {"role": "artifact", "path": "model.tflite", "format": "tflite", "precision": "int8", "size_bytes": 3240},
            {"role": "float-reference", "path": "float.tflite", "format": "tflite", "precision": "fp32", "size_bytes": 3824},
        ],
        "accuracy": {"baseline": {"top1": 0.962, "samples": 397}, "float_reference": {"top1": 0.962, "samples": 397},
                     "artifact": {"top1": 0.962 - drop / 100, "top1_agreement": 0.98, "max_abs_error": 0.3,
                                  "mean_abs_error": 0.02}, "drop_points": drop},
        "size": {"artifact_bytes": 3240, "float_bytes": 3824, "ratio": 0.847},
        "latency": [
            {"artifact": "artifact", "kind": "measured", "device": "host", "cpu": "x86_64", "runtime": "litert",
             "threads": 1, "warmup": 5, "runs": 50, "median_ms": latency_ms, "p90_ms": latency_ms * 1.2,
             "mean_ms": latency_ms, "std_ms": 0.4},
            {"artifact": "float-reference", "kind": "measured", "device": "host", "cpu": "x86_64", "runtime": "litert",
             "threads": 1, "warmup": 5, "runs": 50, "median_ms": latency_ms * 1.6, "p90_ms": latency_ms * 2,
             "mean_ms": latency_ms * 1.6, "std_ms": 0.5},
            {"artifact": "artifact", "kind": "estimated", "device": target, "median_ms": latency_ms * 30},
        ],
        "budgets": [
            {"name": "max_accuracy_drop", "value": drop, "limit": 1.0, "unit": "points", "passed": drop <= 1.0, "basis": "measured"},
            {"name": "max_latency_ms", "value": latency_ms * 30, "limit": 500 if passed else 100, "unit": "ms",
             "passed": passed, "basis": "estimated"},
            {"name": "max_size_kib", "value": 3.16, "limit": 256, "unit": "KiB", "passed": True, "basis": "measured"},
            {"name": "max_ram_kib", "value": None, "limit": 64, "unit": "KiB", "passed": True, "basis": "not measured"},
        ],
        "status": "passed" if passed and drop <= 1.0 else "budget_missed",
    }
    return copy.deepcopy(report)


def rich_report() -> dict:
    """A report with the optional sections: per-operator latency, sensitivity, compatibility, robustness."""
    report = sample_report()
    report["op_latency"] = [
        {"op": "CONV_2D", "count": 1, "total_ms": 0.21, "kind": "measured"},
        {"op": "FULLY_CONNECTED", "count": 1, "total_ms": 0.05, "kind": "measured"},
        {"op": "MAX_POOL_2D", "count": 1, "total_ms": 0.02, "kind": "measured"},
    ]
    report["sensitivity"] = [
        {"layer": "conv2d", "metric": "accuracy_drop_points", "value": 1.4},
        {"layer": "dense", "metric": "accuracy_drop_points", "value": 0.3},
    ]
    report["compatibility"] = [
        {"severity": "error", "operator": "RESIZE_BILINEAR", "message": "float operator on an int8-only accelerator",
         "fix": "keep the layer out of the model or quantize it"},
        {"severity": "info", "operator": "CONV_2D", "message": "per-channel weights"},
    ]
    report["robustness"] = {
        "seed": 0, "samples": 397,
        "perturbations": [
            {"name": "clean", "original_top1": 0.962, "artifact_top1": 0.955, "gap_points": 0.7},
            {"name": "gaussian_noise", "original_top1": 0.90, "artifact_top1": 0.86, "gap_points": 4.0},
        ],
        "max_gap_points": 4.0,
    }
    return report
