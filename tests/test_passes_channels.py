"""Channel pruning: channel groups, the rebuilt model, and the prune_channels pass."""

from __future__ import annotations

import numpy as np
import pytest

from edgeforge._tf import import_tf
from edgeforge.errors import UnsupportedError
from edgeforge.passes.channels import ChannelGraph, count_macs, keep_count, shrink_model
from edgeforge.passes.common import count_params, top1_accuracy
from edgeforge.passes.prune_channels import PruneChannelsConfig, prune_channels
from passes_models import context, digits, residual_cnn, trained_cnn


def _group_of(graph: ChannelGraph, producer: str):
    return next(g for g in graph.groups.values() if producer in g.producers)


def test_graph_joins_residual_add():
    graph = ChannelGraph(residual_cnn())
    group = _group_of(graph, "stem")
    assert sorted(group.producers) == ["sep", "stem"]
    assert not group.pinned


def test_graph_pins_output_layer():
    graph = ChannelGraph(residual_cnn())
    assert _group_of(graph, "logits").pinned
    prunable = {tuple(sorted(g.producers)) for g in graph.prunable_groups()}
    assert prunable == {("sep", "stem"), ("branch_a",), ("mix",), ("hidden",)}


def test_keep_count_rounds_to_multiple():
    assert keep_count(32, 0.5, 8) == 16
    assert keep_count(40, 0.5, 8) == 24
    assert keep_count(16, 0.9, 8) == 8
    assert keep_count(6, 0.5, 8) == 6


def test_shrink_keeping_all_channels_is_exact():
    model = trained_cnn()
    graph = ChannelGraph(model)
    keep = {g.id: np.arange(g.size) for g in graph.prunable_groups()}
    rebuilt = shrink_model(model, keep, graph)
    images = digits()[1].inputs["x"][:64]
    np.testing.assert_allclose(rebuilt.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5)


def test_shrink_drops_zero_channels_exactly():
    """Channels whose every consumer weight is zero can go without changing the outputs."""
    model = residual_cnn()
    graph = ChannelGraph(model)
    hidden = model.get_layer("hidden")
    logits = model.get_layer("logits")
    kernel, bias = logits.get_weights()
    kernel[8:] = 0.0
    logits.set_weights([kernel, bias])
    keep = {_group_of(graph, "hidden").id: np.arange(8)}
    rebuilt = shrink_model(model, keep, graph)
    images = digits()[1].inputs["x"][:32]
    assert rebuilt.get_layer("hidden").units == 8
    assert hidden.units == 32
    np.testing.assert_allclose(rebuilt.predict(images, verbose=0), model.predict(images, verbose=0), atol=1e-5)


def test_prune_channels_exact_parameter_count():
    model = trained_cnn()
    config = PruneChannelsConfig(ratio=0.5, epochs=1)
    result = prune_channels(model, config, context())
    pruned = result.model
    # stem 8, sep 8 (joined by Add), branch_a 24 -> 16, mix 16, hidden 16, logits 10:
    # 80 + 32 + 144 + 32 + 1168 + 80 + 400 + 272 + 170
    assert count_params(model) == 7042
    assert count_params(pruned) == 2378
    assert pruned.get_layer("sep").filters == 8
    assert pruned.get_layer("branch_b").get_weights()[0].shape == (3, 3, 8, 1)
    assert pruned.get_layer("mix").get_weights()[0].shape == (1, 1, 24, 16)
    assert result.changes["macs_before"] == count_macs(model)
    assert result.changes["macs_after"] < result.changes["macs_before"] / 2


def test_prune_channels_model_is_trainable():
    tf = import_tf()
    train, held_out = digits()
    config = PruneChannelsConfig(ratio=0.5, epochs=2, learning_rate=0.005)
    pruned = prune_channels(trained_cnn(), config, context()).model
    assert top1_accuracy(pruned, held_out) > 60.0
    before = [w.copy() for w in pruned.get_weights()]
    pruned.compile(optimizer=tf.keras.optimizers.SGD(0.1), loss="sparse_categorical_crossentropy")
    pruned.fit(train.inputs["x"][:64], train.labels[:64], epochs=1, verbose=0)
    changed = [not np.allclose(a, b) for a, b in zip(before, pruned.get_weights())]
    assert any(changed)


def test_prune_channels_sensitivity_sets_ratios():
    config = PruneChannelsConfig(max_accuracy_drop=30.0, trial_ratios=[0.25, 0.5], epochs=1, sensitivity_samples=256)
    result = prune_channels(trained_cnn(), config, context())
    trials = result.changes["trials"]
    assert trials, "the sensitivity analysis recorded no trial"
    for group in result.changes["groups"]:
        after = group["channels_after"]
        assert after % 8 == 0
        assert after <= group["channels_before"]
    assert count_params(result.model) < count_params(trained_cnn())


def test_prune_channels_flatten_sequential():
    tf = import_tf()
    keras = tf.keras
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        keras.layers.Conv2D(16, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(10),
    ])
    result = prune_channels(model, PruneChannelsConfig(ratio=0.5, epochs=1), context())
    pruned = result.model
    # conv 3*3*1*8+8 = 80; dense 6*6*8*10+10 = 2890
    assert count_params(pruned) == 80 + 2890
    images = digits()[1].inputs["x"][:4]
    assert pruned.predict(images, verbose=0).shape == (4, 10)


def test_prune_channels_rejects_shared_layer():
    keras = import_tf().keras
    inputs = keras.Input((8,))
    shared = keras.layers.Dense(8, name="shared")
    outputs = keras.layers.Dense(10)(keras.layers.Add()([shared(inputs), shared(inputs)]))
    model = keras.Model(inputs, outputs)
    with pytest.raises(UnsupportedError, match="layer 'shared' is called 2 times"):
        ChannelGraph(model)
