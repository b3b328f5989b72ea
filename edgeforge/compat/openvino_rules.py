"""Compatibility rules for OpenVINO IR artifacts: precisions, operator types and static shapes.

Reads the IR with `openvino.Core().read_model`. An operator's precision is the
element type of its first output, except that a model containing FakeQuantize
operators (NNCF int8) counts the quantized operators as int8. Allowlist
entries are OpenVINO operation type names (Convolution, GroupConvolution, ...).
"""

from __future__ import annotations

from pathlib import Path

from edgeforge.compat.report import CompatReport, Finding, OpLogEntry
from edgeforge.errors import InputError
from edgeforge.targets.registry import TargetProfile

_ELEMENT_PRECISION = {"f32": "fp32", "f16": "fp16", "bf16": "fp16", "i8": "int8", "u8": "int8"}
_STRUCTURAL = {"Parameter", "Result", "Constant", "Convert", "ShapeOf", "Reshape", "Squeeze", "Unsqueeze"}
"""Operation types that carry no arithmetic of their own; they are logged but not checked for precision."""


def read_ir_ops(path: Path) -> list[dict]:
    """Return index, type, name, element type, output rank, dynamic flag and input types of each IR operation, in topological order."""
    import openvino as ov

    try:
        model = ov.Core().read_model(str(path))
    except RuntimeError as err:
        raise InputError(f"cannot read the OpenVINO IR {path}: {err}") from err
    ops = []
    for index, node in enumerate(model.get_ordered_ops()):
        element = node.get_output_element_type(0).get_type_name() if node.get_output_size() else "none"
        shape = node.get_output_partial_shape(0) if node.get_output_size() else None
        ops.append({
            "index": index,
            "type": node.get_type_name(),
            "name": node.get_friendly_name(),
            "element_type": element,
            "rank": None if shape is None or shape.rank.is_dynamic else shape.rank.get_length(),
            "dynamic": bool(shape is not None and shape.is_dynamic),
            "inputs_from": [port.get_source_output().get_node().get_type_name() for port in node.inputs()],
        })
    return ops


def _precision(op: dict, quantized: bool) -> str:
    if quantized and "FakeQuantize" in op["inputs_from"]:
        return "int8"
    return _ELEMENT_PRECISION.get(op["element_type"], op["element_type"])


def check_openvino(path: Path, target: TargetProfile) -> CompatReport:
    """Check the IR at `path` against the target's precisions, allowlist, static shapes and rank limit."""
    data = target.data
    operators = data["operators"]
    supported = set(data["precisions"]["supported"])
    allowed = set(operators.get("allowed", [])) if operators["policy"] == "allowlist" else None
    max_rank = operators.get("max_tensor_rank")
    ops = read_ir_ops(path)
    quantized = any(op["type"] == "FakeQuantize" for op in ops)

    report = CompatReport(target.name, str(path), "openvino-ir")
    run_in_fp16: list[dict] = []
    for op in ops:
        precision = _precision(op, quantized)
        report.ops.append(OpLogEntry(op["index"], op["type"], None, precision,
                                     data.get("openvino_device", "CPU")))
        if allowed is not None and op["type"] not in allowed and op["type"] not in ("Parameter", "Result", "Constant"):
            report.add(Finding("allowlist", "error", f"operation {op['type']} ({op['name']}) is not supported",
                               "replace the layer with a supported operation, or run this model on the CPU",
                               op["index"], op["type"]))
        checked = op["type"] not in _STRUCTURAL and precision in _ELEMENT_PRECISION.values()
        if checked and precision == "fp32" and "fp32" not in supported and "fp16" in supported:
            # OpenVINO's GPU and NPU plugins execute f32 operations in f16 (their default
            # inference precision), so f32 in the IR runs, at fp16 accuracy: one warning for all.
            run_in_fp16.append(op)
        elif checked and precision not in supported:
            report.add(Finding(
                "precision", "error",
                f"operation {op['name']} runs in {precision}; the target supports {', '.join(sorted(supported))}",
                "compress the weights to fp16 (openvino.save_model(..., compress_to_fp16=True)) or quantize "
                "the model to int8 with NNCF", op["index"], op["type"]))
        if operators.get("static_shapes") and op["dynamic"] and op["type"] == "Parameter":
            report.add(Finding("static-shapes", "error", f"input {op['name']} has a dynamic shape",
                               "reshape the model to a static input shape (model.reshape({name: shape})) "
                               "before saving the IR", op["index"], op["type"]))
        if max_rank and op["rank"] is not None and op["rank"] > max_rank:
            report.add(Finding("tensor-rank", "error", f"output of {op['name']} has rank {op['rank']} > {max_rank}",
                               f"reshape to at most {max_rank} dimensions", op["index"], op["type"]))
    if run_in_fp16:
        first = run_in_fp16[0]
        report.add(Finding(
            "precision", "warning",
            f"{len(run_in_fp16)} operations (first: {first['type']} {first['name']}) are stored in fp32 and run "
            f"in fp16 on {data.get('openvino_device', 'CPU')}",
            "validate accuracy at fp16, or save the IR with compress_to_fp16=True", first["index"], first["type"]))
    report.summary["operations"] = len(ops)
    report.summary["int8_quantized"] = quantized
    return report
