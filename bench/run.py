"""`make bench`: measure edgeforge on the reference model and write docs/benchmarks.md.

Every ratio on the page is measured in one run of this script, side by side,
because the shared machines are noisy. Figures are medians over repeats.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import interleaved_latency, machine_line, run_measured, tflite_accuracy  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
MODEL = ROOT / "build/reference/mnist_cnn.keras"
TRAIN = ROOT / "calibration_data/mnist-train.npz"
EVAL = ROOT / "calibration_data/mnist-eval.npz"


def compile_overhead(work: Path, repeats: int) -> list[str]:
    """edgeforge PTQ int8 compile (no validation) against the plain converter script."""
    plain_out = work / "plain.tflite"
    edge_out = work / "edgeforge"
    plain_cmd = [sys.executable, str(ROOT / "bench/plain_int8.py"), str(MODEL), str(TRAIN), str(plain_out), "300"]
    edge_cmd = [sys.executable, "-m", "edgeforge.cli", "-q", "compile", str(MODEL), "--target", "arm-cortex-a72", "--recipe", "ptq-int8",
                "--data", str(TRAIN), "--eval-data", str(EVAL), "--out", str(edge_out), "--no-validate", "--force",
                "--calibration-samples", "300"]
    plain_runs, edge_runs = [], []
    for _ in range(repeats):
        plain_runs.append(run_measured(plain_cmd))
        edge_runs.append(run_measured(edge_cmd))

    def median(runs, key):
        return statistics.median(run[key] for run in runs)

    with np.load(EVAL) as archive:
        x, y = archive["x"], archive["y"]
    artifacts = {"plain script": plain_out, "edgeforge": edge_out / "model.tflite"}
    latency = interleaved_latency(artifacts, x)
    accuracy = {label: tflite_accuracy(path, x, y) for label, path in artifacts.items()}
    rows = []
    for label, runs in (("plain script", plain_runs), ("edgeforge", edge_runs)):
        rows.append(f"| {label} | {median(runs, 'wall_s'):.2f} | {median(runs, 'peak_rss_mib'):.0f} | "
                    f"{artifacts[label].stat().st_size / 1024:.1f} | {accuracy[label] * 100:.2f} | "
                    f"{latency[label]:.4f} |")
    time_ratio = median(edge_runs, "wall_s") / median(plain_runs, "wall_s")
    memory_ratio = median(edge_runs, "peak_rss_mib") / median(plain_runs, "peak_rss_mib")
    return [
        "## PTQ int8 compile against a plain converter script",
        "",
        f"Reference model {MODEL.relative_to(ROOT)}, target arm-cortex-a72, 300 calibration samples, "
        f"accuracy on the 1,000 held-out digits, LiteRT latency with 1 thread (median of 7 interleaved rounds "
        f"of 200 runs). Compile time and peak memory (summed RSS of the process tree, sampled every 20 ms) are "
        f"medians of {repeats} runs. edgeforge runs with --no-validate and also writes the float reference "
        "conversion, which the plain script does not.",
        "",
        "| build | compile wall s | peak RSS MiB | size KiB | top-1 % | latency ms |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Ratios edgeforge / plain: time {time_ratio:.2f}x, memory {memory_ratio:.2f}x (goal: at most 1.3x each).",
        "",
    ]


def recipes_against_plain(work: Path) -> list[str]:
    """Measure the arm-cortex-a72 default recipe and tfmot magnitude pruning against plain int8, side by side."""
    import gzip

    plain_out = work / "plain-recipes.tflite"
    run_measured([sys.executable, str(ROOT / "bench/plain_int8.py"), str(MODEL), str(TRAIN), str(plain_out), "300"])
    builds = {}
    for recipe in ("arm-default", "magnitude-50-int8", "magnitude-80-int8"):
        out = work / recipe
        command = [sys.executable, "-m", "edgeforge.cli", "-q", "compile", str(MODEL), "--target", "arm-cortex-a72",
                   "--recipe", recipe, "--data", str(TRAIN), "--eval-data", str(EVAL), "--out", str(out),
                   "--no-validate", "--force"]
        builds[recipe] = (run_measured(command), out)
    with np.load(EVAL) as archive:
        x, y = archive["x"], archive["y"]
    float_path = work / "arm-default" / "model_float.tflite"
    artifacts = {"float (unoptimized)": float_path, "plain int8 script": plain_out}
    artifacts.update({f"edgeforge {recipe}": out / "model.tflite" for recipe, (_, out) in builds.items()})
    latency = interleaved_latency(artifacts, x)
    accuracy = {label: tflite_accuracy(path, x, y) for label, path in artifacts.items()}
    plain_size = plain_out.stat().st_size
    rows = []
    for label, path in artifacts.items():
        size = path.stat().st_size
        gzipped = len(gzip.compress(path.read_bytes(), compresslevel=9))
        wall = builds[label.split(" ", 1)[1]][0]["wall_s"] if label.startswith("edgeforge") else None
        rows.append(
            f"| {label} | {size / 1024:.1f} | {gzipped / 1024:.1f} | {plain_size / size:.2f}x | "
            f"{accuracy[label] * 100:.2f} | {(accuracy['float (unoptimized)'] - accuracy[label]) * 100:+.2f} | "
            f"{latency[label]:.4f} | {latency['plain int8 script'] / latency[label]:.2f}x | "
            f"{'' if wall is None else f'{wall:.0f}'} |"
        )
    default = "edgeforge arm-default"
    size_gain = plain_size / artifacts[default].stat().st_size
    speed_gain = latency["plain int8 script"] / latency[default]
    drop = (accuracy["float (unoptimized)"] - accuracy[default]) * 100
    float_ratio = float_path.stat().st_size / artifacts[default].stat().st_size
    return [
        "## Compression recipes on arm-cortex-a72",
        "",
        "Reference model, calibration and training on calibration_data/mnist-train.npz, accuracy on the 1,000 "
        "held-out digits in LiteRT, latency in host LiteRT with 1 thread (median of 7 interleaved rounds of 200 "
        "runs). 'smaller' and 'faster' are relative to the plain int8 script; the drop is against the float "
        "model in points. Build time includes training passes, without validation.",
        "",
        "| artifact | size KiB | gzip KiB | smaller | top-1 % | drop | latency ms | faster | build s |",
        "|---|---|---|---|---|---|---|---|---|",
        *rows,
        "",
        f"Default recipe against plain int8: {size_gain:.2f}x smaller, {speed_gain:.2f}x faster, "
        f"{float_ratio:.1f}x smaller than the float model, accuracy drop {drop:.2f} points "
        "(goal: at least 2x, 2x, 8x and at most 1.0 point).",
        "",
    ]


def latency_estimator(work: Path) -> list[str]:
    """Fit the cost model on this host and report its error on held-out networks."""
    from edgeforge.estimate.benchmark import format_markdown, run_benchmark

    summary = run_benchmark(device="local", threads=1, work_dir=work / "estimator")
    return [format_markdown(summary).rstrip(), ""]


def recipe_search(work: Path) -> list[str]:
    """Search recipes for arm-cortex-a72 within a bounded budget and compare with the default recipe."""
    from search_goal import search_goal_section

    return search_goal_section(work / "search", n_trials=16, timeout_s=1200.0, seed=0)


def merge_sections(old_page: str, new_lines: list[str]) -> str:
    """Replace the '## ' sections of `old_page` that `new_lines` contains, keep the others in order."""

    def split(text: str) -> tuple[str, dict[str, str]]:
        head, *parts = text.split("\n## ")
        return head, {part.split("\n", 1)[0]: "## " + part for part in parts}

    _, old = split(old_page)
    head, new = split("\n".join(new_lines))
    merged = {**old, **new}
    sections = [section.rstrip("\n") + "\n" for section in merged.values()]
    return head.rstrip("\n") + "\n\n" + "\n".join(sections)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", default=str(ROOT / "docs/benchmarks.md"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sections", default="compile,recipes,estimator,search",
                        help="Comma-separated sections to run: compile, recipes, estimator, search. "
                             "Sections not run keep their text from the existing page.")
    args = parser.parse_args()
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`python bench/run.py`) on {dt.date.today().isoformat()}.",
        f"Machine: {machine_line()}.",
        "Each section's figures and ratios come from one run of that section; `python bench/run.py "
        "--sections NAME[,NAME]` re-runs single sections (compile, recipes, estimator, search) and keeps the "
        "others' text.",
        "",
    ]
    with tempfile.TemporaryDirectory() as work:
        sections = set(args.sections.split(","))
        if "compile" in sections:
            lines += compile_overhead(Path(work), args.repeats)
        if "recipes" in sections:
            lines += recipes_against_plain(Path(work))
        if "estimator" in sections:
            lines += latency_estimator(Path(work))
        if "search" in sections:
            lines += recipe_search(Path(work))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    old_page = out.read_text(encoding="utf-8") if out.exists() else ""
    out.write_text(merge_sections(old_page, lines), encoding="utf-8")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
