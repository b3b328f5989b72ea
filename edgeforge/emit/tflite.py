"""Convert a tf_keras model to a TFLite flatbuffer at one precision."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import numpy as np

from edgeforge._tf import import_tf
from edgeforge.data.dataset import Dataset
from edgeforge._files import write_bytes_atomic
from edgeforge.errors import ConversionError

log = logging.getLogger(__name__)

_IO_TYPES = {"int8": "int8", "uint8": "uint8", "float32": "float32"}


def convert_tflite(
    model: Any,
    *,
    precision: str,
    out_path: str | Path,
    calibration: Dataset | None = None,
    io_dtype: str = "float32",
    per_tensor_weights: bool = False,
    allow_float_fallback: bool = False,
) -> dict[str, Any]:
    """Convert `model` (a tf_keras model or a SavedModel folder) and write the flatbuffer atomically.

    `precision` is fp32, fp16, dynamic (int8 weights, float activations) or int8
    (full integer, needs `calibration` keyed by model input name). `io_dtype`
    sets the int8 model's input and output tensor type. With
    `allow_float_fallback`, operators without an int8 kernel stay float.
    """
    tf = import_tf()
    if isinstance(model, (str, Path)):
        converter = tf.lite.TFLiteConverter.from_saved_model(str(model))
    else:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if precision == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif precision == "int8":
        if calibration is None or len(calibration) == 0:
            raise ConversionError("int8 conversion needs calibration samples; pass --data with at least one sample")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = _representative(calibration)
        ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        if allow_float_fallback:
            ops.append(tf.lite.OpsSet.TFLITE_BUILTINS)
        converter.target_spec.supported_ops = ops
        converter.inference_input_type = getattr(tf, _IO_TYPES[io_dtype])
        converter.inference_output_type = getattr(tf, _IO_TYPES[io_dtype])
        if per_tensor_weights:
            converter._experimental_disable_per_channel = True
    elif precision != "fp32":
        raise ConversionError(f"unknown TFLite precision {precision!r}; expected fp32, fp16, dynamic or int8")
    start = time.perf_counter()
    try:
        flatbuffer = converter.convert()
    except Exception as err:  # noqa: BLE001 - the converter raises many error types
        raise ConversionError(f"TFLite {precision} conversion failed: {type(err).__name__}: {err}") from err
    wall = time.perf_counter() - start
    write_bytes_atomic(out_path, flatbuffer)
    log.info("wrote %s (%d bytes, %s) in %.1f s", out_path, len(flatbuffer), precision, wall)
    return {"path": str(out_path), "format": "tflite", "precision": precision, "size_bytes": len(flatbuffer),
            "files": [str(out_path)], "wall_s": round(wall, 3), "io_dtype": io_dtype if precision == "int8" else "float32"}


def _representative(calibration: Dataset):
    names = list(calibration.inputs)

    def generate():
        for index in range(len(calibration)):
            yield {name: calibration.inputs[name][index:index + 1].astype(np.float32) for name in names}

    return generate
