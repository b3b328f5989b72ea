"""OpenVINO IR from .onnx and .tflite inputs, run in OpenVINO and compared with each format's reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeforge._tf import import_tf

tf = import_tf()

import onnx  # noqa: E402
import openvino as ov  # noqa: E402
import tf_keras  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
from onnx.reference import ReferenceEvaluator  # noqa: E402

from edgeforge.emit.openvino_foreign import convert_foreign_to_ir  # noqa: E402
from edgeforge.errors import DataError, ModelLoadError, UsageError  # noqa: E402

FEATURES = 16
HIDDEN = 32
CLASSES = 4


def samples(count: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(count, FEATURES)).astype("float32")


@pytest.fixture(scope="module")
def onnx_file(tmp_path_factory) -> Path:
    """Gemm + Relu + Gemm + Softmax classifier built with onnx.helper (no PyTorch needed)."""
    rng = np.random.default_rng(42)
    w1 = rng.normal(0.0, 0.5, (FEATURES, HIDDEN)).astype("float32")
    b1 = rng.normal(0.0, 0.1, HIDDEN).astype("float32")
    w2 = rng.normal(0.0, 0.5, (HIDDEN, CLASSES)).astype("float32")
    b2 = rng.normal(0.0, 0.1, CLASSES).astype("float32")
    graph = helper.make_graph(
        [
            helper.make_node("Gemm", ["features", "w1", "b1"], ["hidden"]),
            helper.make_node("Relu", ["hidden"], ["hidden_relu"]),
            helper.make_node("Gemm", ["hidden_relu", "w2", "b2"], ["logits"]),
            helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
        ],
        "tiny_classifier",
        [helper.make_tensor_value_info("features", TensorProto.FLOAT, ["batch", FEATURES])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", CLASSES])],
        initializer=[numpy_helper.from_array(array, name) for array, name in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"))],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    onnx.save(model, path)
    return path


@pytest.fixture(scope="module")
def tflite_file(tmp_path_factory) -> Path:
    model = tf_keras.Sequential(
        [tf_keras.Input((FEATURES,), name="x"), tf_keras.layers.Dense(HIDDEN, activation="relu"), tf_keras.layers.Dense(CLASSES, activation="softmax")]
    )
    path = tmp_path_factory.mktemp("tflite") / "tiny.tflite"
    path.write_bytes(tf.lite.TFLiteConverter.from_keras_model(model).convert())
    return path


def run_ir(xml: str, data: np.ndarray) -> np.ndarray:
    """Run the IR on CPU in f32, since bf16 by default on this CPU would differ by about 1e-2."""
    compiled = ov.Core().compile_model(xml, "CPU", {"INFERENCE_PRECISION_HINT": "f32"})
    return np.concatenate([compiled(sample[np.newaxis])[compiled.output(0)] for sample in data])


def run_litert(path: Path, data: np.ndarray) -> np.ndarray:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    output_index = interpreter.get_output_details()[0]["index"]
    outputs = []
    for sample in data:
        interpreter.set_tensor(input_index, sample[np.newaxis])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(output_index).copy())
    return np.concatenate(outputs)


def op_types(xml: str) -> set[str]:
    return {op.get_type_name() for op in ov.Core().read_model(xml).get_ops()}


def test_onnx_fp32_matches_reference(onnx_file, tmp_path):
    data = samples(32)

    info = convert_foreign_to_ir(onnx_file, calibration=None, precision="fp32", out_xml=tmp_path / "ir" / "tiny.xml")

    assert info["source_format"] == "onnx"
    assert info["inputs"] == [{"name": "features", "shape": [None, FEATURES], "dtype": "float32"}]
    assert all(Path(path).is_file() for path in info["files"])
    (expected,) = ReferenceEvaluator(str(onnx_file)).run(None, {"features": data})
    assert np.abs(run_ir(info["path"], data) - expected).max() < 1e-5


def test_onnx_int8_agrees_with_reference(onnx_file, tmp_path):
    data = samples(64, seed=1)
    calibration = [{"features": sample} for sample in samples(100, seed=2)]

    info = convert_foreign_to_ir(onnx_file, calibration=calibration, precision="int8", out_xml=tmp_path / "tiny_int8.xml")

    assert info["calibration_samples"] == 100
    assert "FakeQuantize" in op_types(info["path"])
    (expected,) = ReferenceEvaluator(str(onnx_file)).run(None, {"features": data})
    actual = run_ir(info["path"], data)
    assert np.abs(actual - expected).mean() < 0.03
    assert np.mean(actual.argmax(1) == expected.argmax(1)) >= 0.9


def test_onnx_fp16_halves_weights(onnx_file, tmp_path):
    fp32 = convert_foreign_to_ir(onnx_file, calibration=None, precision="fp32", out_xml=tmp_path / "fp32.xml")
    fp16 = convert_foreign_to_ir(onnx_file, calibration=None, precision="fp16", out_xml=tmp_path / "fp16.xml")

    assert Path(fp16["files"][1]).stat().st_size < 0.6 * Path(fp32["files"][1]).stat().st_size
    (expected,) = ReferenceEvaluator(str(onnx_file)).run(None, {"features": samples(8)})
    assert np.abs(run_ir(fp16["path"], samples(8)) - expected).max() < 1e-2


def test_tflite_fp32_matches_litert(tflite_file, tmp_path):
    data = samples(16)

    info = convert_foreign_to_ir(tflite_file, calibration=None, precision="fp32", out_xml=tmp_path / "tflite.xml")

    assert info["source_format"] == "tflite"
    assert np.abs(run_ir(info["path"], data) - run_litert(tflite_file, data)).max() < 1e-5


def test_tflite_int8_takes_keras_input_names(tflite_file, tmp_path):
    data = samples(32, seed=3)
    calibration = [{"x": sample} for sample in samples(64, seed=4)]

    info = convert_foreign_to_ir(tflite_file, calibration=calibration, precision="int8", out_xml=tmp_path / "tflite_int8.xml")

    assert "FakeQuantize" in op_types(info["path"])
    actual = run_ir(info["path"], data)
    expected = run_litert(tflite_file, data)
    assert np.abs(actual - expected).mean() < 0.03
    assert np.mean(actual.argmax(1) == expected.argmax(1)) >= 0.9


def test_int8_needs_calibration(onnx_file, tmp_path):
    with pytest.raises(DataError, match=r"int8 needs calibration samples"):
        convert_foreign_to_ir(onnx_file, calibration=None, precision="int8", out_xml=tmp_path / "m.xml")
    assert not (tmp_path / "m.xml").exists()


def test_calibration_names_must_match(onnx_file, tmp_path):
    calibration = [{"image": samples(1)[0], "extra": samples(1)[0]}]

    with pytest.raises(DataError, match=r"model input 'features' matches none of them"):
        convert_foreign_to_ir(onnx_file, calibration=calibration, precision="int8", out_xml=tmp_path / "m.xml")


def test_rejects_other_formats(tmp_path):
    keras_file = tmp_path / "model.keras"
    keras_file.write_bytes(b"PK")

    with pytest.raises(ModelLoadError, match=r"OpenVINO input must be a .onnx or .tflite file, got '.keras'"):
        convert_foreign_to_ir(keras_file, calibration=None, precision="fp32", out_xml=tmp_path / "m.xml")


def test_rejects_unknown_precision(onnx_file, tmp_path):
    with pytest.raises(UsageError, match=r"precision 'int4' is not one of fp32, fp16, int8"):
        convert_foreign_to_ir(onnx_file, calibration=None, precision="int4", out_xml=tmp_path / "m.xml")
