"""Emit OpenVINO IR from a model that is not a Keras model: a `.tflite` or `.onnx` file.

Intel targets accept these inputs through `openvino.convert_model`. For int8, NNCF post-training
quantization runs on the converted model with the calibration samples. For fp16, the weights are
compressed when saving, and fp32 keeps them as they are.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from typing import Any

import numpy as np

from edgeforge.errors import ConversionError, DataError, ModelLoadError, UsageError

logger = logging.getLogger(__name__)

PRECISIONS = ("fp32", "fp16", "int8")
SOURCE_FORMATS = {".onnx": "onnx", ".tflite": "tflite"}


def convert_foreign_to_ir(
    path: str | os.PathLike,
    *,
    calibration: list[dict[str, np.ndarray]] | None,
    precision: str,
    out_xml: str | os.PathLike,
) -> dict:
    """Convert a `.tflite` or `.onnx` file to OpenVINO IR at `out_xml` (and the `.bin` beside it).

    `calibration` contains one dict per sample, keyed by model input name, with arrays with or
    without the batch axis of 1. Only int8 uses it. Both files are written to a
    temporary folder first and moved into place, so a failed run leaves no partial IR.
    Returns a description for the report: paths, sizes, precision, inputs and outputs.
    """
    import openvino as ov

    path = os.fspath(path)
    out_xml = os.fspath(out_xml)
    source_format = SOURCE_FORMATS.get(os.path.splitext(path)[1].lower())
    if source_format is None:
        raise ModelLoadError(f"{path}: OpenVINO input must be a .onnx or .tflite file, got {os.path.splitext(path)[1] or 'no extension'!r}")
    if not os.path.isfile(path):
        raise ModelLoadError(f"model file {path!r} not found")
    if precision not in PRECISIONS:
        raise UsageError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}")
    if not out_xml.endswith(".xml"):
        raise UsageError(f"out_xml {out_xml!r} must end with .xml")

    try:
        model = ov.convert_model(path)
    except Exception as err:  # noqa: BLE001 - the converter raises many error types
        raise ConversionError(f"{path}: openvino.convert_model failed on the {source_format} file: {err}") from err

    samples = 0
    if precision == "int8":
        if not calibration:
            raise DataError(f"{path}: int8 needs calibration samples; give calibration data or choose fp32 or fp16")
        model = _quantize_int8(model, calibration, source=path)
        samples = len(calibration)

    xml_path, bin_path = _save_atomic(ov, model, out_xml, compress_to_fp16=precision == "fp16")
    logger.info("converted %s (%s) to %s OpenVINO IR at %s", path, source_format, precision, xml_path)
    return {
        "path": xml_path,
        "format": "openvino-ir",
        "source_format": source_format,
        "precision": precision,
        "files": [xml_path, bin_path],
        "size_bytes": os.path.getsize(xml_path) + os.path.getsize(bin_path),
        "calibration_samples": samples,
        "inputs": [_port_dict(port) for port in model.inputs],
        "outputs": [_port_dict(port) for port in model.outputs],
    }


def feed_for_model(model: Any, sample: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Key one sample by the OpenVINO input names of `model` (ov.Model or CompiledModel).

    A sample key matches an input by any of its tensor names, or by the name the TFLite
    converter gives a Keras input ("serving_default_<name>:0"). A single-input model takes a
    single-array sample whatever its key. Arrays lacking the batch axis get one.
    """
    feed: dict[str, np.ndarray] = {}
    ports = list(model.inputs)
    for port in ports:
        names = port.get_names()
        key = next((k for k in sample if k in names or f"serving_default_{k}:0" in names), None)
        if key is None and len(ports) == 1 and len(sample) == 1:
            key = next(iter(sample))
        if key is None:
            raise DataError(
                f"sample has inputs {sorted(sample)} but the model input {port.get_any_name()!r} matches none of them; "
                f"key the arrays by model input name ({', '.join(sorted(names))})"
            )
        array = np.asarray(sample[key])
        rank = port.get_partial_shape().rank
        if rank.is_static and array.ndim == rank.get_length() - 1:
            array = array[np.newaxis]
        feed[port.get_any_name()] = array.astype(port.get_element_type().to_dtype(), copy=False)
    return feed


def _quantize_int8(model: Any, calibration: list[dict[str, np.ndarray]], *, source: str) -> Any:
    import nncf

    feeds = [feed_for_model(model, sample) for sample in calibration]
    try:
        return nncf.quantize(model, nncf.Dataset(feeds), subset_size=len(feeds))
    except Exception as err:  # noqa: BLE001 - NNCF raises many error types
        raise ConversionError(f"{source}: NNCF int8 quantization failed: {err}") from err


def _save_atomic(ov: Any, model: Any, out_xml: str, *, compress_to_fp16: bool) -> tuple[str, str]:
    folder = os.path.dirname(os.path.abspath(out_xml))
    os.makedirs(folder, exist_ok=True)
    stem = os.path.splitext(os.path.basename(out_xml))[0]
    xml_path = os.path.join(folder, f"{stem}.xml")
    bin_path = os.path.join(folder, f"{stem}.bin")

    staging = tempfile.mkdtemp(prefix=f".{stem}-", dir=folder)
    try:
        ov.save_model(model, os.path.join(staging, f"{stem}.xml"), compress_to_fp16=compress_to_fp16)
        os.replace(os.path.join(staging, f"{stem}.bin"), bin_path)
        os.replace(os.path.join(staging, f"{stem}.xml"), xml_path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return xml_path, bin_path


def _port_dict(port: Any) -> dict:
    shape = port.get_partial_shape()
    dims = None
    if shape.rank.is_static:
        dims = [dim.get_length() if dim.is_static else None for dim in shape]
    return {"name": port.get_any_name(), "shape": dims, "dtype": port.get_element_type().to_dtype().name}
