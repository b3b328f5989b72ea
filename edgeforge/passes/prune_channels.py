"""Channel (filter) pruning that rebuilds a smaller Keras model, then fine-tunes it.

Whole filters of Conv1D/Conv2D/SeparableConv2D and units of Dense are removed,
with their consumers (BatchNormalization, DepthwiseConv2D, the next layer's input
channels) sliced to match, so the emitted artifact has fewer weights and needs
fewer operations. How much each channel group loses is set by a sensitivity
analysis: every group is pruned alone at each trial ratio and the largest ratio
whose accuracy drop stays under the tolerance wins.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from edgeforge.data.dataset import Dataset
from edgeforge.passes.base import PassContext, PassResult, register_pass
from edgeforge.passes.channels import ChannelGraph, channel_importance, count_macs, keep_count, shrink_model
from edgeforge.passes.common import predict, require_training_data, top1_agreement
from edgeforge.passes.training import TrainSettings, train_with_teacher

log = logging.getLogger(__name__)


@dataclass
class PruneChannelsConfig:
    """Parameters of the `prune_channels` pass.

    ratio: float or None, default None. Fraction of channels to remove from every
        prunable group; None runs the sensitivity analysis instead.
    trial_ratios: list of float, default [0.25, 0.5, 0.75]. Ratios tried per group
        in the sensitivity analysis.
    max_accuracy_drop: float, default 5.0, percentage points. Largest drop of one
        group's trial, measured on training samples before fine-tuning: accuracy
        with labels, top-1 agreement with the unpruned model without them.
        Fine-tuning recovers much of the drop, so the tolerance is wider than the
        final budget. The report shows the accuracy after fine-tuning.
    max_ratio: float, default 0.75. Upper bound of any group's ratio.
    norm: "l1" or "l2", default "l1". Filter weight norm used as importance.
    channel_multiple: int, default 8, channels. Kept counts round to this multiple
        because runtime SIMD kernels process channels in blocks of 4 to 16.
    sensitivity_samples: int, default 512, samples. Training samples used to score trials.
    epochs: int, default 3. Fine-tuning epochs after pruning.
    steps_per_epoch: int or None, default None (one pass over the data).
    batch_size: int, default 64, samples.
    learning_rate: float, default 0.001. Adam learning rate for fine-tuning.
    alpha: float, default 0.5. Weight of the hard-label loss while fine-tuning; the
        rest distils from the unpruned model, which is the only target without labels.
    temperature: float, default 4.0. Softmax temperature of the distillation term.
    """

    ratio: float | None = None
    trial_ratios: list[float] = field(default_factory=lambda: [0.25, 0.5, 0.75])
    max_accuracy_drop: float = 5.0
    max_ratio: float = 0.75
    norm: Literal["l1", "l2"] = "l1"
    channel_multiple: int = 8
    sensitivity_samples: int = 512
    epochs: int = 3
    steps_per_epoch: int | None = None
    batch_size: int = 64
    learning_rate: float = 0.001
    alpha: float = 0.5
    temperature: float = 4.0

    def __post_init__(self) -> None:
        for ratio in ([self.ratio] if self.ratio is not None else []) + list(self.trial_ratios) + [self.max_ratio]:
            if not 0.0 <= ratio < 1.0:
                raise ValueError(f"ratios must be in [0, 1), found {ratio}")
        if self.channel_multiple < 1:
            raise ValueError(f"channel_multiple must be >= 1, found {self.channel_multiple}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], found {self.alpha}")


def _keep_indices(model: Any, graph: ChannelGraph, ratios: dict[int, float], config: PruneChannelsConfig) -> dict[int, np.ndarray]:
    keep = {}
    for group in graph.prunable_groups():
        ratio = ratios.get(group.id, 0.0)
        count = keep_count(group.size, ratio, config.channel_multiple)
        if count >= group.size:
            continue
        importance = channel_importance(graph.model, group.producers, config.norm)
        keep[group.id] = np.sort(np.argsort(-importance, kind="stable")[:count])
    return keep


def _score(model: Any, reference: np.ndarray, data: Dataset) -> float:
    """Return accuracy with labels, else top-1 agreement with the reference outputs, in percent."""
    outputs = predict(model, data)
    if data.labels is not None:
        return float(np.mean(np.argmax(outputs, axis=-1) == data.labels) * 100.0)
    return top1_agreement(reference, outputs)


def sensitivity_ratios(graph: ChannelGraph, data: Dataset, config: PruneChannelsConfig) -> tuple[dict[int, float], list[dict]]:
    """Return the ratio per group and one row per trial (group, ratio, score, drop)."""
    model = graph.model
    reference = predict(model, data)
    baseline = _score(model, reference, data)
    ratios: dict[int, float] = {}
    trials = []
    for group in graph.prunable_groups():
        chosen = 0.0
        for ratio in sorted(r for r in config.trial_ratios if r <= config.max_ratio):
            keep = _keep_indices(model, graph, {group.id: ratio}, config)
            if group.id not in keep:
                continue
            score = _score(shrink_model(model, keep, graph), reference, data)
            drop = baseline - score
            trials.append({"group": group.producers, "ratio": ratio, "score": round(score, 3), "drop_points": round(drop, 3)})
            if drop > config.max_accuracy_drop:
                break
            chosen = ratio
        ratios[group.id] = chosen
        log.info("prune_channels: group %s ratio %.2f", "+".join(group.producers), chosen)
    return ratios, trials


@register_pass("prune_channels", PruneChannelsConfig)
def prune_channels(model: Any, config: PruneChannelsConfig, context: PassContext) -> PassResult:
    """Remove whole channels by weight-norm importance and fine-tune the smaller model."""
    train = require_training_data(context, "prune_channels")
    graph = ChannelGraph(model)
    notes: list[str] = []
    groups = graph.prunable_groups()
    if not groups:
        notes.append("no prunable channel group: every group feeds a model output or a layer edgeforge does not rewrite")
        return PassResult(model, {"groups": []}, notes)

    trials: list[dict] = []
    if config.ratio is not None:
        ratios = {group.id: min(config.ratio, config.max_ratio) for group in groups}
    else:
        rng = np.random.default_rng(context.seed)
        count = min(config.sensitivity_samples, len(train))
        sample = train.take(np.sort(rng.choice(len(train), size=count, replace=False)))
        ratios, trials = sensitivity_ratios(graph, sample, config)

    keep = _keep_indices(graph.model, graph, ratios, config)
    if not keep:
        notes.append("no group could lose channels within the accuracy-drop tolerance; model unchanged")
        return PassResult(model, {"trials": trials}, notes)

    pruned = shrink_model(graph.model, keep, graph)
    settings = TrainSettings(
        epochs=config.epochs, steps_per_epoch=config.steps_per_epoch, batch_size=config.batch_size,
        learning_rate=config.learning_rate, temperature=config.temperature, alpha=config.alpha, seed=context.seed,
    )
    train_with_teacher(pruned, graph.model, train, settings=settings, pass_name="prune_channels")

    changes = {
        "macs_before": count_macs(graph.model),
        "macs_after": count_macs(pruned),
        "groups": [
            {
                "layers": group.producers,
                "channels_before": group.size,
                "channels_after": int(len(keep[group.id])) if group.id in keep else group.size,
            }
            for group in groups
        ],
        "trials": trials,
    }
    pinned = [g for g in graph.groups.values() if g.pinned and g.producers]
    for group in pinned:
        notes.append(f"kept every channel of {'+'.join(group.producers)}: {group.reasons[0]}")
    return PassResult(pruned, changes, notes)
