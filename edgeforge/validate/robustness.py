"""Accuracy of the original model and the artifact on perturbed copies of the evaluation data.

Compression can keep clean accuracy and still lose more than the original on slightly different
inputs. Each perturbation is applied once, with a generator seeded from `seed` and the perturbation
name, and both models see the same perturbed samples, so the gap between them is paired.

Image-like inputs are shaped (N, H, W, C) with C in 1, 3 or 4, or (N, H, W). They get gaussian noise,
blur, brightness and contrast shifts and occlusion. Other float inputs get noise and scaling. Magnitudes
are relative to the value range (images) or the per-feature standard deviation (other data) of the
clean evaluation set, times `severity`.
"""

from __future__ import annotations

import difflib
import logging
import zlib
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from edgeforge.data.dataset import Dataset
from edgeforge.errors import DataError, InputError

log = logging.getLogger(__name__)

PredictFn = Callable[[dict[str, np.ndarray]], np.ndarray]


@dataclass(frozen=True)
class Perturbation:
    """One perturbation: a name, what it does, and its default magnitude at severity 1."""

    name: str
    description: str
    magnitude: float
    image: bool


PERTURBATIONS: dict[str, Perturbation] = {
    item.name: item
    for item in (
        Perturbation("gaussian_noise", "additive gaussian noise, sigma as a fraction of the value range", 0.10, True),
        Perturbation("blur", "gaussian blur over height and width, sigma in pixels", 0.8, True),
        Perturbation("brightness", "shift of every pixel by a fraction of the value range, then clipped", 0.20, True),
        Perturbation("contrast", "scale of each image around its mean by (1 - magnitude)", 0.50, True),
        Perturbation("occlusion", "square patch set to the minimum value, side as a fraction of the smaller image side", 0.35, True),
        Perturbation("noise", "additive gaussian noise, sigma as a fraction of each feature's standard deviation", 0.25, False),
        Perturbation("scaling", "per-sample scale factor drawn uniformly from [1 - magnitude, 1 + magnitude]", 0.20, False),
    )
}
IMAGE_PERTURBATIONS = tuple(name for name, item in PERTURBATIONS.items() if item.image)
TABULAR_PERTURBATIONS = tuple(name for name, item in PERTURBATIONS.items() if not item.image)


def is_image_like(array: np.ndarray) -> bool:
    """Return True for a batch of images: (N, H, W, C) with C in 1, 3, 4, or (N, H, W), with H, W >= 4."""
    if array.ndim == 4:
        return array.shape[3] in (1, 3, 4) and min(array.shape[1:3]) >= 4
    if array.ndim == 3:
        return min(array.shape[1:3]) >= 4
    return False


def perturb(array: np.ndarray, name: str, *, rng: np.random.Generator, severity: float = 1.0) -> np.ndarray:
    """Return a perturbed copy of a batch `array`; the input is not modified and the dtype is kept."""
    perturbation = _lookup(name)
    magnitude = perturbation.magnitude * severity
    values = array.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    span = high - low if high > low else 1.0

    if name == "gaussian_noise":
        result = values + rng.normal(0.0, magnitude * span, size=values.shape)
    elif name == "blur":
        from scipy.ndimage import gaussian_filter

        sigma = [0.0] * values.ndim
        sigma[1] = sigma[2] = magnitude
        result = gaussian_filter(values, sigma=sigma, mode="nearest")
    elif name == "brightness":
        result = values + magnitude * span
    elif name == "contrast":
        axes = tuple(range(1, values.ndim))
        mean = values.mean(axis=axes, keepdims=True)
        result = mean + (values - mean) * (1.0 - magnitude)
    elif name == "occlusion":
        result = _occlude(values, fraction=magnitude, fill=low, rng=rng)
    elif name == "noise":
        std = values.std(axis=0, keepdims=True)
        result = values + rng.normal(size=values.shape) * magnitude * np.where(std > 0, std, 1.0)
    else:  # scaling
        shape = (values.shape[0],) + (1,) * (values.ndim - 1)
        result = values * rng.uniform(1.0 - magnitude, 1.0 + magnitude, size=shape)

    if perturbation.image:
        result = np.clip(result, low, high)
    return _cast_like(result, array)


def _occlude(values: np.ndarray, *, fraction: float, fill: float, rng: np.random.Generator) -> np.ndarray:
    result = values.copy()
    height, width = values.shape[1], values.shape[2]
    side = max(1, int(round(fraction * min(height, width))))
    tops = rng.integers(0, height - side + 1, size=values.shape[0])
    lefts = rng.integers(0, width - side + 1, size=values.shape[0])
    for index, (top, left) in enumerate(zip(tops, lefts)):
        result[index, top : top + side, left : left + side, ...] = fill
    return result


def _cast_like(result: np.ndarray, like: np.ndarray) -> np.ndarray:
    if np.issubdtype(like.dtype, np.integer):
        info = np.iinfo(like.dtype)
        return np.clip(np.rint(result), info.min, info.max).astype(like.dtype)
    return result.astype(like.dtype)


def _lookup(name: str) -> Perturbation:
    if name not in PERTURBATIONS:
        close = difflib.get_close_matches(name, list(PERTURBATIONS), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise InputError(f"unknown perturbation {name!r}: expected one of {', '.join(PERTURBATIONS)}{hint}")
    return PERTURBATIONS[name]


def _generator(seed: int, name: str) -> np.random.Generator:
    # Seeded by name as well, so adding or reordering perturbations leaves the others unchanged.
    return np.random.default_rng([seed, zlib.crc32(name.encode("utf-8"))])


def _predict_top1(predict: PredictFn, inputs: Mapping[str, np.ndarray], labels: np.ndarray, *, batch_size: int, role: str) -> float:
    correct = 0
    count = len(labels)
    for start in range(0, count, batch_size):
        batch = {name: array[start : start + batch_size] for name, array in inputs.items()}
        logits = np.asarray(predict(batch))
        rows = min(batch_size, count - start)
        if logits.ndim != 2 or logits.shape[0] != rows:
            raise DataError(
                f"predict_{role} returned an array of shape {logits.shape} for a batch of {rows} samples; "
                "expected (batch, classes) logits or scores"
            )
        correct += int(np.count_nonzero(np.argmax(logits, axis=1) == labels[start : start + batch_size]))
    return correct / count


def evaluate_robustness(
    predict_original: PredictFn,
    predict_artifact: PredictFn,
    dataset: Dataset | Mapping[str, np.ndarray],
    labels: np.ndarray | None = None,
    *,
    seed: int,
    perturbations: Sequence[str] | None = None,
    severity: float = 1.0,
    batch_size: int = 256,
) -> dict[str, Any]:
    """Measure top-1 accuracy of both models on clean and perturbed data, and the gap in points.

    `predict_*` take a dict of input name -> batch and return (batch, classes) logits, so any runtime
    fits. `perturbations` defaults to the image set when every float input is image-like, else to
    noise and scaling. Integer inputs (token ids, indices) are never perturbed. The returned
    `perturbations` list starts with the clean row; `gap_points` is original minus artifact accuracy.
    """
    inputs = dict(dataset.inputs if isinstance(dataset, Dataset) else dataset)
    if labels is None and isinstance(dataset, Dataset):
        labels = dataset.labels
    if labels is None:
        raise DataError("robustness needs class labels: pass labels or a Dataset with labels")
    labels = np.asarray(labels).reshape(-1)
    for name, array in inputs.items():
        if len(array) != len(labels):
            raise DataError(f"input {name!r} has {len(array)} samples but there are {len(labels)} labels; expected equal counts")
    if severity <= 0:
        raise InputError(f"invalid severity {severity!r}: expected a positive number (1.0 is the default magnitude)")
    if batch_size < 1:
        raise InputError(f"invalid batch_size {batch_size!r}: expected a positive integer")

    float_inputs = [name for name, array in inputs.items() if np.issubdtype(array.dtype, np.floating) or is_image_like(array)]
    if not float_inputs:
        raise DataError("no input can be perturbed: every input is integer-typed and not image-like")
    image_data = all(is_image_like(inputs[name]) for name in float_inputs)
    if perturbations is not None:
        names = list(perturbations)
    elif image_data:
        names = list(IMAGE_PERTURBATIONS)
    else:
        names = list(TABULAR_PERTURBATIONS)
    for name in names:
        perturbation = _lookup(name)
        if perturbation.image and not image_data:
            raise InputError(f"perturbation {name!r} needs image-like inputs (N, H, W[, C]); use one of {', '.join(TABULAR_PERTURBATIONS)}")

    rows = []
    clean_original = _predict_top1(predict_original, inputs, labels, batch_size=batch_size, role="original")
    clean_artifact = _predict_top1(predict_artifact, inputs, labels, batch_size=batch_size, role="artifact")
    rows.append(_row("clean", "evaluation data as given", None, clean_original, clean_artifact, clean_original, clean_artifact))
    for name in names:
        rng = _generator(seed, name)
        perturbed = dict(inputs)
        for input_name in float_inputs:
            perturbed[input_name] = perturb(inputs[input_name], name, rng=rng, severity=severity)
        original = _predict_top1(predict_original, perturbed, labels, batch_size=batch_size, role="original")
        artifact = _predict_top1(predict_artifact, perturbed, labels, batch_size=batch_size, role="artifact")
        item = PERTURBATIONS[name]
        rows.append(_row(name, item.description, item.magnitude * severity, original, artifact, clean_original, clean_artifact))
        log.info("robustness %s: original %.4f, artifact %.4f", name, original, artifact)

    perturbed_rows = rows[1:]
    worst = max(perturbed_rows, key=lambda row: row["gap_points"]) if perturbed_rows else rows[0]
    return {
        "seed": seed,
        "severity": severity,
        "samples": int(len(labels)),
        "data_kind": "image" if image_data else "non-image",
        "perturbed_inputs": float_inputs,
        "perturbations": rows,
        "max_gap_points": worst["gap_points"],
        "worst_perturbation": worst["name"],
    }


def _row(name: str, description: str, magnitude: float | None, original: float, artifact: float,
         clean_original: float, clean_artifact: float) -> dict[str, Any]:
    return {
        "name": name,
        "description": description,
        "magnitude": magnitude,
        "original_top1": original,
        "artifact_top1": artifact,
        "gap_points": (original - artifact) * 100.0,
        "original_drop_points": (clean_original - original) * 100.0,
        "artifact_drop_points": (clean_artifact - artifact) * 100.0,
    }
