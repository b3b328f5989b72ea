"""Load tf_keras models from `.keras`, `.h5` or SavedModel paths and describe their signature."""

from __future__ import annotations

import logging
import zipfile
from pathlib import Path
from typing import Any

from edgeforge._tf import import_tf
from edgeforge.errors import ModelLoadError
from edgeforge.models.spec import ModelSignature, TensorSpec

log = logging.getLogger(__name__)


def model_format(path: str | Path) -> str:
    """Return 'keras', 'h5' or 'savedmodel' for a model path, or raise ModelLoadError."""
    path = Path(path)
    if not path.exists():
        raise ModelLoadError(f"model not found: {path}; pass a .keras file, an .h5 file or a SavedModel folder")
    if path.is_dir():
        if (path / "saved_model.pb").exists():
            return "savedmodel"
        raise ModelLoadError(f"{path} is a folder without saved_model.pb; pass a SavedModel folder or a model file")
    if path.suffix == ".keras":
        return "keras"
    if path.suffix in (".h5", ".hdf5"):
        return "h5"
    raise ModelLoadError(f"unsupported model file {path}: expected .keras, .h5 or a SavedModel folder")


def load_model(path: str | Path, *, safe_mode: bool = True, custom_objects_module: str | None = None) -> Any:
    """Load a tf_keras model. Keras `safe_mode` stays on unless the caller turns it off.

    `custom_objects_module` names a Python module whose tf_keras layer classes
    the file may use; it is imported only when the caller passes it.
    """
    path = Path(path)
    kind = model_format(path)
    keras = import_tf().keras
    if kind == "keras" and not zipfile.is_zipfile(path):
        raise ModelLoadError(f"{path} is not a valid .keras archive (not a zip file); the file may be truncated or corrupt")
    custom_objects = None
    if custom_objects_module:
        from edgeforge.models.custom_objects import collect_custom_objects

        custom_objects = collect_custom_objects(module=custom_objects_module).tf_keras
    try:
        if kind == "keras":
            model = keras.models.load_model(path, compile=False, safe_mode=safe_mode, custom_objects=custom_objects)
        else:
            model = keras.models.load_model(path, compile=False, custom_objects=custom_objects)
    except Exception as err:  # noqa: BLE001 - Keras raises many types for a bad file
        raise ModelLoadError(f"cannot load model {path}: {type(err).__name__}: {_first_line(err)}") from err
    if not isinstance(model, keras.Model):
        raise ModelLoadError(
            f"{path} loaded as {type(model).__name__}, not a Keras model; "
            "a plain TensorFlow SavedModel needs a Keras model wrapper"
        )
    return model


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else "no message"


def model_signature(model: Any) -> ModelSignature:
    """Describe a tf_keras model's inputs and outputs by name, in the model's order."""
    inputs = tuple(
        TensorSpec(name, tuple(tensor.shape.as_list()), tensor.dtype.name)
        for name, tensor in zip(model.input_names, model.inputs)
    )
    outputs = tuple(
        TensorSpec(name, tuple(tensor.shape.as_list()), tensor.dtype.name)
        for name, tensor in zip(model.output_names, model.outputs)
    )
    return ModelSignature(inputs, outputs)
