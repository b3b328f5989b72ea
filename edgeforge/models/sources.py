"""One interface over every model input edgeforge accepts.

A `ModelSource` gives the signature, predictions of the original model (the
baseline every artifact is compared with) and the object the converters take:

- tf_keras `.keras`, `.h5` and Keras SavedModel folders load as they are;
- Keras 3 files are rebuilt in tf_keras and checked against the original;
- a plain TensorFlow SavedModel converts directly (post-training recipes only);
- `.tflite` and `.onnx` files convert through OpenVINO (Intel targets only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgeforge.data.dataset import Dataset
from edgeforge.errors import ModelLoadError, UnsupportedError
from edgeforge.models.formats import ModelFileInfo, describe_model_file
from edgeforge.models.spec import ModelSignature, TensorSpec

log = logging.getLogger(__name__)

TFLITE, ONNX, TF_SAVEDMODEL = "tflite", "onnx", "tf-savedmodel"


@dataclass
class ModelSource:
    """A loaded model. `keras_model` is set for models the training passes can change."""

    path: Path
    info: ModelFileInfo
    signature: ModelSignature
    keras_model: Any = None
    notes: list[str] = field(default_factory=list)
    rebuild_check: dict | None = None
    tensor_names: dict[str, str] = field(default_factory=dict)
    _predict: Any = None

    @property
    def trainable(self) -> bool:
        return self.keras_model is not None

    @property
    def convertible(self) -> Any:
        """What the emitters take: the tf_keras model, or the model's path."""
        return self.keras_model if self.keras_model is not None else self.path

    def predict(self, dataset: Dataset) -> dict[str, np.ndarray]:
        """Run the original model on every sample; return outputs keyed by output name."""
        return self._predict(dataset)


def open_model(
    path: str | Path,
    *,
    safe_mode: bool = True,
    custom_objects_module: str | None = None,
    check_data: dict[str, np.ndarray] | np.ndarray | None = None,
) -> ModelSource:
    """Load the model at `path` in the way its format needs."""
    path = Path(path)
    info = describe_model_file(path)
    if info.format == TF_SAVEDMODEL:
        return _open_plain_savedmodel(path, info)
    if info.format == TFLITE:
        return _open_tflite(path, info)
    if info.format == ONNX:
        return _open_onnx(path, info)
    if info.needs_rebuild:
        return _open_keras3(path, info, safe_mode, custom_objects_module, check_data)
    from edgeforge.models.loading import load_model, model_signature

    model = load_model(path, safe_mode=safe_mode, custom_objects_module=custom_objects_module)
    return _keras_source(path, info, model, model_signature(model))


def _keras_source(path: Path, info: ModelFileInfo, model: Any, signature: ModelSignature) -> ModelSource:
    def predict(dataset: Dataset) -> dict[str, np.ndarray]:
        inputs = [dataset.inputs[spec.name] for spec in signature.inputs]
        outputs = model.predict(inputs if len(inputs) > 1 else inputs[0], batch_size=256, verbose=0)
        if not isinstance(outputs, list):
            outputs = [outputs]
        return {spec.name: np.asarray(out) for spec, out in zip(signature.outputs, outputs)}

    return ModelSource(path, info, signature, keras_model=model, _predict=predict)


def _open_keras3(path, info, safe_mode, custom_objects_module, check_data) -> ModelSource:
    from edgeforge.models.keras3 import rebuild_in_tf_keras
    from edgeforge.models.loading import model_signature

    result = rebuild_in_tf_keras(
        path, check_data=check_data, trust_model=not safe_mode, custom_objects_module=custom_objects_module
    )
    source = _keras_source(path, info, result.model, model_signature(result.model))
    source.notes = [info.reason, *result.notes]
    source.rebuild_check = result.check.to_dict() if result.check is not None else None
    return source


def _open_plain_savedmodel(path: Path, info: ModelFileInfo) -> ModelSource:
    from edgeforge._tf import import_tf

    tf = import_tf()
    loaded = tf.saved_model.load(str(path))
    if "serving_default" not in loaded.signatures:
        raise UnsupportedError(
            f"{path}: the SavedModel has no 'serving_default' signature; save it with "
            "tf.saved_model.save(module, path, signatures={'serving_default': function})"
        )
    function = loaded.signatures["serving_default"]
    input_specs = function.structured_input_signature[1]
    output_specs = function.structured_outputs
    signature = ModelSignature(
        tuple(TensorSpec(name, tuple(spec.shape.as_list()), spec.dtype.name) for name, spec in input_specs.items()),
        tuple(TensorSpec(name, tuple(spec.shape.as_list()), spec.dtype.name) for name, spec in output_specs.items()),
    )

    def predict(dataset: Dataset) -> dict[str, np.ndarray]:
        parts: dict[str, list[np.ndarray]] = {spec.name: [] for spec in signature.outputs}
        for start in range(0, len(dataset), 256):
            feed = {name: tf.constant(array[start:start + 256]) for name, array in dataset.inputs.items()}
            for name, value in function(**feed).items():
                parts[name].append(value.numpy())
        return {name: np.concatenate(values) for name, values in parts.items()}

    source = ModelSource(path, info, signature, _predict=predict)
    source.notes.append(info.reason)
    source._keep_alive = loaded  # the concrete function needs its SavedModel object alive
    return source


def _open_tflite(path: Path, info: ModelFileInfo) -> ModelSource:
    from edgeforge.runtime.litert import LiteRTRunner

    runner = LiteRTRunner(path, threads=1)
    signature = ModelSignature(
        tuple(TensorSpec(name, (None, *runner.input_shape(name)[1:]), "float32") for name in runner.input_names),
        tuple(TensorSpec(name, (None, *runner.output_shape(name)[1:]), "float32") for name in runner.output_names),
    )

    def predict(dataset: Dataset) -> dict[str, np.ndarray]:
        from edgeforge.validate.accuracy import run_dataset

        return run_dataset(runner, dataset, runner.output_names)

    source = ModelSource(path, info, signature, tensor_names=runner.tensor_names(), _predict=predict)
    source.notes.append(info.reason)
    return source


def _open_onnx(path: Path, info: ModelFileInfo) -> ModelSource:
    try:
        import onnx
        from onnx.reference import ReferenceEvaluator
    except ImportError as err:
        raise UnsupportedError("ONNX input needs the onnx package: pip install 'edgeforge[onnx]'") from err

    try:
        graph = onnx.load(str(path)).graph
    except Exception as err:  # noqa: BLE001 - protobuf raises DecodeError and others on a damaged file
        raise ModelLoadError(f"cannot read ONNX model {path}: {type(err).__name__}: {err}; "
                             "export the model again") from err
    initializers = {item.name for item in graph.initializer}

    def spec(value) -> TensorSpec:
        dims = tuple(d.dim_value if d.HasField("dim_value") else None for d in value.type.tensor_type.shape.dim)
        dtype = onnx.helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type).name
        return TensorSpec(value.name, (None, *dims[1:]), dtype)

    signature = ModelSignature(
        tuple(spec(value) for value in graph.input if value.name not in initializers),
        tuple(spec(value) for value in graph.output),
    )
    evaluator = ReferenceEvaluator(str(path))

    def predict(dataset: Dataset) -> dict[str, np.ndarray]:
        names = [item.name for item in signature.outputs]
        parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
        for index in range(len(dataset)):
            feed = {name: array[index:index + 1] for name, array in dataset.inputs.items()}
            for name, value in zip(names, evaluator.run(names, feed)):
                parts[name].append(np.asarray(value))
        return {name: np.concatenate(values) for name, values in parts.items()}

    source = ModelSource(path, info, signature, _predict=predict)
    source.notes.append(info.reason)
    return source
