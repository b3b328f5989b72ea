"""Search spaces: which recipe fields a search varies, and over which values.

A space file names a base recipe and a list of dimensions. Each dimension
addresses one recipe field by path and gives either `choices` or a numeric
range (`low`, `high`, optional `step` and `log`). Paths are dotted keys with
list items selected by index or by their `name` key:

    quantize.precision
    passes[distill].params.width
    passes[0].params.epochs
    passes[qat].enabled          (false removes the pass from the recipe)

Nothing here depends on which passes exist, so a space covers any pass that a
recipe can name. Missing mapping keys below a selected item are created; a
list item that the base recipe lacks is an error, or, for a dimension marked
`optional: true`, a reason to drop that dimension.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from edgeforge.errors import ProfileError
from edgeforge.recipes import SHIPPED_DIR as SHIPPED_RECIPES_DIR
from edgeforge.targets import TargetProfile
from edgeforge.targets.registry import describe_schema_error

log = logging.getLogger(__name__)

SPACES_DIR = Path(__file__).resolve().parents[2] / "search-spaces"
RECIPES_DIR = SHIPPED_RECIPES_DIR
DEFAULT_SPACE = "default"
ENABLED_KEY = "enabled"

_SEGMENT = r"[A-Za-z_][A-Za-z0-9_]*(?:\[[A-Za-z0-9_-]+\])?"
PATH_PATTERN = rf"^{_SEGMENT}(?:\.{_SEGMENT})*$"

SPACE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "additionalProperties": False,
    "required": ["dimensions"],
    "properties": {
        "description": {"type": "string"},
        # A recipe name in recipes/ or a YAML path (relative to the space file); default: the target's recipe.
        "base_recipe": {"type": "string", "minLength": 1},
        "dimensions": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["path"],
                "properties": {
                    "path": {"type": "string", "pattern": PATH_PATTERN},
                    "description": {"type": "string"},
                    "choices": {
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": ["string", "number", "boolean", "null"]},
                    },
                    "low": {"type": "number"},
                    "high": {"type": "number"},
                    "step": {"type": "number", "exclusiveMinimum": 0},
                    "log": {"type": "boolean"},
                    "optional": {"type": "boolean"},
                },
            },
        },
    },
}


@dataclass(frozen=True)
class Dimension:
    """One searched recipe field: categorical `choices`, or an int or float range."""

    path: str
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False
    integer: bool = False

    def suggest(self, trial: Any) -> Any:
        """Draw this dimension's value from an Optuna trial; the parameter name is the path."""
        if self.choices is not None:
            return trial.suggest_categorical(self.path, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.path, int(self.low), int(self.high), step=int(self.step or 1), log=self.log)
        return trial.suggest_float(self.path, self.low, self.high, step=self.step, log=self.log)

    def contains(self, value: Any) -> bool:
        """Check whether `value` lies in this dimension, so a trial can be pinned to it."""
        if self.choices is not None:
            return any(value == c and type(value) is type(c) for c in self.choices)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.integer and not isinstance(value, int):
            return False
        if not self.low <= value <= self.high:
            return False
        if self.step is None:
            return True
        offset = (value - self.low) / self.step
        return abs(offset - round(offset)) < 1e-9

    def values(self) -> list[Any] | None:
        """List every value of a finite dimension; return None for a continuous float range."""
        if self.choices is not None:
            return list(self.choices)
        if self.integer:
            return list(range(int(self.low), int(self.high) + 1, 1 if self.log else int(self.step or 1)))
        if self.step is None:
            return None
        count = int(round((self.high - self.low) / self.step + 1e-9)) + 1
        return [round(self.low + index * self.step, 12) for index in range(count)]

    def describe(self) -> dict[str, Any]:
        if self.choices is not None:
            return {"path": self.path, "choices": list(self.choices)}
        kind = "int" if self.integer else "float"
        return {"path": self.path, "type": kind, "low": self.low, "high": self.high, "step": self.step, "log": self.log}


@dataclass
class SearchSpace:
    """A validated space: the base recipe and the dimensions that vary it."""

    path: Path | None
    description: str
    base_recipe: dict[str, Any]
    base_recipe_ref: str
    dimensions: list[Dimension]
    dropped: list[str] = field(default_factory=list)

    def suggest(self, trial: Any) -> dict[str, Any]:
        """Draw one value per dimension from an Optuna trial."""
        return {dim.path: dim.suggest(trial) for dim in self.dimensions}

    def build_recipe(self, params: dict[str, Any], *, name: str, description: str) -> dict[str, Any]:
        """Return a copy of the base recipe with `params` (path -> value) applied."""
        recipe = copy.deepcopy(self.base_recipe)
        removed: list[int] = []
        for dim in self.dimensions:
            if dim.path not in params:
                continue
            _apply(recipe, dim.path, params[dim.path], removed)
        if removed:
            recipe["passes"] = [p for p in recipe.get("passes") or [] if id(p) not in removed]
        recipe["name"] = name
        recipe["description"] = description
        return recipe

    def grid(self) -> dict[str, list[Any]] | None:
        """Map each dimension to all its values; return None when a dimension is a continuous range."""
        grid = {dim.path: dim.values() for dim in self.dimensions}
        return None if any(values is None for values in grid.values()) else grid

    def base_params(self) -> dict[str, Any]:
        """Collect the base recipe's value of each dimension that can take it, to enqueue the base as a trial."""
        params = {}
        for dim in self.dimensions:
            value = _read(self.base_recipe, dim.path)
            if dim.contains(value):
                params[dim.path] = value
        return params

    def fingerprint(self) -> str:
        """SHA-256 of the base recipe and dimensions, to notice an edited space on resume."""
        content = {"base": self.base_recipe, "dimensions": [d.describe() for d in self.dimensions]}
        return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()

    def describe(self) -> dict[str, Any]:
        return {
            "path": str(self.path) if self.path else None,
            "base_recipe": self.base_recipe_ref,
            "dimensions": [d.describe() for d in self.dimensions],
            "dropped_dimensions": self.dropped,
        }


def recipe_key(recipe: dict[str, Any]) -> str:
    """Serialize what a recipe builds (name and description left out) canonically, to find repeated trials."""
    content = {k: v for k, v in recipe.items() if k not in ("name", "description")}
    return json.dumps(content, sort_keys=True, separators=(",", ":"))


def default_space_path(target: TargetProfile) -> Path:
    """Return search-spaces/<target>.yaml when it exists, else search-spaces/default.yaml."""
    own = SPACES_DIR / f"{target.name}.yaml"
    return own if own.is_file() else SPACES_DIR / f"{DEFAULT_SPACE}.yaml"


def load_space(
    space: str | Path | dict[str, Any] | None,
    *,
    target: TargetProfile,
    base_recipe: str | Path | dict[str, Any] | None = None,
) -> SearchSpace:
    """Load and check a search space against `target` and its base recipe.

    `space` is a YAML file, an already parsed mapping, or None for the target's
    default space. `base_recipe` overrides the space's `base_recipe` key. In the
    default space, precisions the target does not support are dropped. In a
    user's space an unsupported precision is an error. In both, an optional
    dimension whose pass the base recipe lacks is dropped.
    """
    is_default = space is None
    if space is None:
        space = default_space_path(target)
    if isinstance(space, dict):
        content, where = copy.deepcopy(space), Path("<search space>")
        space_path = None
    else:
        space_path = Path(space)
        content, where = _read_yaml(space_path, "search space"), space_path

    errors = sorted(jsonschema.Draft202012Validator(SPACE_SCHEMA).iter_errors(content),
                    key=lambda err: list(err.absolute_path))
    if errors:
        raise ProfileError(describe_schema_error(errors[0], where))

    base_ref = base_recipe if base_recipe is not None else content.get("base_recipe", target.default_recipe)
    base, base_label = _load_base_recipe(base_ref, space_path)
    quantize = base.setdefault("quantize", {})
    if quantize.get("precision", "target") == "target":
        quantize["precision"] = target.preferred_precision

    dimensions, dropped = [], []
    seen = set()
    for index, entry in enumerate(content["dimensions"]):
        label = f"{where}: dimensions.{index} ({entry['path']})"
        if entry["path"] in seen:
            raise ProfileError(f"{label}: path {entry['path']!r} appears twice; keep one dimension per field")
        seen.add(entry["path"])
        try:
            _read(base, entry["path"], create=True)
        except _MissingItem as err:
            if entry.get("optional", False):
                log.info("search space: dropping optional dimension %s: %s", entry["path"], err)
                dropped.append(entry["path"])
                continue
            raise ProfileError(f"{label}: {err}; add it to the base recipe {base_label} or mark the "
                               "dimension 'optional: true'") from None
        dim = _make_dimension(entry, label)
        dim = _check_precisions(dim, target, label, filter_unsupported=is_default)
        if dim is None:
            dropped.append(entry["path"])
            continue
        dimensions.append(dim)
    if not dimensions:
        raise ProfileError(f"{where}: no dimension is left to search for target {target.name} with base recipe "
                           f"{base_label}; add a dimension that applies to it")
    description = content.get("description", "")
    return SearchSpace(space_path, description, base, base_label, dimensions, dropped)


def _read_yaml(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise ProfileError(f"{what} file not found: {path}")
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ProfileError(f"{path}: invalid YAML: {err}") from err
    if not isinstance(content, dict):
        raise ProfileError(f"{path}: expected a mapping at the top level, found {type(content).__name__}")
    return content


def _load_base_recipe(ref: str | Path | dict[str, Any], space_path: Path | None) -> tuple[dict[str, Any], str]:
    if isinstance(ref, dict):
        return copy.deepcopy(ref), "<recipe mapping>"
    text = str(ref)
    if isinstance(ref, Path) or text.endswith((".yaml", ".yml")) or "/" in text:
        path = Path(text)
        if not path.is_absolute() and space_path is not None and (space_path.parent / path).is_file():
            path = space_path.parent / path
    else:
        path = RECIPES_DIR / f"{text}.yaml"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in RECIPES_DIR.glob("*.yaml")))
            raise ProfileError(f"base recipe not found: {text!r}; shipped recipes: {known}, or give a YAML path")
    return _read_yaml(path, "base recipe"), str(path)


def _make_dimension(entry: dict[str, Any], label: str) -> Dimension:
    has_choices = "choices" in entry
    has_range = "low" in entry or "high" in entry
    if has_choices == has_range:
        raise ProfileError(f"{label}: give either 'choices' or 'low' and 'high', not both and not neither")
    is_switch = _is_switch(entry["path"])
    if has_choices:
        choices = tuple(entry["choices"])
        if len(set(json.dumps(c) for c in choices)) != len(choices):
            raise ProfileError(f"{label}: 'choices' lists a value twice: {list(choices)}")
        if is_switch and not all(isinstance(c, bool) for c in choices):
            raise ProfileError(f"{label}: an '{ENABLED_KEY}' dimension takes choices true and false, found {list(choices)}")
        if any(k in entry for k in ("step", "log")):
            raise ProfileError(f"{label}: 'step' and 'log' apply only to a low/high range")
        return Dimension(entry["path"], choices=choices)
    if is_switch:
        raise ProfileError(f"{label}: an '{ENABLED_KEY}' dimension takes choices [true, false], not a range")
    if "low" not in entry or "high" not in entry:
        raise ProfileError(f"{label}: a range needs both 'low' and 'high'")
    low, high, step, use_log = entry["low"], entry["high"], entry.get("step"), entry.get("log", False)
    if not low < high:
        raise ProfileError(f"{label}: 'low' must be less than 'high', found low={low}, high={high}")
    if use_log and low <= 0:
        raise ProfileError(f"{label}: a log range needs 'low' > 0, found {low}")
    if use_log and step is not None:
        raise ProfileError(f"{label}: give 'step' or 'log: true', not both (Optuna samples one or the other)")
    integer = all(isinstance(v, int) for v in (low, high)) and (step is None or isinstance(step, int))
    return Dimension(entry["path"], low=low, high=high, step=step, log=use_log, integer=integer)


def _check_precisions(dim: Dimension, target: TargetProfile, label: str, *, filter_unsupported: bool):
    if dim.path != "quantize.precision":
        return dim
    if dim.choices is None:
        raise ProfileError(f"{label}: a precision dimension needs 'choices', such as [int8, fp16]")
    supported = list(target.supported_precisions) + ["target"]
    unsupported = [c for c in dim.choices if c not in supported]
    if not unsupported:
        return dim
    if not filter_unsupported:
        raise ProfileError(f"{label}: target {target.name} does not support precision "
                           f"{', '.join(map(str, unsupported))}; it supports {', '.join(target.supported_precisions)}")
    kept = tuple(c for c in dim.choices if c in supported)
    log.info("search space: target %s does not support %s; searching %s", target.name,
             ", ".join(map(str, unsupported)), ", ".join(map(str, kept)) or "no precision")
    return Dimension(dim.path, choices=kept) if kept else None


class _MissingItem(Exception):
    pass


def _is_switch(path: str) -> bool:
    """Check whether `path` is LIST[item].enabled, which keeps or removes that item rather than setting a key."""
    tokens = _tokens(path)
    return tokens[-1] == ("key", ENABLED_KEY) and len(tokens) > 1 and tokens[-2][0] == "item"


def _tokens(path: str) -> list[tuple[str, str]]:
    tokens = []
    for part in path.split("."):
        match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:\[([A-Za-z0-9_-]+)\])?", part)
        tokens.append(("key", match.group(1)))
        if match.group(2) is not None:
            tokens.append(("item", match.group(2)))
    return tokens


def _select(items: Any, selector: str, where: str) -> dict[str, Any]:
    if not isinstance(items, list):
        raise _MissingItem(f"{where} is not a list")
    if selector.isdigit():
        index = int(selector)
        if index >= len(items):
            raise _MissingItem(f"{where} has {len(items)} items, so index {index} does not exist")
        return items[index]
    found = [item for item in items if isinstance(item, dict) and item.get("name") == selector]
    if not found:
        names = ", ".join(str(item.get("name")) for item in items if isinstance(item, dict)) or "none"
        raise _MissingItem(f"{where} has no item named {selector!r} (it has: {names})")
    if len(found) > 1:
        raise _MissingItem(f"{where} has {len(found)} items named {selector!r}; select one by index, such as "
                           f"{where}[{items.index(found[0])}]")
    return found[0]


def _walk(recipe: dict[str, Any], path: str, *, create: bool) -> tuple[Any, str]:
    """Return the container of the path's last key and that key, creating mappings on the way if asked."""
    tokens = _tokens(path)
    node: Any = recipe
    where = ""
    for position, (kind, value) in enumerate(tokens[:-1]):
        if kind == "item":
            node = _select(node, value, where)
            where += f"[{value}]"
            continue
        where = f"{where}.{value}" if where else value
        following = tokens[position + 1][0]
        if not isinstance(node, dict):
            raise _MissingItem(f"{where} is inside a value that is not a mapping")
        if value not in node or node[value] is None:
            if not create or following == "item":
                raise _MissingItem(f"the base recipe has no {where}")
            node[value] = {}
        node = node[value]
    kind, last = tokens[-1]
    if kind == "item":
        raise _MissingItem(f"path {path!r} ends with a list item; address one of its fields")
    return node, last


def _read(recipe: dict[str, Any], path: str, *, create: bool = False) -> Any:
    scratch = copy.deepcopy(recipe) if create else recipe
    try:
        container, key = _walk(scratch, path, create=create)
    except _MissingItem:
        if create:
            raise
        return None
    if _is_switch(path):
        return True
    return container.get(key) if isinstance(container, dict) else None


def _apply(recipe: dict[str, Any], path: str, value: Any, removed: list[int]) -> None:
    container, key = _walk(recipe, path, create=True)
    if _is_switch(path):
        if value is False:
            removed.append(id(container))
        return
    container[key] = value
