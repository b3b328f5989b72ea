"""Knowledge distillation: train a smaller student to match the input model (the teacher)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from edgeforge._tf import import_tf
from edgeforge.errors import ModelLoadError, UnsupportedError
from edgeforge.passes.base import PassContext, PassResult, register_pass
from edgeforge.passes.channels import ChannelGraph, channel_importance, count_macs, keep_count, shrink_model
from edgeforge.passes.common import require_training_data, seed_everything
from edgeforge.passes.training import TrainSettings, distillation_loss, train_with_teacher

log = logging.getLogger(__name__)


@dataclass
class DistillConfig:
    """Parameters of the `distill` pass.

    width: float, default 0.5. Channel and unit factor of a derived student: every
        prunable channel group keeps `width` of its channels, rounded to
        `channel_multiple`. Ignored when `student_path` is set.
    student_path: str or None, default None. Keras model file (.keras, .h5 or
        SavedModel folder) to use as the student instead of deriving one.
    init: "teacher" or "random", default "teacher". A derived student starts from
        the teacher's highest-norm channels, or from fresh random weights.
    channel_multiple: int, default 8, channels. Derived channel counts round to this
        multiple because runtime SIMD kernels process channels in blocks.
    temperature: float, default 4.0. Softmax temperature T of the soft loss.
    alpha: float, default 0.5. Weight of the hard-label cross-entropy; the soft loss
        T^2 * KL(teacher_T || student_T) gets 1 - alpha. Without labels only the soft
        loss is used.
    feature_layers: list of str, default []. Layer names present in teacher and
        student whose outputs are matched by mean squared error through a learned
        1x1 projection, which is discarded after training.
    feature_weight: float, default 1.0. Weight of each feature-matching term.
    epochs: int, default 10. Training epochs.
    steps_per_epoch: int or None, default None (one pass over the data per epoch).
    batch_size: int, default 64, samples.
    learning_rate: float, default 0.003. Adam learning rate.
    """

    width: float = 0.5
    student_path: str | None = None
    init: Literal["teacher", "random"] = "teacher"
    channel_multiple: int = 8
    temperature: float = 4.0
    alpha: float = 0.5
    feature_layers: list[str] = field(default_factory=list)
    feature_weight: float = 1.0
    epochs: int = 10
    steps_per_epoch: int | None = None
    batch_size: int = 64
    learning_rate: float = 0.003

    def __post_init__(self) -> None:
        if not 0.0 < self.width <= 1.0:
            raise ValueError(f"width must be in (0, 1], found {self.width}")
        if not 0.0 <= self.alpha <= 1.0:
            raise ValueError(f"alpha must be in [0, 1], found {self.alpha}")
        if self.temperature <= 0.0:
            raise ValueError(f"temperature must be > 0, found {self.temperature}")


def derive_student(teacher: Any, *, width: float, channel_multiple: int, init: str, seed: int) -> Any:
    """Return a model of the teacher's architecture with `width` of the channels of each prunable group."""
    graph = ChannelGraph(teacher)
    keep = {}
    for group in graph.prunable_groups():
        count = keep_count(group.size, 1.0 - width, channel_multiple)
        if count >= group.size:
            continue
        if init == "teacher":
            importance = channel_importance(graph.model, group.producers, "l1")
            keep[group.id] = np.sort(np.argsort(-importance, kind="stable")[:count])
        else:
            keep[group.id] = np.arange(count)
    seed_everything(seed)
    return shrink_model(graph.model, keep, graph, copy_weights=init == "teacher")


def load_student(path: str) -> Any:
    """Load a student model file with tf_keras, without its training configuration."""
    tf = import_tf()
    if not Path(path).exists():
        raise ModelLoadError(f"student model not found: {path}; check the distill pass's student_path")
    try:
        return tf.keras.models.load_model(path, compile=False)
    except (OSError, ValueError, TypeError) as err:
        raise ModelLoadError(
            f"cannot load the student model {path}: {err}; save it with tf_keras (Keras 2) as .keras, .h5 or SavedModel"
        ) from err


def _macs_or_none(model: Any) -> int | None:
    """Return the MAC count, or None for a subclassed model whose layer graph is unknown."""
    try:
        return count_macs(model)
    except UnsupportedError:
        return None


@register_pass("distill", DistillConfig)
def distill(model: Any, config: DistillConfig, context: PassContext) -> PassResult:
    """Train a student against the input model's soft outputs and return the student."""
    train = require_training_data(context, "distill")
    if config.student_path is not None:
        student = load_student(config.student_path)
        source = f"loaded from {config.student_path}"
    else:
        student = derive_student(
            model, width=config.width, channel_multiple=config.channel_multiple, init=config.init, seed=context.seed
        )
        source = f"derived at width {config.width} ({config.init} initialisation)"

    measure = context.eval if context.eval is not None else train
    loss_before = distillation_loss(student, model, measure, temperature=config.temperature)
    settings = TrainSettings(
        epochs=config.epochs, steps_per_epoch=config.steps_per_epoch, batch_size=config.batch_size,
        learning_rate=config.learning_rate, temperature=config.temperature, alpha=config.alpha,
        feature_pairs=[(name, name) for name in config.feature_layers], feature_weight=config.feature_weight,
        seed=context.seed,
    )
    losses = train_with_teacher(student, model, train, settings=settings, pass_name="distill")
    loss_after = distillation_loss(student, model, measure, temperature=config.temperature)

    notes = [f"student {source}"]
    if train.labels is None:
        notes.append("training data has no labels: the student learned from teacher outputs only")
    changes = {
        "student": source,
        "macs_before": _macs_or_none(model),
        "macs_after": _macs_or_none(student),
        "soft_loss_before": round(loss_before, 6),
        "soft_loss_after": round(loss_after, 6),
        "soft_loss_data": "evaluation" if context.eval is not None else "training",
        "epoch_losses": [round(value, 6) for value in losses],
    }
    return PassResult(student, changes, notes)
