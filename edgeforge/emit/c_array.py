"""Emit a .tflite model as a C header and source for firmware built with TensorFlow Lite Micro.

The source defines the model as a 16-byte aligned `const unsigned char` array, because TFLite Micro
reads the flatbuffer in place and its tensors need that alignment. The header declares the array and
its length, the tensor arena size, the operators to register with `MicroMutableOpResolver`, and the
shape, type and quantization of each input and output.
"""

from __future__ import annotations

import hashlib
import keyword
import logging
import re
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgeforge._files import write_text_atomic
from edgeforge.emit.arena import estimate_arena
from edgeforge.emit.tflite_schema import builtin_name, parse_model, read_tflite_bytes
from edgeforge.emit.tflm_ops import TFLM_BUILTINS, custom_resolver_method, resolver_method
from edgeforge.errors import InputError, ModelLoadError, UnsupportedError

log = logging.getLogger(__name__)

BYTES_PER_LINE = 12
MODEL_ALIGNMENT = 16

# C and C++ keywords that cannot name the array (Python keywords are checked separately).
_C_KEYWORDS = frozenset(
    "auto break case char const continue default do double else enum extern float for goto if inline int long "
    "register restrict return short signed sizeof static struct switch typedef union unsigned void volatile while "
    "alignas alignof bool class constexpr delete explicit export friend mutable namespace new noexcept nullptr "
    "operator private protected public template this throw try typename using virtual".split()
)
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

_TFLITE_TYPES = {
    "float32": "kTfLiteFloat32", "float16": "kTfLiteFloat16", "float64": "kTfLiteFloat64",
    "int8": "kTfLiteInt8", "uint8": "kTfLiteUInt8", "int16": "kTfLiteInt16", "uint16": "kTfLiteUInt16",
    "int32": "kTfLiteInt32", "uint32": "kTfLiteUInt32", "int64": "kTfLiteInt64", "bool": "kTfLiteBool",
}


def emit_c_array(
    tflite_path: str | Path,
    *,
    out_dir: str | Path,
    symbol: str = "g_model",
    arena_bytes: int | None = None,
    basename: str = "model_data",
    language: Literal["c", "c++"] = "c++",
    require_tflm_ops: bool = False,
) -> dict[str, Any]:
    """Write `<basename>.h` and `<basename>.cc` (or `.c`) for a .tflite model into `out_dir`.

    `arena_bytes` is the tensor arena size to publish; when None, the size is estimated from
    tensor lifetimes and the header says it is an estimate. With `require_tflm_ops`, an operator
    that TFLite Micro cannot register raises UnsupportedError; otherwise it is listed and logged.
    Returns the paths written and everything published in the header, for the build report.
    """
    _check_symbol(symbol, option="symbol")
    _check_symbol(basename, option="basename")
    if language not in ("c", "c++"):
        raise InputError(f"invalid language {language!r}: expected 'c' or 'c++'")
    if arena_bytes is not None and (isinstance(arena_bytes, bool) or not isinstance(arena_bytes, int) or arena_bytes <= 0):
        raise InputError(f"invalid arena_bytes {arena_bytes!r}: expected a positive integer or None to estimate it")

    source_path = Path(tflite_path)
    data = read_tflite_bytes(source_path)
    model = parse_model(data, source=str(source_path))
    operators = list_operators(model)
    unsupported = [entry["name"] for entry in operators if entry["resolver_method"] is None]
    if unsupported and require_tflm_ops:
        raise UnsupportedError(
            f"{source_path} uses operators that TFLite Micro cannot register: {', '.join(unsupported)}; "
            "change the model so these layers convert to supported builtins, or keep this target on LiteRT"
        )
    for name in unsupported:
        log.warning("operator %s of %s has no TFLite Micro kernel; the firmware must provide one", name, source_path)

    if arena_bytes is None:
        estimate = estimate_arena(model)
        arena = {"bytes": estimate.total_bytes, "basis": "estimated", "estimate": estimate.to_dict()}
    else:
        arena = {"bytes": arena_bytes, "basis": "given"}

    inputs, outputs = _io_details(data, source=str(source_path))
    sha256 = hashlib.sha256(data).hexdigest()
    info: dict[str, Any] = {
        "symbol": symbol,
        "length": len(data),
        "sha256": sha256,
        "alignment": MODEL_ALIGNMENT,
        "arena_bytes": arena["bytes"],
        "arena_basis": arena["basis"],
        "arena_estimate": arena.get("estimate"),
        "operators": operators,
        "unsupported_operators": unsupported,
        "inputs": inputs,
        "outputs": outputs,
        "source_model": str(source_path),
    }

    out = Path(out_dir)
    header_path = out / f"{basename}.h"
    source_file = out / f"{basename}.{'cc' if language == 'c++' else 'c'}"
    write_text_atomic(header_path, _render_header(info, header_name=header_path.name))
    write_text_atomic(source_file, _render_source(info, data, header_name=header_path.name))
    info["header"] = str(header_path)
    info["source"] = str(source_file)
    info["files"] = [str(header_path), str(source_file)]
    log.info("wrote %s and %s (%d model bytes, arena %d bytes %s)", header_path, source_file, len(data), arena["bytes"], arena["basis"])
    return info


def list_operators(model: Any) -> list[dict[str, Any]]:
    """Return each distinct operator of a parsed model with the TFLM resolver method that registers it.

    The list comes from the model's operator codes, so it covers every subgraph (IF and WHILE bodies
    too) and never shows runtime delegate nodes. Entries: name, kind (builtin or custom), version,
    resolver_method (None when TFLite Micro has no kernel for it).
    """
    entries: dict[str, dict[str, Any]] = {}
    for code in model.operatorCodes or []:
        name = builtin_name(code)
        if name == "CUSTOM":
            custom = (code.customCode or b"").decode("utf-8", "replace")
            entry = {"name": custom, "kind": "custom", "version": int(code.version),
                     "resolver_method": custom_resolver_method(custom)}
        else:
            method = resolver_method(name) if name in TFLM_BUILTINS else None
            entry = {"name": name, "kind": "builtin", "version": int(code.version), "resolver_method": method}
        known = entries.get(entry["name"])
        if known is None or entry["version"] > known["version"]:
            entries[entry["name"]] = entry
    return sorted(entries.values(), key=lambda item: item["name"])


def _check_symbol(value: str, *, option: str) -> None:
    if not isinstance(value, str) or not _IDENTIFIER.match(value) or value in _C_KEYWORDS or keyword.iskeyword(value):
        raise InputError(
            f"invalid {option} {value!r}: expected a C identifier (letters, digits, underscores, "
            "not starting with a digit, not a C or C++ keyword), such as 'g_model'"
        )


def _io_details(data: bytes, *, source: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Read input and output tensors through the LiteRT interpreter, without default delegates."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    try:
        interpreter = Interpreter(
            model_content=bytes(data),
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        )
    except (ValueError, RuntimeError) as err:
        raise ModelLoadError(f"LiteRT cannot load {source}: {err}") from err
    return (
        [_tensor_entry(detail) for detail in interpreter.get_input_details()],
        [_tensor_entry(detail) for detail in interpreter.get_output_details()],
    )


def _tensor_entry(detail: dict[str, Any]) -> dict[str, Any]:
    params = detail.get("quantization_parameters", {})
    scales = [float(value) for value in np.asarray(params.get("scales", []), dtype=np.float64).ravel()]
    zero_points = [int(value) for value in np.asarray(params.get("zero_points", []), dtype=np.int64).ravel()]
    shape = [int(dim) for dim in detail["shape"]]
    dtype = np.dtype(detail["dtype"])
    elements = int(np.prod(shape)) if shape else 1
    return {
        "name": detail["name"],
        "shape": shape,
        "shape_signature": [int(dim) for dim in detail.get("shape_signature", detail["shape"])],
        "dtype": dtype.name,
        "bytes": elements * dtype.itemsize,
        "scales": scales,
        "zero_points": zero_points,
        "quantized_dimension": int(params.get("quantized_dimension", 0)),
    }


def _c_float(value: float) -> str:
    text = f"{value:.9g}"
    if "." not in text and "e" not in text and "inf" not in text and "nan" not in text:
        text += ".0"
    return text + "f"


def _c_comment_text(text: str) -> str:
    """Make text safe inside a /* */ comment (tensor names come from the model file)."""
    return text.replace("*/", "* /").replace("\n", " ")


def _render_tensor_macros(prefix: str, role: str, index: int, tensor: dict[str, Any]) -> list[str]:
    name = f"{prefix}_{role}_{index}"
    if len(tensor["scales"]) == 1:
        quantization = f"scale {tensor['scales'][0]:.9g}, zero point {tensor['zero_points'][0]}"
    elif tensor["scales"]:
        quantization = f"per-axis quantization on axis {tensor['quantized_dimension']} ({len(tensor['scales'])} scales)"
    else:
        quantization = "not quantized"
    lines = [
        f"/* {role.capitalize()} {index} \"{_c_comment_text(tensor['name'])}\": {tensor['dtype']}, "
        f"shape {tensor['shape']}, {quantization}. */",
        f"#define {name}_TYPE {_TFLITE_TYPES.get(tensor['dtype'], 'kTfLiteNoType')}",
        f"#define {name}_DIMS {len(tensor['shape'])}u",
        f"#define {name}_SHAPE {{{', '.join(str(dim) for dim in tensor['shape'])}}}",
        f"#define {name}_BYTES {tensor['bytes']}u",
    ]
    if len(tensor["scales"]) == 1:
        lines.append(f"#define {name}_SCALE {_c_float(tensor['scales'][0])}")
        lines.append(f"#define {name}_ZERO_POINT ({tensor['zero_points'][0]})")
    elif not tensor["scales"]:
        lines.append(f"#define {name}_SCALE 0.0f")
        lines.append(f"#define {name}_ZERO_POINT (0)")
    return lines


def _render_header(info: dict[str, Any], *, header_name: str) -> str:
    symbol = info["symbol"]
    prefix = symbol.upper()
    guard = re.sub(r"[^A-Z0-9]", "_", f"EDGEFORGE_{header_name.upper()}_{prefix}_")
    registrable = [entry for entry in info["operators"] if entry["resolver_method"] is not None]
    if info["arena_basis"] == "estimated":
        arena_comment = [
            "/* Tensor arena size in bytes. This is an ESTIMATE from tensor lifetimes in the main subgraph,",
            "   plus rough per-tensor and per-node overhead; kernel scratch buffers are not counted.",
            "   Check it on the board (MicroInterpreter::arena_used_bytes) and add a margin. */",
        ]
    else:
        arena_comment = ["/* Tensor arena size in bytes, as given to edgeforge for this build. */"]
    lines = [
        f"/* Generated by edgeforge from {_c_comment_text(Path(info['source_model']).name)}; do not edit.",
        f"   Model sha256: {info['sha256']} */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "/* The model array must be 16-byte aligned: TFLite Micro reads the flatbuffer in place. */",
        "#if defined(__cplusplus) && __cplusplus >= 201103L",
        f"#define {prefix}_ALIGN alignas({MODEL_ALIGNMENT})",
        "#elif defined(__STDC_VERSION__) && __STDC_VERSION__ >= 201112L",
        f"#define {prefix}_ALIGN _Alignas({MODEL_ALIGNMENT})",
        "#elif defined(__GNUC__) || defined(__clang__)",
        f"#define {prefix}_ALIGN __attribute__((aligned({MODEL_ALIGNMENT})))",
        "#else",
        f"#error \"{header_name}: no way known to align {symbol} to {MODEL_ALIGNMENT} bytes; use C11 or C++11\"",
        "#endif",
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "",
        f"extern const unsigned char {symbol}[];",
        f"extern const unsigned int {symbol}_len;",
        f"#define {prefix}_LEN {info['length']}u",
        f"#define {prefix}_SHA256 \"{info['sha256']}\"",
        "",
        *arena_comment,
        f"#define {prefix}_ARENA_BYTES {info['arena_bytes']}u",
        f"#define {prefix}_ARENA_IS_ESTIMATE {1 if info['arena_basis'] == 'estimated' else 0}",
        "",
        "/* Operators the firmware must register, in TFLite builtin names: */",
        f"extern const char *const {symbol}_op_names[];",
        f"#define {prefix}_OP_COUNT {len(info['operators'])}u",
        f"/* tflite::MicroMutableOpResolver<{prefix}_OP_COUNT> resolver; {prefix}_REGISTER_OPS(resolver); */",
        f"#define {prefix}_REGISTER_OPS(resolver) \\",
        "  do { \\",
        *[f"    (resolver).{entry['resolver_method']}(); \\" for entry in registrable],
        "  } while (0)",
    ]
    missing = [entry["name"] for entry in info["operators"] if entry["resolver_method"] is None]
    if missing:
        lines.append(f"/* No TFLite Micro kernel for: {_c_comment_text(', '.join(missing))}; register your own with AddCustom. */")
    lines += ["", f"#define {prefix}_INPUT_COUNT {len(info['inputs'])}u", f"#define {prefix}_OUTPUT_COUNT {len(info['outputs'])}u"]
    for role, tensors in (("INPUT", info["inputs"]), ("OUTPUT", info["outputs"])):
        for index, tensor in enumerate(tensors):
            lines += _render_tensor_macros(prefix, role, index, tensor)
    lines += ["", "#ifdef __cplusplus", "}", "#endif", "", f"#endif /* {guard} */", ""]
    return "\n".join(lines)


def _render_source(info: dict[str, Any], data: bytes, *, header_name: str) -> str:
    symbol = info["symbol"]
    prefix = symbol.upper()
    rows = []
    for start in range(0, len(data), BYTES_PER_LINE):
        chunk = data[start : start + BYTES_PER_LINE]
        rows.append("  " + ", ".join(f"0x{byte:02x}" for byte in chunk) + ",")
    names = ", ".join('"' + entry["name"].replace("\\", "\\\\").replace('"', '\\"') + '"' for entry in info["operators"])
    return "\n".join(
        [
            f"/* Generated by edgeforge from {_c_comment_text(Path(info['source_model']).name)}; do not edit. */",
            f'#include "{header_name}"',
            "",
            f"{prefix}_ALIGN const unsigned char {symbol}[] = {{",
            *rows,
            "};",
            f"const unsigned int {symbol}_len = {info['length']}u;",
            "",
            f"const char *const {symbol}_op_names[] = {{{names or '0'}}};",
            "",
        ]
    )
