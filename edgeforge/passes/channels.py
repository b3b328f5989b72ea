"""Channel groups of a Keras functional model, and rebuilding the model with fewer channels.

A channel group is a set of layer outputs whose channels must be removed
together: the filters of a Conv2D and of every layer joined to it by Add,
Multiply or another element-wise merge share one group. Concatenate lays groups
side by side. Layers edgeforge does not understand, model inputs and model
outputs pin the groups they touch, so those keep every channel.

Both channel pruning (remove the least important channels) and distillation
(derive a thinner student) rebuild the model through `shrink_model`.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgeforge._tf import import_tf
from edgeforge.errors import UnsupportedError

log = logging.getLogger(__name__)

# Layers whose output channels equal their input channels and carry no per-channel weights.
_PASS_THROUGH = (
    "Activation", "ReLU", "LeakyReLU", "ELU", "Dropout", "SpatialDropout1D", "SpatialDropout2D",
    "GaussianNoise", "GaussianDropout", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D",
    "AveragePooling2D", "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
    "GlobalMaxPooling2D", "ZeroPadding1D", "ZeroPadding2D", "Cropping1D", "Cropping2D",
    "UpSampling1D", "UpSampling2D", "ActivityRegularization",
)
_ELEMENTWISE_MERGE = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum")
# Layers that create channels: their last kernel axis is the output channel axis.
_PRODUCERS = ("Conv1D", "Conv2D", "Dense", "SeparableConv1D", "SeparableConv2D")


@dataclass
class ChannelGroup:
    """Output channels of `producers` that are kept or removed together."""

    id: int
    size: int
    producers: list[str] = field(default_factory=list)
    pinned: bool = False
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Layout:
    """Channel axis of a tensor: groups side by side, repeated `spatial` times after a Flatten.

    After Flatten of an (H, W, C) tensor, feature `s * C + c` is channel `c` at
    position `s`, so a channel mask tiles `spatial = H * W` times.
    """

    groups: tuple[int, ...]
    spatial: int = 1


class ChannelGraph:
    """Channel groups and the layout of every layer's input and output."""

    def __init__(self, model: Any) -> None:
        self.model = as_functional(model)
        self._parent: dict[int, int] = {}
        self.groups: dict[int, ChannelGroup] = {}
        self.output_layout: dict[str, Layout] = {}
        self.input_layouts: dict[str, list[Layout]] = {}
        self._analyse()

    # union-find over group ids
    def find(self, group_id: int) -> int:
        while self._parent[group_id] != group_id:
            self._parent[group_id] = self._parent[self._parent[group_id]]
            group_id = self._parent[group_id]
        return group_id

    def _new_group(self, size: int, producer: str | None = None, pinned_reason: str = "") -> int:
        group_id = len(self._parent)
        self._parent[group_id] = group_id
        group = ChannelGroup(group_id, size)
        if producer:
            group.producers.append(producer)
        if pinned_reason:
            group.pinned = True
            group.reasons.append(pinned_reason)
        self.groups[group_id] = group
        return group_id

    def _union(self, first: int, second: int) -> None:
        root_a, root_b = self.find(first), self.find(second)
        if root_a == root_b:
            return
        group_a, group_b = self.groups[root_a], self.groups[root_b]
        self._parent[root_b] = root_a
        group_a.producers.extend(group_b.producers)
        group_a.reasons.extend(group_b.reasons)
        group_a.pinned = group_a.pinned or group_b.pinned
        del self.groups[root_b]

    def _pin(self, layout: Layout, reason: str) -> None:
        for group_id in layout.groups:
            group = self.groups[self.find(group_id)]
            group.pinned = True
            group.reasons.append(reason)

    def group(self, group_id: int) -> ChannelGroup:
        return self.groups[self.find(group_id)]

    def prunable_groups(self) -> list[ChannelGroup]:
        """Return the groups whose channels may be removed, in creation order."""
        return [g for g in sorted(self.groups.values(), key=lambda g: g.id) if not g.pinned and g.producers]

    def _analyse(self) -> None:
        config = self.model.get_config()
        for layer_config in config["layers"]:
            name = layer_config["name"]
            layer = self.model.get_layer(name)
            nodes = layer_config["inbound_nodes"]
            if len(nodes) > 1:
                raise UnsupportedError(
                    f"layer {name!r} is called {len(nodes)} times; channel rewriting needs each layer "
                    "called once, so give shared layers their own copies"
                )
            parents = _parent_names(nodes, set(self.output_layout))
            inputs = [self.output_layout[parent] for parent in parents]
            self.input_layouts[name] = inputs
            self.output_layout[name] = self._layout_of(layer, inputs)

        for output_name in self.model.output_names:
            self._pin(self.output_layout[output_name], f"feeds model output {output_name!r}")

    def _layout_of(self, layer: Any, inputs: list[Layout]) -> Layout:
        kind = type(layer).__name__
        name = layer.name
        if kind == "InputLayer":
            return Layout((self._new_group(_channels(layer.output), pinned_reason="model input"),))

        if len(inputs) != 1 and kind not in _ELEMENTWISE_MERGE + ("Concatenate",):
            return self._opaque(layer, inputs, f"{kind} {name!r} has {len(inputs)} inputs")

        if kind in _PRODUCERS and getattr(layer, "groups", 1) == 1:
            spatial_ok = inputs[0].spatial == 1 or kind == "Dense"
            if not spatial_ok:
                return self._opaque(layer, inputs, f"{kind} {name!r} follows a Flatten")
            return Layout((self._new_group(_channels(layer.output), producer=name),))

        if kind == "DepthwiseConv2D" or kind == "BatchNormalization":
            if kind == "DepthwiseConv2D" and layer.depth_multiplier != 1:
                return self._opaque(layer, inputs, f"DepthwiseConv2D {name!r} has depth_multiplier != 1")
            if kind == "BatchNormalization" and _axis_is_not_last(layer):
                return self._opaque(layer, inputs, f"BatchNormalization {name!r} normalises a non-last axis")
            return inputs[0]

        if kind in _PASS_THROUGH:
            return inputs[0]

        if kind == "Flatten" and inputs[0].spatial == 1:
            spatial = int(np.prod(layer.input_shape[1:-1])) if len(layer.input_shape) > 2 else 1
            return Layout(inputs[0].groups, spatial)

        if kind in _ELEMENTWISE_MERGE:
            return self._merge(layer, inputs)

        if kind == "Concatenate" and layer.axis in (-1, len(layer.output_shape) - 1):
            if any(layout.spatial != 1 for layout in inputs):
                return self._opaque(layer, inputs, f"Concatenate {name!r} joins flattened tensors")
            return Layout(tuple(g for layout in inputs for g in layout.groups))

        return self._opaque(layer, inputs, f"layer {name!r} of type {kind} is not rewritten by edgeforge")

    def _merge(self, layer: Any, inputs: list[Layout]) -> Layout:
        shapes = [tuple(self.group(g).size for g in layout.groups) for layout in inputs]
        spatials = {layout.spatial for layout in inputs}
        if len(set(shapes)) == 1 and len(spatials) == 1:
            for layout in inputs[1:]:
                for first, other in zip(inputs[0].groups, layout.groups):
                    self._union(first, other)
            return inputs[0]
        # Broadcasting merges or different concatenation patterns: keep every channel.
        return self._opaque(layer, inputs, f"{type(layer).__name__} {layer.name!r} joins differently laid out inputs")

    def _opaque(self, layer: Any, inputs: list[Layout], reason: str) -> Layout:
        for layout in inputs:
            self._pin(layout, reason)
        return Layout((self._new_group(_channels(layer.output), pinned_reason=reason),))


def _channels(tensor: Any) -> int:
    shape = tensor.shape
    if isinstance(shape, list):
        shape = shape[0]
    last = shape[-1] if len(shape) else 1
    return int(last) if last is not None else 0


def _axis_is_not_last(layer: Any) -> bool:
    axis = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    rank = len(layer.input_shape)
    return list(axis) not in ([-1], [rank - 1])


def _parent_names(nodes: list, known: set[str]) -> list[str]:
    """Return the names of the layers feeding a layer's only call, in argument order."""
    names: list[str] = []

    def visit(item: Any) -> None:
        if isinstance(item, (list, tuple)):
            if len(item) >= 3 and isinstance(item[0], str) and isinstance(item[1], int) and item[0] in known:
                names.append(item[0])
                return
            for part in item:
                visit(part)
        elif isinstance(item, dict):
            for value in item.values():
                visit(value)

    for node in nodes:
        visit(node)
    return names


def as_functional(model: Any) -> Any:
    """Return `model` as a functional model; a Sequential model is copied and rewired as one.

    The copy keeps the caller's Sequential layers free of the extra call nodes
    that rewiring adds.
    """
    keras = import_tf().keras
    if isinstance(model, keras.Sequential):
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        inputs = keras.Input(batch_shape=model.input_shape, name=model.input_names[0])
        outputs = inputs
        for layer in copy.layers:
            outputs = layer(outputs)
        return keras.Model(inputs, outputs, name=model.name)
    if not getattr(model, "_is_graph_network", False):
        raise UnsupportedError(
            f"model {model.name!r} is a subclassed Keras model; channel rewriting needs a "
            "functional or Sequential model"
        )
    return model


def channel_importance(model: Any, producers: list[str], norm: str) -> np.ndarray:
    """Return one importance score per output channel, summed over the producers of a group.

    Each producer's filter norms are divided by their mean first, so a wide layer
    with small weights does not outvote a narrow one.
    """
    total = None
    for name in producers:
        layer = model.get_layer(name)
        kernel = layer.get_weights()[1] if type(layer).__name__.startswith("Separable") else layer.get_weights()[0]
        flat = kernel.reshape(-1, kernel.shape[-1])
        scores = np.abs(flat).sum(axis=0) if norm == "l1" else np.sqrt(np.square(flat).sum(axis=0))
        scores = scores / max(float(scores.mean()), 1e-12)
        total = scores if total is None else total + scores
    return total


def keep_count(size: int, ratio: float, multiple: int) -> int:
    """Return how many of `size` channels to keep when removing `ratio` of them.

    The count rounds up to a multiple of `multiple` (SIMD kernels process
    channels in blocks), so it never removes more than asked, and stays between
    `multiple` and `size`.
    """
    if size <= multiple:
        return size
    target = size * (1.0 - ratio)
    kept = math.ceil(target / multiple - 1e-9) * multiple
    return int(min(size, max(multiple, kept)))


def _expand(layouts: list[Layout], keep: dict[int, np.ndarray], graph: ChannelGraph) -> np.ndarray | None:
    """Return the kept indices along the channel axis of a single-input layer, or None for all."""
    layout = layouts[0]
    indices = []
    offset = 0
    changed = False
    for group_id in layout.groups:
        group = graph.group(group_id)
        kept = keep.get(group.id)
        if kept is None:
            kept = np.arange(group.size)
        else:
            changed = True
        indices.append(kept + offset)
        offset += group.size
    if not changed:
        return None
    per_position = np.concatenate(indices)
    if layout.spatial == 1:
        return per_position
    return np.concatenate([per_position + position * offset for position in range(layout.spatial)])


def shrink_model(model: Any, keep: dict[int, np.ndarray], graph: ChannelGraph, *, copy_weights: bool = True) -> Any:
    """Return a new functional model with only the `keep` channels of each group.

    `keep` maps a group id to the sorted channel indices to keep. Weights are
    copied by slicing when `copy_weights`; otherwise the new layers keep their
    fresh initialisation. The original model is not modified.
    """
    keras = import_tf().keras
    source = graph.model
    keep = {graph.find(g): np.asarray(sorted(v)) for g, v in keep.items()}
    out_keep: dict[str, np.ndarray] = {}
    for name in source.output_names + [layer.name for layer in source.layers]:
        layout = graph.output_layout[name]
        if len(layout.groups) == 1 and graph.find(layout.groups[0]) in keep:
            out_keep[name] = keep[graph.find(layout.groups[0])]

    def clone_layer(layer: Any) -> Any:
        config = layer.get_config()
        kind = type(layer).__name__
        if kind in _PRODUCERS and layer.name in out_keep:
            key = "units" if kind == "Dense" else "filters"
            config[key] = int(len(out_keep[layer.name]))
        return type(layer).from_config(config)

    rebuilt = keras.models.clone_model(source, clone_function=clone_layer)
    if copy_weights:
        for layer in source.layers:
            weights = layer.get_weights()
            if not weights:
                continue
            in_keep = _expand(graph.input_layouts[layer.name], keep, graph) if graph.input_layouts[layer.name] else None
            sliced = _slice_weights(layer, weights, in_keep, out_keep.get(layer.name))
            rebuilt.get_layer(layer.name).set_weights(sliced)
    return rebuilt


def _slice_weights(layer: Any, weights: list[np.ndarray], in_keep: np.ndarray | None, out_keep: np.ndarray | None) -> list[np.ndarray]:
    kind = type(layer).__name__
    if kind in ("Conv1D", "Conv2D", "Dense"):
        kernel = weights[0]
        if in_keep is not None:
            kernel = np.take(kernel, in_keep, axis=-2)
        if out_keep is not None:
            kernel = np.take(kernel, out_keep, axis=-1)
        rest = [w if out_keep is None else np.take(w, out_keep, axis=-1) for w in weights[1:]]
        return [kernel, *rest]
    if kind in ("SeparableConv1D", "SeparableConv2D"):
        depthwise, pointwise, *bias = weights
        multiplier = depthwise.shape[-1]
        if in_keep is not None:
            depthwise = np.take(depthwise, in_keep, axis=-2)
            pointwise_in = (in_keep[:, None] * multiplier + np.arange(multiplier)[None, :]).reshape(-1)
            pointwise = np.take(pointwise, pointwise_in, axis=-2)
        if out_keep is not None:
            pointwise = np.take(pointwise, out_keep, axis=-1)
            bias = [np.take(b, out_keep, axis=-1) for b in bias]
        return [depthwise, pointwise, *bias]
    if kind == "DepthwiseConv2D":
        if in_keep is None:
            return weights
        return [np.take(weights[0], in_keep, axis=-2), *[np.take(w, in_keep, axis=-1) for w in weights[1:]]]
    if kind == "BatchNormalization":
        return weights if in_keep is None else [np.take(w, in_keep, axis=-1) for w in weights]
    if in_keep is not None or out_keep is not None:
        raise UnsupportedError(f"cannot slice the weights of layer {layer.name!r} of type {kind}")
    return weights


def count_macs(model: Any) -> int:
    """Return the multiply-accumulate count of one inference, from layer shapes.

    Counts Conv1D/2D, DepthwiseConv2D, SeparableConv1D/2D and Dense; other layers
    are cheap by comparison and are left out.
    """
    total = 0
    for layer in as_functional(model).layers:
        kind = type(layer).__name__
        if kind not in _PRODUCERS + ("DepthwiseConv2D",):
            continue
        output_shape = layer.output_shape
        positions = int(np.prod([d for d in output_shape[1:-1] if d is not None])) if len(output_shape) > 2 else 1
        weights = layer.get_weights()
        if kind in ("Conv1D", "Conv2D", "Dense"):
            kernel = weights[0]
            total += positions * int(np.prod(kernel.shape))
        elif kind == "DepthwiseConv2D":
            total += positions * int(np.prod(weights[0].shape))
        else:
            depthwise, pointwise = weights[0], weights[1]
            total += positions * (int(np.prod(depthwise.shape)) + int(np.prod(pointwise.shape)))
    return int(total)
