"""Compatibility rules for .tflite artifacts, each switched on by a field of the target profile.

| profile field                                   | rule              |
|-------------------------------------------------|-------------------|
| quantization.full_integer: true                 | full-int8         |
| operators.static_shapes: true                   | static-shapes     |
| operators.max_tensor_rank                       | tensor-rank       |
| operators.policy: allowlist, operators.allowed  | allowlist, op-version |
| quantization.weights: per-tensor                | per-tensor-weights |
| device_class accelerator or npu, runtime litert | single-partition, on-chip-memory (memory.sram_kib) |
| runtime tflite-micro                            | tensor-arena (memory.sram_kib), flash-size (memory.flash_kib) |

Allowlist entries are builtin operator names as in the TFLite schema
(CONV_2D); "NAME:N" also caps the operator version at N.
"""

from __future__ import annotations

from edgeforge.compat.arena import plan_arena
from edgeforge.compat.report import CompatReport, Finding, OpLogEntry
from edgeforge.errors import ProfileError
from edgeforge.estimate.features import op_costs
from edgeforge.graph.tflite import OpInfo, TFLiteGraph
from edgeforge.targets.registry import TargetProfile

_INTEGER_TYPES = {"INT8", "UINT8"}
_INDEX_TYPES = {"INT32", "INT64"}
"""Integer tensors a full-integer target accepts besides int8: biases, shapes, indices."""


def parse_allowlist(target: TargetProfile) -> dict[str, int | None]:
    """Return {operator name: max version or None}; raise ProfileError on a malformed entry."""
    allowed: dict[str, int | None] = {}
    for entry in target.data["operators"].get("allowed", []):
        name, _, version = entry.partition(":")
        name = name.strip().upper()
        if version:
            if not version.strip().isdigit():
                raise ProfileError(
                    f"{target.path}: operators.allowed entry {entry!r}: expected NAME or NAME:MAX_VERSION"
                )
            allowed[name] = int(version)
        else:
            allowed[name] = None
    return allowed


def _float_tensors(op: OpInfo) -> list[str]:
    bad = []
    for tensor in (*op.inputs, *op.outputs):
        if tensor.dtype in _INTEGER_TYPES or tensor.dtype in _INDEX_TYPES or tensor.dtype == "BOOL":
            continue
        bad.append(f"{tensor.name or 'tensor ' + str(tensor.index)} ({tensor.dtype})")
    return bad


def _full_int8(op: OpInfo, graph: TFLiteGraph) -> Finding | None:
    bad = _float_tensors(op)
    if not bad:
        return None
    graph_io = {t for t in (*graph.inputs, *graph.outputs)}
    touches_io = any(t.index in graph_io for t in (*op.inputs, *op.outputs))
    if op.op_type in ("QUANTIZE", "DEQUANTIZE") and touches_io:
        fix = ("convert with integer inputs and outputs (inference_input_type and inference_output_type "
               "tf.int8), so that no float conversion remains at the model edges")
    elif op.op_type in ("QUANTIZE", "DEQUANTIZE"):
        fix = "quantize the neighbouring layers too, so that no float section remains inside the graph"
    else:
        fix = ("quantize this layer (full-integer post-training quantization with representative data and "
               "TFLITE_BUILTINS_INT8 only), or replace it with an operator that has an int8 kernel")
    return Finding("full-int8", "error", f"float tensors {', '.join(bad[:3])} on a full-integer target", fix,
                   op.index, op.op_type)


def _static_shapes(op: OpInfo, seen: set[int]) -> Finding | None:
    """Flag the first dynamic tensor of `op`, unless it only inherits a dynamic dimension already flagged."""
    if any(t.index in seen for t in op.inputs):
        seen.update(t.index for t in op.outputs if -1 in t.shape_signature)
        return None
    for tensor in (*op.inputs, *op.outputs):
        if tensor.index in seen or -1 not in tensor.shape_signature:
            continue
        seen.add(tensor.index)
        seen.update(t.index for t in op.outputs if -1 in t.shape_signature)
        dims = [i for i, d in enumerate(tensor.shape_signature) if d == -1]
        if dims == [0]:
            fix = "fix the batch dimension: build the model with Input(shape, batch_size=1) before converting"
        else:
            fix = f"give dimensions {dims} a fixed size in the model's input shape before converting"
        return Finding("static-shapes", "error",
                       f"tensor {tensor.name!r} has dynamic shape {list(tensor.shape_signature)}", fix,
                       op.index, op.op_type)
    return None


def _rank(op: OpInfo, max_rank: int) -> Finding | None:
    for tensor in (*op.inputs, *op.outputs):
        if len(tensor.shape) > max_rank:
            return Finding("tensor-rank", "error",
                           f"tensor {tensor.name!r} has rank {len(tensor.shape)} > {max_rank}",
                           f"reshape to at most {max_rank} dimensions, for example fold the batch or a "
                           "spatial axis into a neighbouring one", op.index, op.op_type)
    return None


def _allowlist(op: OpInfo, allowed: dict[str, int | None]) -> Finding | None:
    if op.op_type not in allowed:
        return Finding("allowlist", "error", f"operator {op.op_type} is not supported by the target",
                       "replace the layer with a supported one (for example ReLU6 or hard-swish in place of "
                       "swish or GELU), or keep this part of the model on the host", op.index, op.op_type)
    cap = allowed[op.op_type]
    if cap is not None and op.version > cap:
        return Finding("op-version", "error",
                       f"operator {op.op_type} version {op.version} is above the supported version {cap}",
                       "convert with the settings that give the older kernel (for example per-tensor instead of "
                       "per-channel weights, or no int16 activations), or update the target's runtime",
                       op.index, op.op_type)
    return None


def _per_tensor(op: OpInfo) -> Finding | None:
    for tensor in op.weights:
        if tensor.per_channel and tensor.dtype in _INTEGER_TYPES:
            return Finding("per-tensor-weights", "error",
                           f"weights {tensor.name!r} have {tensor.scale_count} per-channel scales; the target "
                           "takes one scale per tensor",
                           "convert with per-channel quantization disabled "
                           "(converter._experimental_disable_per_channel = True)", op.index, op.op_type)
    return None


def _op_precision(op: OpInfo) -> str:
    dtypes = {t.dtype for t in (*op.inputs, *op.outputs) if not t.is_constant}
    if dtypes & _INTEGER_TYPES:
        return "int8"
    if "INT16" in dtypes:
        return "int16"
    if "FLOAT16" in dtypes:
        return "fp16"
    if "FLOAT32" in dtypes:
        weights = {t.dtype for t in op.weights}
        return "dynamic" if weights & _INTEGER_TYPES else "fp32"
    return sorted(dtypes)[0].lower() if dtypes else "none"


def check_tflite(graph: TFLiteGraph, target: TargetProfile) -> CompatReport:
    """Run every rule the profile switches on over `graph` and return the report."""
    data = target.data
    operators = data["operators"]
    quantization = data["quantization"]
    accelerator = data["device_class"] in ("accelerator", "npu") and data["runtime"] == "litert"
    micro = data["runtime"] == "tflite-micro"
    allowed = parse_allowlist(target) if operators["policy"] == "allowlist" else None

    report = CompatReport(target.name, str(graph.path), "tflite")
    seen_dynamic: set[int] = set()
    first_unsupported: int | None = None
    for op in graph.ops:
        report.ops.append(OpLogEntry(op.index, op.op_type, op.version, _op_precision(op),
                                     "accelerator" if accelerator else "device"))
        checks = []
        if quantization["full_integer"]:
            checks.append(_full_int8(op, graph))
        if operators.get("static_shapes"):
            checks.append(_static_shapes(op, seen_dynamic))
        if operators.get("max_tensor_rank"):
            checks.append(_rank(op, operators["max_tensor_rank"]))
        if allowed is not None:
            checks.append(_allowlist(op, allowed))
        if quantization["weights"] == "per-tensor":
            checks.append(_per_tensor(op))
        problems = [finding for finding in checks if finding is not None]
        for finding in problems:
            report.add(finding)
        if problems and first_unsupported is None:
            first_unsupported = op.index

    if accelerator:
        _partition(report, graph, first_unsupported)
        _on_chip_memory(report, graph, target, first_unsupported)
    if micro:
        _micro_memory(report, graph, target)
    return report


def _partition(report: CompatReport, graph: TFLiteGraph, first_unsupported: int | None) -> None:
    total = len(graph.ops)
    mapped = total if first_unsupported is None else first_unsupported
    for entry in report.ops[mapped:]:
        entry.placement = "cpu"
    report.summary["ops_on_accelerator"] = mapped
    report.summary["ops_on_cpu"] = total - mapped
    if first_unsupported is not None:
        op = graph.ops[first_unsupported]
        report.add(Finding(
            "single-partition", "error" if mapped == 0 else "warning",
            f"the accelerator runs only one partition: from op #{op.index} {op.op_type} on, "
            f"{total - mapped} of {total} operators fall back to the CPU",
            "fix the findings on this operator first; everything after it then moves back to the accelerator",
            op.index, op.op_type))


def _on_chip_memory(report: CompatReport, graph: TFLiteGraph, target: TargetProfile, first: int | None) -> None:
    sram_kib = target.data["memory"].get("sram_kib")
    mapped_ops = graph.ops if first is None else graph.ops[:first]
    mapped = {op.index for op in mapped_ops}
    costs = [c for c in op_costs(graph) if c.index in mapped]
    weights = sum(c.weight_bytes for c in costs)
    peak_activation = max((c.activation_bytes for c in costs), default=0)
    used = weights + peak_activation
    report.summary["on_chip_memory_estimate_bytes"] = used
    if sram_kib and used > sram_kib * 1024:
        report.add(Finding(
            "on-chip-memory", "warning",
            f"estimated on-chip memory {used / 1024:.0f} KiB (weights {weights / 1024:.0f} KiB + largest "
            f"operator activations {peak_activation / 1024:.0f} KiB) exceeds the {sram_kib} KiB SRAM; "
            "parameters will stream from host memory on every inference",
            "reduce the model width or the number of parameters, or split the model"))


def _micro_memory(report: CompatReport, graph: TFLiteGraph, target: TargetProfile) -> None:
    memory = target.data["memory"]
    arena, _ = plan_arena(graph)
    report.summary["tensor_arena_estimate_bytes"] = arena
    report.summary["flash_bytes"] = graph.size_bytes
    sram_kib = memory.get("sram_kib")
    if sram_kib and arena > sram_kib * 1024:
        report.add(Finding(
            "tensor-arena", "error",
            f"estimated tensor arena {arena / 1024:.1f} KiB exceeds the {sram_kib} KiB of RAM",
            "reduce the input resolution or the widths of the early layers (the largest activations), "
            "or use int8 activations"))
    flash_kib = memory.get("flash_kib")
    if flash_kib and graph.size_bytes > flash_kib * 1024:
        report.add(Finding(
            "flash-size", "error",
            f"model {graph.size_bytes / 1024:.1f} KiB exceeds the {flash_kib} KiB of flash",
            "quantize the weights to int8, prune, or distil into a smaller model"))
