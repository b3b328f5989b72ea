"""Decide what a build converts, from the target profile and the recipe."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edgeforge.errors import ProfileError, UnsupportedError
from edgeforge.targets import TargetProfile

RECIPES_DIR = Path(__file__).resolve().parents[2] / "recipes"

_EXTENSIONS = {"tflite": ".tflite", "openvino-ir": ".xml", "c-array": ".tflite"}


@dataclass
class RecipeSpec:
    """The parts of a recipe the pipeline reads: its passes and the final precision."""

    name: str
    path: Path
    precision: str
    passes: list[dict[str, Any]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def resolve_recipe(recipe: str | Path | None, target: TargetProfile) -> RecipeSpec:
    """Load `recipe` (a file path or a name in recipes/), or the target's default recipe."""
    reference = str(recipe) if recipe is not None else target.default_recipe
    path = Path(reference)
    if not path.suffix:
        path = RECIPES_DIR / f"{reference}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")))
        raise ProfileError(f"recipe not found: {reference} (looked for {path}); shipped recipes: {known}")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ProfileError(f"{path}: invalid YAML: {err}") from err
    if not isinstance(data, dict):
        raise ProfileError(f"{path}: expected a mapping with keys name, passes, quantize")
    precision = (data.get("quantize") or {}).get("precision", "target")
    if precision == "target":
        precision = target.preferred_precision
    return RecipeSpec(data.get("name", path.stem), path, precision, list(data.get("passes") or []), data)


@dataclass
class ConversionJob:
    role: str
    format: str
    precision: str
    path: str
    io_dtype: str = "float32"
    per_tensor_weights: bool = False
    allow_float_fallback: bool = False
    static_batch: bool = False


def plan_conversions(target: TargetProfile, precision: str, stage_dir: Path) -> list[ConversionJob]:
    """Return the float reference job and the artifact job for `target` at `precision`."""
    if precision not in target.supported_precisions:
        raise UnsupportedError(
            f"target {target.name} does not support precision {precision!r}; "
            f"it supports {', '.join(target.supported_precisions)}. Pick another recipe or precision"
        )
    fmt = "tflite" if target.artifact_format == "c-array" else target.artifact_format
    ext = _EXTENSIONS[target.artifact_format]
    quantization = target.data["quantization"]
    operators = target.data["operators"]
    static = bool(operators.get("static_shapes", False))
    float_job = ConversionJob("float-reference", fmt, "fp32", str(stage_dir / f"model_float{ext}"), static_batch=static)
    artifact = ConversionJob(
        "artifact",
        fmt,
        precision,
        str(stage_dir / f"model{ext}"),
        io_dtype=quantization["io_dtype"] if precision == "int8" else "float32",
        per_tensor_weights=quantization["weights"] == "per-tensor",
        allow_float_fallback=not quantization["full_integer"],
        static_batch=static,
    )
    return [float_job, artifact]
