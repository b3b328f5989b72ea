"""The Optuna samplers a search can use, built with the study's budgets as constraints."""

from __future__ import annotations

import math
from typing import Any, Callable, Sequence

from edgeforge.errors import InputError

SAMPLERS = ("auto", "tpe", "nsga2", "grid")


def grid_size(grid: dict[str, list[Any]] | None) -> int | None:
    """The number of points of a finite grid, or None for a space with a continuous dimension."""
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


def make_sampler(name: str, *, seed: int, constraints: Callable[[Any], Sequence[float]],
                 grid: dict[str, list[Any]] | None = None) -> Any:
    """Return a seeded sampler; the multi-objective ones treat `constraints` values > 0 as budget misses.

    The grid sampler tries every point once (shared workers split the grid
    through the storage) and stops the study when none is left. TPE starts modelling after 5 trials, which suits searches of tens of compiles;
    `constant_liar` keeps parallel workers from sampling the same point. NSGA-II
    keeps its default population of 50, so it needs hundreds of trials to evolve.
    """
    import optuna

    if name == "grid":
        return optuna.samplers.GridSampler(grid, seed=seed)
    if name == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, constraints_func=constraints)
    return optuna.samplers.TPESampler(seed=seed, constraints_func=constraints, multivariate=True,
                                      n_startup_trials=5, constant_liar=True)
