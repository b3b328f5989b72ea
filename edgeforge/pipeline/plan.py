"""Decide what a build converts, from the target profile and the recipe."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgeforge.errors import UnsupportedError
from edgeforge.recipes import Recipe, load_recipe
from edgeforge.targets import TargetProfile

_EXTENSIONS = {"tflite": ".tflite", "openvino-ir": ".xml", "c-array": ".tflite"}


@dataclass(frozen=True)
class RecipeSpec:
    """A loaded recipe with its precision resolved for one target."""

    recipe: Recipe
    precision: str
    io_dtype: str | None

    @property
    def name(self) -> str:
        return self.recipe.name

    @property
    def path(self) -> Path:
        return self.recipe.path

    @property
    def passes(self) -> list[str]:
        return [step.name for step in self.recipe.steps]


def resolve_recipe(recipe: str | Path | None, target: TargetProfile) -> RecipeSpec:
    """Load `recipe` (a file path or a name in recipes/), or the target's default recipe."""
    loaded = load_recipe(recipe if recipe is not None else target.default_recipe)
    precision = target.preferred_precision if loaded.precision == "target" else loaded.precision
    return RecipeSpec(loaded, precision, loaded.io_dtype)


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


def plan_conversions(target: TargetProfile, recipe: RecipeSpec, stage_dir: Path) -> list[ConversionJob]:
    """Return the float reference job and the artifact job for `target` at the recipe's precision."""
    precision = recipe.precision
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
        io_dtype=(recipe.io_dtype or quantization["io_dtype"]) if precision == "int8" else "float32",
        per_tensor_weights=quantization["weights"] == "per-tensor",
        allow_float_fallback=not quantization["full_integer"],
        static_batch=static,
    )
    return [float_job, artifact]
