"""Compare two build artifacts and name the part that differs.

Measured with tensorflow 2.21 on a small Conv2D digits model, the TFLite converter wrote byte-identical
fp32, fp16, dynamic-range and int8 models for the same model and representative data. That held in one
process and across processes, from a Keras model and from a SavedModel. The flatbuffer has no timestamp. Its
CONVERSION_METADATA buffer stores the TensorFlow version, the API and source model type (Keras or
SavedModel), the optimization modes and a hash of the converted model, so a different TensorFlow
version or conversion path changes those bytes even when the weights and graph are equal.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from edgeforge.emit.tflite_schema import TFLITE_IDENTIFIER, parse_model
from edgeforge.errors import InputError

MAX_DIFFERENCES = 20


def compare_artifacts(a: str | Path, b: str | Path) -> dict[str, Any]:
    """Compare two artifact files or folders and return whether they are identical and what differs.

    Returns {"identical", "format", "differences": [{"part", "detail"}]} plus sizes and sha256 for
    files. For TFLite files each difference names the flatbuffer part: a tensor, an operator, a buffer
    with the tensor or metadata entry that uses it, or a CONVERSION_METADATA field. For other files it
    gives the first differing byte offset.
    """
    first, second = Path(a), Path(b)
    for path in (first, second):
        if not path.exists():
            raise InputError(f"artifact not found: {path}; pass two existing files or folders to compare")
    if first.is_dir() or second.is_dir():
        if not (first.is_dir() and second.is_dir()):
            raise InputError(f"cannot compare a folder with a file: {first} and {second}")
        return _compare_folders(first, second)
    return _compare_files(first, second)


def _compare_files(first: Path, second: Path) -> dict[str, Any]:
    data_a, data_b = first.read_bytes(), second.read_bytes()
    result: dict[str, Any] = {
        "identical": data_a == data_b,
        "format": "bytes",
        "size_a": len(data_a),
        "size_b": len(data_b),
        "sha256_a": hashlib.sha256(data_a).hexdigest(),
        "sha256_b": hashlib.sha256(data_b).hexdigest(),
        "differences": [],
    }
    if _is_tflite(data_a) and _is_tflite(data_b):
        result["format"] = "tflite"
    if result["identical"]:
        return result
    if result["format"] == "tflite":
        result["differences"] = diff_tflite(data_a, data_b)
    if not result["differences"]:
        result["differences"] = [_first_byte_difference(data_a, data_b)]
    return result


def _compare_folders(first: Path, second: Path) -> dict[str, Any]:
    files_a = {p.relative_to(first).as_posix() for p in first.rglob("*") if p.is_file()}
    files_b = {p.relative_to(second).as_posix() for p in second.rglob("*") if p.is_file()}
    differences = [{"part": name, "detail": "only in the first folder"} for name in sorted(files_a - files_b)]
    differences += [{"part": name, "detail": "only in the second folder"} for name in sorted(files_b - files_a)]
    for name in sorted(files_a & files_b):
        inner = _compare_files(first / name, second / name)
        for difference in inner["differences"]:
            differences.append({"part": f"{name}: {difference['part']}", "detail": difference["detail"]})
    return {"identical": not differences, "format": "directory", "differences": differences[:MAX_DIFFERENCES]}


def _is_tflite(data: bytes) -> bool:
    return len(data) >= 8 and data[4:8] == TFLITE_IDENTIFIER


def _first_byte_difference(data_a: bytes, data_b: bytes) -> dict[str, str]:
    limit = min(len(data_a), len(data_b))
    offset = next((index for index in range(limit) if data_a[index] != data_b[index]), limit)
    detail = f"first differing byte at offset {offset}"
    if len(data_a) != len(data_b):
        detail += f"; sizes {len(data_a)} and {len(data_b)} bytes"
    return {"part": "bytes", "detail": detail}


def diff_tflite(data_a: bytes, data_b: bytes) -> list[dict[str, str]]:
    """List the flatbuffer parts that differ between two TFLite models (at most MAX_DIFFERENCES).

    An empty list for unequal bytes means the same content serialized in a different layout.
    """
    model_a, model_b = parse_model(data_a, source="first artifact"), parse_model(data_b, source="second artifact")
    raw: list[tuple[str, str]] = []
    _diff_values(model_a, model_b, "model", raw)
    buffer_owners = _buffer_owners(model_a)
    differences = []
    for part, detail in raw:
        differences.append({"part": _describe_part(part, buffer_owners), "detail": detail})
        if part.startswith("model.buffers[") and buffer_owners.get(_buffer_index(part), "").startswith("metadata CONVERSION_METADATA"):
            differences.extend(_conversion_metadata_diff(model_a, model_b, _buffer_index(part)))
        if len(differences) >= MAX_DIFFERENCES:
            break
    return differences[:MAX_DIFFERENCES]


def _diff_values(a: Any, b: Any, path: str, out: list[tuple[str, str]]) -> None:
    if len(out) >= MAX_DIFFERENCES:
        return
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        array_a, array_b = np.asarray(a if a is not None else []), np.asarray(b if b is not None else [])
        if array_a.shape != array_b.shape:
            out.append((path, f"length {array_a.size} vs {array_b.size}"))
        elif not np.array_equal(array_a, array_b):
            changed = int(np.count_nonzero(array_a != array_b))
            out.append((path, f"{changed} of {array_a.size} values differ"))
        return
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append((path, f"{len(a)} vs {len(b)} entries"))
        for index, (item_a, item_b) in enumerate(zip(a, b)):
            _diff_values(item_a, item_b, f"{path}[{index}]", out)
        return
    if hasattr(a, "__dict__") and hasattr(b, "__dict__") and type(a) is type(b):
        for name in vars(a):
            _diff_values(getattr(a, name), getattr(b, name), f"{path}.{name}", out)
        return
    if a != b:
        out.append((path, f"{_short(a)} vs {_short(b)}"))


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _buffer_index(part: str) -> int:
    return int(part.split("model.buffers[", 1)[1].split("]", 1)[0])


def _buffer_owners(model: Any) -> dict[int, str]:
    """Map buffer index -> what uses it: a metadata entry or a tensor (by name)."""
    owners: dict[int, str] = {}
    for entry in model.metadata or []:
        owners[int(entry.buffer)] = f"metadata {entry.name.decode('utf-8', 'replace')}"
    for subgraph_index, subgraph in enumerate(model.subgraphs or []):
        for tensor in subgraph.tensors or []:
            if tensor.buffer > 0 and tensor.buffer not in owners:
                name = (tensor.name or b"").decode("utf-8", "replace")
                owners[int(tensor.buffer)] = f"tensor {name!r} of subgraph {subgraph_index}"
    return owners


def _describe_part(part: str, buffer_owners: dict[int, str]) -> str:
    if part.startswith("model.buffers["):
        index = _buffer_index(part)
        owner = buffer_owners.get(index)
        return f"buffers[{index}] ({owner})" if owner else f"buffers[{index}]"
    return part.removeprefix("model.")


def _conversion_metadata_diff(model_a: Any, model_b: Any, buffer_index: int) -> list[dict[str, str]]:
    """Decode CONVERSION_METADATA of both models and name the fields that differ."""
    try:
        from edgeforge._tf import import_tf

        import_tf()
        from tensorflow.lite.python import conversion_metadata_schema_py_generated as schema
    except ImportError:
        return []
    decoded = []
    for model in (model_a, model_b):
        buffer = model.buffers[buffer_index].data
        if buffer is None:
            return []
        try:
            decoded.append(schema.ConversionMetadataT.InitFromPackedBuf(bytearray(bytes(buffer)), 0))
        except Exception:  # the generated flatbuffer code raises bare struct/index errors
            return []
    fields: list[tuple[str, str]] = []
    _diff_values(decoded[0], decoded[1], "CONVERSION_METADATA", fields)
    return [{"part": part, "detail": detail} for part, detail in fields]
