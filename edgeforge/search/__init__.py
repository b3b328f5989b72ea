"""Search for the recipe that fits a target's budgets best, with Optuna's multi-objective samplers."""

from edgeforge.search.objectives import (
    DEFAULT_OBJECTIVES, OBJECTIVES, HostLatency, LatencySource, Measurement, TargetLatency,
)
from edgeforge.search.pareto import CHOICE_RULE
from edgeforge.search.space import Dimension, SearchSpace, load_space

__all__ = [
    "CHOICE_RULE", "DEFAULT_OBJECTIVES", "OBJECTIVES", "Dimension", "HostLatency", "LatencySource", "Measurement",
    "SearchResult", "SearchSpace", "TargetLatency", "load_space", "search_recipe",
]


def __getattr__(name: str):
    # The runner imports the build pipeline; load it on first use so `edgeforge --help` stays light.
    if name in ("search_recipe", "SearchResult"):
        from edgeforge.search import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'edgeforge.search' has no attribute {name!r}")
