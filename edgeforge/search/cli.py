"""`edgeforge search`: the click command over `search_recipe`, attached to the main CLI group."""

from __future__ import annotations

import sys

import click

from edgeforge.errors import EXIT_BUDGET, EXIT_CODES, UnsupportedError
from edgeforge.search.objectives import DEFAULT_OBJECTIVES, LATENCY_SOURCES, OBJECTIVES
from edgeforge.search.samplers import SAMPLERS

_EXIT_HELP = "\b\nExit codes:\n" + "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())


@click.command("search", epilog=_EXIT_HELP)
@click.argument("model", type=click.Path())
@click.option("--target", "-t", required=True, help="Target profile name (see 'edgeforge targets').")
@click.option("--data", "-d", required=True, type=click.Path(),
              help="Calibration and training data: .npz or an image folder, as for 'compile'.")
@click.option("--eval-data", type=click.Path(), help="Held-out labelled data; default: a split of --data.")
@click.option("--space", type=click.Path(dir_okay=False),
              help="Search space YAML; default: search-spaces/TARGET.yaml, else search-spaces/default.yaml.")
@click.option("--base-recipe", help="Recipe the space varies (name in recipes/ or a YAML file); default: the "
                                    "space's base_recipe, else the target's default recipe.")
@click.option("--storage", help="Optuna storage URL; default sqlite:///OUT/study.db. A database URL such as "
                                "postgresql://user:password@host/db lets workers on several machines share a study.")
@click.option("--study-name", help="Study name in the storage; default TARGET-MODELNAME.")
@click.option("--trials", "n_trials", default=20, show_default=True, type=click.IntRange(min=0),
              help="Total trials of the study, all workers and earlier runs included; 0 only summarizes.")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0, min_open=True),
              help="Seconds after which no new trial starts; a running trial finishes.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for the sampler, splits and training.")
@click.option("--out", "-o", "out_dir", type=click.Path(file_okay=False),
              help="Output folder; default build/TARGET/search.")
@click.option("--objective", "objectives", multiple=True, type=click.Choice(list(OBJECTIVES)),
              help=f"Objective to minimize; repeatable. Default: {', '.join(DEFAULT_OBJECTIVES)}.")
@click.option("--sampler", default="auto", show_default=True, type=click.Choice(SAMPLERS),
              help="Optuna sampler: multi-objective TPE (suits tens of trials), NSGA-II (hundreds), or grid "
                   "(every point once). auto takes grid when --trials covers every point of a finite space, "
                   "else TPE.")
@click.option("--targets-dir", "targets_dirs", multiple=True, type=click.Path(file_okay=False),
              help="Folder of extra target profiles (*.yaml); repeatable.")
@click.option("--budget", "budget_values", multiple=True, metavar="NAME=VALUE",
              help="Override a budget: max_accuracy_drop (points), max_latency_ms, max_size_kib, max_ram_kib.")
@click.option("--calibration-samples", default=300, show_default=True, type=click.IntRange(min=1),
              help="Number of samples for int8 calibration in each trial.")
@click.option("--latency-runs", default=50, show_default=True, type=click.IntRange(min=10),
              help="Timed runs per artifact in each trial and in the final build.")
@click.option("--latency-source", default="host", show_default=True, type=click.Choice(list(LATENCY_SOURCES)),
              help="host: latency measured on this machine. target: the build's latency for the target, measured "
                   "on --device when given, else the calibrated estimate.")
@click.option("--device", help="Device to measure each trial's latency on (as for 'compile --device').")
@click.option("--no-build", is_flag=True, help="Write the chosen recipe but do not build it (for extra workers).")
def search_command(model, target, data, eval_data, space, base_recipe, storage, study_name, n_trials, timeout_s,
                   seed, out_dir, objectives, sampler, targets_dirs, budget_values, calibration_samples, latency_runs,
                   latency_source, device, no_build) -> None:
    """Search recipes for MODEL on a target; write the Pareto front, the chosen recipe and its build."""
    from edgeforge.cli import _parse_budgets
    from edgeforge.search.runner import search_recipe

    result = search_recipe(
        model, target=target, data=data, eval_data=eval_data, space=space, base_recipe=base_recipe,
        storage=storage, study_name=study_name, n_trials=n_trials, timeout_s=timeout_s, seed=seed,
        out_dir=out_dir, objectives=objectives or None, sampler=sampler, targets_dirs=targets_dirs,
        budgets=_parse_budgets(budget_values), calibration_samples=calibration_samples,
        latency_runs=latency_runs, build_chosen=not no_build, latency_source=LATENCY_SOURCES[latency_source](),
        device=device,
    )
    counts: dict[str, int] = {}
    for trial in result.trials:
        counts[trial["state"]] = counts.get(trial["state"], 0) + 1
    click.echo(f"study {result.study_name}: {len(result.trials)} trials ("
               + ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) + f"), {len(result.new_trials)} run now")
    click.echo("Pareto front: " + "  ".join(result.objectives))
    for entry in result.pareto:
        mark = "*" if result.chosen is not None and entry["trial"] == result.chosen["trial"] else " "
        figures = "  ".join(f"{entry['metrics'][n]['value']:.4g}" for n in result.objectives)
        click.echo(f" {mark} trial {entry['trial']:>4}: {figures}  {_params_text(entry['params'])}")
    click.echo(f"front: {result.pareto_path}" + (f"  plot: {result.plot_path}" if result.plot_path else ""))
    for trial in result.failed[-3:]:
        click.echo(f"failed trial {trial['trial']}: {trial['error_type']}: {trial['error']}", err=True)
    if result.chosen is None:
        if not any(t["state"] == "COMPLETE" for t in result.trials):
            raise UnsupportedError(f"no trial of study {result.study_name} has completed, so no recipe was chosen; "
                                   "see the failed trials above and in " + str(result.pareto_path))
        click.echo("error: no completed trial meets the budgets; no recipe chosen", err=True)
        sys.exit(EXIT_BUDGET)
    latency = result.chosen["metrics"].get("latency_ms")
    if latency is not None:
        click.echo(f"latency basis: {latency['basis']}")
    click.echo(f"chosen recipe (trial {result.chosen['trial']}): {result.recipe_path}")
    if result.build is not None:
        click.echo(f"build: {result.build.out_dir} (report {result.build.report_path})")
        if result.build.missed_budgets:
            click.echo("error: the chosen recipe's final build missed a budget", err=True)
            sys.exit(EXIT_BUDGET)


def _params_text(params: dict) -> str:
    return " ".join(f"{path}={value}" for path, value in params.items())
