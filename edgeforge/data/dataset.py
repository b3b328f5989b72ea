"""In-memory labelled data, keyed by model input name."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class Dataset:
    """Samples for one or more model inputs, with optional integer class labels.

    `inputs` maps an input name to an array whose first axis is the sample axis.
    The name `x` stands for the only input of a single-input model.
    """

    inputs: dict[str, np.ndarray]
    labels: np.ndarray | None = None
    source: str = ""
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(next(iter(self.inputs.values())))

    def take(self, indices: np.ndarray) -> "Dataset":
        """Return the samples at `indices` as a new dataset."""
        labels = None if self.labels is None else self.labels[indices]
        return Dataset({name: array[indices] for name, array in self.inputs.items()}, labels, self.source)

    def head(self, count: int) -> "Dataset":
        return self.take(np.arange(min(count, len(self))))
