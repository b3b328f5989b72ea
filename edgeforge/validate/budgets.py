"""Compare a build's figures with its budgets."""

from __future__ import annotations

from typing import Any

BUDGET_UNITS = {
    "max_accuracy_drop": "points",
    "max_latency_ms": "ms",
    "max_size_kib": "KiB",
    "max_ram_kib": "KiB",
    "max_robustness_gap": "points",
    "compatibility_errors": "errors",
}


def check_budgets(limits: dict[str, float | None], figures: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Return one record per budget with a limit.

    `figures[name]` holds `value` (None when not available) and `basis`
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
