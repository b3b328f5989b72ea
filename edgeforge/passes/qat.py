"""Quantization-aware training with tfmot, with a sparsity-preserving variant after pruning.

Before training, every layer is checked against tfmot's default 8-bit registry.
Layers tfmot cannot quantize stay float when the target accepts float operators
(`quantization.full_integer: false` in its profile). Otherwise the pass returns
the model unchanged, so the emitter falls back to post-training quantization.
Either way each such layer is named with its reason in the notes.

The returned model contains tfmot quantize wrappers: load a saved copy inside
`tfmot.quantization.keras.quantize_scope()`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from edgeforge._tf import import_tf
from edgeforge.errors import UnsupportedError
from edgeforge.passes.base import PassContext, PassResult, register_pass
from edgeforge.passes.common import predict, require_training_data, top1_agreement
from edgeforge.passes.prune_magnitude import overall_sparsity
from edgeforge.passes.training import TrainSettings, train_with_teacher

log = logging.getLogger(__name__)

# Layers tfmot's default 8-bit registry does not list but quantize_apply handles through
# its layout transforms (tfmot 0.8.1: BatchNormalization folds into the convolution
# before it, SeparableConv becomes depthwise plus pointwise convolution).
_TRANSFORM_HANDLED = ("InputLayer", "BatchNormalization", "SeparableConv1D", "SeparableConv2D")


@dataclass
class QatConfig:
    """Parameters of the `qat` pass.

    preserve_sparsity: "auto", true or false, default "auto". Use tfmot's
        pruning-preserving scheme so zero weights stay zero; "auto" turns it on when
        at least `sparsity_threshold` of the kernel weights are zero.
    sparsity_threshold: float, default 0.2. Zero fraction that "auto" looks for.
    epochs: int, default 2. Quantization-aware fine-tuning epochs.
    steps_per_epoch: int or None, default None (one pass over the data).
    batch_size: int, default 64, samples.
    learning_rate: float, default 0.0005. Adam learning rate.
    alpha: float, default 0.5. Weight of the hard-label loss; the rest distils from
        the float model, which is the only target without labels.
    temperature: float, default 4.0. Softmax temperature of the distillation term.
    max_accuracy_drop: float, default 1.0, percentage points. When the trained QAT
        model scores this much below the float input model on training samples
        (accuracy with labels, top-1 agreement without), the pass returns the float
        model so post-training quantization is used instead.
    check_samples: int, default 512, samples. Training samples used for that check.
    """

    preserve_sparsity: Literal["auto"] | bool = "auto"
    sparsity_threshold: float = 0.2
    epochs: int = 2
    steps_per_epoch: int | None = None
    batch_size: int = 64
    learning_rate: float = 0.0005
    alpha: float = 0.5
    temperature: float = 4.0
    max_accuracy_drop: float = 1.0
    check_samples: int = 512


def unsupported_layers(model: Any) -> dict[str, str]:
    """Return the layers tfmot's default 8-bit scheme cannot quantize, with the reason for each."""
    from tensorflow_model_optimization.python.core.quantization.keras import quantize_aware_activation
    from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
        default_8bit_quantize_registry,
    )

    tf = import_tf()
    registry = default_8bit_quantize_registry.Default8BitQuantizeRegistry()
    activation_class = quantize_aware_activation.QuantizeAwareActivation
    known_activations = activation_class._PRE_QUANT_ACTIVATIONS | activation_class._POST_QUANT_ACTIVATIONS
    builtin_modules = ("tf_keras.", "keras.")
    reasons = {}
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in _TRANSFORM_HANDLED:
            continue
        if isinstance(layer, tf.keras.Model):
            reasons[layer.name] = f"nested model {kind}: tfmot quantizes flat models only"
        elif not type(layer).__module__.startswith(builtin_modules):
            reasons[layer.name] = f"custom layer class {type(layer).__module__}.{kind} has no tfmot QuantizeConfig"
        elif kind in ("TFOpLambda", "SlicingOpLambda", "Lambda"):
            function = getattr(layer, "symbol", None) or getattr(getattr(layer, "function", None), "__name__", "?")
            reasons[layer.name] = f"{kind} ({function}) is a raw TensorFlow operation tfmot cannot wrap"
        elif not registry.supports(layer):
            reasons[layer.name] = f"{kind} is not in tfmot's default 8-bit registry"
        else:
            activation = getattr(layer, "activation", None)
            name = getattr(activation, "__name__", None)
            if activation is not None and name not in known_activations:
                reasons[layer.name] = (
                    f"activation {name!r} is not one tfmot can quantize (supported: {', '.join(sorted(known_activations))})"
                )
    return reasons


def _annotate(model: Any, skip: set[str]) -> Any:
    import tensorflow_model_optimization as tfmot

    tf = import_tf()
    annotate = tfmot.quantization.keras.quantize_annotate_layer

    def clone_layer(layer: Any) -> Any:
        copy = type(layer).from_config(layer.get_config())
        if layer.name in skip or type(layer).__name__ == "InputLayer":
            return copy
        return annotate(copy)

    annotated = tf.keras.models.clone_model(model, clone_function=clone_layer)
    annotated.set_weights(model.get_weights())
    return annotated


def _score(reference: Any, outputs: Any, data: Any) -> float:
    if data.labels is not None:
        return float(np.mean(np.argmax(outputs, axis=-1) == data.labels) * 100.0)
    return top1_agreement(reference, outputs)


def _full_integer_required(context: PassContext) -> bool:
    if context.target is None:
        return False
    return bool(context.target.data.get("quantization", {}).get("full_integer", False))


@register_pass("qat", QatConfig)
def qat(model: Any, config: QatConfig, context: PassContext) -> PassResult:
    """Fine-tune the model with simulated 8-bit quantization; return the quantize-wrapped model."""
    import tensorflow_model_optimization as tfmot

    train = require_training_data(context, "qat")
    notes: list[str] = []
    reasons = unsupported_layers(model)
    for name, reason in reasons.items():
        notes.append(f"layer {name!r}: {reason}")

    if reasons and _full_integer_required(context):
        message = (
            f"QAT skipped: {len(reasons)} layer(s) tfmot cannot quantize and the target needs full-integer "
            "operators; the model goes on unchanged to post-training quantization"
        )
        if context.strict:
            raise UnsupportedError(message + ": " + "; ".join(notes))
        return PassResult(model, {"quantized": False, "fallback": "ptq", "unsupported_layers": reasons}, [message, *notes])
    if reasons:
        message = f"{len(reasons)} layer(s) stay float because tfmot cannot quantize them and the target allows float operators"
        if context.strict:
            raise UnsupportedError(message + ": " + "; ".join(notes))
        notes.insert(0, message)

    sparsity = overall_sparsity(model)
    preserve = config.preserve_sparsity
    if preserve == "auto":
        preserve = sparsity >= config.sparsity_threshold
    scheme = (
        tfmot.experimental.combine.Default8BitPrunePreserveQuantizeScheme()
        if preserve
        else tfmot.quantization.keras.default_8bit.Default8BitQuantizeScheme()
    )
    try:
        quantized = tfmot.quantization.keras.quantize_apply(_annotate(model, set(reasons)), scheme)
    except (ValueError, TypeError, RuntimeError) as err:
        message = f"QAT skipped: tfmot quantize_apply failed ({err}); the model goes on unchanged to post-training quantization"
        if context.strict:
            raise UnsupportedError(message) from err
        return PassResult(model, {"quantized": False, "fallback": "ptq", "unsupported_layers": reasons}, [message, *notes])

    settings = TrainSettings(
        epochs=config.epochs, steps_per_epoch=config.steps_per_epoch, batch_size=config.batch_size,
        learning_rate=config.learning_rate, temperature=config.temperature, alpha=config.alpha, seed=context.seed,
    )
    train_with_teacher(quantized, model, train, settings=settings, pass_name="qat")

    # NOTE: the float model's score replaces the score post-training quantization would
    # reach. PTQ usually loses a little more, so this check favours PTQ slightly.
    check = train.head(config.check_samples)
    reference = predict(model, check)
    float_score = _score(reference, reference, check)
    qat_score = _score(reference, predict(quantized, check), check)
    if float_score - qat_score > config.max_accuracy_drop:
        message = (
            f"QAT discarded: the QAT model scored {qat_score:.2f} against {float_score:.2f} for the float model "
            f"on {len(check)} training samples, more than max_accuracy_drop {config.max_accuracy_drop} points lower; "
            "the float model goes on to post-training quantization"
        )
        if context.strict:
            raise UnsupportedError(message)
        changes = {"quantized": False, "fallback": "ptq", "qat_score": round(qat_score, 3), "float_score": round(float_score, 3)}
        return PassResult(model, changes, [message, *notes])
    changes = {
        "qat_score": round(qat_score, 3),
        "float_score": round(float_score, 3),
        "quantized": True,
        "scheme": "prune-preserving 8-bit" if preserve else "default 8-bit",
        "sparsity_before": round(sparsity, 4),
        "sparsity_after": round(overall_sparsity(quantized), 4),
        "float_layers": sorted(reasons),
    }
    return PassResult(quantized, changes, notes)
