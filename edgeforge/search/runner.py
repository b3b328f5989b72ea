"""`search_recipe`: run Optuna trials that each compile one recipe, keep the Pareto front, build the pick.

Each trial turns the sampled values into a recipe file, compiles it with
`compile_model` into `OUT/trials/NNNN/`, and reports the objectives. Budgets
are Optuna constraints, so samplers prefer recipes that meet them. The study
lives in an Optuna storage: by default a SQLite file in the output folder, or
any database URL that several workers share. Running the same command again
continues the same study.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
import traceback
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from edgeforge.data.loading import file_sha256
from edgeforge._files import write_text_atomic
from edgeforge.errors import DataError, EdgeforgeError, InputError, OutputError, UnsupportedError
from edgeforge.models.loading import model_format
from edgeforge.pipeline.build import BuildResult, compile_model
from edgeforge.search import pareto
from edgeforge.search.objectives import (
    DEFAULT_OBJECTIVES, OBJECTIVES, HostLatency, LatencySource, check_objectives, constraint_values, measure_build,
    plan_budgets,
)
from edgeforge.search.samplers import SAMPLERS, grid_points, make_sampler, pick_sampler
from edgeforge.search.space import SearchSpace, load_space, recipe_key
from edgeforge.targets import TargetProfile, load_target

log = logging.getLogger(__name__)

STUDY_ATTR = "edgeforge_search"
PARETO_FILE = "pareto.json"
PLOT_FILE = "pareto.png"
RECIPE_FILE = "recipe.yaml"
# A trial whose worker stops sending heartbeats for this long is marked failed and retried once.
HEARTBEAT_S = 30
GRACE_S = 120
STORAGE_ATTEMPTS = 3
INTERRUPTED = "interrupted"
RETRY_OF = "retry_of"


@dataclass
class SearchResult:
    """The outcome of one `search_recipe` call: the study's trials, its Pareto front and the chosen recipe.

    `trials` lists every trial of the study, not only this call's, with state,
    values and error. `pareto` lists the front entries. `chosen` is the picked
    entry, or None when no completed trial meets the applied budgets.
    """

    out_dir: Path
    storage: str
    study_name: str
    objectives: tuple[str, ...]
    trials: list[dict[str, Any]]
    pareto: list[dict[str, Any]]
    chosen: dict[str, Any] | None
    pareto_path: Path
    plot_path: Path | None
    recipe_path: Path | None
    build: BuildResult | None
    new_trials: list[int] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [t for t in self.trials if t["state"] == "FAIL"]


def search_recipe(
    model: str | Path,
    *,
    target: str | TargetProfile,
    data: str | Path,
    eval_data: str | Path | None = None,
    space: str | Path | dict[str, Any] | None = None,
    base_recipe: str | Path | dict[str, Any] | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    n_trials: int = 20,
    timeout_s: float | None = None,
    seed: int = 0,
    out_dir: str | Path | None = None,
    objectives: tuple[str, ...] | list[str] | None = None,
    sampler: str = "auto",
    latency_source: LatencySource | None = None,
    targets_dirs: tuple[str | Path, ...] = (),
    budgets: dict[str, float] | None = None,
    eval_fraction: float = 0.2,
    calibration_samples: int = 300,
    latency_runs: int = 50,
    build_chosen: bool = True,
    safe_mode: bool = True,
    device: str | None = None,
) -> SearchResult:
    """Search recipes for `model` on `target`; write the Pareto front, the chosen recipe and its build.

    `n_trials` is the study's total: finished, failed and running trials of
    every worker count, so re-running the same call after an interruption runs
    only the missing trials, and `n_trials=0` only summarizes the study. With
    several workers the total can overshoot by one trial per extra worker, and by up to the grid's
    size per extra worker when workers start a grid together (duplicates reuse cached figures).
    `timeout_s` stops starting new trials after that many seconds; a running
    trial finishes. `budgets` overrides the target's budgets by name.
    `latency_source` defaults to `HostLatency`; `TargetLatency` reads each
    build's device measurement (with `device`) or calibrated estimate.
    """
    import optuna

    profile = target if isinstance(target, TargetProfile) else load_target(target, targets_dirs)
    names = check_objectives(objectives if objectives is not None else DEFAULT_OBJECTIVES)
    if sampler not in SAMPLERS:
        raise InputError(f"unknown sampler {sampler!r}; use one of {', '.join(SAMPLERS)}")
    if n_trials < 0:
        raise InputError(f"n_trials must be 0 or more, found {n_trials}")
    if timeout_s is not None and timeout_s <= 0:
        raise InputError(f"timeout_s must be positive, found {timeout_s}")
    model_path = Path(model)
    model_format(model_path)
    for label, path in (("data", data), ("evaluation data", eval_data)):
        if path is not None and not Path(path).exists():
            raise DataError(f"{label} not found: {path}; pass an .npz file or a folder of class sub-folders")

    source = latency_source if latency_source is not None else HostLatency()
    search_space = load_space(space, target=profile, base_recipe=base_recipe)
    limits = dict(profile.budgets)
    limits.update(budgets or {})
    checks = plan_budgets(limits, profile, source, names)

    out = Path(out_dir) if out_dir is not None else Path("build") / profile.name / "search"
    _make_dir(out / "trials")
    storage_url = storage if storage is not None else f"sqlite:///{(out / 'study.db').resolve()}"
    name = study_name or f"{profile.name}-{model_path.stem}"
    identity = {
        "target": profile.name,
        "model_sha256": file_sha256(model_path) if model_path.is_file() else None,
        "objectives": list(names),
        "budgets": [c.__dict__ for c in checks],
        "latency_source": source.name,
        "space_fingerprint": search_space.fingerprint(),
    }

    def constraints(trial: optuna.trial.FrozenTrial) -> list[float]:
        return trial.user_attrs.get("constraint_values", [])

    grid = search_space.grid()
    sampler_name = pick_sampler(sampler, grid, n_trials)
    log.info("search: sampler %s over %d dimensions", sampler_name, len(search_space.dimensions))
    study = _open_study(storage_url, name, names, make_sampler(sampler_name, seed=seed, constraints=constraints),
                        identity, search_space)
    compile_options = {
        "target": profile, "data": data, "eval_data": eval_data, "budgets": budgets, "eval_fraction": eval_fraction,
        "calibration_samples": calibration_samples, "seed": seed, "latency_runs": latency_runs, "safe_mode": safe_mode,
        "device": device,
    }
    objective = _TrialRunner(study, search_space, model_path, compile_options, out, names, checks, source)
    counted = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL, optuna.trial.TrialState.PRUNED,
               optuna.trial.TrialState.RUNNING)
    _requeue_interrupted(study)
    remaining = n_trials - len([t for t in study.get_trials(deepcopy=False, states=counted)
                                if not t.user_attrs.get(INTERRUPTED)])
    grid_left = _enqueue_grid(study, grid) if sampler_name == "grid" else None
    if grid_left is not None:
        remaining = min(remaining, grid_left)
    if remaining > 0:
        log.info("search: running up to %d trials of %d in study %s (%s)", remaining, n_trials, name,
                 _redact(storage_url))
        study.optimize(objective, n_trials=remaining, timeout=timeout_s, catch=(Exception,), gc_after_trial=True,
                       callbacks=[_StopAtTotal(n_trials, counted)])
    elif grid_left == 0:
        log.info("search: every point of the space has a trial in study %s; summarizing", name)
    else:
        log.info("search: study %s already has %d of %d trials; summarizing", name, n_trials - remaining, n_trials)

    return _finish(study, search_space, profile, names, checks, source, out, storage_url, model_path,
                   compile_options, objective.ran, build_chosen)


class _StopAtTotal:
    """Stop the study once it has `n_trials` finished or running trials, interrupted ones left out."""

    def __init__(self, n_trials: int, states):
        self.n_trials = n_trials
        self.states = states

    def __call__(self, study, trial) -> None:
        trials = study.get_trials(deepcopy=False, states=self.states)
        if len([t for t in trials if not t.user_attrs.get(INTERRUPTED)]) >= self.n_trials:
            study.stop()


def _requeue_interrupted(study) -> None:
    """Enqueue again each trial that a Ctrl-C stopped, once; interrupted trials do not count toward n_trials."""
    trials = study.get_trials(deepcopy=False)
    retried = {t.user_attrs.get(RETRY_OF) for t in trials}
    for trial in trials:
        if trial.user_attrs.get(INTERRUPTED) and trial.number not in retried:
            log.info("search: trial %d was interrupted; enqueuing it again", trial.number)
            study.enqueue_trial(trial.params, user_attrs={RETRY_OF: trial.number,
                                                          "baseline": trial.user_attrs.get("baseline", False)})


def _enqueue_grid(study, grid: dict[str, list[Any]]) -> int:
    """Enqueue every grid point that no trial has taken yet; return how many trials are waiting."""
    # TODO: two workers starting together both see a point as untried and both enqueue it; the
    # duplicate takes its figures from the trial cache, but it still counts toward the study's total.
    import optuna

    tried_params = [t.params for t in study.get_trials(deepcopy=False)]
    tried_params += [t.system_attrs.get("fixed_params", {}) for t in study.get_trials(
        deepcopy=False, states=(optuna.trial.TrialState.WAITING,))]
    for point in grid_points(grid):
        if point not in tried_params:
            study.enqueue_trial(point, skip_if_exists=True)
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.WAITING,)))


def _make_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OutputError(f"cannot create output folder {path}: {err.strerror}; pass --out with a writable folder") \
            from err


def _redact(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is reported by Optuna itself
        return url


def _open_study(url: str, name: str, names: tuple[str, ...], sampler, identity: dict[str, Any], space: SearchSpace):
    import optuna
    from optuna.storages import RDBStorage, RetryHeartbeatStaleTrialCallback

    # Workers started together race to create the tables and the study; a loser retries and then finds them.
    for attempt in range(STORAGE_ATTEMPTS):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                storage = RDBStorage(url, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S,
                                     heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(max_retry=1))
            study = optuna.create_study(storage=storage, study_name=name, sampler=sampler, load_if_exists=True,
                                        directions=["minimize"] * len(names))
            break
        except Exception as err:  # noqa: BLE001 - SQLAlchemy and driver errors vary by database
            if attempt + 1 < STORAGE_ATTEMPTS:
                log.info("search: opening storage %s failed (%s); retrying", _redact(url), type(err).__name__)
                time.sleep(1.0 + attempt)
                continue
            raise InputError(f"cannot open the study storage {_redact(url)}: {type(err).__name__}: {err}; "
                             "check the URL, that the database server is running, and its driver is installed "
                             "(psycopg2-binary for postgresql://)") from err
    stored = study.user_attrs.get(STUDY_ATTR)
    if stored is None:
        study.set_user_attr(STUDY_ATTR, identity)
        # The base recipe runs first, so the front can be compared with what the target ships. When some base
        # value lies outside its dimension, the sampler fills it in and the trial is not the base recipe.
        base = space.base_params()
        is_base = len(base) == len(space.dimensions)
        study.enqueue_trial(base, user_attrs={"baseline": is_base}, skip_if_exists=True)
        return study
    for key in ("target", "model_sha256", "objectives"):
        if stored.get(key) != identity[key]:
            raise InputError(
                f"study {name!r} in {_redact(url)} was made for {key} {stored.get(key)!r}, not {identity[key]!r}; "
                "pass another --study-name or --out to start a new study"
            )
    if stored.get("space_fingerprint") != identity["space_fingerprint"]:
        log.warning("search: the search space differs from the one study %s started with; earlier trials stay "
                    "in the front", name)
    return study


class _TrialRunner:
    """The Optuna objective: sample a recipe, compile it (or reuse an identical earlier trial), measure it."""

    def __init__(self, study, space: SearchSpace, model: Path, options: dict[str, Any], out: Path,
                 names: tuple[str, ...], checks, source: LatencySource):
        self.study = study
        self.space = space
        self.model = model
        self.options = options
        self.out = out
        self.names = names
        self.checks = checks
        self.source = source
        self.ran: list[int] = []
        self.worker = f"{socket.gethostname()}:{os.getpid()}"

    def __call__(self, trial) -> list[float]:
        self.ran.append(trial.number)
        trial.set_user_attr("worker", self.worker)
        params = self.space.suggest(trial)
        target_name = self.options["target"].name
        recipe = self.space.build_recipe(
            params, name=recipe_name(f"search-{target_name}-trial-{trial.number}"),
            description=f"Trial {trial.number} of edgeforge search for {target_name}, from {self.space.base_recipe_ref}.",
        )
        key = recipe_key(recipe)
        trial.set_user_attr("recipe", recipe)
        trial.set_user_attr("recipe_key", key)

        earlier = self._earlier_same_recipe(key, trial.number)
        if earlier is not None:
            return self._reuse(trial, earlier)

        trial_dir = self.out / "trials" / f"{trial.number:04d}"
        _make_dir(trial_dir)
        recipe_path = trial_dir / RECIPE_FILE
        write_text_atomic(recipe_path, yaml.safe_dump(recipe, sort_keys=False))
        trial.set_user_attr("build_dir", str(trial_dir))
        started = time.perf_counter()
        try:
            build = compile_model(self.model, recipe=recipe_path, out_dir=trial_dir / "build", **self.options)
            figures = measure_build(build, self.options["target"], self.source, self.names)
        except KeyboardInterrupt:
            # Optuna records the trial as failed; the next run of the search enqueues it again.
            trial.set_user_attr(INTERRUPTED, True)
            trial.set_user_attr("error_type", "KeyboardInterrupt")
            trial.set_user_attr("error", "interrupted; the next run of the search repeats this trial")
            raise
        except Exception as err:
            trial.set_user_attr("error_type", type(err).__name__)
            trial.set_user_attr("error", str(err))
            if not isinstance(err, EdgeforgeError):
                trial.set_user_attr("traceback", traceback.format_exc())
            log.warning("search: trial %d failed: %s: %s", trial.number, type(err).__name__, err)
            raise
        finally:
            trial.set_user_attr("wall_s", round(time.perf_counter() - started, 2))
        return self._record(trial, figures)

    def _earlier_same_recipe(self, key: str, number: int):
        import optuna

        states = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)
        for other in self.study.get_trials(deepcopy=False, states=states):
            if other.user_attrs.get(INTERRUPTED):
                continue
            if other.number != number and other.user_attrs.get("recipe_key") == key:
                return other
        return None

    def _reuse(self, trial, earlier) -> list[float]:
        import optuna

        trial.set_user_attr("cached_from", earlier.number)
        if earlier.state == optuna.trial.TrialState.FAIL:
            message = f"same recipe as trial {earlier.number}, which failed: {earlier.user_attrs.get('error', '?')}"
            trial.set_user_attr("error_type", earlier.user_attrs.get("error_type", "EdgeforgeError"))
            trial.set_user_attr("error", message)
            raise UnsupportedError(message)
        log.info("search: trial %d has the recipe of trial %d; reusing its figures", trial.number, earlier.number)
        for attr in ("metrics", "constraint_values", "feasible", "build_dir"):
            trial.set_user_attr(attr, earlier.user_attrs[attr])
        return list(earlier.values)

    def _record(self, trial, figures) -> list[float]:
        values = constraint_values(figures, self.checks)
        trial.set_user_attr("metrics", {n: m.to_dict() for n, m in figures.items()})
        trial.set_user_attr("constraint_values", values)
        trial.set_user_attr("feasible", all(v <= 0 for v in values))
        log.info("search: trial %d: %s%s", trial.number,
                 ", ".join(f"{n} {figures[n].value:.4g}" for n in self.names),
                 "" if all(v <= 0 for v in values) else " (budget missed)")
        return [figures[n].value for n in self.names]


def recipe_name(text: str) -> str:
    """Turn `text` into a valid recipe name: lower-case letters, digits and hyphens."""
    return re.sub(r"[^a-z0-9-]+", "-", text.lower()).strip("-") or "search"


def _trial_summary(trial) -> dict[str, Any]:
    attrs = trial.user_attrs
    return {
        "trial": trial.number,
        "state": trial.state.name,
        "values": list(trial.values) if trial.values is not None else None,
        "params": trial.params,
        "metrics": attrs.get("metrics"),
        "feasible": attrs.get("feasible"),
        "constraint_values": attrs.get("constraint_values"),
        "recipe": attrs.get("recipe"),
        "build_dir": attrs.get("build_dir"),
        "cached_from": attrs.get("cached_from"),
        "baseline": bool(attrs.get("baseline", False)),
        "worker": attrs.get("worker"),
        "wall_s": attrs.get("wall_s"),
        "error_type": attrs.get("error_type"),
        "error": attrs.get("error"),
    }


def _finish(study, space: SearchSpace, profile: TargetProfile, names: tuple[str, ...], checks, source,
            out: Path, storage_url: str, model_path: Path, compile_options: dict[str, Any], ran: list[int],
            build_chosen: bool) -> SearchResult:
    trials = [_trial_summary(t) for t in study.get_trials(deepcopy=False)]
    complete = [t for t in trials if t["state"] == "COMPLETE" and t["metrics"] is not None]
    feasible = [t for t in complete if t["feasible"]]
    front = pareto.pareto_front(feasible if feasible else complete)
    base_key = recipe_key(dict(space.base_recipe))
    baseline = next((t for t in complete if t["baseline"]), None)
    if baseline is None:
        baseline = next((t for t in complete if recipe_key(t["recipe"]) == base_key), None)
    chosen = pareto.choose(front, names, baseline)

    recipe_path = None
    if chosen is not None:
        recipe_path = out / RECIPE_FILE
        write_text_atomic(recipe_path, _recipe_text(chosen, profile, names, study.study_name))
    labels = _axis_labels(names, complete, source)
    plot_path = None
    if complete:
        plot_path = out / PLOT_FILE
        title = f"edgeforge search: {profile.name}, study {study.study_name} ({len(complete)} completed trials)"
        pareto.plot_front(plot_path, complete, front, chosen, names, labels, title)
    summary = _summary(study, profile, names, checks, source, space, storage_url, trials, front, chosen, baseline,
                       recipe_path, feasible, labels)
    pareto_path = out / PARETO_FILE
    write_text_atomic(pareto_path, json.dumps(summary, indent=1))

    build = None
    if chosen is None:
        log.warning("search: %s; no recipe chosen", "no trial has completed yet" if not complete else
                    "no completed trial meets the applied budgets")
    elif build_chosen:
        log.info("search: building the chosen recipe (trial %d) into %s", chosen["trial"], out / "build")
        build = compile_model(model_path, recipe=recipe_path, out_dir=out / "build", **compile_options)
    return SearchResult(out, storage_url, study.study_name, names, trials, front, chosen, pareto_path, plot_path,
                        recipe_path, build, ran)


def _axis_labels(names, complete, source) -> dict[str, str]:
    labels = {}
    for name in names:
        objective = OBJECTIVES[name]
        label = f"{objective.label} ({objective.unit})"
        if name == "latency_ms":
            label = f"{source.name} latency ({objective.unit})"
        kinds = {t["metrics"][name]["kind"] for t in complete if name in t["metrics"]}
        if "estimated" in kinds:
            label += ", estimate"
        labels[name] = label
    return labels


def _recipe_text(chosen: dict[str, Any], profile: TargetProfile, names, study_name: str) -> str:
    recipe = dict(chosen["recipe"])
    recipe["name"] = recipe_name(f"search-{profile.name}")
    figures = ", ".join(f"{n} {chosen['metrics'][n]['value']:.4g}" for n in names)
    recipe["description"] = f"Chosen by edgeforge search from trial {chosen['trial']} of study {study_name}: {figures}."
    header = ("# Written by `edgeforge search`; pass it to `edgeforge compile --recipe FILE`.\n"
              f"# {chosen['metrics'].get('latency_ms', {}).get('basis', '')}\n")
    return header + yaml.safe_dump(recipe, sort_keys=False)


def _summary(study, profile, names, checks, source, space, storage_url, trials, front, chosen, baseline,
             recipe_path, feasible, labels) -> dict[str, Any]:
    states: dict[str, int] = {}
    for t in trials:
        states[t["state"]] = states.get(t["state"], 0) + 1
    return {
        "schema_version": 1,
        "study": study.study_name,
        "storage": _redact(storage_url),
        "target": profile.name,
        "objectives": [
            {"name": n, "unit": OBJECTIVES[n].unit, "direction": "minimize", "label": labels[n]} for n in names
        ],
        "latency_source": {"name": source.name, "represents_target": source.represents_target(profile)},
        "budgets": [c.__dict__ for c in checks],
        "space": space.describe(),
        "trial_counts": states,
        "front_basis": "trials that meet every applied budget" if feasible else
                       "no trial meets every applied budget, so the front is over all completed trials",
        "pareto_front": [_front_entry(e) for e in front],
        "baseline_trial": baseline["trial"] if baseline else None,
        "chosen": None if chosen is None else {
            "trial": chosen["trial"], "recipe_path": str(recipe_path), "rule": pareto.CHOICE_RULE,
            "metrics": chosen["metrics"],
        },
        "failed": [{"trial": t["trial"], "error_type": t["error_type"], "error": t["error"]}
                   for t in trials if t["state"] == "FAIL"],
        "trials": [{k: t[k] for k in ("trial", "state", "values", "params", "feasible", "cached_from", "worker",
                                       "wall_s")} for t in trials],
    }


def _front_entry(entry: dict[str, Any]) -> dict[str, Any]:
    keys = ("trial", "values", "metrics", "feasible", "params", "recipe", "build_dir", "cached_from", "baseline")
    return {k: entry[k] for k in keys}
