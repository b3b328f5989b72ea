"""Accept Keras 3 models by rebuilding them in tf_keras (Keras 2), the engine tfmot needs.

tfmot, the TFLite converter's Keras path and tf_keras's loader reject Keras 3 files and model
objects. `rebuild_in_tf_keras` loads a Keras 3 `.keras`/`.h5` file or takes a Keras 3 model,
and rebuilds every layer in tf_keras from its config with the weights copied layer by layer.
It then checks that the rebuild gives the original's outputs on sample data.
"""

from __future__ import annotations

import json
import logging
import os
import zipfile
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeforge.errors import DataError, InputError, ModelLoadError, UnsupportedError
from edgeforge.models.custom_objects import CustomObjects, collect_custom_objects
from edgeforge.models.keras3_rebuild import GraphRebuilder, copy_weights, is_functional, is_sequential, keras3, trace_subclassed

logger = logging.getLogger(__name__)

DEFAULT_TOLERANCE = 1e-4
_CHECK_BATCH = 256


@dataclass(frozen=True)
class OutputCheck:
    """Agreement of the rebuilt model with the original on the check data.

    `max_abs_error` is over all outputs and samples. The check passes when it is at most
    `tolerance * max(1, reference_max_abs)`, so the tolerance is relative for large outputs.
    """

    max_abs_error: float
    reference_max_abs: float
    tolerance: float
    samples: int
    passed: bool

    def to_dict(self) -> dict:
        return {
            "max_abs_error": self.max_abs_error,
            "reference_max_abs": self.reference_max_abs,
            "tolerance": self.tolerance,
            "samples": self.samples,
            "passed": self.passed,
        }


@dataclass
class RebuildResult:
    """A tf_keras model rebuilt from a Keras 3 one, with how it was made and how well it matches."""

    model: Any
    source: str
    keras_version: str
    check: OutputCheck | None
    traced_subclassed: bool = False
    weights_copied: int = 0
    notes: list[str] = field(default_factory=list)


def read_keras_zip_metadata(path: str | os.PathLike) -> dict:
    """Return `metadata.json` of a `.keras` zip file, or {} when the zip has none.

    Raises `ModelLoadError` when the file is not a zip archive.
    """
    try:
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
            if "metadata.json" not in names:
                return {}
            return json.loads(archive.read("metadata.json"))
    except (zipfile.BadZipFile, json.JSONDecodeError, OSError) as err:
        raise ModelLoadError(f"{path}: not a readable .keras zip archive ({err}); save the model again with model.save") from err


def is_keras3_version(version: str | None) -> bool:
    return bool(version) and str(version).split(".")[0] == "3"


def is_keras3_file(path: str | os.PathLike) -> bool:
    """Return True for a `.keras` zip or legacy `.h5` file that Keras 3 wrote."""
    from edgeforge.models.formats import describe_model_file

    return is_keras3_version(describe_model_file(path).keras_version)


def is_keras3_model(model: Any) -> bool:
    """Return True for a Keras 3 model object (not a tf_keras one)."""
    return isinstance(model, keras3().Model)


def load_keras3_model(path: str | os.PathLike, *, trust_model: bool = False, custom_objects: CustomObjects | None = None) -> Any:
    """Load a Keras 3 `.keras` or `.h5` file with Keras 3, in safe mode unless `trust_model` is True.

    Raises `ModelLoadError` that names the option to use when safe mode or a missing custom
    class stops the load.
    """
    keras = keras3()
    path = os.fspath(path)
    if not os.path.exists(path):
        raise ModelLoadError(f"model file {path!r} not found")
    objects = custom_objects.keras3 if custom_objects else {}
    try:
        return keras.saving.load_model(path, custom_objects=objects, compile=False, safe_mode=not trust_model)
    except Exception as err:  # noqa: BLE001 - Keras raises ValueError, TypeError and others on bad files
        message = str(err)
        if "safe_mode" in message or "unsafe" in message.lower():
            raise ModelLoadError(
                f"{path}: Keras safe mode rejected the model because it contains Python code (a Lambda layer "
                "or a serialized function), and edgeforge keeps safe mode on by default. If you trust this "
                "file, pass trust_model=True (CLI --trust-model); otherwise replace the Lambda layer with "
                f"built-in or registered custom layers. Keras said: {message.splitlines()[0]}"
            ) from err
        if "Could not locate" in message or "Unknown" in message:
            raise ModelLoadError(
                f"{path}: the model uses a custom class that is not registered: {message.splitlines()[0]} "
                "Pass the module that defines it as custom_objects_module (CLI --custom-objects-module)"
            ) from err
        raise ModelLoadError(f"{path}: Keras 3 could not load the model: {type(err).__name__}: {message}") from err


def rebuild_in_tf_keras(
    source: str | os.PathLike | Any,
    *,
    check_data: dict[str, np.ndarray] | np.ndarray | None,
    trust_model: bool = False,
    custom_objects_module: str | None = None,
    custom_objects: dict[str, Any] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    flatten_nested: bool = True,
) -> RebuildResult:
    """Rebuild a Keras 3 file or model object as a tf_keras functional model with the same weights.

    `check_data` is one array (single-input models) or arrays by model input name, first axis
    the samples. The rebuilt model must match the original on it within `tolerance` (see
    `OutputCheck`), else `UnsupportedError`. With `check_data=None` the check is skipped and
    a note in the result records that. Subclassed models are traced, which needs `check_data` for input shapes.
    Nested models are inlined unless `flatten_nested` is False (tfmot rejects nested models).
    `trust_model` turns Keras safe mode off for files, which allows Lambda layers.
    """
    objects = collect_custom_objects(module=custom_objects_module, objects=custom_objects)

    if isinstance(source, (str, os.PathLike)):
        original = load_keras3_model(source, trust_model=trust_model, custom_objects=objects)
        source_label = os.fspath(source)
    elif is_keras3_model(source):
        original = source
        source_label = f"Keras 3 model object {source.name!r}"
    else:
        raise InputError(
            f"rebuild_in_tf_keras expected a Keras 3 model or a path to a Keras 3 file, got {type(source).__name__}; "
            "tf_keras models need no rebuild"
        )

    graph, traced = _functional_graph(original, check_data)
    rebuilder = GraphRebuilder(custom_objects=dict(objects.tf_keras), flatten_nested=flatten_nested)
    rebuilt = rebuilder.build_model(graph)
    weights_copied = copy_weights(rebuilder.pairs)

    notes = list(rebuilder.notes)
    if traced:
        notes.append(f"subclassed model {original.name!r} traced into a functional graph")
    check = None
    if check_data is None:
        notes.append("rebuilt model outputs not checked against the original: no check data given")
    else:
        check = compare_outputs(original, rebuilt, check_data, tolerance=tolerance)
        if not check.passed:
            raise UnsupportedError(
                f"{source_label}: the tf_keras rebuild does not match the Keras 3 model: max abs error "
                f"{check.max_abs_error:.3g} over {check.samples} samples exceeds {tolerance:g} x "
                f"max(1, {check.reference_max_abs:.3g}). A layer behaves differently in tf_keras; "
                "rebuild the model in tf_keras yourself or replace the layer"
            )
    import keras

    logger.info("rebuilt %s in tf_keras: %d weight arrays copied", source_label, weights_copied)
    return RebuildResult(
        model=rebuilt,
        source=source_label,
        keras_version=keras.__version__,
        check=check,
        traced_subclassed=traced,
        weights_copied=weights_copied,
        notes=notes,
    )


def _functional_graph(model: Any, check_data: Any) -> tuple[Any, bool]:
    """Return a Keras 3 functional model with the graph of `model`, and whether it was traced."""
    if is_functional(model):
        return model, False
    if is_sequential(model):
        if model._functional is None:
            if check_data is None:
                raise UnsupportedError(
                    f"Sequential model {model.name!r} has no input shape; start it with keras.Input or give check_data"
                )
            model(_as_model_inputs(model, check_data, names=None)[:1])
        return model._functional, False
    if check_data is None:
        raise UnsupportedError(
            f"subclassed model {model.name!r} needs check_data to learn its input shapes before it can be traced"
        )
    if isinstance(check_data, dict):
        specs = {name: ((None, *np.shape(array)[1:]), np.asarray(array).dtype.name) for name, array in check_data.items()}
    else:
        array = np.asarray(check_data)
        specs = ((None, *array.shape[1:]), array.dtype.name)
    return trace_subclassed(model, specs), True


def compare_outputs(original: Any, rebuilt: Any, check_data: dict[str, np.ndarray] | np.ndarray, *, tolerance: float) -> OutputCheck:
    """Run both models on `check_data` and measure the largest output difference."""
    keras = keras3()
    if is_functional(original) or is_sequential(original):
        names = [tensor.name for tensor in original.inputs]
    else:
        names = None
    feed = _as_model_inputs(original, check_data, names=names)
    samples = len(keras.tree.flatten(feed)[0])

    max_error = 0.0
    reference_max = 0.0
    for start in range(0, samples, _CHECK_BATCH):
        batch = keras.tree.map_structure(lambda array: array[start : start + _CHECK_BATCH], feed)
        expected = [keras.ops.convert_to_numpy(out) for out in keras.tree.flatten(original(batch, training=False))]
        actual = [np.asarray(out) for out in keras.tree.flatten(rebuilt(batch, training=False))]
        if len(expected) != len(actual):
            raise UnsupportedError(f"the rebuilt model has {len(actual)} outputs but the original has {len(expected)}")
        for reference, value in zip(expected, actual):
            max_error = max(max_error, float(np.max(np.abs(reference.astype(np.float64) - value))))
            reference_max = max(reference_max, float(np.max(np.abs(reference))))
    passed = max_error <= tolerance * max(1.0, reference_max)
    return OutputCheck(max_error, reference_max, tolerance, samples, passed)


def _as_model_inputs(model: Any, check_data: Any, *, names: list[str] | None) -> Any:
    """Arrange `check_data` in the input structure that `model` is called with."""
    keras = keras3()
    if names is None:
        return {k: np.asarray(v) for k, v in check_data.items()} if isinstance(check_data, dict) else np.asarray(check_data)

    if isinstance(check_data, dict):
        if len(names) == 1 and len(check_data) == 1:
            arrays = [np.asarray(next(iter(check_data.values())))]
        else:
            missing = [name for name in names if name not in check_data]
            if missing:
                raise DataError(
                    f"check data has inputs {sorted(check_data)} but the model expects {names}; missing {missing}. "
                    "Key the arrays by model input name"
                )
            arrays = [np.asarray(check_data[name]) for name in names]
    else:
        if len(names) != 1:
            raise DataError(f"check data is one array but the model has {len(names)} inputs {names}; pass a dict by input name")
        arrays = [np.asarray(check_data)]
    return keras.tree.pack_sequence_as(getattr(model, "_inputs_struct", arrays), arrays) if len(arrays) > 1 else arrays[0]
