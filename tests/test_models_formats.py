"""Model file format detection on real files written by tf_keras, Keras 3 and TensorFlow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeforge._tf import import_tf

tf = import_tf()

import keras  # noqa: E402 - Keras 3, imported after TensorFlow is set up for tf_keras
import tf_keras  # noqa: E402

from edgeforge.errors import ModelLoadError  # noqa: E402
from edgeforge.models import formats  # noqa: E402
from edgeforge.models.formats import describe_model_file  # noqa: E402


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """One small model saved in every format edgeforge reads."""
    folder = tmp_path_factory.mktemp("formats")
    data = np.zeros((4, 3), "float32")
    targets = np.zeros((4, 2), "float32")

    tk = tf_keras.Sequential([tf_keras.Input((3,), name="x"), tf_keras.layers.Dense(2)])
    tk.compile(optimizer="adam", loss="mse")
    tk.fit(data, targets, verbose=0)
    tk.save(folder / "tk.keras")
    tk.save(folder / "tk.h5")
    tk.save(folder / "tk_savedmodel", save_format="tf")
    tk.save_weights(folder / "tk.weights.h5")

    k3 = keras.Sequential([keras.Input((3,), name="x"), keras.layers.Dense(2)])
    k3.compile(optimizer="adam", loss="mse")
    k3.fit(data, targets, verbose=0)
    k3.save(folder / "k3.keras")
    k3.save(folder / "k3.h5")

    module = tf.Module()
    module.scale = tf.Variable(2.0)
    module.run = tf.function(lambda x: x * module.scale, input_signature=[tf.TensorSpec([None, 3], tf.float32)])
    tf.saved_model.save(module, str(folder / "plain_savedmodel"))

    (folder / "m.tflite").write_bytes(tf.lite.TFLiteConverter.from_keras_model(tk).convert())
    (folder / "m.onnx").write_bytes(b"\x08\x07")
    (folder / "notes.txt").write_text("not a model")
    return {path.name: path for path in folder.iterdir()}


@pytest.mark.parametrize(
    "name, expected_format, trainable, needs_rebuild",
    [
        ("tk.keras", formats.TF_KERAS_ZIP, True, False),
        ("tk.h5", formats.TF_KERAS_H5, True, False),
        ("tk_savedmodel", formats.KERAS_SAVEDMODEL, True, False),
        ("k3.keras", formats.KERAS3_ZIP, True, True),
        ("k3.h5", formats.KERAS3_H5, True, True),
        ("plain_savedmodel", formats.TF_SAVEDMODEL, False, False),
        ("m.tflite", formats.TFLITE, False, False),
        ("m.onnx", formats.ONNX, False, False),
        ("tk.weights.h5", formats.WEIGHTS_ONLY, False, False),
    ],
)
def test_describe_format(files, name, expected_format, trainable, needs_rebuild):
    info = describe_model_file(files[name])

    assert info.format == expected_format
    assert info.trainable_in_tf_keras is trainable
    assert info.needs_rebuild is needs_rebuild


def test_keras_versions_read(files):
    assert describe_model_file(files["k3.keras"]).keras_version.startswith("3.")
    assert describe_model_file(files["k3.h5"]).keras_version.startswith("3.")
    assert describe_model_file(files["tk.keras"]).keras_version.startswith("2.")


def test_h5_optimizer_state_reported(files):
    info = describe_model_file(files["tk.h5"])

    assert info.has_optimizer_state
    assert "optimizer state is not used" in info.reason


def test_plain_savedmodel_reason_says_post_training_only(files):
    info = describe_model_file(files["plain_savedmodel"])

    assert "no keras_metadata.pb" in info.reason
    assert "only post-training recipes apply" in info.reason


def test_unknown_file_rejected(files):
    with pytest.raises(ModelLoadError, match=r"notes.txt: unknown model format; expected a .keras or .h5"):
        describe_model_file(files["notes.txt"])


def test_missing_path_rejected(tmp_path):
    with pytest.raises(ModelLoadError, match=r"model not found: .*absent.keras; pass a .keras file"):
        describe_model_file(tmp_path / "absent.keras")


def test_folder_without_savedmodel_rejected(tmp_path):
    with pytest.raises(ModelLoadError, match=r"folder is not a SavedModel \(no saved_model.pb\)"):
        describe_model_file(tmp_path)
