"""Plain TFLite conversion for tests that need an artifact without running the pipeline."""

from __future__ import annotations

import numpy as np

from edgeforge._tf import import_tf


def convert(model, precision: str, calibration: np.ndarray | None = None) -> bytes:
    """Convert a tf_keras model to TFLite bytes at `precision` (fp32, fp16 or int8 with int8 I/O)."""
    tf = import_tf()
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if precision == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif precision == "int8":
        def representative():
            for sample in calibration[:64]:
                yield [sample[None]]

        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()
