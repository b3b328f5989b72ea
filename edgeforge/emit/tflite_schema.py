"""Read a .tflite flatbuffer into the object API of the LiteRT schema (ai_edge_litert.schema_py_generated)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from edgeforge.errors import ModelLoadError

# The flatbuffer file identifier at bytes 4..8 of every TFLite model.
TFLITE_IDENTIFIER = b"TFL3"

_ITEM_BYTES = {
    "FLOAT32": 4, "FLOAT16": 2, "BFLOAT16": 2, "INT32": 4, "UINT8": 1, "INT64": 8, "BOOL": 1,
    "INT16": 2, "INT8": 1, "FLOAT64": 8, "COMPLEX64": 8, "COMPLEX128": 16, "UINT64": 8,
    "UINT32": 4, "UINT16": 2,
}


def _schema():
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


def read_tflite_bytes(path: str | Path) -> bytes:
    """Return the bytes of a .tflite file; raise ModelLoadError when it is missing or not TFLite."""
    source = Path(path)
    try:
        data = source.read_bytes()
    except FileNotFoundError as err:
        raise ModelLoadError(f"TFLite model not found: {source}; pass the path of an existing .tflite file") from err
    except OSError as err:
        raise ModelLoadError(f"cannot read TFLite model {source}: {err.strerror}") from err
    if len(data) < 8 or data[4:8] != TFLITE_IDENTIFIER:
        raise ModelLoadError(
            f"{source} is not a TFLite flatbuffer: expected the identifier {TFLITE_IDENTIFIER!r} at byte 4, "
            f"found {data[4:8]!r}; pass a .tflite file written by the TFLite converter"
        )
    return data


def parse_model(data: bytes, *, source: str = "model") -> Any:
    """Unpack TFLite flatbuffer bytes into a `ModelT` object; raise ModelLoadError when they are corrupt."""
    try:
        return _schema().ModelT.InitFromPackedBuf(bytearray(data), 0)
    except Exception as err:  # the generated flatbuffer code raises bare struct/index errors
        raise ModelLoadError(f"cannot parse the TFLite flatbuffer {source}: {err}; the file may be truncated") from err


def enum_names(enum_class: type) -> dict[int, str]:
    """Map the values of a generated flatbuffer enum class to their names."""
    return {value: name for name, value in vars(enum_class).items() if not name.startswith("_")}


def tensor_type_name(type_code: int) -> str:
    """Return the TensorType name (FLOAT32, INT8, ...) of a tensor type code."""
    return enum_names(_schema().TensorType).get(type_code, f"TYPE_{type_code}")


def builtin_name(operator_code: Any) -> str:
    """Return the BuiltinOperator name of an `OperatorCodeT`, reading the extended code field too."""
    code = max(operator_code.builtinCode, operator_code.deprecatedBuiltinCode)
    return enum_names(_schema().BuiltinOperator).get(code, f"BUILTIN_{code}")


def tensor_bytes(tensor: Any) -> int:
    """Return the byte size of a tensor from its static shape; a free dimension counts as 1."""
    elements = 1
    for dim in tensor.shape if tensor.shape is not None else []:
        elements *= max(int(dim), 1)
    type_name = tensor_type_name(tensor.type)
    if type_name in ("INT4", "UINT4"):
        return (elements + 1) // 2
    return elements * _ITEM_BYTES.get(type_name, 1)


def buffer_has_data(model: Any, buffer_index: int) -> bool:
    """Return True when buffer `buffer_index` contains constant data, inline or after the flatbuffer."""
    if buffer_index <= 0 or buffer_index >= len(model.buffers or []):
        return False
    buffer = model.buffers[buffer_index]
    return (buffer.data is not None and len(buffer.data) > 0) or buffer.size > 0
