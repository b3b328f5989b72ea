"""Collect custom layers and objects from a Python module the user names.

Importing the module runs its code, which is how `keras.saving.register_keras_serializable`
and `tf_keras.saving.register_keras_serializable` decorators register the classes. The
module's public classes are also sorted into the engine they belong to: Keras 3 classes are
given to `keras.saving.load_model`, tf_keras classes are the rebuild targets of Keras 3 layers
(looked up by registered name, e.g. "demo>Scale", then by class name).
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import Any

from edgeforge.errors import ModelLoadError


@dataclass(frozen=True)
class CustomObjects:
    """Custom objects split by engine: `keras3` for loading, `tf_keras` for rebuilding."""

    keras3: dict[str, Any] = field(default_factory=dict)
    tf_keras: dict[str, type] = field(default_factory=dict)
    module: str | None = None


def collect_custom_objects(*, module: str | None = None, objects: dict[str, Any] | None = None) -> CustomObjects:
    """Import `module` (a dotted name such as "mypkg.layers") and sort its classes and `objects` by engine.

    Raises `ModelLoadError` when the module cannot be imported.
    """
    found: dict[str, Any] = {}
    if module is not None:
        try:
            imported = importlib.import_module(module)
        except Exception as err:  # noqa: BLE001 - user code may raise anything on import
            raise ModelLoadError(
                f"custom objects module {module!r} could not be imported: {type(err).__name__}: {err}. "
                "Give a dotted module name that `python -c 'import NAME'` imports from the current folder or PYTHONPATH"
            ) from err
        found.update(
            (name, value)
            for name, value in vars(imported).items()
            if not name.startswith("_") and inspect.isclass(value) and value.__module__ == imported.__name__
        )
    found.update(objects or {})

    from edgeforge._tf import keras as tf_keras_module
    from edgeforge.models.keras3_rebuild import keras3

    keras = keras3()
    tf_keras = tf_keras_module()
    keras3_bases = (keras.layers.Layer, keras.initializers.Initializer, keras.regularizers.Regularizer, keras.constraints.Constraint)

    keras3_objects: dict[str, Any] = {}
    tf_keras_objects: dict[str, type] = {}
    for name, value in found.items():
        if inspect.isclass(value) and issubclass(value, tf_keras.layers.Layer):
            tf_keras_objects[name] = value
            tf_keras_objects[tf_keras.saving.get_registered_name(value)] = value
        elif inspect.isclass(value) and issubclass(value, keras3_bases):
            keras3_objects[name] = value
        elif callable(value):
            keras3_objects[name] = value
    return CustomObjects(keras3=keras3_objects, tf_keras=tf_keras_objects, module=module)
