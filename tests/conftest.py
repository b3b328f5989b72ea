"""Shared fixtures: tiny real models trained on scikit-learn's real 8x8 digits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeforge._tf import import_tf
from tflite_helpers import convert


@pytest.fixture(scope="session")
def tf():
    return import_tf()


@pytest.fixture(scope="session")
def digits() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 real 8x8 digits as float32 (N, 8, 8, 1) in [0, 1], with labels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = (bunch.images.astype(np.float32) / 16.0)[..., None]
    return x, bunch.target.astype(np.int64)


@pytest.fixture(scope="session")
def digits_npz(tmp_path_factory, digits) -> Path:
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    np.savez(path, x=digits[0], y=digits[1])
    return path


@pytest.fixture(scope="session")
def digits_cnn(tmp_path_factory, tf, digits) -> Path:
    """A small CNN trained for a few epochs on the digits, saved as a tf_keras .keras file."""
    tf.keras.utils.set_random_seed(1)
    layers = tf.keras.layers
    inputs = tf.keras.Input((8, 8, 1), name="pixels")
    x = layers.Conv2D(8, 3, padding="same", activation="relu", name="conv")(inputs)
    x = layers.Flatten(name="flatten")(x)
    outputs = layers.Dense(10, activation="softmax", name="classes")(x)
    model = tf.keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(digits[0], digits[1], epochs=8, batch_size=64, verbose=0)
    path = tmp_path_factory.mktemp("models") / "digits_cnn.keras"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def two_input_model(tmp_path_factory, tf, digits) -> Path:
    """Two inputs (image and a flat copy of it) named so that sorted order differs from model order."""
    tf.keras.utils.set_random_seed(2)
    layers = tf.keras.layers
    image = tf.keras.Input((8, 8, 1), name="zeta_image")
    flat = tf.keras.Input((64,), name="alpha_flat")
    a = layers.Flatten()(layers.Conv2D(4, 3, activation="relu")(image))
    b = layers.Dense(16, activation="relu")(flat)
    outputs = layers.Dense(10, activation="softmax", name="classes")(layers.Concatenate()([a, b]))
    model = tf.keras.Model([image, flat], outputs)
    model.compile("adam", "sparse_categorical_crossentropy")
    x, y = digits
    model.fit([x, x.reshape(len(x), 64)], y, epochs=5, batch_size=64, verbose=0)
    path = tmp_path_factory.mktemp("models") / "two_inputs.keras"
    model.save(path)
    return path


@pytest.fixture(scope="session")
def three_output_model(tmp_path_factory, tf, digits) -> Path:
    """Three outputs of different widths, declared in an order unlike their sorted names."""
    tf.keras.utils.set_random_seed(3)
    layers = tf.keras.layers
    inputs = tf.keras.Input((8, 8, 1), name="pixels")
    hidden = layers.Dense(32, activation="relu")(layers.Flatten()(inputs))
    classes = layers.Dense(10, activation="softmax", name="zz_classes")(hidden)
    parity = layers.Dense(2, activation="softmax", name="mm_parity")(hidden)
    ink = layers.Dense(1, name="aa_ink")(hidden)
    model = tf.keras.Model(inputs, [classes, parity, ink])
    model.compile("adam", ["sparse_categorical_crossentropy", "sparse_categorical_crossentropy", "mse"])
    x, y = digits
    model.fit(x, [y, y % 2, x.mean(axis=(1, 2, 3))], epochs=5, batch_size=64, verbose=0)
    path = tmp_path_factory.mktemp("models") / "three_outputs.keras"
    model.save(path)
    return path

@pytest.fixture(scope="session")
def digits_split() -> dict[str, np.ndarray]:
    """The digits as a fixed train/test split: 1,400 training and 397 test samples."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = (data.images / 16.0).astype(np.float32)[..., None]
    labels = data.target.astype(np.int64)
    return {"x_train": images[:1400], "y_train": labels[:1400], "x_test": images[1400:], "y_test": labels[1400:]}


@pytest.fixture(scope="session")
def digits_model(digits_split):
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
    model.fit(digits_split["x_train"], digits_split["y_train"], epochs=15, batch_size=32, verbose=0)
    return model


@pytest.fixture(scope="session")
def tflite_models(digits_model, digits_split, tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("tflite")
    paths = {}
    for precision in ("fp32", "fp16", "int8"):
        path = folder / f"digits_{precision}.tflite"
        path.write_bytes(convert(digits_model, precision, digits_split["x_train"]))
        paths[precision] = path
    return paths
