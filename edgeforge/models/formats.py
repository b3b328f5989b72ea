"""Identify a model file's format from its content and report which recipes it supports.

Training recipes (QAT, pruning, distillation) retrain Keras layers in tf_keras, so they need a
file that yields a tf_keras model: a tf_keras file or SavedModel as it is, or a Keras 3 file
after `rebuild_in_tf_keras`. A plain TensorFlow SavedModel, a `.tflite` or an `.onnx` file has
no Keras layers and supports post-training recipes only.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import asdict, dataclass

from edgeforge.errors import ModelLoadError

KERAS3_ZIP = "keras3-zip"
TF_KERAS_ZIP = "tf-keras-zip"
KERAS3_H5 = "keras3-h5"
TF_KERAS_H5 = "tf-keras-h5"
WEIGHTS_ONLY = "weights-only"
KERAS_SAVEDMODEL = "keras-savedmodel"
TF_SAVEDMODEL = "tf-savedmodel"
TFLITE = "tflite"
ONNX = "onnx"

_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_TFLITE_IDENTIFIER = b"TFL3"
_ZIP_SIGNATURE = b"PK\x03\x04"

_NO_LAYERS = (
    "it contains no Keras layers, so the training recipes (QAT, pruning, distillation) cannot run "
    "and only post-training recipes apply; pass the Keras model file (.keras or .h5) to train"
)


@dataclass(frozen=True)
class ModelFileInfo:
    """Format of a model file and whether the training recipes can use it.

    `format` is one of the module constants (KERAS3_ZIP, TF_SAVEDMODEL, ...). `needs_rebuild` is
    True for files Keras 3 wrote, which go through `rebuild_in_tf_keras`. `reason` is a sentence
    for reports that explains `trainable_in_tf_keras`.
    """

    path: str
    format: str
    keras_version: str | None
    trainable_in_tf_keras: bool
    needs_rebuild: bool
    has_optimizer_state: bool
    reason: str

    def to_dict(self) -> dict:
        return asdict(self)


def describe_model_file(path: str | os.PathLike) -> ModelFileInfo:
    """Read `path` (file or SavedModel folder) without loading the model and describe its format.

    Raises `ModelLoadError` when the path is missing or in no format edgeforge reads.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        return _describe_savedmodel(path)
    if not os.path.isfile(path):
        raise ModelLoadError(
            f"model not found: {path}; pass a .keras file, an .h5 file or a SavedModel folder "
            "(or, for Intel targets, a .tflite or .onnx file)"
        )

    with open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(_ZIP_SIGNATURE):
        return _describe_keras_zip(path)
    if head == _HDF5_SIGNATURE:
        return _describe_h5(path)
    if head[4:8] == _TFLITE_IDENTIFIER:
        return ModelFileInfo(path, TFLITE, None, False, False, False, f"a TFLite flatbuffer is already converted: {_NO_LAYERS}. Only OpenVINO targets take it as input")
    if path.lower().endswith(".onnx"):
        return ModelFileInfo(path, ONNX, None, False, False, False, f"an ONNX graph is not a Keras model: {_NO_LAYERS}. Only OpenVINO targets take it as input")
    raise ModelLoadError(
        f"{path}: unknown model format; expected a .keras or .h5 Keras file, a SavedModel folder, "
        "or for OpenVINO targets a .tflite or .onnx file"
    )


def _describe_keras_zip(path: str) -> ModelFileInfo:
    from edgeforge.models.keras3 import is_keras3_version, read_keras_zip_metadata

    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, OSError) as err:
        raise ModelLoadError(
            f"{path} is not a valid .keras archive ({err}); the file may be truncated or corrupt. Save the model again"
        ) from err
    metadata = read_keras_zip_metadata(path)
    version = metadata.get("keras_version")
    if "config.json" not in names:
        return ModelFileInfo(path, WEIGHTS_ONLY, version, False, False, False, "the archive holds weights but no config.json architecture; save the whole model with model.save")
    if is_keras3_version(version):
        return ModelFileInfo(path, KERAS3_ZIP, version, True, True, False, f"Keras {version} file: rebuilt in tf_keras for the training recipes")
    return ModelFileInfo(path, TF_KERAS_ZIP, version, True, False, False, f"tf_keras {version} file: loads in tf_keras as it is")


def _describe_h5(path: str) -> ModelFileInfo:
    import h5py

    from edgeforge.models.keras3 import is_keras3_version

    try:
        with h5py.File(path, "r") as handle:
            version = _text(handle.attrs.get("keras_version"))
            has_config = "model_config" in handle.attrs
            has_optimizer = "optimizer_weights" in handle or "optimizer" in handle
    except OSError as err:
        raise ModelLoadError(f"{path}: not a readable HDF5 file ({err})") from err

    optimizer_note = " Its optimizer state is not used: edgeforge compiles its own optimizer for training passes." if has_optimizer else ""
    if not has_config:
        return ModelFileInfo(path, WEIGHTS_ONLY, version, False, False, has_optimizer, "the HDF5 file holds weights but no model_config architecture; save the whole model with model.save")
    if is_keras3_version(version):
        return ModelFileInfo(path, KERAS3_H5, version, True, True, has_optimizer, f"legacy HDF5 file written by Keras {version}: rebuilt in tf_keras for the training recipes.{optimizer_note}")
    return ModelFileInfo(path, TF_KERAS_H5, version, True, False, has_optimizer, f"legacy HDF5 file written by Keras {version or '2.x'}: loads in tf_keras.{optimizer_note}")


def _describe_savedmodel(path: str) -> ModelFileInfo:
    if not os.path.isfile(os.path.join(path, "saved_model.pb")):
        raise ModelLoadError(f"{path}: folder is not a SavedModel (no saved_model.pb); give a model file or a SavedModel folder")
    if os.path.isfile(os.path.join(path, "keras_metadata.pb")):
        return ModelFileInfo(path, KERAS_SAVEDMODEL, None, True, False, False, "tf_keras SavedModel (keras_metadata.pb present): loads in tf_keras")
    return ModelFileInfo(
        path,
        TF_SAVEDMODEL,
        None,
        False,
        False,
        False,
        f"plain TensorFlow SavedModel (no keras_metadata.pb, as written by tf.saved_model.save or Keras 3 model.export): {_NO_LAYERS}",
    )


def _text(value) -> str | None:
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
