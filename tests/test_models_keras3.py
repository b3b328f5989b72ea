"""Rebuilding Keras 3 files and model objects in tf_keras, on tiny real models."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edgeforge._tf import import_tf

tf = import_tf()

import keras  # noqa: E402 - Keras 3, imported after TensorFlow is set up for tf_keras
import tf_keras  # noqa: E402

from edgeforge.errors import DataError, InputError, ModelLoadError, UnsupportedError  # noqa: E402
from edgeforge.models.keras3 import is_keras3_file, is_keras3_model, rebuild_in_tf_keras  # noqa: E402

TESTS_DIR = Path(__file__).parent
CUSTOM_MODULE = "keras3_custom_layers"


def digits() -> tuple[np.ndarray, np.ndarray]:
    """Real 8x8 handwritten digits shipped with scikit-learn, scaled to [0, 1]."""
    from sklearn.datasets import load_digits

    data = load_digits()
    return (data.images / 16.0).astype("float32")[..., np.newaxis], data.target


def sample_images(count: int = 16) -> np.ndarray:
    return digits()[0][-count:]


def keras3_outputs(model, data) -> np.ndarray:
    return keras.ops.convert_to_numpy(model(data, training=False))


def randomize_batchnorm(model) -> None:
    """Give BatchNormalization layers non-trivial statistics so a wrong copy changes outputs."""
    rng = np.random.default_rng(1)
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.BatchNormalization):
            size = layer.moving_mean.shape[0]
            layer.moving_mean.assign(rng.normal(0.0, 0.3, size))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, size))


@pytest.fixture(scope="module")
def cnn_file(tmp_path_factory) -> Path:
    """A Keras 3 CNN trained briefly on digits and saved as .keras, so its predictions are decisive."""
    inputs = keras.Input((8, 8, 1), name="x")
    h = keras.layers.Conv2D(8, 3, padding="same", name="conv", kernel_regularizer=keras.regularizers.L2(1e-4))(inputs)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.ReLU(name="relu")(h)
    h = keras.layers.MaxPooling2D(name="pool")(h)
    h = keras.layers.Flatten(name="flatten")(h)
    h = keras.layers.Dropout(0.2, name="dropout")(h)
    outputs = keras.layers.Dense(10, activation="softmax", name="probs")(h)
    model = keras.Model(inputs, outputs, name="cnn")
    images, labels = digits()
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy")
    model.fit(images[:1500], labels[:1500], epochs=3, batch_size=64, verbose=0)
    path = tmp_path_factory.mktemp("cnn") / "cnn.keras"
    model.save(path)
    return path


def nested_residual_model():
    """Functional model with a nested Sequential, a nested functional block reusing a layer name, and a residual Add."""
    inner_seq = keras.Sequential(
        [keras.Input((4, 4, 8)), keras.layers.Conv2D(8, 3, padding="same", name="inner_conv"), keras.layers.BatchNormalization(name="inner_bn")],
        name="inner_seq",
    )
    block_in = keras.Input((8,))
    block_out = keras.layers.Dense(8, activation="relu", name="dense")(block_in)
    block = keras.Model(block_in, block_out, name="block")

    inputs = keras.Input((8, 8, 1), name="x")
    h = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="stem")(inputs)
    h = keras.layers.AveragePooling2D(2, name="pool")(h)
    r = inner_seq(h)
    h = keras.layers.Add(name="residual")([h, r])
    h = keras.layers.GlobalAveragePooling2D(name="gap")(h)
    h = block(h)
    h = keras.layers.Dense(8, name="dense")(h)
    outputs = keras.layers.Dense(3, activation="softmax", name="probs")(h)
    model = keras.Model(inputs, outputs, name="nested")
    randomize_batchnorm(model)
    return model


def test_detects_keras3_file_and_object(cnn_file):
    model = keras.saving.load_model(cnn_file)

    assert is_keras3_file(cnn_file)
    assert is_keras3_model(model)
    assert not is_keras3_model(tf_keras.Sequential([tf_keras.Input((2,)), tf_keras.layers.Dense(1)]))


def test_rebuild_file_matches_original(cnn_file):
    data = sample_images()

    result = rebuild_in_tf_keras(cnn_file, check_data={"x": data})

    assert isinstance(result.model, tf_keras.Model)
    assert result.check is not None and result.check.passed
    assert result.check.samples == len(data)
    assert result.weights_copied == 8  # conv 2, bn 4, dense 2
    original = keras.saving.load_model(cnn_file)
    difference = np.abs(result.model.predict(data, verbose=0) - keras3_outputs(original, data))
    assert difference.max() < 1e-5
    regularizer = result.model.get_layer("conv").kernel_regularizer
    assert isinstance(regularizer, tf_keras.regularizers.L2)
    assert regularizer.l2 == pytest.approx(1e-4)


def test_rebuild_nested_and_residual_inlined():
    model = nested_residual_model()
    data = sample_images()

    result = rebuild_in_tf_keras(model, check_data=data)

    assert result.check.passed
    assert result.check.max_abs_error < 1e-5
    assert not any(isinstance(layer, tf_keras.Model) for layer in result.model.layers)
    names = [layer.name for layer in result.model.layers]
    assert "dense" in names
    assert "dense_1" in names
    assert any("renamed" in note for note in result.notes)


def test_rebuild_nested_kept_as_submodels():
    model = nested_residual_model()

    result = rebuild_in_tf_keras(model, check_data=sample_images(), flatten_nested=False)

    assert result.check.passed
    submodels = [layer.name for layer in result.model.layers if isinstance(layer, tf_keras.Model)]
    assert submodels == ["inner_seq", "block"]


def test_rebuild_rejects_layer_missing_in_tf_keras():
    inputs = keras.Input((6,), name="x")
    h = keras.layers.Dense(4, name="dense")(inputs)
    outputs = keras.layers.RMSNormalization(name="rms")(h)
    model = keras.Model(inputs, outputs)

    with pytest.raises(
        UnsupportedError,
        match=r"layer 'rms' \(RMSNormalization\) cannot be rebuilt in tf_keras: "
        r"keras.layers.RMSNormalization exists only in Keras 3 .*custom_objects_module",
    ):
        rebuild_in_tf_keras(model, check_data=np.zeros((2, 6), "float32"))


def test_rebuild_rejects_keras_ops_node():
    inputs = keras.Input((6,), name="x")
    h = keras.layers.Dense(4, name="dense")(inputs)
    outputs = keras.ops.add(h, 1.0)
    model = keras.Model(inputs, outputs)

    with pytest.raises(UnsupportedError, match=r"is a keras.ops call in the graph.*keras.layers layer"):
        rebuild_in_tf_keras(model, check_data=np.zeros((2, 6), "float32"))


@pytest.fixture(scope="module")
def lambda_file(tmp_path_factory) -> Path:
    inputs = keras.Input((6,), name="x")
    h = keras.layers.Dense(4, name="dense")(inputs)
    outputs = keras.layers.Lambda(lambda t: t * t - 1.0, output_shape=(4,), name="square_shift")(h)
    path = tmp_path_factory.mktemp("lambda") / "lambda.keras"
    keras.Model(inputs, outputs).save(path)
    return path


def test_lambda_rejected_in_safe_mode(lambda_file):
    with pytest.raises(ModelLoadError, match=r"Keras safe mode rejected the model .*pass trust_model=True \(CLI --trust-model\)"):
        rebuild_in_tf_keras(lambda_file, check_data=np.zeros((2, 6), "float32"))


def test_lambda_rebuilt_when_trusted(lambda_file):
    data = np.random.default_rng(0).normal(size=(8, 6)).astype("float32")

    result = rebuild_in_tf_keras(lambda_file, check_data=data, trust_model=True)

    assert result.check.passed
    assert isinstance(result.model.get_layer("square_shift"), tf_keras.layers.Lambda)
    assert result.check.reference_max_abs > 0.1


@pytest.fixture
def custom_module_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(TESTS_DIR))
    import keras3_custom_layers

    return keras3_custom_layers


def test_custom_layer_rebuilt_from_module(custom_module_on_path, tmp_path):
    inputs = keras.Input((3,), name="x")
    outputs = custom_module_on_path.Scale(name="scale")(inputs)
    model = keras.Model(inputs, outputs)
    model.get_layer("scale").factor.assign(2.5)
    model.save(tmp_path / "custom.keras")

    result = rebuild_in_tf_keras(tmp_path / "custom.keras", check_data=np.ones((2, 3), "float32"), custom_objects_module=CUSTOM_MODULE)

    assert isinstance(result.model.get_layer("scale"), custom_module_on_path.ScaleTfKeras)
    assert result.check.reference_max_abs == pytest.approx(2.5)


def test_custom_layer_unregistered_load_fails(custom_module_on_path, tmp_path, monkeypatch):
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, custom_module_on_path.Scale(name="scale")(inputs))
    model.save(tmp_path / "custom.keras")
    monkeypatch.delitem(keras.saving.get_custom_objects(), "edgeforge_test>Scale")

    with pytest.raises(ModelLoadError, match=r"custom class that is not registered.*custom_objects_module \(CLI --custom-objects-module\)"):
        rebuild_in_tf_keras(tmp_path / "custom.keras", check_data=np.ones((2, 3), "float32"))


def test_custom_layer_without_tf_keras_twin(custom_module_on_path, monkeypatch):
    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, custom_module_on_path.Scale(name="scale")(inputs))
    monkeypatch.delitem(tf_keras.saving.get_custom_objects(), "edgeforge_test>Scale")

    with pytest.raises(UnsupportedError, match=r"layer 'scale' \(Scale\) cannot be rebuilt in tf_keras: custom class 'edgeforge_test>Scale'"):
        rebuild_in_tf_keras(model, check_data=np.ones((2, 3), "float32"))


def test_rebuild_mismatch_fails_check(custom_module_on_path):
    class DoubleScale(tf_keras.layers.Layer):
        def build(self, input_shape):
            self.factor = self.add_weight(name="factor", shape=(), initializer="ones")

        def call(self, inputs):
            return 2.0 * inputs * self.factor

    inputs = keras.Input((3,), name="x")
    model = keras.Model(inputs, custom_module_on_path.Scale(name="scale")(inputs))

    with pytest.raises(UnsupportedError, match=r"does not match the Keras 3 model: max abs error 1 over 2 samples"):
        rebuild_in_tf_keras(model, check_data=np.ones((2, 3), "float32"), custom_objects={"edgeforge_test>Scale": DoubleScale})


class ResidualNet(keras.Model):
    """Subclassed model whose call uses only layers, so it traces."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hidden = keras.layers.Dense(6, activation="relu", name="hidden")
        self.add = keras.layers.Add(name="add")
        self.head = keras.layers.Dense(3, name="head")

    def call(self, inputs, training=False):
        return self.head(self.add([inputs, self.hidden(inputs)]))


class BranchingNet(keras.Model):
    """Subclassed model that branches on a tensor value, which symbolic tracing cannot follow."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.head = keras.layers.Dense(3, name="head")

    def call(self, inputs):
        if keras.ops.sum(inputs) > 0:
            return self.head(inputs)
        return self.head(-inputs)


class OwnWeightNet(keras.Model):
    """Subclassed model holding a weight outside any layer."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.head = keras.layers.Dense(3, name="head")

    def build(self, input_shape):
        self.offset = self.add_weight(name="offset", shape=(3,), initializer="ones")

    def call(self, inputs):
        return self.head(inputs) + self.offset


def test_subclassed_model_traced():
    data = np.random.default_rng(0).normal(size=(8, 6)).astype("float32")
    model = ResidualNet()
    model(data)

    result = rebuild_in_tf_keras(model, check_data=data)

    assert result.traced_subclassed
    assert result.check.passed
    assert [layer.name for layer in result.model.layers][1:] == ["hidden", "add", "head"]


def test_subclassed_model_untraceable():
    data = np.ones((2, 6), "float32")
    model = BranchingNet()
    model(data)

    with pytest.raises(UnsupportedError, match=r"subclassed model .* cannot be traced into a functional graph: .*keras.Model\(inputs, outputs\)"):
        rebuild_in_tf_keras(model, check_data=data)


def test_subclassed_model_with_own_weight():
    data = np.ones((2, 6), "float32")
    model = OwnWeightNet()
    model(data)

    with pytest.raises(UnsupportedError, match=r"creates weights outside its layers \(.*offset\)"):
        rebuild_in_tf_keras(model, check_data=data)


def test_legacy_h5_with_optimizer_state(tmp_path):
    inputs = keras.Input((6,), name="x")
    outputs = keras.layers.Dense(3, activation="softmax", name="probs")(keras.layers.Dense(8, activation="relu", name="hidden")(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    data = np.random.default_rng(0).normal(size=(16, 6)).astype("float32")
    model.fit(data, np.arange(16) % 3, epochs=1, verbose=0)
    model.save(tmp_path / "legacy.h5")

    result = rebuild_in_tf_keras(tmp_path / "legacy.h5", check_data=data)

    assert result.check.passed
    assert result.weights_copied == 4


def test_rejects_tf_keras_model():
    model = tf_keras.Sequential([tf_keras.Input((2,)), tf_keras.layers.Dense(1)])

    with pytest.raises(InputError, match=r"expected a Keras 3 model .* got Sequential; tf_keras models need no rebuild"):
        rebuild_in_tf_keras(model, check_data=None)


def test_check_data_must_name_every_input():
    a = keras.Input((2,), name="a")
    b = keras.Input((2,), name="b")
    model = keras.Model([a, b], keras.layers.Add(name="sum")([a, b]))

    with pytest.raises(DataError, match=r"missing \['b'\]"):
        rebuild_in_tf_keras(model, check_data={"a": np.ones((2, 2), "float32")})


def test_two_input_model_rebuilt():
    a = keras.Input((2,), name="a")
    b = keras.Input((2,), name="b")
    model = keras.Model([a, b], keras.layers.Dense(2, name="mix")(keras.layers.Concatenate(name="cat")([a, b])))
    data = {"a": np.ones((3, 2), "float32"), "b": np.full((3, 2), 2.0, "float32")}

    result = rebuild_in_tf_keras(model, check_data=data)

    assert result.check.passed
    assert [tensor.name.split(":")[0] for tensor in result.model.inputs] == ["a", "b"]


def test_rebuilt_model_takes_qat_pruning_and_int8(cnn_file, tmp_path):
    """The point of the rebuild: tfmot wraps the model and the converter emits full int8."""
    import tensorflow_model_optimization as tfmot
    from ai_edge_litert.interpreter import Interpreter

    data = sample_images(64)
    rebuilt = rebuild_in_tf_keras(cnn_file, check_data=data).model
    reference = rebuilt.predict(data, verbose=0)

    # A fresh QAT model has uncalibrated quantizer ranges: one short epoch of QAT calibrates them.
    qat = tfmot.quantization.keras.quantize_model(rebuilt)
    images, labels = digits()
    qat.compile(optimizer=tf_keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")
    qat.fit(images[:512], labels[:512], epochs=1, batch_size=64, verbose=0)
    qat_outputs = qat.predict(data, verbose=0)
    assert any("quant" in layer.name for layer in qat.layers)
    assert np.mean(qat_outputs.argmax(1) == reference.argmax(1)) >= 0.9

    pruned = tfmot.sparsity.keras.prune_low_magnitude(tf_keras.models.clone_model(rebuilt))
    assert any(type(layer).__name__ == "PruneLowMagnitude" for layer in pruned.layers)

    converter = tf.lite.TFLiteConverter.from_keras_model(rebuilt)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([data[i : i + 1]] for i in range(len(data)))
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    tflite_path = tmp_path / "cnn_int8.tflite"
    tflite_path.write_bytes(converter.convert())

    interpreter = Interpreter(model_path=str(tflite_path))
    interpreter.allocate_tensors()
    input_detail = interpreter.get_input_details()[0]
    output_detail = interpreter.get_output_details()[0]
    assert input_detail["dtype"] == np.int8
    in_scale, in_zero = input_detail["quantization"]
    out_scale, out_zero = output_detail["quantization"]
    int8_outputs = []
    for sample in data:
        quantized = np.clip(np.round(sample / in_scale + in_zero), -128, 127).astype(np.int8)
        interpreter.set_tensor(input_detail["index"], quantized[np.newaxis])
        interpreter.invoke()
        raw = interpreter.get_tensor(output_detail["index"]).astype(np.float32)
        int8_outputs.append((raw - out_zero) * out_scale)
    int8_outputs = np.concatenate(int8_outputs)
    assert np.abs(int8_outputs - reference).max() < 0.1
    assert np.mean(int8_outputs.argmax(1) == reference.argmax(1)) >= 0.9


LAYER_FAMILIES = {
    "depthwise_separable": ((8, 8, 3), lambda x: keras.layers.GlobalAveragePooling2D()(keras.layers.SeparableConv2D(4, 3)(keras.layers.DepthwiseConv2D(3, padding="same")(keras.layers.Rescaling(1 / 255.0)(x))))),
    "bidirectional_lstm": ((5, 4), lambda x: keras.layers.Bidirectional(keras.layers.LSTM(3))(keras.layers.LayerNormalization()(keras.layers.Conv1D(4, 2, padding="same")(x)))),
    "time_distributed_gru": ((5, 4), lambda x: keras.layers.GRU(3)(keras.layers.TimeDistributed(keras.layers.Dense(4))(x))),
    "renamed_options": ((6,), lambda x: keras.layers.Concatenate()([keras.layers.Reshape((6,))(keras.layers.Reshape((2, 3))(x)), keras.layers.Activation("gelu")(x), keras.layers.LeakyReLU(0.1)(x), keras.layers.PReLU()(x)])),
}


@pytest.mark.parametrize("family", sorted(LAYER_FAMILIES))
def test_layer_family_rebuilt(family):
    shape, build = LAYER_FAMILIES[family]
    inputs = keras.Input(shape)
    model = keras.Model(inputs, build(inputs))
    data = np.random.default_rng(0).normal(size=(4, *shape)).astype("float32")

    result = rebuild_in_tf_keras(model, check_data=data)

    assert result.check.passed
    assert result.check.max_abs_error < 1e-5
