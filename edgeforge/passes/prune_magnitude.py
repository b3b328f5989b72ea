"""Magnitude pruning of individual weights with tfmot, including N:M structured sparsity."""

from __future__ import annotations

import logging
import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgeforge._tf import import_tf
from edgeforge.errors import UnsupportedError
from edgeforge.passes.base import PassContext, PassResult, register_pass
from edgeforge.passes.common import require_training_data
from edgeforge.passes.training import TrainSettings, train_with_teacher

log = logging.getLogger(__name__)

_M_BY_N = re.compile(r"^(\d+):(\d+)$")


@dataclass
class PruneMagnitudeConfig:
    """Parameters of the `prune_magnitude` pass.

    target_sparsity: float, default 0.5. Fraction of zero weights in each pruned
        kernel at the end of the schedule. Ignored with `m_by_n`.
    initial_sparsity: float, default 0.0. Sparsity at the first pruning step.
    m_by_n: str or None, default None. "2:4" keeps at most 2 non-zero weights in
        every block of 4 along the input-channel axis. Only runtimes with sparse
        kernels for this pattern run it faster. The polynomial schedule is then not used.
    frequency: int, default 10, training steps between two mask updates.
    pruning_end: float, default 0.7. Fraction of the training steps at which the
        schedule reaches `target_sparsity`; the remaining steps fine-tune at it.
    epochs: int, default 2. Fine-tuning epochs while the mask grows.
    steps_per_epoch: int or None, default None (one pass over the data).
    batch_size: int, default 64, samples.
    learning_rate: float, default 0.0005. Adam learning rate.
    alpha: float, default 0.5. Weight of the hard-label loss; the rest distils
        from the unpruned model, which is the only target without labels.
    temperature: float, default 4.0. Softmax temperature of the distillation term.
    """

    target_sparsity: float = 0.5
    initial_sparsity: float = 0.0
    m_by_n: str | None = None
    frequency: int = 10
    pruning_end: float = 0.7
    epochs: int = 2
    steps_per_epoch: int | None = None
    batch_size: int = 64
    learning_rate: float = 0.0005
    alpha: float = 0.5
    temperature: float = 4.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.initial_sparsity <= self.target_sparsity < 1.0:
            raise ValueError(
                "sparsities must satisfy 0 <= initial_sparsity <= target_sparsity < 1, "
                f"found {self.initial_sparsity} and {self.target_sparsity}"
            )
        if self.m_by_n is not None:
            match = _M_BY_N.match(self.m_by_n)
            if not match or not 0 < int(match.group(1)) < int(match.group(2)):
                raise ValueError(f"m_by_n must look like '2:4' with M < N, found {self.m_by_n!r}")
        if not 0.0 < self.pruning_end <= 1.0:
            raise ValueError(f"pruning_end must be in (0, 1], found {self.pruning_end}")
        if self.frequency < 1:
            raise ValueError(f"frequency must be >= 1, found {self.frequency}")


def kernel_sparsity(model: Any) -> dict[str, float]:
    """Return the fraction of exact zeros in each Conv and Dense kernel, by layer name."""
    figures = {}
    for layer in model.layers:
        for weight in layer.weights:
            if weight.name.split("/")[-1].split(":")[0] in ("kernel", "depthwise_kernel", "pointwise_kernel"):
                values = weight.numpy()
                figures[f"{layer.name}/{weight.name.split('/')[-1].split(':')[0]}"] = float(np.mean(values == 0.0))
    return figures


def overall_sparsity(model: Any) -> float:
    """Return the fraction of exact zeros over all Conv and Dense kernels together."""
    zeros = total = 0
    for layer in model.layers:
        for weight in layer.weights:
            if weight.name.split("/")[-1].split(":")[0] in ("kernel", "depthwise_kernel", "pointwise_kernel"):
                values = weight.numpy()
                zeros += int(np.sum(values == 0.0))
                total += values.size
    return zeros / total if total else 0.0


def _wrap_prunable(model: Any, params: dict[str, Any], notes: list[str]) -> Any:
    """Return a model whose prunable layers are wrapped for pruning; others stay dense with a note.

    The wrappers reuse the layers of `model`, so pass a private copy.
    """
    import tensorflow_model_optimization as tfmot
    from tensorflow_model_optimization.python.core.sparsity.keras import prune_registry

    tf = import_tf()
    registry = prune_registry.PruneRegistry

    def wrap(layer: Any) -> Any:
        if not layer.weights:
            return layer
        if not registry.supports(layer) and not isinstance(layer, tfmot.sparsity.keras.PrunableLayer):
            notes.append(f"layer {layer.name!r} ({type(layer).__name__}) left dense: tfmot cannot prune this layer type")
            return layer
        try:
            return tfmot.sparsity.keras.prune_low_magnitude(layer, **params)
        except ValueError as err:
            notes.append(f"layer {layer.name!r} ({type(layer).__name__}) left dense: {err}")
            return layer

    return tf.keras.models.clone_model(model, clone_function=wrap)


def _clone(model: Any) -> Any:
    tf = import_tf()
    copy = tf.keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


@register_pass("prune_magnitude", PruneMagnitudeConfig)
def prune_magnitude(model: Any, config: PruneMagnitudeConfig, context: PassContext) -> PassResult:
    """Zero the smallest weights during fine-tuning, then strip the pruning wrappers."""
    import tensorflow_model_optimization as tfmot
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

    train = require_training_data(context, "prune_magnitude")
    sparsity = tfmot.sparsity.keras
    steps = config.steps_per_epoch or math.ceil(len(train) / config.batch_size)
    end_step = max(1, int(steps * config.epochs * config.pruning_end))
    if config.m_by_n is not None:
        m, n = (int(part) for part in config.m_by_n.split(":"))
        params: dict[str, Any] = {"sparsity_m_by_n": (m, n)}
    else:
        params = {"pruning_schedule": sparsity.PolynomialDecay(
            initial_sparsity=config.initial_sparsity, final_sparsity=config.target_sparsity,
            begin_step=0, end_step=end_step, frequency=min(config.frequency, end_step),
        )}
    notes: list[str] = []
    wrapped = _wrap_prunable(_clone(model), params, notes)
    if not any(isinstance(layer, pruning_wrapper.PruneLowMagnitude) for layer in wrapped.layers):
        raise UnsupportedError("prune_magnitude found no layer that tfmot can prune: " + "; ".join(notes))

    settings = TrainSettings(
        epochs=config.epochs, steps_per_epoch=config.steps_per_epoch, batch_size=config.batch_size,
        learning_rate=config.learning_rate, temperature=config.temperature, alpha=config.alpha, seed=context.seed,
    )
    train_with_teacher(
        wrapped, model, train, settings=settings, pass_name="prune_magnitude",
        callbacks=[sparsity.UpdatePruningStep()],
    )
    stripped = sparsity.strip_pruning(wrapped)
    changes = {
        "sparsity": round(overall_sparsity(stripped), 4),
        "sparsity_by_kernel": {name: round(value, 4) for name, value in kernel_sparsity(stripped).items()},
        "schedule": f"{config.m_by_n} structured" if config.m_by_n else
        f"polynomial {config.initial_sparsity}->{config.target_sparsity} over {end_step} steps",
    }
    notes.append("sparsity is measured on the stripped weights; zero weights shrink the compressed (gzip) size, "
             "not the raw artifact size, unless the runtime stores sparse tensors")
    return PassResult(stripped, changes, notes)
