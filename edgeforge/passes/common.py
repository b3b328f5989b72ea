"""Helpers the passes share: data lookup, measurement, seeding, logits and training progress."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from edgeforge._tf import import_tf
from edgeforge.data.dataset import Dataset
from edgeforge.errors import DataError, UnsupportedError
from edgeforge.passes.base import PassContext

log = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and TensorFlow and ask TensorFlow for deterministic kernels.

    Op determinism is a process-wide TensorFlow setting; it stays on after the pass.
    """
    tf = import_tf()
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def model_inputs(model: Any, data: Dataset) -> list[np.ndarray]:
    """Return the arrays of `data` in the order of the model's inputs.

    A dataset of a single-input model may name its input `x`.
    """
    arrays = []
    for name in model.input_names:
        if name in data.inputs:
            arrays.append(data.inputs[name])
        elif len(model.input_names) == 1 and len(data.inputs) == 1:
            arrays.append(next(iter(data.inputs.values())))
        else:
            raise DataError(
                f"data has no input named {name!r}; found {', '.join(sorted(data.inputs))}; "
                "name each data array after a model input"
            )
    return arrays


def predict(model: Any, data: Dataset, *, batch_size: int = 256) -> np.ndarray:
    """Return the model's first output on every sample of `data`."""
    inputs = model_inputs(model, data)
    outputs = model.predict(inputs if len(inputs) > 1 else inputs[0], batch_size=batch_size, verbose=0)
    if isinstance(outputs, list):
        outputs = outputs[0]
    return np.asarray(outputs)


def top1_accuracy(model: Any, data: Dataset | None) -> float | None:
    """Return top-1 accuracy in percent on `data`, or None without data or labels."""
    if data is None or data.labels is None:
        return None
    scores = predict(model, data)
    return float(np.mean(np.argmax(scores, axis=-1) == data.labels) * 100.0)


def top1_agreement(reference: np.ndarray, candidate: np.ndarray) -> float:
    """Return the percentage of samples where both outputs pick the same class."""
    return float(np.mean(np.argmax(reference, axis=-1) == np.argmax(candidate, axis=-1)) * 100.0)


def count_params(model: Any) -> int:
    """Return the number of weights in the model, trainable or not.

    Variables that tfmot adds for quantization-aware training (value ranges and
    step counters) are not model weights and are left out.
    """
    total = 0
    for weight in model.weights:
        short_name = weight.name.split("/")[-1].split(":")[0]
        if short_name.endswith(("_min", "_max")) or short_name in ("min", "max", "optimizer_step"):
            continue
        total += int(np.prod(weight.shape))
    return total


def outputs_are_probabilities(model: Any) -> bool:
    """Return True when the model's first output comes from a softmax."""
    keras = import_tf().keras
    layer = model.get_layer(model.output_names[0])
    if isinstance(layer, keras.layers.Softmax):
        return True
    activation = getattr(layer, "activation", None)
    return activation is not None and getattr(activation, "__name__", "") == "softmax"


def require_training_data(context: PassContext, pass_name: str) -> Dataset:
    """Return the training data, or raise UnsupportedError because the pass cannot run without it."""
    if context.train is None or len(context.train) == 0:
        raise UnsupportedError(
            f"pass {pass_name!r} trains the model and needs training data, but none was given; "
            "pass training data (same formats as calibration data) or remove the pass from the recipe"
        )
    return context.train


def epoch_logger(pass_name: str) -> Any:
    """Return a Keras callback that logs each finished epoch at INFO level."""
    keras = import_tf().keras

    class _EpochLogger(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            figures = ", ".join(f"{key}={value:.4f}" for key, value in sorted((logs or {}).items()))
            log.info("%s: epoch %d/%d %s", pass_name, epoch + 1, self.params.get("epochs", 0), figures)

    return _EpochLogger()


