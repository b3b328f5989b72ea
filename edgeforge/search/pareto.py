"""The Pareto front of a finished study, the rule that picks one recipe, and the front's plot."""

from __future__ import annotations

import io
import logging
from pathlib import Path
from typing import Any

from edgeforge._files import write_bytes_atomic

log = logging.getLogger(__name__)

CHOICE_RULE = (
    "Among the trials that meet every applied budget and lie on the Pareto front, keep those that are at "
    "least as good as the base recipe's trial on every objective (when the base recipe was run and some "
    "trial is), then take the one with the lowest latency; ties go to the smaller artifact, then to the "
    "smaller accuracy drop, then to the earlier trial."
)


def dominates(a: list[float], b: list[float]) -> bool:
    """Return whether values `a` are no worse than `b` everywhere and better somewhere (all minimized)."""
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def pareto_front(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Entries (each with `values`) that no other entry dominates; equal values keep the earliest trial."""
    front = []
    seen: set[tuple[float, ...]] = set()
    for entry in sorted(entries, key=lambda e: e["trial"]):
        if any(dominates(other["values"], entry["values"]) for other in entries):
            continue
        key = tuple(entry["values"])
        if key in seen:
            continue
        seen.add(key)
        front.append(entry)
    return front


def choose(front: list[dict[str, Any]], objectives: tuple[str, ...], baseline: dict[str, Any] | None):
    """Apply CHOICE_RULE to feasible front entries; return the chosen entry or None."""
    candidates = [e for e in front if e["feasible"]]
    if not candidates:
        return None
    if baseline is not None:
        better = [e for e in candidates if e is baseline or all(x <= y for x, y in zip(e["values"], baseline["values"]))]
        if better:
            candidates = better
    order = [n for n in ("latency_ms", "size_kib", "accuracy_drop", "ram_kib") if n in objectives]
    order += [n for n in objectives if n not in order]

    def rank(entry: dict[str, Any]) -> tuple:
        return tuple(entry["metrics"][n]["value"] for n in order) + (entry["trial"],)

    return min(candidates, key=rank)


def plot_front(path: Path, entries: list[dict[str, Any]], front: list[dict[str, Any]], chosen: dict[str, Any] | None,
               objectives: tuple[str, ...], labels: dict[str, str], title: str) -> None:
    """Scatter every completed trial against the first objective, one panel per other objective."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    y_name = objectives[0]
    others = list(objectives[1:]) or [y_name]
    fig, axes = plt.subplots(1, len(others), figsize=(5.0 * len(others), 4.2), squeeze=False)
    front_ids = {e["trial"] for e in front}
    for axis, x_name in zip(axes[0], others):
        groups = (
            ("budget missed", [e for e in entries if not e["feasible"]], {"marker": "x", "color": "tab:red"}),
            ("trial", [e for e in entries if e["feasible"] and e["trial"] not in front_ids], {"color": "tab:gray"}),
            ("Pareto front", [e for e in entries if e["feasible"] and e["trial"] in front_ids], {"color": "tab:blue"}),
        )
        for label, group, style in groups:
            if group:
                axis.scatter([e["metrics"][x_name]["value"] for e in group],
                             [e["metrics"][y_name]["value"] for e in group], label=label, s=28, **style)
        if chosen is not None:
            axis.scatter([chosen["metrics"][x_name]["value"]], [chosen["metrics"][y_name]["value"]], marker="*",
                         s=220, facecolors="none", edgecolors="tab:orange", linewidths=1.8, label="chosen")
        axis.set_xlabel(labels[x_name])
        axis.set_ylabel(labels[y_name])
        axis.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    write_bytes_atomic(path, buffer.getvalue())
