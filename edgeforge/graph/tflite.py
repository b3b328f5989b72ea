"""Parse a .tflite flatbuffer into operators and tensors with shapes, types and quantization.

Reads the file with the flatbuffer schema that ships in ai-edge-litert
(`ai_edge_litert.schema_py_generated`). The interpreter API hides operator
versions, shape signatures and constant buffers, and the schema shows them.
Only the first subgraph (the main graph) is read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeforge.emit.tflite_schema import read_tflite_bytes
from edgeforge.errors import InputError

_ITEMSIZE = {
    "FLOAT32": 4, "FLOAT16": 2, "BFLOAT16": 2, "FLOAT64": 8, "INT32": 4, "UINT32": 4, "INT64": 8,
    "UINT64": 8, "INT16": 2, "UINT16": 2, "INT8": 1, "UINT8": 1, "BOOL": 1, "INT4": 0.5, "UINT4": 0.5,
    "INT2": 0.25, "COMPLEX64": 8, "COMPLEX128": 16,
}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor: `shape` is the static shape, `shape_signature` has -1 for dynamic dimensions."""

    index: int
    name: str
    dtype: str
    shape: tuple[int, ...]
    shape_signature: tuple[int, ...]
    is_constant: bool
    quantized: bool
    scale_count: int

    @property
    def elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return int(round(self.elements * _ITEMSIZE.get(self.dtype, 4)))

    @property
    def per_channel(self) -> bool:
        """True when the tensor has one quantization scale per channel."""
        return self.scale_count > 1


@dataclass(frozen=True)
class OpInfo:
    """One operator in execution order; `op_type` is the builtin name, such as CONV_2D."""

    index: int
    op_type: str
    version: int
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def activation_inputs(self) -> tuple[TensorInfo, ...]:
        return tuple(t for t in self.inputs if not t.is_constant)

    @property
    def weights(self) -> tuple[TensorInfo, ...]:
        return tuple(t for t in self.inputs if t.is_constant)


@dataclass(frozen=True)
class TFLiteGraph:
    """The main subgraph of a .tflite file."""

    path: Path
    size_bytes: int
    ops: tuple[OpInfo, ...]
    tensors: tuple[TensorInfo, ...]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]


def _enum_names(enum_class: type) -> dict[int, str]:
    return {value: name for name, value in vars(enum_class).items() if not name.startswith("_")}


def _options_dict(options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    return {
        key: value for key, value in vars(options).items()
        if isinstance(value, (int, float, bool, str))
    }


def read_tflite(path: str | Path) -> TFLiteGraph:
    """Read `path` and return its main subgraph; raise InputError if it is not a valid .tflite file."""
    from ai_edge_litert import schema_py_generated as schema

    path = Path(path)
    content = read_tflite_bytes(path)
    try:
        model = schema.ModelT.InitFromPackedBuf(content, 0)
    except Exception as err:  # the generated reader raises bare struct/index errors on damage
        raise InputError(f"{path}: the TFLite flatbuffer is damaged: {err}") from err
    if not model.subgraphs:
        raise InputError(f"{path}: the model has no subgraph")

    type_names = _enum_names(schema.TensorType)
    op_names = _enum_names(schema.BuiltinOperator)
    buffers = model.buffers or []
    graph = model.subgraphs[0]

    tensors = []
    for index, tensor in enumerate(graph.tensors or []):
        buffer = buffers[tensor.buffer] if 0 < tensor.buffer < len(buffers) else None
        has_data = buffer is not None and (
            (buffer.data is not None and len(buffer.data) > 0) or (buffer.size or 0) > 0
        )
        shape = tuple(int(d) for d in (tensor.shape if tensor.shape is not None else ()))
        signature = tensor.shapeSignature
        quant = tensor.quantization
        scales = 0 if quant is None or quant.scale is None else len(quant.scale)
        tensors.append(TensorInfo(
            index=index,
            name=(tensor.name or b"").decode("utf-8", "replace") if isinstance(tensor.name, bytes) else str(tensor.name or ""),
            dtype=type_names.get(tensor.type, f"TYPE_{tensor.type}"),
            shape=shape,
            shape_signature=tuple(int(d) for d in signature) if signature is not None and len(signature) else shape,
            is_constant=has_data,
            quantized=scales > 0,
            scale_count=scales,
        ))

    ops = []
    for index, op in enumerate(graph.operators or []):
        code = model.operatorCodes[op.opcodeIndex]
        builtin = max(int(code.builtinCode), int(code.deprecatedBuiltinCode))
        if builtin == schema.BuiltinOperator.CUSTOM:
            custom = code.customCode.decode() if isinstance(code.customCode, bytes) else code.customCode
            op_type = f"CUSTOM:{custom}"
        else:
            op_type = op_names.get(builtin, f"BUILTIN_{builtin}")
        ops.append(OpInfo(
            index=index,
            op_type=op_type,
            version=int(code.version or 1),
            inputs=tuple(tensors[i] for i in (op.inputs if op.inputs is not None else ()) if i >= 0),
            outputs=tuple(tensors[i] for i in (op.outputs if op.outputs is not None else ()) if i >= 0),
            options=_options_dict(op.builtinOptions),
        ))

    return TFLiteGraph(
        path=path,
        size_bytes=len(content),
        ops=tuple(ops),
        tensors=tuple(tensors),
        inputs=tuple(int(i) for i in (graph.inputs if graph.inputs is not None else ())),
        outputs=tuple(int(i) for i in (graph.outputs if graph.outputs is not None else ())),
    )
