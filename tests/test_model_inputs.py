"""Compile the model formats users have: Keras 3, plain SavedModel, TFLite and ONNX for Intel targets."""

from __future__ import annotations

import numpy as np
import pytest

from edgeforge.errors import UnsupportedError
from edgeforge.pipeline.build import compile_model


@pytest.fixture(scope="module")
def keras3_cnn(tmp_path_factory, tf, digits):
    """A Keras 3 model with a residual block, trained briefly and saved as .keras by Keras 3."""
    import keras

    keras.utils.set_random_seed(4)
    inputs = keras.Input((8, 8, 1), name="pixels")
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu")(inputs)
    y = keras.layers.Conv2D(8, 3, padding="same")(x)
    x = keras.layers.ReLU()(keras.layers.Add()([x, y]))
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="classes")(x)
    model = keras.Model(inputs, outputs)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(digits[0], digits[1], epochs=4, batch_size=64, verbose=0)
    path = tmp_path_factory.mktemp("k3") / "keras3.keras"
    model.save(path)
    return path


@pytest.mark.parametrize("target", ["arm-cortex-a72", "intel-cpu"])
def test_keras3_file_default_recipe(keras3_cnn, digits_npz, tmp_path, target):
    result = compile_model(keras3_cnn, target=target, data=digits_npz, out_dir=tmp_path, latency_runs=10,
                           robustness=False)
    report = result.report
    model = report["model"]
    assert model["format"] == "keras3-zip"
    assert model["rebuild_check"]["passed"] is True
    assert model["rebuild_check"]["max_abs_error"] < 1e-4
    assert report["accuracy"]["float_reference"]["max_abs_error"] < 1e-4
    if target == "arm-cortex-a72":
        # The default ARM recipe trains: distillation, channel pruning and QAT all ran on the rebuilt model.
        assert [p["name"] for p in report["passes"]] == ["distill", "prune_channels", "qat"]
        assert all(p["changes"]["applied"] for p in report["passes"])
        assert report["accuracy"]["drop_points"] < 8.0
    else:
        assert report["passes"] == []
        assert report["accuracy"]["artifact"]["top1_agreement"] > 0.9


def test_plain_savedmodel_skips_passes(tf, digits, tmp_path):
    class Classifier(tf.Module):
        def __init__(self):
            super().__init__()
            self.weights = tf.Variable(np.random.default_rng(0).normal(size=(64, 10)).astype(np.float32))

        @tf.function(input_signature=[tf.TensorSpec([None, 8, 8, 1], tf.float32, name="pixels")])
        def __call__(self, pixels):
            logits = tf.matmul(tf.reshape(pixels, [-1, 64]), self.weights)
            return {"scores": tf.nn.softmax(logits), "logits": logits}

    module = Classifier()
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures={"serving_default": module.__call__})
    data = tmp_path / "d.npz"
    np.savez(data, pixels=digits[0][:300], y=digits[1][:300])
    result = compile_model(tmp_path / "sm", target="intel-cpu", data=data, out_dir=tmp_path / "out", latency_runs=10)
    assert result.report["model"]["format"] == "tf-savedmodel"
    assert "only post-training recipes apply" in result.report["model"]["notes"][0]
    outputs = result.report["accuracy"]["float_reference"]["outputs"]
    assert set(outputs) == {"scores", "logits"}
    assert outputs["logits"]["max_abs_error"] < 1e-3
    lite = compile_model(tmp_path / "sm", target="host", data=data, out_dir=tmp_path / "lite", latency_runs=10)
    assert lite.report["accuracy"]["float_reference"]["outputs"]["scores"]["max_abs_error"] < 1e-4


def test_tflite_input_for_intel_cpu(digits_cnn, digits_npz, tmp_path):
    first = compile_model(digits_cnn, target="host", recipe="ptq-fp16", data=digits_npz, out_dir=tmp_path / "lite",
                          validate=False)
    tflite = first.out_dir / "model_float.tflite"
    result = compile_model(tflite, target="intel-cpu", data=digits_npz, out_dir=tmp_path / "ir", latency_runs=10)
    assert result.report["model"]["format"] == "tflite"
    assert result.report["accuracy"]["float_reference"]["max_abs_error"] < 1e-4
    assert result.report["accuracy"]["artifact"]["top1_agreement"] > 0.9


def test_tflite_input_rejected_for_arm(digits_cnn, digits_npz, tmp_path):
    first = compile_model(digits_cnn, target="host", data=digits_npz, out_dir=tmp_path / "lite", validate=False)
    with pytest.raises(UnsupportedError, match=r"target arm-cortex-a72 emits tflite.*pick an Intel target"):
        compile_model(first.out_dir / "model.tflite", target="arm-cortex-a72", data=digits_npz, out_dir=tmp_path / "x")


def test_onnx_input_for_intel_cpu(digits, tmp_path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    x, y = digits
    flat = x.reshape(len(x), 64)
    # Least-squares linear classifier on one-hot labels: a real model fitted to the digits.
    weights, *_ = np.linalg.lstsq(np.c_[flat, np.ones(len(flat))], np.eye(10)[y], rcond=None)
    nodes = [
        helper.make_node("Flatten", ["pixels"], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    graph = helper.make_graph(
        nodes, "digits_linear",
        [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, ["n", 8, 8, 1])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["n", 10])],
        [numpy_helper.from_array(weights[:64].astype(np.float32), "w"),
         numpy_helper.from_array((weights[64] + rng.normal(0, 1e-3, 10)).astype(np.float32), "b")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "linear.onnx"
    onnx.save(model, path)
    data = tmp_path / "d.npz"
    np.savez(data, pixels=x, y=y)
    result = compile_model(path, target="intel-cpu", data=data, out_dir=tmp_path / "ir", latency_runs=10)
    accuracy = result.report["accuracy"]
    assert accuracy["baseline"]["top1"] > 0.8
    assert accuracy["float_reference"]["max_abs_error"] < 1e-4
    assert abs(accuracy["drop_points"]) < 3.0
