"""Session fixtures: a tiny digits CNN (sklearn load_digits, 8x8) and its TFLite conversions."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeforge._tf import import_tf


@pytest.fixture(scope="session")
def digits() -> dict[str, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    images = (data.images / 16.0).astype(np.float32)[..., None]
    labels = data.target.astype(np.int64)
    return {"x_train": images[:1400], "y_train": labels[:1400], "x_test": images[1400:], "y_test": labels[1400:]}


@pytest.fixture(scope="session")
def digits_model(digits):
    """A trained Conv2D -> MaxPool -> Dense classifier of about 700 parameters (logits out)."""
    tf = import_tf()
    keras = tf.keras
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.layers.Input((8, 8, 1)),
            keras.layers.Conv2D(8, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(digits["x_train"], digits["y_train"], epochs=15, batch_size=32, verbose=0)
    return model


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


@pytest.fixture(scope="session")
def tflite_models(digits_model, digits, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tflite")
    paths = {}
    for precision in ("fp32", "fp16", "int8"):
        path = folder / f"digits_{precision}.tflite"
        path.write_bytes(convert(digits_model, precision, digits["x_train"]))
        paths[precision] = path
    return paths
