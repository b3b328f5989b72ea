"""Build manifest: what went into a build (input hashes, tool versions, seed) and what came out.

`build/<target>/manifest.json` stores the inputs, a build key derived from them, and each output file
with its size and sha256. A later build with the same key whose outputs are all present and unchanged
is up to date and can be skipped. `SHA256SUMS` lists the same files in `sha256sum -c` format.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Mapping

from edgeforge._files import write_text_atomic
from edgeforge.errors import InputError, OutputError

log = logging.getLogger(__name__)

MANIFEST_NAME = "manifest.json"
CHECKSUMS_NAME = "SHA256SUMS"
MANIFEST_SCHEMA_VERSION = 1
_CHUNK = 1 << 20

# Distributions whose versions change what a build produces, keyed by the name used in the manifest.
TOOL_DISTRIBUTIONS = {
    "edgeforge": "edgeforge",
    "tensorflow": "tensorflow",
    "tf-keras": "tf-keras",
    "tensorflow-model-optimization": "tensorflow-model-optimization",
    "ai-edge-litert": "ai-edge-litert",
    "openvino": "openvino",
    "nncf": "nncf",
    "numpy": "numpy",
}


def sha256_file(path: str | Path) -> str:
    """Return the hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def hash_input(path: str | Path, *, role: str) -> dict[str, Any]:
    """Hash a build input, a file or a directory tree (such as a SavedModel or an image folder).

    A tree hash covers each file's path relative to the root and its content, in sorted order, so
    it changes when a file is added, removed, renamed or edited, and not when timestamps change.
    """
    source = Path(path)
    if source.is_file():
        return {"path": str(source), "kind": "file", "bytes": source.stat().st_size, "sha256": sha256_file(source)}
    if source.is_dir():
        digest = hashlib.sha256()
        total = 0
        count = 0
        for item in sorted(p for p in source.rglob("*") if p.is_file()):
            relative = item.relative_to(source).as_posix()
            digest.update(relative.encode("utf-8") + b"\0" + sha256_file(item).encode("ascii") + b"\n")
            total += item.stat().st_size
            count += 1
        return {"path": str(source), "kind": "directory", "files": count, "bytes": total, "sha256": digest.hexdigest()}
    raise InputError(f"{role} not found: {source}; pass an existing file or folder")


def tool_versions(distributions: Mapping[str, str] = TOOL_DISTRIBUTIONS) -> dict[str, str | None]:
    """Return the installed version of each tool (None when it is not installed), plus Python's."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for key, distribution in distributions.items():
        try:
            versions[key] = metadata.version(distribution)
        except metadata.PackageNotFoundError:
            versions[key] = None
    return versions


def build_manifest(
    *,
    model: str | Path,
    target_profile: str | Path,
    recipe: str | Path | None = None,
    data: Mapping[str, str | Path] | None = None,
    seed: int,
    options: Mapping[str, Any] | None = None,
    tools: Mapping[str, str | None] | None = None,
) -> dict[str, Any]:
    """Describe a build's inputs: hashes of model, target profile, recipe and data, tool versions, seed.

    `data` maps a role (calibration, evaluation) to a file or folder. `options` contains the build
    settings that change outputs (budgets, precision overrides); it must be JSON-serializable.
    `tools` defaults to the installed versions.
    """
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise InputError(f"invalid seed {seed!r}: expected an integer")
    inputs: dict[str, Any] = {
        "model": hash_input(model, role="model"),
        "target_profile": hash_input(target_profile, role="target profile"),
        "recipe": None if recipe is None else hash_input(recipe, role="recipe"),
        "data": {role: hash_input(path, role=f"{role} data") for role, path in sorted((data or {}).items())},
    }
    try:
        options_json = json.loads(json.dumps(dict(options or {}), sort_keys=True))
    except TypeError as err:
        raise InputError(f"build options are not JSON-serializable: {err}; pass plain numbers, strings, lists and dicts") from err
    return {
        "schema_version": MANIFEST_SCHEMA_VERSION,
        "inputs": inputs,
        "tools": dict(tools) if tools is not None else tool_versions(),
        "seed": seed,
        "options": options_json,
    }


def build_key(manifest: Mapping[str, Any]) -> str:
    """Return the sha256 that identifies a build: input contents, tool versions, seed and options.

    Paths are left out, so moving a project or renaming an input with the same content keeps the key.
    """
    inputs = manifest["inputs"]

    def content(entry: Mapping[str, Any] | None) -> str | None:
        return None if entry is None else entry["sha256"]

    identity = {
        "schema_version": manifest.get("schema_version", MANIFEST_SCHEMA_VERSION),
        "model": content(inputs["model"]),
        "target_profile": content(inputs["target_profile"]),
        "recipe": content(inputs.get("recipe")),
        "data": {role: content(entry) for role, entry in sorted(inputs.get("data", {}).items())},
        "tools": dict(sorted(manifest["tools"].items())),
        "seed": manifest["seed"],
        "options": manifest.get("options", {}),
    }
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def list_output_files(out_dir: str | Path, paths: Iterable[str | Path]) -> list[dict[str, Any]]:
    """Return {path relative to out_dir, bytes, sha256} for each output file, sorted by path."""
    root = Path(out_dir).resolve()
    entries = []
    for path in paths:
        absolute = (root / path).resolve() if not Path(path).is_absolute() else Path(path).resolve()
        try:
            relative = absolute.relative_to(root).as_posix()
        except ValueError as err:
            raise OutputError(f"output file {absolute} is outside the build folder {root}; write outputs inside it") from err
        if not absolute.is_file():
            raise OutputError(f"output file {absolute} is missing; the build did not write it")
        entries.append({"path": relative, "bytes": absolute.stat().st_size, "sha256": sha256_file(absolute)})
    return sorted(entries, key=lambda entry: entry["path"])


def write_build_manifest(out_dir: str | Path, manifest: Mapping[str, Any], *, outputs: Iterable[str | Path]) -> Path:
    """Write manifest.json (inputs, key, output files) and SHA256SUMS into `out_dir`; return the manifest path.

    Write it last, after every output: its presence with matching hashes is what marks a build complete.
    """
    root = Path(out_dir)
    files = list_output_files(root, outputs)
    document = dict(manifest)
    document["key"] = build_key(manifest)
    document["files"] = files
    checksums = "".join(f"{entry['sha256']}  {entry['path']}\n" for entry in files)
    write_text_atomic(root / CHECKSUMS_NAME, checksums)
    return write_text_atomic(root / MANIFEST_NAME, json.dumps(document, indent=2, sort_keys=True) + "\n")


@dataclass(frozen=True)
class BuildStatus:
    """Whether a previous build in a folder can be reused, and why (or why not)."""

    up_to_date: bool
    reason: str


def check_up_to_date(out_dir: str | Path, manifest: Mapping[str, Any]) -> BuildStatus:
    """Compare a planned build with the manifest in `out_dir`: same key and every output file unchanged."""
    root = Path(out_dir)
    manifest_path = root / MANIFEST_NAME
    if not manifest_path.is_file():
        return BuildStatus(False, f"no previous build: {manifest_path} not found")
    try:
        previous = json.loads(manifest_path.read_text(encoding="utf-8"))
        previous_key = previous["key"]
        files = previous["files"]
    except (OSError, ValueError, KeyError, TypeError) as err:
        return BuildStatus(False, f"previous manifest {manifest_path} is unreadable ({err}); rebuilding")

    key = build_key(manifest)
    if previous_key != key:
        changed = _changed_inputs(previous, manifest)
        return BuildStatus(False, f"inputs changed since the previous build: {', '.join(changed) or 'build key'}")
    for entry in files:
        path = root / entry["path"]
        if not path.is_file():
            return BuildStatus(False, f"output {entry['path']} of the previous build is missing")
        if path.stat().st_size != entry["bytes"] or sha256_file(path) != entry["sha256"]:
            return BuildStatus(False, f"output {entry['path']} changed since the previous build")
    return BuildStatus(True, f"up to date: build key {key[:12]} matches and all {len(files)} output files are unchanged")


def _changed_inputs(previous: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """Name what differs between two manifests, for the rebuild message."""
    changed = []
    old_inputs, new_inputs = previous.get("inputs", {}), current["inputs"]
    for role in ("model", "target_profile", "recipe"):
        if (old_inputs.get(role) or {}).get("sha256") != (new_inputs.get(role) or {}).get("sha256"):
            changed.append(role.replace("_", " "))
    old_data, new_data = old_inputs.get("data", {}), new_inputs.get("data", {})
    for role in sorted(set(old_data) | set(new_data)):
        if (old_data.get(role) or {}).get("sha256") != (new_data.get(role) or {}).get("sha256"):
            changed.append(f"{role} data")
    old_tools, new_tools = previous.get("tools", {}), current["tools"]
    for name in sorted(set(old_tools) | set(new_tools)):
        if old_tools.get(name) != new_tools.get(name):
            changed.append(f"{name} {old_tools.get(name)} -> {new_tools.get(name)}")
    if previous.get("seed") != current["seed"]:
        changed.append(f"seed {previous.get('seed')} -> {current['seed']}")
    if previous.get("options", {}) != current.get("options", {}):
        changed.append("build options")
    return changed
