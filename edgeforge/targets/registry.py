"""Find, merge and validate target profiles.

Profiles come from the shipped `targets/` folder and from user folders given
with `--targets-dir` or the `EDGEFORGE_TARGETS_PATH` variable (folders joined
by the OS path separator). A user profile with the name of a shipped one
replaces it; `extends: NAME` starts from another profile and overrides keys.
"""

from __future__ import annotations

import copy
import difflib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import jsonschema
import yaml

from edgeforge.errors import ProfileError, UsageError
from edgeforge.targets.schema import PROFILE_SCHEMA

log = logging.getLogger(__name__)

SHIPPED_DIR = Path(__file__).resolve().parents[2] / "targets"
ENV_VAR = "EDGEFORGE_TARGETS_PATH"


@dataclass(frozen=True)
class TargetProfile:
    """A validated hardware profile. `data` is the merged YAML content."""

    name: str
    path: Path
    data: dict[str, Any]

    @property
    def runtime(self) -> str:
        return self.data["runtime"]

    @property
    def artifact_format(self) -> str:
        return self.data["artifact_format"]

    @property
    def threads(self) -> int:
        return self.data["threads"]

    @property
    def preferred_precision(self) -> str:
        return self.data["precisions"]["preferred"]

    @property
    def supported_precisions(self) -> list[str]:
        return self.data["precisions"]["supported"]

    @property
    def io_dtype(self) -> str:
        return self.data["quantization"]["io_dtype"]

    @property
    def budgets(self) -> dict[str, float | None]:
        return dict(self.data.get("budgets", {}))

    @property
    def default_recipe(self) -> str:
        return self.data["default_recipe"]


def search_dirs(extra_dirs: Iterable[str | Path] = ()) -> list[Path]:
    """Return the profile folders in priority order: explicit, then the variable, then shipped."""
    dirs = [Path(d) for d in extra_dirs]
    env_value = os.environ.get(ENV_VAR, "")
    dirs += [Path(d) for d in env_value.split(os.pathsep) if d]
    dirs.append(SHIPPED_DIR)
    for folder in dirs:
        if not folder.is_dir():
            raise ProfileError(
                f"target folder not found: {folder}; check --targets-dir and {ENV_VAR}"
            )
    return dirs


def _profile_files(dirs: list[Path]) -> dict[str, Path]:
    files: dict[str, Path] = {}
    for folder in reversed(dirs):
        for path in sorted(folder.glob("*.yaml")):
            if path.stem in files and files[path.stem] != path:
                log.info("target %s from %s replaces %s", path.stem, path, files[path.stem])
            files[path.stem] = path
    return files


def list_targets(extra_dirs: Iterable[str | Path] = ()) -> list[TargetProfile]:
    """Load and validate every profile found, sorted by name."""
    files = _profile_files(search_dirs(extra_dirs))
    return [_load(name, files, ()) for name in sorted(files)]


def load_target(name: str, extra_dirs: Iterable[str | Path] = ()) -> TargetProfile:
    """Load the profile called `name`, merged with the profiles it extends, and validate it."""
    files = _profile_files(search_dirs(extra_dirs))
    if name not in files:
        raise UsageError(_unknown_message(name, sorted(files)))
    return _load(name, files, ())


def _unknown_message(name: str, known: list[str]) -> str:
    message = f"unknown target {name!r}"
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
    if close:
        message += f"; did you mean {close[0]!r}?"
    else:
        message += "."
    return message + f" Known targets: {', '.join(known)}. Run 'edgeforge targets' to list them."


def read_yaml_mapping(path: Path, what: str = "profile") -> dict[str, Any]:
    """Read a YAML file whose top level must be a mapping; raise ProfileError naming the file otherwise."""
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as err:
        raise ProfileError(f"{path}: invalid YAML: {err}") from err
    except OSError as err:
        raise ProfileError(f"{path}: cannot read the file: {err.strerror}") from err
    if not isinstance(content, dict):
        found = type(content).__name__
        raise ProfileError(f"{path}: expected a mapping of {what} keys at the top level, found {found}")
    return content


def _load(name: str, files: dict[str, Path], chain: tuple[str, ...]) -> TargetProfile:
    path = files[name]
    if name in chain:
        loop = " -> ".join(chain + (name,))
        raise ProfileError(f"{path}: 'extends' forms a loop: {loop}")
    raw = read_yaml_mapping(path)
    parent_name = raw.get("extends")
    if parent_name is not None:
        if not isinstance(parent_name, str):
            raise ProfileError(f"{path}: key 'extends': expected string, found {parent_name!r}")
        if parent_name not in files:
            raise ProfileError(f"{path}: key 'extends': " + _unknown_message(parent_name, sorted(files)))
        parent = _load(parent_name, files, chain + (name,))
        merged = deep_merge(parent.data, raw)
        merged["extends"] = parent_name
    else:
        merged = raw
    validate_profile(merged, path)
    if merged["name"] != path.stem:
        raise ProfileError(
            f"{path}: key 'name' is {merged['name']!r} but the file is named {path.stem!r}; "
            "make them equal"
        )
    return TargetProfile(merged["name"], path, merged)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Return `base` with `override` applied: mappings merge key by key, other values replace."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def validate_profile(data: dict[str, Any], path: Path, schema: dict = PROFILE_SCHEMA) -> None:
    """Raise ProfileError naming the file, key, expectation and found value for the first schema error."""
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(data), key=lambda err: list(err.absolute_path))
    if not errors:
        return
    raise ProfileError(describe_schema_error(errors[0], path))


def describe_schema_error(err: jsonschema.ValidationError, path: Path) -> str:
    """Turn a jsonschema error into 'file: key: expected ..., found ...'."""
    key = ".".join(str(part) for part in err.absolute_path) or "(top level)"
    if err.validator == "additionalProperties":
        allowed = sorted(err.schema.get("properties", {}))
        extra = sorted(set(err.instance) - set(allowed))
        hints = []
        for unknown in extra:
            close = difflib.get_close_matches(unknown, allowed, n=1)
            hints.append(f"{unknown!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
        where = "top level" if key == "(top level)" else f"key {key!r}"
        return f"{path}: unknown key {', '.join(hints)} under {where}; allowed keys: {', '.join(allowed)}"
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        where = "top level" if key == "(top level)" else f"key {key!r}"
        return f"{path}: missing required key {missing!r} under {where}"
    expected = _expected(err)
    return f"{path}: key {key!r}: expected {expected}, found {err.instance!r}"


def _expected(err: jsonschema.ValidationError) -> str:
    if err.validator == "enum":
        return "one of " + ", ".join(repr(v) for v in err.validator_value)
    if err.validator == "type":
        kinds = err.validator_value if isinstance(err.validator_value, list) else [err.validator_value]
        return " or ".join(kinds)
    if err.validator in ("minimum", "exclusiveMinimum"):
        return f"a number >= {err.validator_value}" if err.validator == "minimum" else f"a number > {err.validator_value}"
    if err.validator == "pattern":
        return f"a string matching {err.validator_value}"
    return err.message
