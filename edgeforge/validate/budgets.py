"""Compare a build's figures with its budgets."""

from __future__ import annotations

import difflib
import logging
import math
from pathlib import Path
from typing import Any

from edgeforge.errors import ProfileError, UsageError

log = logging.getLogger(__name__)

BUDGET_UNITS = {
    "max_accuracy_drop": "points",
    "max_latency_ms": "ms",
    "max_size_kib": "KiB",
    "max_ram_kib": "KiB",
    "max_robustness_gap": "points",
    "compatibility_errors": "errors",
}


def read_budget_file(path: str | Path, target: str) -> dict[str, float]:
    """Read a project budget file: `budgets` for every target, then `targets.<name>.budgets` over them.

    Example::

        budgets: {max_accuracy_drop: 0.5}
        targets:
          cortex-m7: {budgets: {max_size_kib: 256}}
    """
    from edgeforge.targets.registry import read_yaml_mapping

    path = Path(path)
    content = read_yaml_mapping(path, "budget file")
    unknown = sorted(set(content) - {"budgets", "targets"})
    if unknown:
        raise ProfileError(f"{path}: unknown key {unknown[0]!r}; allowed keys: budgets, targets")
    merged = _budget_values(content.get("budgets") or {}, f"{path}: budgets")
    targets = content.get("targets") or {}
    _warn_unknown_targets(path, list(targets))
    per_target = targets.get(target) or {}
    if set(per_target) - {"budgets"}:
        raise ProfileError(f"{path}: targets.{target} may only contain 'budgets', found {sorted(per_target)}")
    merged.update(_budget_values(per_target.get("budgets") or {}, f"{path}: targets.{target}.budgets"))
    return merged


def _warn_unknown_targets(path: Path, names: list[str]) -> None:
    from edgeforge.targets import list_targets

    known = [profile.name for profile in list_targets()]
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            log.warning("%s: targets.%s names no shipped target%s; its budgets apply only to a target of that "
                        "name from --targets-dir", path, name, hint)


def validate_budgets(budgets: dict[str, Any]) -> dict[str, float]:
    """Check budget overrides given to the Python API: known names, finite numbers >= 0."""
    try:
        return _budget_values(budgets, "budgets")
    except ProfileError as err:
        raise UsageError(str(err)) from err


def _budget_values(values: dict[str, Any], where: str) -> dict[str, float]:
    if not isinstance(values, dict):
        raise ProfileError(f"{where}: expected a mapping of budget names to numbers, found {type(values).__name__}")
    checked = {}
    for name, value in values.items():
        if name not in BUDGET_UNITS:
            close = difflib.get_close_matches(str(name), list(BUDGET_UNITS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ProfileError(f"{where}: unknown budget {name!r}{hint}; known budgets: {', '.join(BUDGET_UNITS)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise ProfileError(f"{where}: budget {name!r} must be a finite number >= 0, found {value!r}")
        checked[name] = float(value)
    return checked


def check_budgets(limits: dict[str, float | None], figures: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Return one record per budget with a limit.

    `figures[name]` contains `value` (None when not available) and `basis`
    (measured, estimated, or why the value is missing). A budget whose value is
    missing is reported with `passed: None`, not as passed.
    """
    records = []
    for name, limit in limits.items():
        if limit is None:
            continue
        figure = figures.get(name, {"value": None, "basis": "not computed by this build"})
        value = figure["value"]
        records.append({
            "name": name,
            "value": None if value is None else round(float(value), 4),
            "limit": limit,
            "unit": BUDGET_UNITS.get(name, ""),
            "passed": None if value is None else bool(value <= limit),
            "basis": figure["basis"],
        })
    return records
