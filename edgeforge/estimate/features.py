"""Per-operator cost figures of a .tflite graph: operation count, bytes moved and precision.

MACs count multiply-accumulates of the main computation only (bias, fused
activations and requantization are left out); element-wise operators count one
operation per output element. Bytes are weights plus activation inputs and
outputs. These figures feed the latency cost model and the energy estimate.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from edgeforge.graph.tflite import OpInfo, TensorInfo, TFLiteGraph, read_tflite

GROUPS = ("conv", "depthwise", "dense", "pool", "elementwise", "reduce", "data")

GROUP_OF = {
    "CONV_2D": "conv", "CONV_3D": "conv", "TRANSPOSE_CONV": "conv",
    "DEPTHWISE_CONV_2D": "depthwise",
    "FULLY_CONNECTED": "dense", "BATCH_MATMUL": "dense",
    "MAX_POOL_2D": "pool", "AVERAGE_POOL_2D": "pool", "L2_POOL_2D": "pool",
    "MEAN": "reduce", "SUM": "reduce", "REDUCE_MAX": "reduce", "REDUCE_MIN": "reduce", "REDUCE_PROD": "reduce",
    "RESHAPE": "data", "SQUEEZE": "data", "EXPAND_DIMS": "data", "CONCATENATION": "data", "PAD": "data",
    "PADV2": "data", "TRANSPOSE": "data", "STRIDED_SLICE": "data", "SLICE": "data", "GATHER": "data",
    "SPLIT": "data", "SPLIT_V": "data", "PACK": "data", "UNPACK": "data", "SHAPE": "data", "TILE": "data",
    "RESIZE_BILINEAR": "data", "RESIZE_NEAREST_NEIGHBOR": "data",
}


_CHANNEL_TILE = 16
_DEPTH_TILE = {"int8": 8}
"""Channel tiling for `padded_macs`. Matrix-multiply kernels such as XNNPACK's compute output
channels in tiles of 8-16, and int8 kernels read input channels in groups of 4-8. A layer with
3 input or 20 output channels therefore costs like a wider one; the fit decides how much."""


@dataclass(frozen=True)
class OpCost:
    """Cost figures of one operator. `weight_bytes` counts constant inputs, including fp16 weights after dequantization.

    `padded_macs` is `macs` with channels rounded up to the kernel tile sizes; it equals `macs`
    for operators other than convolutions and fully connected layers. `out_elements` counts the
    elements of the first output. `variant` names the kernel variant that the operator needs
    (see `_variant`), and is empty for the operator's usual kernel.
    """

    index: int
    op_type: str
    group: str
    precision: str
    macs: int
    weight_bytes: int
    activation_bytes: int
    padded_macs: int = 0
    out_elements: int = 0
    variant: str = ""

    @property
    def bytes_moved(self) -> int:
        return self.weight_bytes + self.activation_bytes

    def as_dict(self) -> dict:
        return asdict(self)


def _elements(shape: tuple[int, ...]) -> int:
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


def _precision(op: OpInfo, folded: set[int]) -> str:
    activations = [t for t in (*op.inputs, *op.outputs) if not t.is_constant and t.index not in folded]
    dtypes = {t.dtype for t in activations}
    if dtypes & {"INT8", "UINT8"}:
        return "int8"
    if "INT16" in dtypes:
        return "int16"
    weights = {t.dtype for t in op.weights}
    if dtypes & {"FLOAT32", "FLOAT16"} and weights & {"INT8", "UINT8", "INT4"}:
        return "dynamic"
    return "fp32"


def _macs(op: OpInfo) -> int:
    out = _elements(op.outputs[0].shape) if op.outputs else 0
    inputs = op.inputs
    if op.op_type in ("CONV_2D", "CONV_3D") and len(inputs) >= 2:
        kernel = inputs[1].shape  # (out_channels, kh, kw, in_channels) for CONV_2D
        return out * _elements(kernel[1:])
    if op.op_type == "DEPTHWISE_CONV_2D" and len(inputs) >= 2:
        kernel = inputs[1].shape  # (1, kh, kw, channels * multiplier)
        return out * _elements(kernel[1:-1])
    if op.op_type == "TRANSPOSE_CONV" and len(inputs) >= 3:
        kernel = inputs[1].shape  # inputs are (output_shape, weights, activation)
        return _elements(inputs[2].shape) * _elements(kernel[:-1])
    if op.op_type == "FULLY_CONNECTED" and len(inputs) >= 2:
        return out * (inputs[1].shape[-1] if inputs[1].shape else 1)
    if op.op_type == "BATCH_MATMUL" and inputs:
        return out * (inputs[0].shape[-1] if inputs[0].shape else 1)
    if op.op_type in ("MAX_POOL_2D", "AVERAGE_POOL_2D", "L2_POOL_2D"):
        return out * int(op.options.get("filterHeight", 1)) * int(op.options.get("filterWidth", 1))
    group = GROUP_OF.get(op.op_type, "elementwise")
    if group == "reduce":
        return _elements(inputs[0].shape) if inputs else out
    if group == "data":
        return 0
    return out


def _round_up(value: int, tile: int) -> int:
    return -(-value // tile) * tile


def _padded_macs(op: OpInfo, precision: str, macs: int) -> int:
    inputs = op.inputs
    if not op.outputs or len(inputs) < 2 or not inputs[1].shape:
        return macs
    depth_tile = _DEPTH_TILE.get(precision, 1)
    positions = _elements(op.outputs[0].shape[:-1])
    if op.op_type == "CONV_2D":
        cout, kh, kw, cin = inputs[1].shape
        return positions * _round_up(cout, _CHANNEL_TILE) * kh * kw * _round_up(cin, depth_tile)
    if op.op_type == "DEPTHWISE_CONV_2D":
        _, kh, kw, channels = inputs[1].shape
        return positions * _round_up(channels, _CHANNEL_TILE) * kh * kw
    if op.op_type == "FULLY_CONNECTED":
        units, depth = inputs[1].shape[0], inputs[1].shape[-1]
        return positions * _round_up(units, _CHANNEL_TILE) * _round_up(depth, depth_tile)
    return macs


def _variant(op: OpInfo) -> str:
    """Return the name of the kernel variant that `op` needs, or "" for the operator's usual kernel.

    "1x1" is a pointwise convolution (1x1 kernel, stride 1), a plain matrix multiply that needs no
    input patches. "broadcast" is a binary element-wise operator whose inputs differ in shape, such
    as the channel scaling of squeeze-and-excitation blocks. On the benchmark host both ran at
    other speeds per operation than the operator's usual kernel.
    """
    if op.op_type == "CONV_2D" and len(op.inputs) >= 2 and len(op.inputs[1].shape) == 4:
        _, kh, kw, _ = op.inputs[1].shape
        strides = (int(op.options.get("strideH", 1)), int(op.options.get("strideW", 1)))
        if (kh, kw) == (1, 1) and strides == (1, 1):
            return "1x1"
    if len(op.inputs) == 2 and GROUP_OF.get(op.op_type, "elementwise") == "elementwise":
        first, second = op.inputs
        if first.shape != second.shape:
            return "broadcast"
    return ""


def _folded_weights(graph: TFLiteGraph) -> set[int]:
    """Tensors made by DEQUANTIZE from a constant (fp16 weights); runtimes compute them once at load."""
    folded = set()
    for op in graph.ops:
        if op.op_type == "DEQUANTIZE" and op.inputs and op.inputs[0].is_constant:
            folded.update(t.index for t in op.outputs)
    return folded


def op_costs(graph: TFLiteGraph | str | Path) -> list[OpCost]:
    """Return the cost figures of every operator that runs per inference, in execution order."""
    if not isinstance(graph, TFLiteGraph):
        graph = read_tflite(graph)
    folded = _folded_weights(graph)
    costs = []
    for op in graph.ops:
        if op.op_type == "DEQUANTIZE" and op.outputs and op.outputs[0].index in folded:
            continue
        weights = [t for t in op.inputs if t.is_constant or t.index in folded]
        activations = [t for t in op.inputs if not (t.is_constant or t.index in folded)]
        weight_bytes = sum(_weight_bytes(t, t.index in folded) for t in weights)
        activation_bytes = sum(t.nbytes for t in activations) + sum(t.nbytes for t in op.outputs)
        precision = _precision(op, folded)
        macs = _macs(op)
        costs.append(OpCost(
            index=op.index,
            op_type=op.op_type,
            group=GROUP_OF.get(op.op_type, "elementwise"),
            precision=precision,
            macs=macs,
            weight_bytes=weight_bytes,
            activation_bytes=activation_bytes,
            padded_macs=_padded_macs(op, precision, macs),
            out_elements=_elements(op.outputs[0].shape) if op.outputs else 0,
            variant=_variant(op),
        ))
    return costs


def _weight_bytes(tensor: TensorInfo, folded: bool) -> int:
    # Dequantized fp16 weights are held as fp32 at run time.
    return tensor.elements * 4 if folded else tensor.nbytes
