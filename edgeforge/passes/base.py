"""The contract every model pass follows, and the registry of passes by name.

A pass turns a tf_keras model into a tf_keras model (distillation, pruning,
quantization-aware training). Final conversion to an artifact is not a pass:
the emitters do it from the recipe's `quantize` section.
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from edgeforge.data.dataset import Dataset
from edgeforge.errors import ProfileError


@dataclass
class PassContext:
    """What a pass may use besides the model.

    `train` and `eval` are keyed by the model's input names. `strict` makes a pass
    raise instead of degrading (for example QAT on an unsupported layer).
    """

    target: Any
    train: Dataset | None
    eval: Dataset | None
    seed: int = 0
    strict: bool = False
    work_dir: Path | None = None
    teacher: Any = None


@dataclass
class PassResult:
    """The new model and what the pass measured about its change.

    `changes` contains measured figures (parameter counts, sparsity, accuracy after
    the pass); `notes` contains reasons the pass degraded or skipped part of its work.
    """

    model: Any
    changes: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


PassFunction = Callable[[Any, Any, PassContext], PassResult]


@dataclass(frozen=True)
class PassSpec:
    name: str
    config_type: type
    run: PassFunction


_REGISTRY: dict[str, PassSpec] = {}


def register_pass(name: str, config_type: type) -> Callable[[PassFunction], PassFunction]:
    """Register `function(model, config, context) -> PassResult` under `name`."""

    def decorator(function: PassFunction) -> PassFunction:
        if name in _REGISTRY:
            raise ValueError(f"pass {name!r} is already registered by {_REGISTRY[name].run.__module__}")
        _REGISTRY[name] = PassSpec(name, config_type, function)
        return function

    return decorator


def get_pass(name: str) -> PassSpec:
    """Return the registered pass `name`, or raise with a "did you mean" hint."""
    if name not in _REGISTRY:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise ProfileError(f"unknown pass {name!r}{hint} Known passes: {known}")
    return _REGISTRY[name]


def make_config(spec: PassSpec, params: dict[str, Any], where: str) -> Any:
    """Build the pass's config dataclass from recipe parameters, rejecting unknown names."""
    fields = {f.name for f in dataclasses.fields(spec.config_type)}
    unknown = sorted(set(params) - fields)
    if unknown:
        raise ProfileError(
            f"{where}: unknown parameter {unknown[0]!r} for pass {spec.name!r}; "
            f"allowed: {', '.join(sorted(fields))}"
        )
    return spec.config_type(**params)
