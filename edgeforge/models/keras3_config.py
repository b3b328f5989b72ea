"""Translate one Keras 3 layer's config into arguments a tf_keras (Keras 2) layer accepts.

Keras 3 serializes nested objects as `{"module", "class_name", "config", "registered_name"}`
dicts, stores the dtype as a `DTypePolicy` dict and adds options that tf_keras 2.x layers do
not have (`quantization_config`, `lora_rank`, initializer `input_axes`, ...). Options that are
unset (None, False or empty) are dropped. A set option that tf_keras cannot express raises
`UnsupportedError`, except on initializers, whose values do not matter once weights are copied.
"""

from __future__ import annotations

import inspect
import logging
from typing import Any

from edgeforge.errors import UnsupportedError

logger = logging.getLogger(__name__)

# Keyword arguments that tf_keras's base Layer takes through **kwargs.
_BASE_LAYER_KWARGS = frozenset(
    {
        "name",
        "trainable",
        "dtype",
        "dynamic",
        "input_dim",
        "input_shape",
        "batch_input_shape",
        "batch_size",
        "weights",
        "activity_regularizer",
        "autocast",
    }
)

# Keras 3 module of a serialized object -> name of the tf_keras module holding the same classes.
_OBJECT_MODULES = {
    "keras.initializers": "initializers",
    "keras.regularizers": "regularizers",
    "keras.constraints": "constraints",
}

_DTYPE_POLICY_CLASSES = frozenset({"DTypePolicy", "FloatDTypePolicy"})

# Options that Keras 3 renamed, by tf_keras class: Keras 3 name -> tf_keras name.
_RENAMED_OPTIONS = {"LeakyReLU": {"negative_slope": "alpha"}}


def is_unset(value: Any) -> bool:
    """Return True for the values Keras uses to mean "option not used"."""
    return value is None or value is False or (isinstance(value, (list, tuple, dict)) and not value)


def accepted_arguments(cls: type) -> tuple[frozenset[str], bool]:
    """Return the keyword arguments `cls(...)` accepts and whether it also takes arbitrary **kwargs.

    The constructors of a class and its parents are read up to the first one that does not pass
    **kwargs on, because tf_keras layers forward unknown keywords to their parent class.
    """
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            parameters = inspect.signature(init).parameters
        except (TypeError, ValueError):
            return frozenset(names), True
        names.update(name for name, p in parameters.items() if p.kind is p.KEYWORD_ONLY or p.kind is p.POSITIONAL_OR_KEYWORD)
        if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            return frozenset(names - {"self"}), False
        if klass.__name__ == "Layer":
            return frozenset((names | _BASE_LAYER_KWARGS) - {"self"}), False
    return frozenset(names - {"self"}), True


def translate_layer_config(config: dict, tf_keras_class: type, *, layer_label: str, notes: list[str]) -> dict:
    """Return `config` of a Keras 3 layer rewritten for `tf_keras_class.from_config`.

    `layer_label` names the layer in error messages, e.g. "layer 'dense_1' (Dense)".
    Dropped options are appended to `notes` as sentences.
    """
    renames = _RENAMED_OPTIONS.get(tf_keras_class.__name__, {})
    translated = {
        renames.get(key, key): _translate_value(value, layer_label=layer_label, key=key, notes=notes) for key, value in config.items()
    }
    accepted, takes_any = accepted_arguments(tf_keras_class)
    if takes_any:
        return translated

    kept = {}
    for key, value in translated.items():
        if key in accepted:
            kept[key] = value
        elif is_unset(value):
            logger.debug("%s: dropped unset Keras 3 option %s", layer_label, key)
        else:
            raise UnsupportedError(
                f"{layer_label}: option {key}={value!r} has no equivalent in tf_keras {tf_keras_class.__name__}, "
                "so the layer cannot be rebuilt for tf_keras. Remove the option from the layer "
                "(set it to its default) and save the model again"
            )
    return kept


def _translate_value(value: Any, *, layer_label: str, key: str, notes: list[str]) -> Any:
    if isinstance(value, list):
        return [_translate_value(item, layer_label=layer_label, key=key, notes=notes) for item in value]
    if not isinstance(value, dict):
        return value
    if "class_name" not in value or "config" not in value:
        return {name: _translate_value(item, layer_label=layer_label, key=name, notes=notes) for name, item in value.items()}
    return _translate_object(value, layer_label=layer_label, key=key, notes=notes)


def _translate_object(serialized: dict, *, layer_label: str, key: str, notes: list[str]) -> Any:
    """Turn one Keras 3 serialized object into a tf_keras object or tf_keras serialized dict."""
    tf_keras = _tf_keras()
    class_name = serialized["class_name"]
    config = serialized.get("config") or {}
    module = serialized.get("module") or ""

    if class_name in _DTYPE_POLICY_CLASSES:
        return config["name"]
    if class_name.endswith("DTypePolicy"):
        raise UnsupportedError(
            f"{layer_label}: dtype policy {class_name} ({config.get('name')!r}) is a Keras 3 quantized "
            "policy that tf_keras does not have. Load the float model before Keras 3 quantization"
        )

    if module in _OBJECT_MODULES:
        tf_module = getattr(tf_keras, _OBJECT_MODULES[module])
        tf_class = getattr(tf_module, class_name, None)
        if tf_class is None:
            raise UnsupportedError(
                f"{layer_label}: {key} uses {module}.{class_name}, which tf_keras does not have. "
                f"Use one of the {_OBJECT_MODULES[module]} that tf_keras 2.x provides"
            )
        return tf_class(**_filter_object_config(config, tf_class, module=module, layer_label=layer_label, key=key, notes=notes))

    nested_class = getattr(tf_keras.layers, class_name, None)
    if (module.startswith("keras.layers") or module == "keras") and nested_class is not None:
        # A layer nested in a wrapper (Bidirectional, TimeDistributed): tf_keras deserializes it
        # from a serialized dict, so translated objects go back to their serialized form.
        nested = translate_layer_config(config, nested_class, layer_label=f"{layer_label} inner {class_name}", notes=notes)
        serialized_config = {
            name: tf_keras.saving.serialize_keras_object(value) if hasattr(value, "get_config") else value
            for name, value in nested.items()
        }
        return {"class_name": class_name, "config": serialized_config}

    raise UnsupportedError(
        f"{layer_label}: {key} is a {module or 'custom'} object {class_name!r} that edgeforge cannot "
        "translate to tf_keras. Replace it with a built-in Keras object or rebuild the model in tf_keras yourself"
    )


def _filter_object_config(config: dict, tf_class: type, *, module: str, layer_label: str, key: str, notes: list[str]) -> dict:
    accepted, takes_any = accepted_arguments(tf_class)
    if takes_any:
        return dict(config)
    kept = {}
    for name, value in config.items():
        if name in accepted:
            kept[name] = value
        elif is_unset(value):
            continue
        elif module == "keras.initializers":
            notes.append(f"{layer_label}: initializer option {name}={value!r} dropped (weights are copied, so it has no effect)")
        else:
            raise UnsupportedError(
                f"{layer_label}: {key} option {name}={value!r} has no equivalent in tf_keras {tf_class.__name__}. "
                f"Remove the option or use a {module} object that tf_keras 2.x provides"
            )
    return kept


def _tf_keras():
    from edgeforge._tf import keras

    return keras()
