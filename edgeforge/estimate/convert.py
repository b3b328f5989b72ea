"""Convert a tf_keras model to a .tflite file in fp32, fp16, dynamic or full int8.

Used to build the benchmark models for calibration and the held-out check;
random representative data is enough because only latency is measured.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np

from edgeforge._tf import import_tf
from edgeforge.errors import ConversionError

PRECISIONS = ("fp32", "fp16", "dynamic", "int8")


def convert_keras(model, path: str | Path, *, precision: str, per_channel: bool = True, seed: int = 0) -> Path:
    """Convert `model` and write it atomically to `path`; int8 uses int8 inputs and outputs.

    `per_channel=False` gives one quantization scale per weight tensor, as some microcontroller
    kernels need; it uses the converter's private `_experimental_disable_per_channel` switch.
    """
    if precision not in PRECISIONS:
        raise ConversionError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    tf = import_tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if precision != "fp32":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if precision == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    if precision == "int8":
        rng = np.random.default_rng(seed)
        shapes = [(1, *tuple(t.shape[1:])) for t in model.inputs]

        def representative():
            for _ in range(8):
                yield [rng.uniform(-1, 1, shape).astype(np.float32) for shape in shapes]

        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
        if not per_channel:
            converter._experimental_disable_per_channel = True
    try:
        content = converter.convert()
    except Exception as err:  # the converter raises many unrelated types
        raise ConversionError(f"TFLite conversion ({precision}) of {model.name} failed: {err}") from err
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    with os.fdopen(handle, "wb") as stream:
        stream.write(content)
    os.chmod(temp, 0o644)
    os.replace(temp, path)
    return path

