"""Read calibration and evaluation data from `.npz` files or image folders.

An `.npz` file contains one array per model input, named like the input, or a
single array `x` for a single-input model, plus optional integer labels `y`.
An image folder contains one sub-folder per class; sub-folder names sorted
alphabetically give the class indices, and pixels are scaled to [0, 1].
"""

from __future__ import annotations

import hashlib
import logging
import zipfile
from pathlib import Path

import numpy as np

from edgeforge.data.dataset import Dataset
from edgeforge.errors import DataError

log = logging.getLogger(__name__)

LABEL_KEY = "y"
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


def load_data(path: str | Path, *, image_size: tuple[int, int] | None = None, channels: int | None = None) -> Dataset:
    """Load a dataset from an `.npz` file or an image folder.

    `image_size` (height, width) and `channels` only apply to image folders:
    each image is resized and converted to that many channels (1 or 3).
    """
    path = Path(path)
    if not path.exists():
        raise DataError(f"data not found: {path}; pass an .npz file or a folder of class sub-folders")
    if path.is_dir():
        dataset = _load_image_folder(path, image_size=image_size, channels=channels)
    elif path.suffix == ".npz":
        dataset = _load_npz(path)
    else:
        raise DataError(
            f"unsupported data file {path}: expected an .npz file or a folder with one sub-folder per class"
        )
    check_finite(dataset)
    return dataset


def _load_npz(path: Path) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {name: archive[name] for name in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile) as err:
        raise DataError(f"cannot read {path} as an .npz archive: {err}; re-save it with numpy.savez") from err
    labels = arrays.pop(LABEL_KEY, None)
    if not arrays:
        found = "only the labels 'y'" if labels is not None else "no arrays"
        raise DataError(f"{path} contains no input arrays ({found}); add one array per model input, or 'x'")
    for name, array in arrays.items():
        if array.dtype.kind not in "biuf":
            raise DataError(f"{path}: array {name!r} has dtype {array.dtype}; model inputs must be numeric arrays")
    counts = {name: len(array) if array.ndim else 0 for name, array in arrays.items()}
    if len(set(counts.values())) != 1 or 0 in counts.values():
        raise DataError(f"{path}: input arrays must have the same non-zero number of samples, found {counts}")
    count = next(iter(counts.values()))
    if labels is not None:
        labels = _check_labels(labels, count, str(path))
    return Dataset(arrays, labels, str(path))


def _check_labels(labels: np.ndarray, count: int, source: str) -> np.ndarray:
    if labels.dtype.kind not in "biuf":
        raise DataError(f"{source}: 'y' has dtype {labels.dtype}; labels must be integer class indices")
    if labels.ndim == 2 and labels.shape[1] > 1:
        labels = labels.argmax(axis=1)
    labels = labels.reshape(-1)
    if len(labels) != count:
        raise DataError(f"{source}: 'y' has {len(labels)} labels but the inputs have {count} samples")
    if not np.issubdtype(labels.dtype, np.integer):
        if not np.all(np.equal(np.mod(labels, 1), 0)):
            raise DataError(f"{source}: 'y' must hold integer class indices, found dtype {labels.dtype}")
        labels = labels.astype(np.int64)
    return labels


def _load_image_folder(path: Path, *, image_size: tuple[int, int] | None, channels: int | None) -> Dataset:
    from PIL import Image, UnidentifiedImageError

    classes = sorted(entry.name for entry in path.iterdir() if entry.is_dir())
    if not classes:
        raise DataError(f"{path}: expected one sub-folder per class with images inside, found no sub-folders")
    images, labels = [], []
    mode = {None: None, 1: "L", 3: "RGB"}.get(channels)
    if channels is not None and mode is None:
        raise DataError(f"{path}: image folders feed models with 1 or 3 channels, the model has {channels}")
    empty = []
    for index, name in enumerate(classes):
        files = sorted(p for p in (path / name).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            empty.append(f"{name} (class {index})")
        for file in files:
            try:
                with Image.open(file) as image:
                    image = image.convert(mode or "RGB")
                    if image_size is not None:
                        image = image.resize((image_size[1], image_size[0]), Image.BILINEAR)
                    array = np.asarray(image, dtype=np.float32) / 255.0
            except (UnidentifiedImageError, OSError) as err:
                raise DataError(f"cannot read image {file}: {err}; remove or replace the file") from err
            if array.ndim == 2:
                array = array[..., None]
            images.append(array)
            labels.append(index)
    if not images:
        raise DataError(f"{path}: no images ({', '.join(sorted(IMAGE_SUFFIXES))}) in the class sub-folders")
    shapes = {img.shape for img in images}
    if len(shapes) > 1:
        raise DataError(f"{path}: images have different sizes {sorted(shapes)[:3]}; the model input size is needed to resize them")
    dataset = Dataset({"x": np.stack(images)}, np.asarray(labels, dtype=np.int64), str(path))
    dataset.notes.append(f"classes by folder name: {', '.join(f'{i}={c}' for i, c in enumerate(classes))}")
    if empty:
        # An empty folder still takes a class index, so the indices match the model's classes.
        note = f"class folders without images: {', '.join(empty)}; check the folder names against the model's classes"
        log.warning("%s: %s", path, note)
        dataset.notes.append(note)
    return dataset


def check_finite(dataset: Dataset) -> None:
    """Raise DataError naming the array and the first sample holding NaN or infinity."""
    for name, array in dataset.inputs.items():
        if not np.issubdtype(array.dtype, np.floating):
            continue
        bad = ~np.isfinite(array.reshape(len(array), -1)).all(axis=1)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise DataError(
                f"{dataset.source}: input {name!r} contains NaN or infinity in {int(bad.sum())} samples "
                f"(first at index {first}); clean or drop those samples"
            )


def split_dataset(dataset: Dataset, *, eval_fraction: float, seed: int) -> tuple[Dataset, Dataset]:
    """Shuffle with `seed` and split into (calibration/training, held-out evaluation)."""
    count = len(dataset)
    if count < 2:
        raise DataError(f"{dataset.source}: {count} sample(s) cannot be split into calibration and evaluation data")
    order = np.random.default_rng(seed).permutation(count)
    held_out = max(1, int(round(count * eval_fraction)))
    return dataset.take(np.sort(order[held_out:])), dataset.take(np.sort(order[:held_out]))


def file_sha256(path: str | Path) -> str:
    """Hash a file, or every file of a folder in sorted order with its relative path."""
    path = Path(path)
    digest = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for file in files:
        if file != path:
            digest.update(str(file.relative_to(path)).encode())
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()
