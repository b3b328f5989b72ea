"""Cost-model benchmark: calibrate on a device, then report the estimate's error on held-out networks.

`make bench` runs `python -m edgeforge.estimate.benchmark --markdown docs/benchmarks.md`.
The run converts about 170 small models, which takes several CPU-minutes on a
2-core host, most of it in the TFLite converter. `--work-dir` keeps the
converted models, so a rerun only measures.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
from pathlib import Path
from typing import Any, Sequence

from edgeforge.devices.remote_runner import cpu_name
from edgeforge.estimate.calibration import CALIBRATION_PRECISIONS, REPEATS, calibrate

PREFACE = """# Benchmarks

Regenerate this page with `python -m edgeforge.estimate.benchmark --markdown docs/benchmarks.md`
(`make bench`). The run fits the latency cost model on this machine and then compares its
estimate with measurements of networks that were not part of the fit. The models have random
weights; latency does not depend on the weight values.

On a host shared with other jobs, two runs of the same model can differ by 20% or more.
The minimum over the timed runs is used because other load only adds time.
"""

GOAL_WITHIN_PCT = 10.0
GOAL_SHARE = 0.9


def run_benchmark(
    *, device: str = "local", threads: int = 1, work_dir: str | Path | None = None,
    precisions: Sequence[str] = CALIBRATION_PRECISIONS, statistic: str = "min_ms",
) -> dict[str, Any]:
    """Run calibration and the held-out evaluation; return the error distribution and per-model rows.

    `statistic` defaults to "min_ms" because on a shared host other load only adds time, which
    the median absorbs in part and the minimum avoids.
    """
    result = calibrate(device, threads=threads, work_dir=work_dir, precisions=precisions, statistic=statistic)
    error = result.error
    return {
        "label": "latency estimate of a cost model fitted on this device, compared with measurements",
        "device": device,
        "cpu": cpu_name() if device == "local" else None,
        "machine": platform.machine(),
        "threads": threads,
        "statistic": statistic,
        "repeats": REPEATS,
        "calibration_models": len(result.calibration),
        "held_out_models": len(result.held_out),
        "error": error,
        "goal": {"within_pct": GOAL_WITHIN_PCT, "share": GOAL_SHARE,
                 "met": error["within_10pct_share"] >= GOAL_SHARE},
        "held_out": [m.as_dict() for m in result.held_out],
        "notes": result.notes,
        "coefficients": result.cost_model.coefficients,
    }


def format_markdown(summary: dict[str, Any]) -> str:
    """Render the benchmark summary as the Markdown section published in docs/benchmarks.md."""
    error = summary["error"]
    lines = [
        "## Latency cost model: estimate versus measurement",
        "",
        f"Device: {summary['device']} ({summary['cpu'] or 'unknown CPU'}, {summary['machine']}), "
        f"LiteRT, {summary['threads']} thread(s). Fitted on {summary['calibration_models']} single-layer, "
        f"block and small-network models; checked on {summary['held_out_models']} held-out networks "
        f"({', '.join(error.get('families', []))}). Each latency is the lowest {summary['statistic']} "
        f"of {summary.get('repeats', REPEATS)} measurements, taken in rounds over all models; "
        "the error is |estimate - measured| / measured.",
        "",
        f"- median absolute error: {error['median_abs_pct']:.1f}%",
        f"- 90th percentile absolute error: {error['p90_abs_pct']:.1f}%",
        f"- largest absolute error: {error['max_abs_pct']:.1f}%",
        f"- share within {GOAL_WITHIN_PCT:.0f}%: {error['within_10pct_share'] * 100:.0f}% "
        f"(goal {GOAL_SHARE * 100:.0f}%: {'met' if summary['goal']['met'] else 'not met'})",
        "",
        "| model | family | precision | measured ms | estimated ms | error % |",
        "|---|---|---|---:|---:|---:|",
    ]
    for row in summary["held_out"]:
        lines.append(f"| {row['name']} | {row['family']} | {row['precision']} | {row['measured_ms']:.4f} | "
                     f"{row['estimated_ms']:.4f} | {row['error_pct']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Calibrate the latency cost model and report its held-out error.")
    parser.add_argument("--device", default="local", help="device string: local, ssh://user@host[:port]")
    parser.add_argument("--threads", type=int, default=1, help="inference threads")
    parser.add_argument("--work-dir", default=None, help="folder that keeps the converted benchmark models")
    parser.add_argument("--statistic", choices=["min_ms", "median_ms"], default="min_ms",
                        help="latency statistic used for the fit and the error")
    parser.add_argument("--json", dest="json_path", default=None, help="write the full summary to this JSON file")
    parser.add_argument("--markdown", default=None, help="write the Markdown section to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    summary = run_benchmark(device=args.device, threads=args.threads, work_dir=args.work_dir,
                            statistic=args.statistic)
    text = format_markdown(summary)
    print(text)
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if args.markdown:
        Path(args.markdown).write_text(PREFACE + "\n" + text, encoding="utf-8")
    return 0 if summary["goal"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
