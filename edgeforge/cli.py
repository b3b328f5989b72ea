"""The `edgeforge` command line: a thin layer over the Python API.

Each error class maps to its own exit code (edgeforge/errors.py), listed in
`edgeforge --help`.
"""

from __future__ import annotations

import logging
import math
import sys
import traceback

import click
import yaml

from edgeforge.devices.cli import make_device_options, bench_command, calibrate_command, check_command, ssh_options
from edgeforge.errors import EXIT_BUDGET, EXIT_CODES, EXIT_INTERNAL, EdgeforgeError
from edgeforge.search.cli import search_command

log = logging.getLogger("edgeforge")

_EXIT_HELP = "\b\nExit codes:\n" + "\n".join(f"  {code}  {text}" for code, text in EXIT_CODES.items())


def _setup_logging(verbose: int) -> None:
    if verbose < 0:
        level = logging.WARNING
    elif verbose == 0:
        level = logging.INFO
    else:
        level = logging.DEBUG
    logging.basicConfig(level=level, format="%(message)s", stream=sys.stderr)


@click.group(epilog=_EXIT_HELP)
@click.option("-v", "--verbose", count=True, help="Show debug output, including converter messages.")
@click.option("-q", "--quiet", is_flag=True, help="Show warnings and errors only.")
def cli(verbose: int, quiet: bool) -> None:
    """Compile trained Keras models for edge targets and validate them on real data."""
    _setup_logging(-1 if quiet else verbose)


targets_dir_option = click.option(
    "--targets-dir", "targets_dirs", multiple=True, type=click.Path(file_okay=False),
    help="Folder of extra target profiles (*.yaml); repeatable. Also read from EDGEFORGE_TARGETS_PATH.",
)


@cli.group("targets", invoke_without_command=True, epilog=_EXIT_HELP)
@targets_dir_option
@click.pass_context
def targets_group(ctx: click.Context, targets_dirs: tuple[str, ...]) -> None:
    """List the registered target profiles."""
    ctx.obj = {"targets_dirs": targets_dirs}
    if ctx.invoked_subcommand is None:
        from edgeforge.targets import list_targets

        for profile in list_targets(targets_dirs):
            data = profile.data
            click.echo(f"{profile.name:<16} {data['runtime']:<13} {data['artifact_format']:<12} "
                       f"{data['precisions']['preferred']:<8} {data['description']}")


@targets_group.command("show", epilog=_EXIT_HELP)
@click.argument("name")
@click.pass_context
def targets_show(ctx: click.Context, name: str) -> None:
    """Print the merged, validated profile of target NAME as YAML."""
    from edgeforge.targets import load_target

    profile = load_target(name, ctx.obj["targets_dirs"])
    click.echo(f"# {profile.path}")
    click.echo(yaml.safe_dump(profile.data, sort_keys=False).rstrip())


def _parse_budgets(values: tuple[str, ...]) -> dict[str, float]:
    from edgeforge.validate.budgets import BUDGET_UNITS

    budgets = {}
    for item in values:
        name, sep, number = item.partition("=")
        if not sep or name not in BUDGET_UNITS:
            raise click.BadParameter(
                f"{item!r}: expected NAME=VALUE with NAME one of {', '.join(BUDGET_UNITS)}", param_hint="--budget"
            )
        try:
            value = float(number)
        except ValueError as err:
            raise click.BadParameter(f"{item!r}: {number!r} is not a number", param_hint="--budget") from err
        if not math.isfinite(value) or value < 0:
            raise click.BadParameter(f"{item!r}: expected a finite number >= 0, found {number!r}",
                                     param_hint="--budget")
        budgets[name] = value
    return budgets


@cli.command("compile", epilog=_EXIT_HELP)
@click.argument("model", type=click.Path())
@click.option("--target", "-t", required=True, help="Target profile name (see 'edgeforge targets').")
@click.option("--data", "-d", required=True, type=click.Path(),
              help="Calibration data: .npz (arrays named after model inputs, or x; labels y) or an image folder.")
@click.option("--eval-data", type=click.Path(), help="Held-out labelled data; default: a split of --data.")
@click.option("--out", "-o", "out_dir", type=click.Path(), help="Output folder; default build/TARGET.")
@click.option("--recipe", "-r", help="Recipe name in recipes/ or a recipe YAML file; default: the target's.")
@targets_dir_option
@click.option("--budget", "budget_values", multiple=True, metavar="NAME=VALUE",
              help="Override a budget: max_accuracy_drop (points), max_latency_ms, max_size_kib, max_ram_kib, "
                   "max_robustness_gap (points). Repeatable.")
@click.option("--budgets-file", type=click.Path(dir_okay=False),
              help="Project YAML with 'budgets' for every target and 'targets: {NAME: {budgets: ...}}'; "
                   "--budget options override it.")
@click.option("--eval-fraction", default=0.2, show_default=True,
              type=click.FloatRange(0.0, 1.0, min_open=True, max_open=True),
              help="Share of --data held out for evaluation when --eval-data is not given.")
@click.option("--calibration-samples", default=300, show_default=True, type=click.IntRange(min=1),
              help="Number of samples for int8 calibration.")
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for splits and training passes.")
@click.option("--no-validate", is_flag=True, help="Skip accuracy and latency validation.")
@click.option("--latency-runs", default=200, show_default=True, type=click.IntRange(min=10),
              help="Timed runs per artifact (after 20 warm-up runs; stops after 5 s).")
@click.option("--trust-model", is_flag=True,
              help="Turn Keras safe_mode off so Lambda layers load. Only for model files you trust.")
@click.option("--custom-objects-module", metavar="MODULE",
              help="Python module (importable name) that defines the model's custom layers.")
@click.option("--strict", is_flag=True, help="Fail when a recipe step cannot apply instead of skipping it.")
@click.option("--no-robustness", is_flag=True, help="Skip the accuracy check on perturbed evaluation data.")
@click.option("--force", is_flag=True, help="Rebuild even when the output folder contains an up-to-date build of the same inputs.")
@click.option("--junit", "junit_path", type=click.Path(dir_okay=False),
              help="Also write the budgets as JUnit XML test cases to this file.")
@click.option("--device", help="Measure latency on the target: local, ssh://user@host[:port] or adb://SERIAL.")
@ssh_options
def compile_command(model, target, data, eval_data, out_dir, recipe, targets_dirs, budget_values, budgets_file,
                    eval_fraction,
                    calibration_samples, seed, no_validate, latency_runs, trust_model, custom_objects_module,
                    strict, no_robustness, force, junit_path, device, **device_options) -> None:
    """Compile MODEL for a target and validate it.

    MODEL is a .keras or .h5 file (tf_keras or Keras 3), a SavedModel folder,
    or for Intel targets a .tflite or .onnx file.
    """
    from edgeforge.pipeline.build import compile_model
    from edgeforge.report.writer import summary_lines
    from edgeforge.validate.budgets import read_budget_file

    budgets = read_budget_file(budgets_file, target) if budgets_file else {}
    budgets.update(_parse_budgets(budget_values))
    result = compile_model(
        model,
        target=target,
        data=data,
        eval_data=eval_data,
        out_dir=out_dir,
        recipe=recipe,
        targets_dirs=targets_dirs,
        budgets=budgets,
        eval_fraction=eval_fraction,
        calibration_samples=calibration_samples,
        seed=seed,
        validate=not no_validate,
        latency_runs=latency_runs,
        safe_mode=not trust_model,
        custom_objects_module=custom_objects_module,
        strict=strict,
        robustness=not no_robustness,
        force=force,
        junit_path=junit_path,
        device=device,
        **dict(zip(("ssh", "adb"), make_device_options(**device_options))),
    )
    if result.skipped:
        click.echo(f"build skipped: {result.skip_reason} (use --force to rebuild)")
    for line in summary_lines(result.report):
        click.echo(line)
    click.echo(f"report: {result.report_path}")
    missed = result.missed_budgets
    if missed:
        for budget in missed:
            click.echo(f"error: budget {budget['name']} missed: {budget['value']} > {budget['limit']} "
                       f"{budget['unit']}", err=True)
        sys.exit(EXIT_BUDGET)


@cli.command("summary", epilog=_EXIT_HELP)
@click.argument("reports", nargs=-1, type=click.Path())
@click.option("--out", "-o", "out_dir", default="build", show_default=True, type=click.Path(file_okay=False),
              help="Folder for summary.md, summary.html and summary.png.")
def summary_command(reports: tuple[str, ...], out_dir: str) -> None:
    """Summarize several builds' report.json files in one table and plot."""
    import json
    from pathlib import Path

    from edgeforge.errors import InputError
    from edgeforge.report.summary import write_summary

    loaded = []
    for path in reports:
        if not Path(path).is_file():
            log.warning("no report at %s (that build failed or did not run); left out of the summary", path)
            continue
        try:
            loaded.append(json.loads(Path(path).read_text(encoding="utf-8")))
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputError(f"{path} is not a report.json file (invalid JSON: {err}); pass the report.json "
                             "of an edgeforge build") from err
    if not loaded:
        raise InputError("no report.json found among the given paths; run the builds first")
    written = write_summary(loaded, out_dir)
    click.echo(Path(written["markdown"]).read_text(encoding="utf-8"))
    for kind, path in written.items():
        click.echo(f"{kind}: {path}")


cli.add_command(bench_command)
cli.add_command(check_command)
cli.add_command(calibrate_command)
cli.add_command(search_command)


def main() -> None:
    """Entry point: run the CLI and map errors to exit codes."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Exit as done:
        sys.exit(done.exit_code)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted; the output folder keeps its previous build", err=True)
        sys.exit(130)
    except EdgeforgeError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(err.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted; no partial artifacts were left in the output folder", err=True)
        sys.exit(130)
    except Exception:  # noqa: BLE001 - last resort: report as an internal error
        click.echo("internal error (please report it with this trace):\n" + traceback.format_exc(), err=True)
        sys.exit(EXIT_INTERNAL)


if __name__ == "__main__":
    main()
