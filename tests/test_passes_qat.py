"""Quantization-aware training and its fallback on layers tfmot cannot quantize."""

from __future__ import annotations

import dataclasses
import functools

import pytest

from edgeforge._tf import import_tf
from edgeforge.errors import UnsupportedError
from edgeforge.passes.qat import QatConfig, qat, unsupported_layers
from edgeforge.targets import load_target
from passes_models import context, digits


@functools.lru_cache(maxsize=None)
def _model_with_tf_op():
    """A small CNN with one raw TensorFlow operation (a TFOpLambda layer) between two convolutions."""
    tf = import_tf()
    keras = tf.keras
    tf.keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1), name="x")
    x = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(inputs)
    x = tf.math.square(x)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = keras.layers.Dense(10, name="logits")(x)
    model = keras.Model(inputs, outputs)
    train = digits()[0]
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(train.inputs["x"], train.labels, epochs=1, verbose=0)
    return model


def _full_integer_target():
    target = load_target("arm-cortex-a72")
    data = dict(target.data, quantization=dict(target.data["quantization"], full_integer=True))
    return dataclasses.replace(target, data=data)


def _tf_op_name(model) -> str:
    return next(layer.name for layer in model.layers if type(layer).__name__ == "TFOpLambda")


def test_unsupported_layer_named():
    model = _model_with_tf_op()
    reasons = unsupported_layers(model)
    assert list(reasons) == [_tf_op_name(model)]
    assert "TFOpLambda (math.square) is a raw TensorFlow operation" in reasons[_tf_op_name(model)]


def test_qat_full_integer_falls_back_to_ptq():
    model = _model_with_tf_op()
    result = qat(model, QatConfig(epochs=1), context(target=_full_integer_target()))
    assert result.model is model
    assert result.changes["fallback"] == "ptq"
    assert "QAT skipped" in result.notes[0]
    assert any(f"layer {_tf_op_name(model)!r}: TFOpLambda" in note for note in result.notes)


def test_qat_strict_raises():
    with pytest.raises(UnsupportedError, match="QAT skipped: 1 layer.*tf.math.square"):
        qat(_model_with_tf_op(), QatConfig(epochs=1), context(target=_full_integer_target(), strict=True))


def test_qat_leaves_unsupported_layer_float():
    model = _model_with_tf_op()
    result = qat(model, QatConfig(epochs=1), context(target=load_target("arm-cortex-a72")))
    assert result.changes["quantized"] is True
    assert result.changes["float_layers"] == [_tf_op_name(model)]
    wrapped = [layer.name for layer in result.model.layers if type(layer).__name__.startswith("QuantizeWrapper")]
    assert "quant_conv" in wrapped
    assert "quant_logits" in wrapped


def test_qat_discarded_when_below_float():
    model = _model_with_tf_op()
    # A tolerance below -100 points makes any QAT result count as too far below the float model.
    result = qat(model, QatConfig(epochs=1, max_accuracy_drop=-200.0), context(target=load_target("arm-cortex-a72")))
    assert result.model is model
    assert result.changes["fallback"] == "ptq"
    assert result.notes[0].startswith("QAT discarded: the QAT model scored")
