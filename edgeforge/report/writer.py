"""Assemble report.json. Its fields are documented in docs/report.md (schema_version 1)."""

from __future__ import annotations

import datetime as _dt
import gzip
import json
import platform
from pathlib import Path
from typing import Any

from edgeforge.data.loading import file_sha256
from edgeforge.report.manifest import tool_versions
from edgeforge.validate.latency import cpu_name

SCHEMA_VERSION = 1


def build_report(
    *,
    profile,
    model_path: Path,
    data_path: Path,
    eval_path: Path | None,
    recipe,
    response: dict[str, Any],
    artifacts: list[dict[str, Any]],
    validation: dict[str, Any] | None,
    budgets: list[dict[str, Any]],
    wall_s: float,
    firmware: dict[str, Any] | None = None,
    seed: int = 0,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Return the report dictionary for one build."""
    artifact = next(a for a in artifacts if a["role"] == "artifact")
    reference = next(a for a in artifacts if a["role"] == "float-reference")
    evaluation_source = {"path": str(eval_path), "sha256": file_sha256(eval_path)} if eval_path else {
        "path": str(data_path), "split": "held-out part of the calibration data"}
    report: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "edgeforge_version": tool_versions()["edgeforge"],
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "target": {
            "name": profile.name,
            "profile_path": str(profile.path),
            "runtime": profile.runtime,
            "artifact_format": profile.artifact_format,
            "device_class": profile.data["device_class"],
        },
        "model": {
            "path": str(model_path),
            "sha256": file_sha256(model_path),
            "format": response.get("model_info", {}).get("format"),
            "signature": response["signature"],
            "parameters": response["parameters"],
            "notes": response.get("model_info", {}).get("notes", []),
            "rebuild_check": response.get("model_info", {}).get("rebuild_check"),
        },
        "data": {
            "calibration": {"path": str(data_path), "sha256": file_sha256(data_path),
                            "samples": response["samples"]["calibration"], "notes": response.get("data_notes", [])},
            "evaluation": dict(evaluation_source, samples=response["samples"]["evaluation"]),
        },
        "recipe": {"name": recipe.name, "path": str(recipe.path), "precision": recipe.precision},
        "passes": response.get("passes", []),
        "sensitivity": _sensitivity(response.get("passes", [])),
        "pass_notes": response.get("pass_notes", []),
        "artifacts": [
            {key: a[key] for key in ("role", "path", "format", "precision", "size_bytes", "files", "io_dtype")}
            for a in artifacts
        ],
        "size": {
            "artifact_bytes": artifact["size_bytes"],
            "float_bytes": reference["size_bytes"],
            "ratio": round(artifact["size_bytes"] / reference["size_bytes"], 4),
            # Sparse weights only shrink a download or a flash image once compressed. The
            # files are read where the worker wrote them, before they move into place.
            "artifact_gzip_bytes": _gzip_size(_staged_files(response, "artifact")),
            "float_gzip_bytes": _gzip_size(_staged_files(response, "float-reference")),
        },
        "accuracy": _accuracy_section(validation),
        "latency": validation["latency"] if validation else [],
        "robustness": validation.get("robustness") if validation else None,
        "firmware": firmware,
        "budgets": budgets,
        "seed": seed,
        **(extra or {}),
        "status": "budget_missed" if any(b["passed"] is False for b in budgets) else "passed",
        "timings": dict(response.get("timings", {}), total_s=round(wall_s, 3)),
        "environment": {
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpu": cpu_name(),
            "versions": tool_versions(),
        },
    }
    return report


def _staged_files(response: dict[str, Any], role: str) -> list[str]:
    return next(a for a in response["artifacts"] if a["role"] == role)["files"]


def _gzip_size(files: list[str]) -> int:
    """Return the gzip-compressed size (level 9) of the files together."""
    return sum(len(gzip.compress(Path(name).read_bytes(), compresslevel=9)) for name in files)


def _sensitivity(passes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Flatten channel-pruning sensitivity trials into one entry per layer group and ratio."""
    entries = []
    for record in passes:
        for trial in record.get("changes", {}).get("trials") or []:
            entries.append({
                "layer": f"{'+'.join(trial['group'])} at {trial['ratio']:.0%} pruned",
                "metric": "accuracy drop before fine-tuning (points)",
                "value": trial["drop_points"],
            })
    return entries


def _accuracy_section(validation: dict[str, Any] | None) -> dict[str, Any]:
    if validation is None:
        return {"validated": False}
    section: dict[str, Any] = {
        "validated": True,
        "samples": validation["samples"],
        "primary_output": validation["primary_output"],
        "baseline": validation.get("baseline"),
        "float_reference": validation["artifacts"].get("float-reference"),
        "artifact": validation["artifacts"]["artifact"],
    }
    if validation.get("baseline") and "top1" in section["artifact"]:
        drop = (validation["baseline"]["top1"] - section["artifact"]["top1"]) * 100.0
        section["drop_points"] = round(drop, 3)
    return section


def report_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=False, allow_nan=False) + "\n"


def summary_lines(report: dict[str, Any]) -> list[str]:
    """Format a short human summary of one build, for the CLI."""
    lines = [f"target {report['target']['name']}: {report['recipe']['precision']} "
             f"{report['target']['artifact_format']} ({report['status']})"]
    for artifact in report["artifacts"]:
        lines.append(f"  {artifact['role']:<16} {artifact['path']}  {artifact['size_bytes'] / 1024:.1f} KiB")
    lines.append(f"  size ratio to float: {report['size']['ratio']:.3f}")
    accuracy = report["accuracy"]
    if accuracy.get("validated"):
        base = accuracy.get("baseline")
        art = accuracy["artifact"]
        if base:
            lines.append(f"  top-1: original {base['top1'] * 100:.2f}%  artifact {art['top1'] * 100:.2f}%  "
                         f"drop {accuracy['drop_points']:.2f} points  (n={accuracy['samples']})")
        lines.append(f"  top-1 agreement with original: {art['top1_agreement'] * 100:.2f}%, "
                     f"max abs output error {art['max_abs_error']:.4g}")
        for record in report["latency"]:
            hint = f", {record['precision_hint']}" if "precision_hint" in record else ""
            lines.append(f"  latency {record['artifact']}{hint}: median {record['median_ms']:.3f} ms, "
                         f"p90 {record['p90_ms']:.3f} ms ({record['kind']} on {record['device']}, "
                         f"threads {record['threads']}, {record['runs']} runs)")
        robustness = report.get("robustness")
        if robustness:
            lines.append(f"  robustness: largest accuracy gap under perturbation {robustness['max_gap_points']:.2f} "
                         f"points ({robustness['worst_perturbation']})")
    else:
        lines.append("  not validated (--no-validate)")
    compatibility = report.get("compatibility") or {}
    findings = compatibility.get("findings", [])
    if compatibility:
        errors = sum(1 for f in findings if f["severity"] == "error")
        lines.append(f"  compatibility with {report['target']['name']}: "
                     + ("ok" if not findings else f"{errors} errors, {len(findings) - errors} warnings"))
        for finding in findings[:5]:
            where = f"op #{finding['op_index']} {finding['op_type']}: " if finding.get("op_index") is not None else ""
            lines.append(f"    [{finding['severity']}] {where}{finding['message']}; fix: {finding['fix']}")
    target = report.get("target_latency")
    if target:
        lines.append(f"  latency on {target['device']}: {target.get('median_ms') or target.get('mean_ms'):.3f} ms "
                     f"({target['kind']})")
    energy = report.get("energy")
    if energy:
        lines.append(f"  energy per inference: {energy['energy_uj']:.2f} uJ (estimate from the profile)")
    for budget in report["budgets"]:
        state = {True: "pass", False: "FAIL", None: "n/a"}[budget["passed"]]
        value = "-" if budget["value"] is None else f"{budget['value']:.3f}"
        lines.append(f"  budget {budget['name']}: {value} / {budget['limit']} {budget['unit']}  {state}"
                     + ("" if budget["passed"] is not None else f"  ({budget['basis']})"))
    return lines
