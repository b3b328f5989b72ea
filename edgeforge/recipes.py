"""Recipes: ordered model passes plus the final quantization, read from YAML and run in order.

A recipe is found by name in the shipped `recipes/` folder (or folders given by
the caller) or read from a file path. Every pass's parameters are checked
against the pass's config dataclass when the recipe loads, so a typo fails
before any training starts.
"""

from __future__ import annotations

import dataclasses
import difflib
import logging
import time
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import jsonschema

from edgeforge.errors import ProfileError, UnsupportedError, UsageError
from edgeforge.passes import distill, prune_channels, prune_magnitude, qat  # noqa: F401  (registers the passes)
from edgeforge.passes.base import PassContext, get_pass, make_config
from edgeforge.passes.common import count_params, top1_accuracy
from edgeforge.targets.registry import describe_schema_error, read_yaml_mapping
from edgeforge.targets.schema import IO_DTYPES, PRECISIONS

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parents[1] / "recipes"

RECIPE_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["name", "passes", "quantize"],
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]*$"},
        "description": {"type": "string"},
        "passes": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["name"],
                "properties": {
                    "name": {"type": "string"},
                    "params": {"type": "object"},
                },
            },
        },
        "quantize": {
            "type": "object",
            "additionalProperties": False,
            "required": ["precision"],
            "properties": {
                # "target" takes the target profile's preferred precision.
                "precision": {"enum": PRECISIONS + ["target"]},
                "io_dtype": {"enum": IO_DTYPES},
            },
        },
    },
}

ProgressCallback = Callable[[int, int, str], None]


@dataclass(frozen=True)
class RecipeStep:
    """One pass of a recipe with its checked configuration."""

    name: str
    config: Any

    @property
    def params(self) -> dict[str, Any]:
        """All parameters of the pass, defaults included, as plain YAML values."""
        return dataclasses.asdict(self.config)


@dataclass(frozen=True)
class Recipe:
    """A validated recipe. `precision` may be "target": use the target's preferred precision."""

    name: str
    path: Path
    description: str
    steps: list[RecipeStep] = field(default_factory=list)
    precision: str = "int8"
    io_dtype: str | None = None


def list_recipes(extra_dirs: Iterable[str | Path] = ()) -> list[str]:
    """Return the names of the recipes found in `extra_dirs` and the shipped folder."""
    return sorted(_recipe_files(extra_dirs))


def _recipe_files(extra_dirs: Iterable[str | Path]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for folder in [SHIPPED_DIR, *reversed([Path(d) for d in extra_dirs])]:
        if not folder.is_dir():
            raise ProfileError(f"recipe folder not found: {folder}")
        for path in sorted(folder.glob("*.yaml")):
            files[path.stem] = path
    return files


def _looks_like_path(name_or_path: str | Path) -> bool:
    text = str(name_or_path)
    return isinstance(name_or_path, Path) or text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text


def load_recipe(name_or_path: str | Path, *, extra_dirs: Iterable[str | Path] = ()) -> Recipe:
    """Load a recipe by name (shipped or in `extra_dirs`) or from a YAML file path, and validate it."""
    if _looks_like_path(name_or_path):
        path = Path(name_or_path)
        if not path.is_file():
            raise ProfileError(f"recipe file not found: {path}; give an existing YAML file or a recipe name")
        return read_recipe(path)
    files = _recipe_files(extra_dirs)
    name = str(name_or_path)
    if name not in files:
        message = f"unknown recipe {name!r}"
        close = difflib.get_close_matches(name, list(files), n=1, cutoff=0.5)
        message += f"; did you mean {close[0]!r}?" if close else "."
        raise UsageError(message + f" Known recipes: {', '.join(sorted(files))}. Or give a recipe file path.")
    recipe = read_recipe(files[name])
    if recipe.name != name:
        raise ProfileError(
            f"{files[name]}: key 'name' is {recipe.name!r} but the file is named {name!r}; make them equal"
        )
    return recipe


def read_recipe(path: Path) -> Recipe:
    """Read and validate one recipe file."""
    content = read_yaml_mapping(path, "recipe")

    validator = jsonschema.Draft202012Validator(RECIPE_SCHEMA)
    errors = sorted(validator.iter_errors(content), key=lambda err: list(err.absolute_path))
    if errors:
        raise ProfileError(describe_schema_error(errors[0], path))

    steps = []
    for index, entry in enumerate(content["passes"]):
        where = f"{path}: passes.{index} ({entry['name']})"
        try:
            spec = get_pass(entry["name"])
        except ProfileError as err:
            raise ProfileError(f"{path}: passes.{index}: {err}") from err
        params = entry.get("params") or {}
        _check_param_types(spec.config_type, params, where)
        try:
            config = make_config(spec, params, where)
        except ValueError as err:
            raise ProfileError(f"{where}: {err}") from err
        steps.append(RecipeStep(entry["name"], config))
    quantize = content["quantize"]
    return Recipe(
        name=content["name"], path=path, description=content.get("description", ""), steps=steps,
        precision=quantize["precision"], io_dtype=quantize.get("io_dtype"),
    )


def _check_param_types(config_type: type, params: dict[str, Any], where: str) -> None:
    hints = typing.get_type_hints(config_type)
    for key, value in params.items():
        if key in hints and not _matches(value, hints[key]):
            raise ProfileError(f"{where}: parameter {key!r}: expected {_describe(hints[key])}, found {value!r}")


def _matches(value: Any, hint: Any) -> bool:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return any(value == arg and type(value) is type(arg) for arg in typing.get_args(hint))
    if origin is list:
        (item,) = typing.get_args(hint)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True


def _describe(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(arg) for arg in typing.get_args(hint))
    if origin is typing.Literal:
        return " or ".join(repr(arg) for arg in typing.get_args(hint))
    if origin is list:
        return f"a list of {_describe(typing.get_args(hint)[0])}"
    if hint is type(None):
        return "null"
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(hint, str(hint))


def run_passes(
    model: Any, recipe: Recipe, context: PassContext, *, progress: ProgressCallback | None = None,
    max_pass_drop: float | None = None,
) -> tuple[Any, list[dict[str, Any]]]:
    """Run the recipe's passes in order; return the final model and one record per pass.

    A record is {"name", "params", "wall_s", "changes", "notes"}. `changes` always
    contains `applied`, `parameters_before`, `parameters_after` and, when the
    evaluation data has labels, `accuracy_before` and `accuracy_after` (top-1, percent).
    A pass that cannot apply (UnsupportedError) is skipped with its reason in
    `notes`, unless `context.strict`, in which case the error propagates.
    With `max_pass_drop` (points), a pass whose result scores more than that
    below its input on `context.eval` is reverted: the next pass starts from
    the model before it, and the record gives the reason (strict mode raises instead).
    """
    records = []
    accuracy = top1_accuracy(model, context.eval)
    total = len(recipe.steps)
    for index, step in enumerate(recipe.steps):
        if progress is not None:
            progress(index, total, step.name)
        log.info("pass %d/%d: %s", index + 1, total, step.name)
        spec = get_pass(step.name)
        parameters_before = count_params(model)
        started = time.perf_counter()
        try:
            result = spec.run(model, step.config, context)
        except UnsupportedError as err:
            if context.strict:
                raise
            log.warning("pass %s skipped: %s", step.name, err)
            changes = {"applied": False, "parameters_before": parameters_before, "parameters_after": parameters_before}
            if accuracy is not None:
                changes.update(accuracy_before=round(accuracy, 3), accuracy_after=round(accuracy, 3))
            records.append({
                "name": step.name, "params": step.params, "wall_s": round(time.perf_counter() - started, 3),
                "changes": changes, "notes": [f"skipped: {err}"],
            })
            continue
        wall_s = time.perf_counter() - started
        accuracy_after = top1_accuracy(result.model, context.eval)
        if (max_pass_drop is not None and accuracy is not None and accuracy_after is not None
                and accuracy - accuracy_after > max_pass_drop):
            reason = (f"reverted: top-1 on the pass holdout fell from {accuracy:.2f}% to {accuracy_after:.2f}%, "
                      f"more than the {max_pass_drop:g}-point limit per pass; the next pass starts from the "
                      "model before this one")
            if context.strict:
                raise UnsupportedError(f"pass {step.name}: {reason.removeprefix('reverted: ')}")
            log.warning("pass %s %s", step.name, reason)
            changes = {"applied": False, "parameters_before": parameters_before,
                       "parameters_after": parameters_before, "accuracy_before": round(accuracy, 3),
                       "accuracy_rejected": round(accuracy_after, 3)}
            records.append({"name": step.name, "params": step.params, "wall_s": round(wall_s, 3),
                            "changes": changes, "notes": [*result.notes, reason]})
            continue
        model = result.model
        changes = {"applied": True, "parameters_before": parameters_before, "parameters_after": count_params(model)}
        if accuracy is not None and accuracy_after is not None:
            changes.update(accuracy_before=round(accuracy, 3), accuracy_after=round(accuracy_after, 3))
        changes.update(result.changes)
        accuracy = accuracy_after
        for note in result.notes:
            log.info("pass %s: %s", step.name, note)
        records.append({
            "name": step.name, "params": step.params, "wall_s": round(wall_s, 3),
            "changes": changes, "notes": list(result.notes),
        })
    if progress is not None:
        progress(total, total, "")
    return model, records
