"""Recipe search on the reference model for arm-cortex-a72, against the target's default recipe.

`search_goal_section` runs `search_recipe` within a trial and time budget and
builds the target's default recipe. Then it measures both artifacts side by
side in one process. The accuracy drop comes from each build's report (same
held-out file), and LiteRT latency on this host from rounds that alternate the
two artifacts. It returns markdown lines for docs/benchmarks.md.

usage: python bench/search_goal.py [--trials N] [--timeout S] [--work DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import interleaved_latency  # noqa: E402

from edgeforge.pipeline.build import compile_model  # noqa: E402
from edgeforge.search import search_recipe  # noqa: E402
from edgeforge.search.space import recipe_key  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "build/reference/mnist_cnn.keras"
TRAIN = ROOT / "calibration_data/mnist-train.npz"
EVAL = ROOT / "calibration_data/mnist-eval.npz"
TARGET = "arm-cortex-a72"
# Latencies closer than this share count as equal, because rounds on a shared host vary by a few percent.
# NOTE: 3% is a chosen threshold, not a measured bound of the host's noise.
LATENCY_TOLERANCE = 0.03


def _figures(build, latency_ms: float) -> dict[str, float]:
    artifact = next(a for a in build.report["artifacts"] if a["role"] == "artifact")
    return {
        "accuracy_drop": float(build.report["accuracy"]["drop_points"]),
        "latency_ms": latency_ms,
        "size_kib": artifact["size_bytes"] / 1024.0,
    }


def search_goal_section(work: Path, *, n_trials: int = 24, timeout_s: float = 1500.0, seed: int = 0) -> list[str]:
    """Search, build the default recipe, compare both on every objective; return markdown lines."""
    started = time.perf_counter()
    result = search_recipe(MODEL, target=TARGET, data=TRAIN, eval_data=EVAL, n_trials=n_trials, timeout_s=timeout_s,
                           seed=seed, out_dir=work / "search", latency_runs=50)
    search_s = time.perf_counter() - started
    if result.build is None:
        return ["## Recipe search for arm-cortex-a72 against the default recipe", "",
                f"No recipe was chosen: {len(result.failed)} of {len(result.trials)} trials failed and none met the "
                f"budgets. See {result.pareto_path}.", ""]
    default = compile_model(MODEL, target=TARGET, data=TRAIN, eval_data=EVAL, out_dir=work / "default",
                            latency_runs=50)

    import numpy as np

    with np.load(EVAL) as archive:
        x = archive["x"]
    paths = {"found": result.build.out_dir / Path(_artifact_path(result.build)).name,
             "default": default.out_dir / Path(_artifact_path(default)).name}
    latency = interleaved_latency(paths, x)
    found, shipped = _figures(result.build, latency["found"]), _figures(default, latency["default"])

    comparison = {name: _compare(name, found[name], shipped[name]) for name in found}
    no_worse = all(c <= 0 for c in comparison.values())
    better = [name for name, c in comparison.items() if c < 0]
    same_recipe = recipe_key(result.chosen["recipe"]) == recipe_key(_recipe_of(default))
    counts = {}
    for trial in result.trials:
        counts[trial["state"]] = counts.get(trial["state"], 0) + 1
    if same_recipe:
        verdict = "not met: the search chose the default recipe itself"
    elif no_worse and better:
        verdict = f"met, better on {', '.join(better)}"
    else:
        verdict = "not met: " + ", ".join(f"{name} {'worse' if c > 0 else 'equal'}" for name, c in comparison.items()
                                          if c >= 0)
    rows = [
        f"| found (trial {result.chosen['trial']}) | {_recipe_text(result.chosen['recipe'])} | "
        f"{found['accuracy_drop']:.2f} | {found['latency_ms']:.4f} | {found['size_kib']:.1f} |",
        f"| default ({default.report['recipe']['name']}) | {_recipe_text(_recipe_of(default))} | "
        f"{shipped['accuracy_drop']:.2f} | {shipped['latency_ms']:.4f} | {shipped['size_kib']:.1f} |",
    ]
    return [
        "## Recipe search for arm-cortex-a72 against the default recipe",
        "",
        f"`search_recipe` on {MODEL.relative_to(ROOT)} with the target's search space "
        f"({_space_path(result)}), at most {n_trials} trials "
        f"or {timeout_s:.0f} s: {len(result.trials)} trials ({', '.join(f'{v} {k.lower()}' for k, v in counts.items())}) "
        f"in {search_s:.0f} s, Pareto front of {len(result.pareto)}. Both recipes were then built and measured side "
        "by side: accuracy drop in points on the 1,000 held-out digits, artifact size, and LiteRT latency on this "
        "host with 1 thread (median of 7 interleaved rounds of 200 runs). Host latency is not the latency of a "
        "Cortex-A72 board.",
        "",
        "| recipe | passes and precision | accuracy drop (points) | host latency ms | size KiB |",
        "|---|---|---|---|---|",
        *rows,
        "",
        f"Goal (no worse on every objective, better on at least one; latencies within "
        f"{LATENCY_TOLERANCE:.0%} count as equal): {verdict}.",
        f"Chosen recipe parameters: {_all_params(result.chosen['recipe'])}.",
        "",
    ]


def _space_path(result) -> str:
    """Return the space file the search used: the target's own, else the default one."""
    from edgeforge.search.space import default_space_path
    from edgeforge.targets import load_target

    return str(default_space_path(load_target(TARGET)).relative_to(ROOT))


def _all_params(recipe: dict) -> str:
    parts = [f"{p['name']}: " + ", ".join(f"{k}={v}" for k, v in (p.get("params") or {}).items())
             for p in recipe.get("passes") or []]
    return "; ".join(parts + [f"precision {recipe.get('quantize', {}).get('precision', 'target')}"])


def _compare(name: str, found: float, shipped: float) -> int:
    """Return -1 when the found recipe is better on `name`, 1 when worse, 0 when equal (all minimized)."""
    if name == "latency_ms":
        if abs(found - shipped) <= LATENCY_TOLERANCE * shipped:
            return 0
    return (found > shipped) - (found < shipped)


def _artifact_path(build) -> str:
    return next(a for a in build.report["artifacts"] if a["role"] == "artifact")["path"]


def _recipe_of(build) -> dict:
    import yaml

    return yaml.safe_load(Path(build.report["recipe"]["path"]).read_text(encoding="utf-8"))


def _recipe_text(recipe: dict) -> str:
    passes = [p["name"] + "".join(f" {k}={v}" for k, v in (p.get("params") or {}).items()
                                  if k in ("width", "target_sparsity", "max_accuracy_drop"))
              for p in recipe.get("passes") or []]
    return ", ".join(passes + [recipe.get("quantize", {}).get("precision", "target")])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=24, help="Total trials of the search.")
    parser.add_argument("--timeout", type=float, default=1500.0, help="Seconds after which no new trial starts.")
    parser.add_argument("--work", help="Folder for the study and builds; default: a temporary folder.")
    args = parser.parse_args()
    if args.work:
        lines = search_goal_section(Path(args.work), n_trials=args.trials, timeout_s=args.timeout)
    else:
        with tempfile.TemporaryDirectory() as work:
            lines = search_goal_section(Path(work), n_trials=args.trials, timeout_s=args.timeout)
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
