"""The Optuna samplers a search can use, built with the study's budgets as constraints."""

from __future__ import annotations

import itertools
import math
import warnings
from typing import Any, Callable, Sequence

from edgeforge.errors import InputError

SAMPLERS = ("auto", "tpe", "nsga2", "grid")


def grid_size(grid: dict[str, list[Any]] | None) -> int | None:
    """Count the points of a finite grid; return None for a space with a continuous dimension."""
    if grid is None:
        return None
    return math.prod(len(values) for values in grid.values())


def pick_sampler(name: str, grid: dict[str, list[Any]] | None, n_trials: int) -> str:
    """Resolve "auto": the grid when the trial budget covers every point of a finite space, else TPE."""
    if name == "grid" and grid is None:
        raise InputError("the grid sampler needs a finite space: give every float range a 'step', or use tpe")
    if name != "auto":
        return name
    size = grid_size(grid)
    return "grid" if size is not None and size <= n_trials else "tpe"


def grid_points(grid: dict[str, list[Any]]) -> list[dict[str, Any]]:
    """List every point of a finite grid, in a fixed order."""
    names = list(grid)
    return [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]


def make_sampler(name: str, *, seed: int, constraints: Callable[[Any], Sequence[float]]) -> Any:
    """Return a seeded sampler that treats `constraints` values > 0 as budget misses.

    The runner carries out "grid" itself by enqueuing every untried point.
    Workers sharing a study take enqueued trials one each, and a failed point
    is not retried. Its sampler is TPE, which only fills in values that an
    enqueued point leaves open. TPE starts modelling after 5 trials, which suits searches of tens of compiles;
    `constant_liar` keeps parallel workers from sampling the same point. NSGA-II
    keeps its default population of 50, so it needs hundreds of trials to evolve.
    """
    import optuna

    with warnings.catch_warnings():
        # constraints_func, multivariate and constant_liar are marked experimental in Optuna 4.
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed, constraints_func=constraints)
        return optuna.samplers.TPESampler(seed=seed, constraints_func=constraints, multivariate=True,
                                          n_startup_trials=5, constant_liar=True)
