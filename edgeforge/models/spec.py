"""Names, shapes and dtypes of a model's inputs and outputs, independent of the framework."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TensorSpec:
    """One model input or output. `shape` uses None for a free dimension (usually the batch)."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str

    def to_dict(self) -> dict:
        return {"name": self.name, "shape": list(self.shape), "dtype": self.dtype}

    @classmethod
    def from_dict(cls, data: dict) -> "TensorSpec":
        return cls(data["name"], tuple(data["shape"]), data["dtype"])


@dataclass(frozen=True)
class ModelSignature:
    """The inputs and outputs of a model, in the model's own order."""

    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]

    def to_dict(self) -> dict:
        return {
            "inputs": [spec.to_dict() for spec in self.inputs],
            "outputs": [spec.to_dict() for spec in self.outputs],
        }

    @classmethod
    def from_dict(cls, data: dict) -> "ModelSignature":
        return cls(
            tuple(TensorSpec.from_dict(item) for item in data["inputs"]),
            tuple(TensorSpec.from_dict(item) for item in data["outputs"]),
        )
