"""Tiny real models and data for the pass tests: scikit-learn's 8x8 digits (1,797 images, 10 classes)."""

from __future__ import annotations

import functools

import numpy as np

from edgeforge._tf import import_tf
from edgeforge.data.dataset import Dataset
from edgeforge.passes.base import PassContext


@functools.lru_cache(maxsize=None)
def digits() -> tuple[Dataset, Dataset]:
    """Return (train, eval) splits of the digits, pixels scaled to [0, 1], shape (8, 8, 1)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = (bunch.images / 16.0).astype(np.float32)[..., None]
    labels = bunch.target.astype(np.int64)
    order = np.random.default_rng(0).permutation(len(labels))
    train, held_out = order[:1400], order[1400:]
    return (
        Dataset({"x": images[train]}, labels[train], "sklearn digits train"),
        Dataset({"x": images[held_out]}, labels[held_out], "sklearn digits eval"),
    )


def residual_cnn(*, seed: int = 0, softmax: bool = True):
    """Return an untrained CNN with a residual Add around a SeparableConv2D, and a Concatenate."""
    tf = import_tf()
    keras = tf.keras
    tf.keras.utils.set_random_seed(seed)
    inputs = keras.Input((8, 8, 1), name="x")
    x = keras.layers.Conv2D(16, 3, padding="same", name="stem")(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = keras.layers.ReLU(name="stem_relu")(x)
    y = keras.layers.SeparableConv2D(16, 3, padding="same", name="sep")(x)
    y = keras.layers.BatchNormalization(momentum=0.9, name="sep_bn")(y)
    x = keras.layers.Add(name="residual")([x, y])
    a = keras.layers.Conv2D(24, 3, strides=2, padding="same", activation="relu", name="branch_a")(x)
    b = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu", name="branch_b")(x)
    x = keras.layers.Concatenate(name="concat")([a, b])
    x = keras.layers.Conv2D(32, 1, activation="relu", name="mix")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(32, activation="relu", name="hidden")(x)
    outputs = keras.layers.Dense(10, activation="softmax" if softmax else None, name="logits")(x)
    return keras.Model(inputs, outputs, name="residual_cnn")


@functools.lru_cache(maxsize=None)
def trained_cnn():
    """Return the residual CNN trained for a few epochs on the digits train split (about 90% top-1)."""
    tf = import_tf()
    train, _ = digits()
    model = residual_cnn()
    model.compile(optimizer=tf.keras.optimizers.Adam(0.005), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(train.inputs["x"], train.labels, epochs=6, batch_size=32, verbose=0)
    return model


def context(*, labels: bool = True, target=None, strict: bool = False, seed: int = 0) -> PassContext:
    """Return a pass context over the digits splits, optionally without labels."""
    train, held_out = digits()
    if not labels:
        train = Dataset(train.inputs, None, train.source)
    return PassContext(target=target, train=train, eval=held_out, seed=seed, strict=strict)
