"""JSON Schema of a target profile (targets/*.yaml), checked on every load.

Units are part of the key names (`_mib`, `_kib`, `_ms`, `_gops`) so a profile
reads without a legend. `additionalProperties: false` everywhere makes a typo
in a key an error instead of a silently ignored setting.
"""

from __future__ import annotations

PRECISIONS = ["fp32", "fp16", "int8", "dynamic"]
IO_DTYPES = ["float32", "int8", "uint8"]

_number_or_null = {"type": ["number", "null"], "minimum": 0}

_benchmark = {
    "type": "object",
    "additionalProperties": False,
    "required": ["model", "latency_ms", "source"],
    "properties": {
        "model": {"type": "string"},
        "precision": {"enum": PRECISIONS},
        "latency_ms": {"type": "number", "exclusiveMinimum": 0},
        "source": {"type": "string"},
    },
}

_per_precision = {
    "type": "object",
    "additionalProperties": False,
    "properties": {precision: {"type": "number", "minimum": 0} for precision in PRECISIONS},
}

# Written by `edgeforge calibrate`; coefficient keys are "<group>.<precision>.<unit>" (ms per unit).
_cost_model = {
    "type": "object",
    "additionalProperties": False,
    "required": ["kind", "coefficients"],
    "properties": {
        "kind": {"enum": ["linear-nnls"]},
        "device": {"type": "string"},
        "runtime": {"type": "string"},
        "threads": {"type": "integer", "minimum": 1},
        "fitted": {"type": "string"},
        "calibration_models": {"type": "integer", "minimum": 0},
        "coefficients": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
        "held_out_error": {"type": "object"},
    },
}

# Energy per operation (a MAC, or one element of an element-wise operator) and per byte moved.
_energy = {
    "type": "object",
    "additionalProperties": False,
    "required": ["source"],
    "properties": {
        "pj_per_op": _per_precision,
        "pj_per_byte": _per_precision,
        "static_mw": _number_or_null,
        "source": {"type": "string"},
    },
}

PROFILE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": [
        "name", "description", "device_class", "runtime", "artifact_format", "precisions",
        "quantization", "operators", "compute", "memory", "threads", "default_recipe", "budgets",
    ],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
        "extends": {"type": "string"},
        "description": {"type": "string"},
        "device_class": {"enum": ["cpu", "gpu", "npu", "accelerator", "mcu"]},
        "runtime": {"enum": ["litert", "openvino", "tflite-micro"]},
        "artifact_format": {"enum": ["tflite", "openvino-ir", "c-array"]},
        "openvino_device": {"enum": ["CPU", "GPU", "NPU"]},
        "host": {"type": "boolean"},
        "precisions": {
            "type": "object",
            "additionalProperties": False,
            "required": ["supported", "preferred"],
            "properties": {
                "supported": {"type": "array", "items": {"enum": PRECISIONS}, "minItems": 1, "uniqueItems": True},
                "preferred": {"enum": PRECISIONS},
            },
        },
        "quantization": {
            "type": "object",
            "additionalProperties": False,
            "required": ["weights", "io_dtype", "full_integer"],
            "properties": {
                "weights": {"enum": ["per-channel", "per-tensor"]},
                "io_dtype": {"enum": IO_DTYPES},
                "full_integer": {"type": "boolean"},
            },
        },
        "operators": {
            "type": "object",
            "additionalProperties": False,
            "required": ["policy"],
            "properties": {
                "policy": {"enum": ["any", "allowlist"]},
                "allowed": {"type": "array", "items": {"type": "string"}, "uniqueItems": True},
                "max_tensor_rank": {"type": "integer", "minimum": 1},
                "static_shapes": {"type": "boolean"},
            },
        },
        "compute": {
            "type": "object",
            "additionalProperties": False,
            "required": ["source"],
            "properties": {
                "fp32_gflops": _number_or_null,
                "fp16_gflops": _number_or_null,
                "int8_gops": _number_or_null,
                "memory_bandwidth_gbps": _number_or_null,
                "clock_ghz": _number_or_null,
                "cores": {"type": ["integer", "null"], "minimum": 1},
                "source": {"type": "string"},
            },
        },
        "memory": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "ram_mib": _number_or_null,
                "storage_mib": _number_or_null,
                "flash_kib": _number_or_null,
                "sram_kib": _number_or_null,
            },
        },
        "threads": {"type": "integer", "minimum": 1},
        "default_recipe": {"type": "string"},
        "budgets": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "max_accuracy_drop": _number_or_null,
                "max_latency_ms": _number_or_null,
                "max_size_kib": _number_or_null,
                "max_ram_kib": _number_or_null,
                "max_robustness_gap": _number_or_null,
            },
        },
        "published_benchmarks": {"type": "array", "items": _benchmark},
        "cost_model": _cost_model,
        "energy": _energy,
    },
}
