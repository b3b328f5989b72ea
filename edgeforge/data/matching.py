"""Match dataset arrays to model inputs by name and check their shapes and dtypes."""

from __future__ import annotations

import difflib

import numpy as np

from edgeforge.data.dataset import Dataset
from edgeforge.errors import DataError
from edgeforge.models.spec import ModelSignature, TensorSpec


def match_inputs(dataset: Dataset, signature: ModelSignature) -> Dataset:
    """Return `dataset` keyed by the model's input names, checked against their specs.

    A single array named `x` feeds a single-input model. float64 arrays are cast
    to float32; any other dtype mismatch is an error, because casting integers
    to floats would silently change the scale the model was trained on.
    """
    names = [spec.name for spec in signature.inputs]
    arrays = dict(dataset.inputs)
    if len(names) == 1 and set(arrays) == {"x"} and names[0] != "x":
        arrays = {names[0]: arrays["x"]}
    unknown = sorted(set(arrays) - set(names))
    missing = [name for name in names if name not in arrays]
    if unknown or missing:
        raise DataError(_name_mismatch(dataset.source, names, unknown, missing))
    matched = {}
    for spec in signature.inputs:
        matched[spec.name] = _check_array(dataset.source, spec, arrays[spec.name])
    return Dataset(matched, dataset.labels, dataset.source, list(dataset.notes))


def _name_mismatch(source: str, names: list[str], unknown: list[str], missing: list[str]) -> str:
    parts = [f"{source}: data arrays do not match the model inputs {names}"]
    for name in unknown:
        close = difflib.get_close_matches(name, names, n=1)
        parts.append(f"unexpected array {name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    if missing:
        parts.append(f"missing arrays {missing}")
    parts.append("name each array after its model input, or use 'x' for a single-input model")
    return "; ".join(parts)


def _check_array(source: str, spec: TensorSpec, array: np.ndarray) -> np.ndarray:
    expected = tuple(spec.shape[1:])
    found = tuple(array.shape[1:])
    fits = len(expected) == len(found) and all(e is None or e == f for e, f in zip(expected, found))
    if not fits:
        shown = tuple("any" if e is None else e for e in expected)
        hint = ""
        if len(found) + 1 == len(expected) and expected[-1] == 1:
            hint = "; add a trailing channel axis (array[..., None])"
        raise DataError(
            f"{source}: input {spec.name!r} has per-sample shape {found}, the model expects {shown}{hint}"
        )
    if array.dtype == np.dtype(spec.dtype):
        return array
    if array.dtype == np.float64 and spec.dtype == "float32":
        return array.astype(np.float32)
    raise DataError(
        f"{source}: input {spec.name!r} has dtype {array.dtype}, the model expects {spec.dtype}; "
        "convert the data with the same scaling the model was trained on"
    )
