"""Rebuild a Keras 3 model's layer graph in tf_keras and copy its weights.

The Keras 3 graph is walked node by node in depth order, the way Keras 3 itself runs a
functional model, and each Keras 3 layer is replaced by a tf_keras layer made from its
translated config. A layer called at several nodes becomes one shared tf_keras layer.
Nested functional and Sequential models are inlined by default, because tfmot's
`quantize_model` rejects a model that contains another model. Subclassed models met inside
the graph are traced into a functional graph first.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from edgeforge.errors import UnsupportedError
from edgeforge.models.keras3_config import translate_layer_config

logger = logging.getLogger(__name__)

_SUBCLASS_HELP = (
    "Make the model functional: build it with keras.Input and keras.Model(inputs, outputs) or "
    "keras.Sequential, use keras.layers layers (not keras.ops calls on tensors) in the graph, and "
    "keep Python control flow that depends on tensor values out of call()"
)


def keras3():
    """Return the Keras 3 module (`import keras` stays Keras 3 even with TF_USE_LEGACY_KERAS=1)."""
    from edgeforge._tf import import_tf

    import_tf()
    import keras

    return keras


def is_functional(model: Any) -> bool:
    """Return True for a Keras 3 functional model (including subclasses built with inputs/outputs)."""
    from keras.src.models.functional import Functional

    return isinstance(model, Functional)


def is_sequential(model: Any) -> bool:
    return isinstance(model, keras3().Sequential)


def describe_layer(layer: Any) -> str:
    """Return "layer 'name' (ClassName)" for error messages."""
    kind = "layer" if isinstance(layer, keras3().layers.Layer) else "operation"
    return f"{kind} {layer.name!r} ({type(layer).__name__})"


def trace_subclassed(model: Any, input_specs: Any) -> Any:
    """Trace a subclassed Keras 3 model into a functional one that shares its layers and weights.

    `input_specs` is one `(shape, dtype)` pair, a list of them or a dict of them by input name;
    shapes include the batch axis. `model.call` runs once on symbolic `keras.Input` tensors, which
    records each sublayer call as a node. Raises `UnsupportedError` with the fix when the call
    cannot run symbolically or when the traced graph misses some of the model's weights.
    """
    keras = keras3()
    label = f"subclassed model {model.name!r} ({type(model).__name__})"

    def make_input(spec, name=None):
        shape, dtype = spec
        return keras.Input(batch_shape=tuple(shape), dtype=str(dtype), name=name)

    if isinstance(input_specs, dict):
        inputs = {name: make_input(spec, name) for name, spec in input_specs.items()}
    elif isinstance(input_specs, list):
        inputs = [make_input(spec) for spec in input_specs]
    else:
        inputs = make_input(input_specs)

    try:
        outputs = model.call(inputs)
        traced = keras.Model(inputs, outputs, name=model.name)
    except Exception as err:  # noqa: BLE001 - any failure of user code means "not traceable"
        raise UnsupportedError(
            f"{label} cannot be traced into a functional graph: {type(err).__name__}: {err}. {_SUBCLASS_HELP}"
        ) from err

    traced_ids = {id(variable) for variable in traced.weights}
    missing = [variable.path for variable in model.weights if id(variable) not in traced_ids]
    if missing:
        raise UnsupportedError(
            f"{label} creates weights outside its layers ({', '.join(missing)}), so a traced graph would "
            "lose them. Move those weights into a layer (a keras.layers.Layer subclass with its own build) "
            f"or: {_SUBCLASS_HELP}"
        )
    return traced


@dataclass
class GraphRebuilder:
    """Build tf_keras layers for the Keras 3 layers of one model and remember the pairs for weight copying."""

    custom_objects: dict[str, type] = field(default_factory=dict)
    flatten_nested: bool = True
    notes: list[str] = field(default_factory=list)
    pairs: list[tuple[Any, Any]] = field(default_factory=list)
    _layers: dict[int, Any] = field(default_factory=dict)
    _submodels: dict[int, Any] = field(default_factory=dict)
    _used_names: set[str] = field(default_factory=set)

    def build_model(self, model: Any, *, name: str | None = None) -> Any:
        """Return a tf_keras functional model with the graph of Keras 3 functional `model`."""
        tf_keras = _tf_keras()
        keras = keras3()
        inputs = [self._make_input(tensor) for tensor in model.inputs]
        self._used_names.update(tensor.name.split(":")[0] for tensor in inputs)
        outputs = self._run_graph(model, inputs)
        input_struct = keras.tree.pack_sequence_as(model._inputs_struct, inputs)
        return tf_keras.Model(input_struct, outputs, name=name or model.name)

    def _make_input(self, keras3_tensor: Any) -> Any:
        tf_keras = _tf_keras()
        history = getattr(keras3_tensor, "_keras_history", None)
        name = history[0].name if history else keras3_tensor.name
        if getattr(keras3_tensor, "sparse", False) or getattr(keras3_tensor, "ragged", False):
            raise UnsupportedError(
                f"input {name!r} is sparse or ragged; edgeforge rebuilds only dense inputs. Feed a dense tensor"
            )
        return tf_keras.Input(batch_shape=tuple(keras3_tensor.shape), dtype=keras3_tensor.dtype, name=name)

    def _run_graph(self, model: Any, inputs: list[Any]) -> Any:
        """Run the nodes of `model` on tf_keras tensors and return the outputs in its structure."""
        keras = keras3()
        tensors = {id(reference): value for reference, value in zip(model.inputs, keras.tree.flatten(inputs))}
        for depth in sorted(model._nodes_by_depth, reverse=True):
            for node in model._nodes_by_depth[depth]:
                if not node.operation or node.is_input:
                    continue
                if any(id(tensor) not in tensors for tensor in node.input_tensors):
                    continue
                args, kwargs = node.arguments.fill_in(tensors)
                outputs = self._call(node.operation, args, kwargs)
                for reference, value in zip(node.outputs, keras.tree.flatten(outputs)):
                    tensors[id(reference)] = value
        flat = [tensors[id(reference)] for reference in model.outputs]
        return keras.tree.pack_sequence_as(model._outputs_struct, flat)

    def _call(self, operation: Any, args: tuple, kwargs: dict) -> Any:
        keras = keras3()
        kwargs = {key: value for key, value in kwargs.items() if value is not None}
        name = operation.name

        if is_sequential(operation):
            if not operation.built or operation._functional is None:
                raise UnsupportedError(
                    f"nested {describe_layer(operation)} is not built; give it a keras.Input as its first layer"
                )
            operation = operation._functional
        elif isinstance(operation, keras.Model) and not is_functional(operation):
            operation = trace_subclassed(operation, _specs_of(args[0]))

        if is_functional(operation):
            if self.flatten_nested:
                return self._run_graph(operation, keras.tree.flatten(args[0]))
            return self._submodel(operation, name)(args[0])

        if not isinstance(operation, keras.layers.Layer):
            raise UnsupportedError(
                f"{describe_layer(operation)} is a keras.ops call in the graph, which tf_keras cannot rebuild. "
                "Replace it with the matching keras.layers layer (for example keras.layers.Add for ops.add)"
            )
        layer = self._layer(operation)
        try:
            return layer(*args, **kwargs)
        except Exception as err:  # noqa: BLE001 - a layer's own code may raise anything
            raise UnsupportedError(
                f"{describe_layer(operation)} failed when called in tf_keras: {type(err).__name__}: {err}. "
                "Replace the layer with one that tf_keras 2.x has, or rebuild the model in tf_keras yourself"
            ) from err

    def _submodel(self, model: Any, name: str) -> Any:
        if id(model) not in self._submodels:
            self._submodels[id(model)] = self.build_model(model, name=name)
        return self._submodels[id(model)]

    def _layer(self, layer: Any) -> Any:
        if id(layer) not in self._layers:
            self._layers[id(layer)] = self._new_layer(layer)
        return self._layers[id(layer)]

    def _new_layer(self, layer: Any) -> Any:
        keras = keras3()
        tf_keras = _tf_keras()
        label = describe_layer(layer)
        name = self._unique_name(layer.name)

        if isinstance(layer, keras.layers.Lambda):
            rebuilt = tf_keras.layers.Lambda(layer.function, arguments=dict(layer.arguments), name=name)
            self.pairs.append((layer, rebuilt))
            return rebuilt

        tf_class = self._tf_keras_class(layer, label)
        config = translate_layer_config(layer.get_config(), tf_class, layer_label=label, notes=self.notes)
        config["name"] = name
        try:
            rebuilt = tf_class.from_config(config)
        except (TypeError, ValueError, KeyError) as err:
            raise UnsupportedError(
                f"{label} could not be created in tf_keras from its Keras 3 config: {err}. "
                "Replace the layer with one that tf_keras 2.x has, or register a tf_keras implementation "
                "(see custom_objects_module)"
            ) from err
        self.pairs.append((layer, rebuilt))
        return rebuilt

    def _tf_keras_class(self, layer: Any, label: str) -> type:
        keras = keras3()
        tf_keras = _tf_keras()
        class_name = type(layer).__name__
        registered = keras.saving.get_registered_name(type(layer))

        for key in (registered, class_name):
            if key in self.custom_objects:
                return self.custom_objects[key]
        twin = tf_keras.saving.get_registered_object(registered)
        if twin is not None:
            return twin
        is_builtin = type(layer).__module__.startswith("keras.")
        if is_builtin and hasattr(tf_keras.layers, class_name):
            return getattr(tf_keras.layers, class_name)

        where = f"keras.layers.{class_name} exists only in Keras 3" if is_builtin else f"custom class {registered!r}"
        raise UnsupportedError(
            f"{label} cannot be rebuilt in tf_keras: {where} and no tf_keras implementation is registered. "
            "Replace the layer with layers that tf_keras 2.x has, or write a tf_keras layer with the same "
            f"weights, register it with tf_keras.saving.register_keras_serializable under the name {registered!r}, "
            "and pass its module as custom_objects_module (CLI --custom-objects-module)"
        )

    def _unique_name(self, name: str) -> str:
        # NOTE: inlining nested models can bring two layers with one name; later ones get a suffix.
        candidate, index = name, 1
        while candidate in self._used_names:
            candidate = f"{name}_{index}"
            index += 1
        if candidate != name:
            self.notes.append(f"layer {name!r} renamed to {candidate!r} because a nested model reused the name")
        self._used_names.add(candidate)
        return candidate


def _specs_of(tensors: Any) -> Any:
    def spec(tensor):
        return (tuple(tensor.shape), tensor.dtype.name)

    if isinstance(tensors, dict):
        return {name: spec(tensor) for name, tensor in tensors.items()}
    if isinstance(tensors, (list, tuple)):
        return [spec(tensor) for tensor in tensors]
    return spec(tensors)


def copy_weights(pairs: list[tuple[Any, Any]]) -> int:
    """Copy weights from each Keras 3 layer to its tf_keras twin and return the number of arrays copied.

    Weights are matched by their short name ("kernel", "moving_mean") when the names are unique on
    both sides, else by order. Every shape must agree.
    """
    copied = 0
    for source, target in pairs:
        source_weights = list(source.weights)
        target_weights = list(target.weights)
        label = describe_layer(source)
        if len(source_weights) != len(target_weights):
            raise UnsupportedError(
                f"{label} has {len(source_weights)} weights in Keras 3 but its tf_keras rebuild has "
                f"{len(target_weights)} ({[w.name for w in target_weights]}); the layer cannot be rebuilt faithfully"
            )
        for source_weight, target_weight in _match_weights(source_weights, target_weights):
            value = source_weight.numpy()
            if tuple(value.shape) != tuple(target_weight.shape):
                raise UnsupportedError(
                    f"{label}: weight {source_weight.path!r} has shape {tuple(value.shape)} but tf_keras expects "
                    f"{tuple(target_weight.shape)} for {target_weight.name!r}; the layer cannot be rebuilt faithfully"
                )
            target_weight.assign(value)
            copied += 1
    return copied


def _match_weights(source: list[Any], target: list[Any]) -> list[tuple[Any, Any]]:
    source_names = [weight.name.split("/")[-1] for weight in source]
    target_names = [weight.name.split("/")[-1].split(":")[0] for weight in target]
    unique = len(set(source_names)) == len(source_names) and len(set(target_names)) == len(target_names)
    if unique and set(source_names) == set(target_names):
        by_name = dict(zip(target_names, target))
        return [(weight, by_name[name]) for weight, name in zip(source, source_names)]
    return list(zip(source, target))


def _tf_keras():
    from edgeforge._tf import keras

    return keras()
