"""Objectives a search minimizes, read from each trial's build, and the budgets it must meet.

Every objective is minimized. Latency comes from a pluggable `LatencySource`:
the default, `HostLatency`, reads the latency the build measured on this
machine, which is the target's latency only on the `host` target. A
source that measures on the device, or a calibrated estimate, can replace it;
its `kind` ("measured" or "estimated") and `basis` go into every output.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from edgeforge.errors import InputError
from edgeforge.targets import TargetProfile

if TYPE_CHECKING:
    from edgeforge.pipeline.build import BuildResult


@dataclass(frozen=True)
class Objective:
    """A minimized figure of a build and the budget that limits it."""

    name: str
    unit: str
    budget: str
    label: str


OBJECTIVES: dict[str, Objective] = {
    "accuracy_drop": Objective("accuracy_drop", "points", "max_accuracy_drop", "top-1 accuracy drop"),
    "latency_ms": Objective("latency_ms", "ms", "max_latency_ms", "latency"),
    "size_kib": Objective("size_kib", "KiB", "max_size_kib", "artifact size"),
    "ram_kib": Objective("ram_kib", "KiB", "max_ram_kib", "RAM"),
}
DEFAULT_OBJECTIVES: tuple[str, ...] = ("accuracy_drop", "latency_ms", "size_kib")


class TrialMetricError(InputError):
    """A build finished but lacks a figure the search needs (no labels, no RAM figure)."""


@dataclass(frozen=True)
class Measurement:
    """One figure of one build: its value, whether it was measured or estimated, and how."""

    value: float
    kind: str
    basis: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@runtime_checkable
class LatencySource(Protocol):
    """Gives the latency of a trial's build, measured or estimated."""

    name: str

    def represents_target(self, target: TargetProfile) -> bool:
        """Check whether this source's figures are the target's latency, so the latency budget can be checked."""

    def latency(self, build: BuildResult, target: TargetProfile) -> Measurement:
        """Return the latency of the build's artifact on `target`, in milliseconds."""


class HostLatency:
    """Median latency of the artifact measured on this machine during the build's validation."""

    name = "host"

    def represents_target(self, target: TargetProfile) -> bool:
        return bool(target.data.get("host", False))

    def latency(self, build: BuildResult, target: TargetProfile) -> Measurement:
        records = [r for r in build.report.get("latency", []) if r["artifact"] == "artifact"]
        if not records:
            raise TrialMetricError("the build has no latency measurement; run the search with validation on")
        # OpenVINO builds measure twice (default and f32 hint); the plugin default is what deployments run.
        record = next((r for r in records if r.get("precision_hint") in (None, "default")), records[0])
        if self.represents_target(target):
            basis = f"measured on this host ({record['cpu']}, {record['threads']} threads, median of {record['runs']})"
        else:
            basis = (f"host latency: measured on this host ({record['cpu']}, {record['threads']} threads), "
                     f"not on {target.name}; it ranks recipes but is not the device's latency")
        return Measurement(float(record["median_ms"]), "measured", basis)


class TargetLatency:
    """The build's own latency figure for the target: measured on its device when one was given, else estimated.

    Reads the `max_latency_ms` budget record of report.json, whose basis records
    which. Raises TrialMetricError when the build has neither a device nor an
    estimate for the target.
    """

    name = "target"

    def represents_target(self, target: TargetProfile) -> bool:
        return True

    def latency(self, build: BuildResult, target: TargetProfile) -> Measurement:
        record = next((b for b in build.report.get("budgets", []) if b["name"] == "max_latency_ms"), None)
        if record is None or record["value"] is None:
            basis = record["basis"] if record else "the target has no max_latency_ms budget"
            raise TrialMetricError(f"the build has no latency figure for {target.name} ({basis}); pass a device, "
                                   "or use the host latency source")
        kind = "estimated" if "estimat" in record["basis"].lower() else "measured"
        return Measurement(float(record["value"]), kind, record["basis"])


LATENCY_SOURCES = {"host": HostLatency, "target": TargetLatency}


def check_objectives(names: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Validate objective names; return them as a tuple in the given order."""
    names = tuple(names)
    if not names:
        raise InputError(f"no objectives given; pick from {', '.join(OBJECTIVES)}")
    unknown = [n for n in names if n not in OBJECTIVES]
    if unknown:
        raise InputError(f"unknown objective {', '.join(map(repr, unknown))}; known objectives: {', '.join(OBJECTIVES)}")
    if len(set(names)) != len(names):
        raise InputError(f"an objective is listed twice: {', '.join(names)}")
    return names


def measure_build(build: BuildResult, target: TargetProfile, latency_source: LatencySource,
                  names: tuple[str, ...]) -> dict[str, Measurement]:
    """Read every figure a search can use from one build; skip latency or RAM when the build lacks them.

    Raises TrialMetricError when an objective in `names` has no figure.
    """
    report = build.report
    figures: dict[str, Measurement] = {}
    artifact = next(a for a in report["artifacts"] if a["role"] == "artifact")
    figures["size_kib"] = Measurement(artifact["size_bytes"] / 1024.0, "measured", "artifact file size")

    drop = report.get("accuracy", {}).get("drop_points")
    if drop is not None:
        samples = report["accuracy"].get("samples")
        figures["accuracy_drop"] = Measurement(float(drop), "measured",
                                               f"top-1 of the original minus the artifact's, on {samples} held-out samples")
    elif "accuracy_drop" in names:
        raise TrialMetricError("the accuracy drop needs labelled evaluation data; give data with labels (y) "
                               "or leave accuracy_drop out of the objectives")

    try:
        figures["latency_ms"] = latency_source.latency(build, target)
    except TrialMetricError:
        if "latency_ms" in names:
            raise

    ram = next((b for b in report.get("budgets", []) if b["name"] == "max_ram_kib"), None)
    if ram is not None and ram["value"] is not None:
        kind = "estimated" if "estimat" in ram["basis"] else "measured"
        figures["ram_kib"] = Measurement(float(ram["value"]), kind, ram["basis"])
    elif "ram_kib" in names:
        raise TrialMetricError("this build reports no RAM figure, so ram_kib cannot be an objective; "
                               "leave it out of the objectives")

    for name in names:
        if not math.isfinite(figures[name].value):
            raise TrialMetricError(f"objective {name} is not a finite number: {figures[name].value}")
    return figures


@dataclass(frozen=True)
class BudgetCheck:
    """A budget the search applies as a constraint, or why it does not."""

    name: str
    limit: float
    objective: str
    applied: bool
    reason: str


def plan_budgets(limits: dict[str, float | None], target: TargetProfile, latency_source: LatencySource,
                 names: tuple[str, ...]) -> list[BudgetCheck]:
    """Decide, once per search, which budgets constrain the trials.

    The set is fixed for the whole study so every trial's constraint vector
    has the same meaning. Latency is checked only when the latency source
    stands for the target, and RAM only when it is an objective.
    """
    checks = []
    by_budget = {o.budget: o for o in OBJECTIVES.values()}
    for budget, limit in limits.items():
        if limit is None or budget not in by_budget:
            continue
        objective = by_budget[budget].name
        applied, reason = True, "constraint"
        if objective == "latency_ms" and not latency_source.represents_target(target):
            applied = False
            reason = (f"not applied: the latency source ({latency_source.name}) does not give "
                      f"{target.name}'s latency; plug in a device or estimate source to check it")
        elif objective == "ram_kib" and "ram_kib" not in names:
            applied = False
            reason = "not applied: builds report no RAM figure yet; add ram_kib to the objectives once they do"
        checks.append(BudgetCheck(budget, float(limit), objective, applied, reason))
    return checks


def constraint_values(figures: dict[str, Measurement], checks: list[BudgetCheck]) -> list[float]:
    """Optuna constraint values, value - limit per applied budget (feasible when every one is <= 0)."""
    return [figures[c.objective].value - c.limit for c in checks if c.applied]
