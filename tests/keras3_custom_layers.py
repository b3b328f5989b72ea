"""Custom layers for the Keras 3 rebuild tests: a Keras 3 layer and its tf_keras twin.

Both are registered under the name "edgeforge_test>Scale", which is how the rebuild finds the
tf_keras implementation of a Keras 3 custom layer.
"""

from __future__ import annotations

from edgeforge._tf import import_tf

import_tf()

import keras  # noqa: E402 - Keras 3, imported after TensorFlow is set up for tf_keras
import tf_keras  # noqa: E402


@keras.saving.register_keras_serializable(package="edgeforge_test", name="Scale")
class Scale(keras.layers.Layer):
    """Multiply the input by one trainable scalar."""

    def build(self, input_shape):
        self.factor = self.add_weight(name="factor", shape=(), initializer="ones")

    def call(self, inputs):
        return inputs * self.factor


@tf_keras.saving.register_keras_serializable(package="edgeforge_test", name="Scale")
class ScaleTfKeras(tf_keras.layers.Layer):
    """The tf_keras implementation of `Scale`, with the same weight."""

    def build(self, input_shape):
        self.factor = self.add_weight(name="factor", shape=(), initializer="ones")

    def call(self, inputs):
        return inputs * self.factor
